"""How fast the gateway signs and verifies WUS messages, next to python-xmlsec on the same messages, in one run.

Run from the repository root:  .venv/bin/python bench/bench_wsse.py   (or `make bench`; ~30-60 s)

It makes a throw-away test PKI in a temporary folder, builds two requests (a ~9 KB generated payload and the
official ~175 KB POVO_full example dossier as the Body's child) and prints one ``name: value`` line per figure.
See bench/README.md for what each figure means and what the python-xmlsec peer does and does not check.
"""

from __future__ import annotations

import argparse
import base64
import gc
import hashlib
import hmac
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # gateway (when not installed) and the shared xmlsec peer

from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import padding  # noqa: E402
from lxml import etree  # noqa: E402
from xmlsec_peer import XmlsecPeer  # noqa: E402

from gateway.pki import init_pki, issue  # noqa: E402
from gateway.wsse import Credentials, MemoryReplayStore, Policy, TrustStore, sign_request, verify  # noqa: E402
from gateway.wsse.errors import SecurityError  # noqa: E402
from tests.bundles_location import GEGEVENSSET  # noqa: E402

POVO_FULL = GEGEVENSSET / "OV" / "examples" / "Voorbeelddossier_OV_POVO_full.xml"

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
ENDPOINT = "http://localhost:8080/tc"
ACTION = "http://www.edustandaard.nl/oso/2019/overdracht/aanvraag"
VENDOR_OIN = "00000001234567890000"
BATCHES = 5


# ------------------------------------------------------------------------------------------------- messages


def small_payload(target: int = 9 * 1024) -> str:
    """A ~9 KB request payload: a header and as many small pupil records as fit."""
    head = (
        '<oso:aanvraag xmlns:oso="urn:oso:bench:2019">'
        "<oso:metadata><oso:aanvrager>00000001234567890000</oso:aanvrager>"
        "<oso:ontvanger>00000001999999990000</oso:ontvanger><oso:datum>2019-05-01</oso:datum>"
        "<oso:overstap>POVO</oso:overstap></oso:metadata><oso:leerlingen>"
    )
    tail = "</oso:leerlingen></oso:aanvraag>"
    records, i = [], 0
    while len(head) + sum(map(len, records)) + len(tail) < target:
        records.append(
            f'<oso:leerling volgnummer="{i}"><oso:bsn>{100000000 + i * 7919:09d}</oso:bsn>'
            f"<oso:achternaam>Achternaam{i:03d}</oso:achternaam><oso:voornamen>Voornaam {i}</oso:voornamen>"
            f"<oso:geboortedatum>2007-{1 + i % 12:02d}-{1 + i % 28:02d}</oso:geboortedatum>"
            f"<oso:brincode>{i % 90:02d}AB</oso:brincode></oso:leerling>"
        )
        i += 1
    return head + "".join(records) + tail


def envelope(payload: str) -> bytes:
    return (
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_NS}"><soapenv:Header/><soapenv:Body>{payload}'
        "</soapenv:Body></soapenv:Envelope>"
    ).encode("utf-8")


def povo_payload() -> str:
    text = POVO_FULL.read_text(encoding="utf-8")
    return re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", text)


def new_ids(n: int) -> list[str]:
    return [f"urn:uuid:{uuid.uuid4()}" for _ in range(n)]


# ---------------------------------------------------------------------------------------------------- floor


class Floor:
    """The least any verifier must do: parse, exclusive c14n of each referenced element, SHA-256, compare, c14n
    of SignedInfo and one RSA verify, with the public key loaded once and the elements found by position (no
    structure, coverage, certificate, time, addressing or replay checks)."""

    def __init__(self, public_key):
        self.key = public_key
        self.parser = etree.XMLParser(resolve_entities=False, no_network=True)

    def __call__(self, data: bytes) -> bool:
        root = etree.fromstring(data, self.parser)
        header, body = root[0], root[1]
        security = header[0]
        timestamp, signature = security[0], security[-1]
        signed_info, sig_value = signature[0], signature[1]
        references = signed_info[2:]
        targets = [*header[1:], timestamp, body]  # in the order our signer writes the references
        for ref, target in zip(references, targets):
            actual = hashlib.sha256(etree.tostring(target, method="c14n", exclusive=True)).digest()
            if not hmac.compare_digest(actual, base64.b64decode(ref[2].text)):
                return False
        self.key.verify(
            base64.b64decode(sig_value.text),
            etree.tostring(signed_info, method="c14n", exclusive=True),
            padding.PKCS1v15(),
            hashes.SHA256(),
        )
        return True


