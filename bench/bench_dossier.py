"""Dossier validation: speed of the full validation against XSD alone, and peak memory on a large dossier.

Prints ``name: value`` lines:

- validations per second of the official ``Voorbeelddossier_OV_POVO_full.xml`` (175 KB) with everything
  (safe parse + the gateway's checks + XSD + the OV business-rule XSLT, stylesheets compiled once, before timing)
  and with XSD alone (safe parse + XSD), in one run, and their ratio;
- peak memory while validating a dossier carrying 50 MiB of attachments (the example with ten of its attachments
  replaced by 5 MiB ZIPs, ~70 MB on disk), measured in a fresh subprocess each way: the growth of the peak RSS
  (``resource.getrusage().ru_maxrss`` after, minus the current RSS before reading the file: an upper bound; the
  same from ``VmHWM`` in /proc/self/status as a cross-check) and the Python-heap peak from ``tracemalloc`` (which
  does not see libxml2 or Saxon). All are given as a ratio to the file size; the RSS ratios must stay below 3
  (exit status 1 otherwise). Linux starts a child's ru_maxrss at its parent's peak, so the large dossier is built
  in a child and measured before this process loads anything big; the bench says whether the peak it reports was
  reached by the child itself.

Reads the official files from the bundles dir tests/bundles_location.py names (never copied into the project). Runs in ~20 s.
"""

from __future__ import annotations

import base64
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from lxml import etree

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' bundles location (and gateway, when not installed)

from tests.bundles_location import BUNDLES_DIR, GEGEVENSSET  # noqa: E402

POVO_FULL = GEGEVENSSET / "OV" / "examples" / "Voorbeelddossier_OV_POVO_full.xml"
NS = "http://www.edustandaard.nl/oso_gegevensset/2019/dossier"
MiB = 1024 * 1024
ATTACHMENTS, ATTACHMENT_SIZE = 10, 5 * MiB
MEMORY_LIMIT_RATIO = 3.0


def rate(fn, seconds: float = 1.0, rounds: int = 5) -> float:
    """Calls per second: the median of `rounds` rounds of about `seconds` each."""
    fn()
    results = []
    for _ in range(rounds):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                break
        results.append(n / elapsed)
    return statistics.median(results)


def speed() -> None:
    from gateway.dossier import load_bundles, validate
    from gateway.wsse.xmlparse import parse_untrusted

    t0 = time.perf_counter()
    registry = load_bundles(BUNDLES_DIR)
    bundle = registry.get("2019.1")
    print(f"compile_bundle_s: {time.perf_counter() - t0:.3f}")
    data = POVO_FULL.read_bytes()
    report = validate(data, registry)
    assert report.status == "valid", report.findings
    print(f"povo_full_bytes: {len(data)}")

    def full():
        validate(data, registry)

    def xsd_alone():
        root = parse_untrusted(data, max_bytes=128 * MiB)
        assert not [f for f in bundle.check_schema(root) if f.severity == "error"]

    f, x = rate(full), rate(xsd_alone)
    print(f"validations_per_s_full: {f:.1f}")
    print(f"validations_per_s_xsd_only: {x:.1f}")
    print(f"ratio_full_vs_xsd: {f / x:.3f}")
    print(f"ms_per_validation_full: {1000 / f:.2f}")
    print(f"ms_per_validation_xsd_only: {1000 / x:.2f}")


def make_big_dossier(path: Path) -> int:
    """The POVO example with ten of its attachments replaced by 5 MiB ZIPs (random, so incompressible)."""
    root = etree.parse(str(POVO_FULL)).getroot()
    docs = list(root.iter(f"{{{NS}}}document"))[:ATTACHMENTS]
    assert len(docs) == ATTACHMENTS
    total = 0
    for i, doc in enumerate(docs):
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(f"bijlage{i}.pdf", os.urandom(ATTACHMENT_SIZE - 200))
        raw = buf.getvalue()
        total += len(raw)
        doc.find(f"{{{NS}}}bestandsinhoud").text = base64.b64encode(raw).decode()
    etree.ElementTree(root).write(str(path), xml_declaration=True, encoding="UTF-8")
    return total