# --------------------------------------------------------------------------------------------------- timing


def timed(fn, items) -> float:
    """Operations per second of fn over items (one batch)."""
    start = time.perf_counter()
    for item in items:
        fn(item)
    return len(items) / (time.perf_counter() - start)


def calibrate(fn, items, seconds: float) -> int:
    """How many operations of fn make a batch of about ``seconds`` (after a short warm-up)."""
    timed(fn, items[:5])
    rate = timed(fn, items[5:25])
    return max(20, min(3000, int(rate * seconds)))


def race(*fns, batches: list[list]) -> list[float]:
    """Median rate of each function over the same batches; who goes first rotates from batch to batch, so that
    drift in the machine's speed (other processes, turbo) does not favour one side."""
    rates: list[list[float]] = [[] for _ in fns]
    for i, items in enumerate(batches):
        gc.collect()
        for k in range(len(fns)):
            j = (i + k) % len(fns)
            rates[j].append(timed(fns[j], items))
    return [statistics.median(r) for r in rates]


def out(name: str, value) -> None:
    if isinstance(value, float):
        value = f"{value:.2f}" if value < 100 else f"{value:.0f}"
    print(f"{name}: {value}", flush=True)


# ----------------------------------------------------------------------------------------------------- main


def bench_size(label: str, unsigned: bytes, creds, trust, policy, peer: XmlsecPeer, floor: Floor, seconds: float):
    def sign_ours(mid: str) -> bytes:
        return sign_request(unsigned, creds, to=ENDPOINT, action=ACTION, message_id=mid)

    def sign_xmlsec(mid: str) -> bytes:
        return peer.sign(unsigned, to=ENDPOINT, action=ACTION, message_id=mid)

    # Signing: ours with every option of the profile (To, Action, MessageID, From with our OIN, Timestamp with
    # Created and Expires, the BinarySecurityToken, SHA-256 references to each wsa header, Timestamp and Body).
    n = calibrate(sign_ours, new_ids(25), seconds)
    timed(sign_xmlsec, new_ids(10))
    batches = [new_ids(n) for _ in range(BATCHES)]
    s_ours, s_xmlsec = race(sign_ours, sign_xmlsec, batches=batches)

    # Verifying: distinct messages (each MessageID new), pre-signed by us; one real MemoryReplayStore for the run.
    replay = MemoryReplayStore()

    def verify_ours(data: bytes) -> None:
        verify(data, policy=policy, trust=trust, replay=replay)

    def verify_xmlsec(data: bytes) -> None:
        if not peer.verify(data):
            raise AssertionError("python-xmlsec refused a message we signed")

    def verify_xmlsec_nochain(data: bytes) -> None:
        if not peer.verify(data, check_chain=False):
            raise AssertionError("python-xmlsec refused a message we signed")

    def verify_floor(data: bytes) -> None:
        if not floor(data):
            raise AssertionError("the floor refused a message we signed")

    warm = [sign_ours(mid) for mid in new_ids(25)]
    n = calibrate(verify_ours, warm, seconds)
    timed(verify_xmlsec, warm[:10])
    timed(verify_xmlsec_nochain, warm[:10])
    messages = [sign_ours(mid) for mid in new_ids(n * BATCHES)]
    batches = [messages[i * n:(i + 1) * n] for i in range(BATCHES)]
    v_ours, v_xmlsec, v_nochain, v_floor = race(
        verify_ours, verify_xmlsec, verify_xmlsec_nochain, verify_floor, batches=batches
    )

    out(f"message_{label}_bytes", len(messages[0]))
    out(f"sign_{label}_ours_per_s", s_ours)
    out(f"sign_{label}_xmlsec_per_s", s_xmlsec)
    out(f"sign_{label}_ratio", s_ours / s_xmlsec)
    out(f"verify_{label}_ours_per_s", v_ours)
    out(f"verify_{label}_xmlsec_per_s", v_xmlsec)
    out(f"verify_{label}_ratio", v_ours / v_xmlsec)
    out(f"verify_{label}_xmlsec_nochain_per_s", v_nochain)
    out(f"verify_{label}_ratio_nochain", v_ours / v_nochain)
    out(f"floor_verify_{label}_per_s", v_floor)
    out(f"verify_{label}_ours_share_of_floor", v_ours / v_floor)
    return s_ours / s_xmlsec, v_ours / v_xmlsec