# Runs in a fresh interpreter: set up (imports, bundle compiled, one warm-up validation), then measure the file.
CHILD = r"""
import gc, os, resource, sys
mode, path, bundles_dir, warmup = sys.argv[1:5]

def maxrss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

floor = maxrss()  # Linux carries the parent's peak into a child's ru_maxrss at exec: report it
from gateway.dossier import load_bundles, validate
registry = load_bundles(bundles_dir)
registry.get("2019.1")
with open(warmup, "rb") as fh:
    w = fh.read()
for _ in range(20):  # let lxml, Saxon and the allocator settle
    validate(w, registry)
del w
gc.collect()

def rss_now():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def vm_hwm():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("VmHWM:"))

if mode == "tracemalloc":
    import tracemalloc
    tracemalloc.start()
before = rss_now()
with open(path, "rb") as fh:
    data = fh.read()
report = validate(data, registry)
if mode == "tracemalloc":
    print("tracemalloc_peak", tracemalloc.get_traced_memory()[1])
else:
    peak = maxrss()
    print("rss_delta", peak - before)
    print("hwm_delta", vm_hwm() - before)
    print("floor_below_peak", "yes" if floor < peak else "no")
print("status", report.status)
print("errors", len(report.errors))
"""


def memory() -> bool:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dossier_50mb.xml"
        # built in a child too, so that this process stays small (its peak becomes the children's ru_maxrss floor)
        made = subprocess.run([sys.executable, __file__, "--make", str(path)], capture_output=True, text=True,
                              cwd=ROOT, timeout=300)
        if made.returncode != 0:
            print(made.stderr, file=sys.stderr)
            raise SystemExit("could not build the large dossier")
        attached = int(made.stdout.strip())
        size = path.stat().st_size
        print(f"big_dossier_attachments_bytes: {attached}")
        print(f"big_dossier_file_bytes: {size}")
        results = {}
        for mode in ("rss", "tracemalloc"):
            t0 = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", CHILD, mode, str(path), str(BUNDLES_DIR), str(POVO_FULL)],
                                 capture_output=True, text=True, cwd=ROOT, timeout=300)
            if out.returncode != 0:
                print(out.stderr, file=sys.stderr)
                raise SystemExit(f"the memory child failed ({mode})")
            results[mode] = dict(line.split(" ", 1) for line in out.stdout.strip().splitlines())
            results[mode]["seconds"] = time.perf_counter() - t0
    status = results["rss"]["status"]
    rss = int(results["rss"]["rss_delta"])
    hwm = int(results["rss"]["hwm_delta"])
    traced = int(results["tracemalloc"]["tracemalloc_peak"])
    print(f"big_dossier_status: {status} ({results['rss']['errors']} errors)")
    print(f"big_dossier_subprocess_s: {results['rss']['seconds']:.2f}")
    print(f"peak_rss_delta_bytes: {rss}")
    print(f"peak_rss_ratio: {rss / size:.2f}")
    print(f"peak_vmhwm_ratio: {hwm / size:.2f}")
    print(f"maxrss_measured_not_inherited: {results['rss']['floor_below_peak']}")
    print(f"tracemalloc_peak_bytes: {traced}")
    print(f"tracemalloc_ratio: {traced / size:.2f}")
    ok = (rss / size < MEMORY_LIMIT_RATIO and hwm / size < MEMORY_LIMIT_RATIO and status == "valid"
          and results["rss"]["floor_below_peak"] == "yes")
    print(f"memory_below_{MEMORY_LIMIT_RATIO:g}x: {'yes' if ok else 'NO'}")
    return ok


def main() -> int:
    if sys.argv[1:2] == ["--make"]:
        print(make_big_dossier(Path(sys.argv[2])))
        return 0
    t0 = time.perf_counter()
    ok = memory()  # first, while this process is small
    speed()
    print(f"bench_total_s: {time.perf_counter() - t0:.1f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