def bench_bounds(creds, trust, policy) -> None:
    """How long a hostile message takes to be refused by the parser's bounds (docs/limits.md): 20,000 unused
    namespace declarations on the Envelope of a validly signed request (~500 KB), and a 30 MiB Body of empty
    elements (the best of five)."""
    signed = sign_request(envelope(small_payload(1024)), creds, to=ENDPOINT, action=ACTION)
    declarations = " ".join(f'xmlns:p{i}="urn:p{i}"' for i in range(20_000)).encode()
    bomb = signed.replace(b"<soapenv:Envelope ", b"<soapenv:Envelope " + declarations + b" ", 1)
    junk = envelope("<a/>" * (30 * 1024 * 1024 // 4 - 40))

    def refusal_ms(data: bytes) -> float:
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            try:
                verify(data, policy=policy, trust=trust)
            except SecurityError:
                pass
            else:
                raise AssertionError("a hostile message was accepted")
            best = min(best, time.perf_counter() - start)
        return best * 1000

    out("refuse_ns_bomb_20k_ms", refusal_ms(bomb))
    out("refuse_junk_30mib_ms", refusal_ms(junk))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=0.25, help="target length of one timing batch")
    args = parser.parse_args()
    if not POVO_FULL.is_file():
        print(f"missing {POVO_FULL}: the bench needs the OSO gegevensset next to the repository", file=sys.stderr)
        return 2

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-wsse-pki-") as tmp:
        d = Path(tmp)
        init_pki(d)
        vendor = issue(d, "vendor", VENDOR_OIN)
        creds = Credentials.from_files(vendor.cert_path, vendor.key_path)
        trust = TrustStore.from_files(d / "ca.pem", d / "crl.pem")  # with CRLs: revocation is checked
        assert trust.require_revocation
        policy = Policy(endpoint=ENDPOINT)
        peer = XmlsecPeer(vendor.key_path, vendor.cert_path, d / "ca.pem")
        floor = Floor(creds.certificate.public_key())

        # Sanity before timing: each side accepts the other's message.
        probe = envelope(small_payload())
        theirs = peer.sign(probe, to=ENDPOINT, action=ACTION, message_id=new_ids(1)[0])
        assert verify(theirs, policy=policy, trust=trust, replay=MemoryReplayStore()).oin == VENDOR_OIN
        assert peer.verify(sign_request(probe, creds, to=ENDPOINT, action=ACTION))

        out("python", sys.version.split()[0])
        out("cpus", os.cpu_count())
        out("batches", BATCHES)
        results = {}
        for label, payload in (("10k", small_payload()), ("175k", povo_payload())):
            unsigned = envelope(payload)
            out(f"payload_{label}_bytes", len(payload.encode("utf-8")))
            results[label] = bench_size(label, unsigned, creds, trust, policy, peer, floor, args.seconds)
        bench_bounds(creds, trust, policy)

    for label, (sign_ratio, verify_ratio) in results.items():
        out(f"goal_sign_{label}_1.5x", "met" if sign_ratio >= 1.5 else "MISSED")
        out(f"goal_verify_{label}_2x", "met" if verify_ratio >= 2.0 else "MISSED")
    out("run_seconds", time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
