"""One complete transfer of the official ~175 KB ``Voorbeelddossier_OV_POVO_full.xml``, against the crypto-and-parse
floor measured in the same run; and transfers per second with concurrent targets against a real ``serve`` with two
workers.

Prints ``name: value`` lines (see bench/README.md). Runs in about a minute.

1. **One transfer.** A whole gateway in this process (``gateway.web.local.LocalGateway``: the Traffic Center, the
   reference source with the example prepared for its pupil, SQLite, the official bundles), served by a threaded WSGI
   server on loopback, and the reference target (``Doelsysteem``) in the same process. One transfer is the four
   round trips (overdracht; documentRequest, during which the source asks the TC's sessiecontrole; afmelding): eight
   messages, each signed by its sender and verified by its receiver, each Body checked against its XSD, the dossier
   validated by the source before it is released (XSD + business rules) and by the target after it arrived, every
   step committed to the database, HTTP in between. Median of ``--transfers`` transfers after a warm-up.
2. **The floor**, in the same run: the very eight messages of one of those transfers (recorded at the WSGI layer),
   each made unsigned again (Header removed) and then signed with python-xmlsec, verified with python-xmlsec (chain
   checked, ``tests/xmlsec_peer.py``), and parsed with lxml. The floor is the median over rounds of the sum of those
   24 operations: what any implementation must at least spend on crypto and parsing for this exchange.
3. **Throughput.** ``oso-gateway serve`` with 2 workers (gthread) on a prepared SQLite database, and ``--clients``
   targets (threads of this process, each with its own ``Doelsysteem``) transferring the same dossier for
   ``--seconds``. The machine's cores are shared by the server's workers and the clients.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests")]  # gateway (when not installed) and the shared xmlsec peer

from lxml import etree  # noqa: E402
from xmlsec_peer import XmlsecPeer  # noqa: E402

from gateway.client.target import Doelsysteem  # noqa: E402
from gateway.school.dossierbestand import lees  # noqa: E402
from gateway.store.testschool import TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK  # noqa: E402
from gateway.web.local import LocalGateway, free_port, prepare_dev  # noqa: E402
from tests.bundles_location import BUNDLES_DIR, GEGEVENSSET  # noqa: E402
from tests.serve_process import start_serve, stop, wait_healthy  # noqa: E402

BUNDLES, POVO_FULL = BUNDLES_DIR, GEGEVENSSET / "OV" / "examples" / "Voorbeelddossier_OV_POVO_full.xml"
GOAL_RATIO = 3.0
SOAP = "http://schemas.xmlsoap.org/soap/envelope/"


def out(name: str, value) -> None:
    print(f"{name}: {value:.2f}" if isinstance(value, float) else f"{name}: {value}", flush=True)


def klaarzetten(database_url: str, path: Path) -> str:
    """Prepare the example in the test school with the source's own command (``oso-gateway school klaarzetten``,
    in this process), for the pupil it names; returns that pupil's BSN."""
    import contextlib
    import io

    from gateway.commands import main

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
        code = main(["school", "klaarzetten", "--file", str(path), "--database", database_url])
    if code != 0:
        raise SystemExit(f"school klaarzetten failed: {printed.getvalue()}")
    return lees(path.read_bytes()).pgn


class Recorder:
    """WSGI middleware keeping (path, request body, response body) while ``on``."""

    def __init__(self, app):
        self.app, self.on, self.messages = app, False, []
        self._lock = threading.Lock()

    def __call__(self, environ, start_response):
        if not self.on or environ.get("REQUEST_METHOD") != "POST":
            return self.app(environ, start_response)
        import io

        n = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(n)
        environ["wsgi.input"] = io.BytesIO(body)
        answer = b"".join(self.app(environ, start_response))
        with self._lock:
            self.messages.append((environ["PATH_INFO"], body, answer))
        return [answer]


def unsigned(signed: bytes) -> tuple[bytes, str, str]:
    """The message without its Header (what a sender starts from), its wsa:To (or a placeholder) and wsa:Action."""
    root = etree.fromstring(signed)
    header = root.find(f"{{{SOAP}}}Header")
    to = header.findtext("{http://www.w3.org/2005/08/addressing}To") or "urn:response"
    action = header.findtext("{http://www.w3.org/2005/08/addressing}Action")
    root.remove(header)
    return etree.tostring(root), to, action


def one_transfer(target: Doelsysteem, pgn: str):
    account = target.transfer(pgn=pgn, bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                              doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK)
    if account.resultaat != "OverdrachtGeslaagd" or account.dossier is None:
        raise SystemExit(f"the transfer failed:\n{account.render()}")
    return account


def single(args) -> tuple[float, list[tuple[str, bytes, bytes]], LocalGateway]:
    data = POVO_FULL.read_bytes()
    gw = LocalGateway(bundles_dir=str(BUNDLES)).start()
    pgn = klaarzetten(gw.config.database_url, POVO_FULL)
    recorder = Recorder(gw.app)
    gw._httpd.set_app(recorder)
    target = Doelsysteem.from_config(gw.config)
    for _ in range(3):
        one_transfer(target, pgn)
    recorder.on = True
    account = one_transfer(target, pgn)
    recorder.on = False
    assert len(recorder.messages) == 4, [m[0] for m in recorder.messages]
    out("dossier_bytes", len(data))
    out("received_dossier_bytes", len(account.dossier))
    out("received_valid", account.report.status)
    times, steps = [], {}
    for _ in range(args.transfers):
        t0 = time.perf_counter()
        account = one_transfer(target, pgn)
        times.append((time.perf_counter() - t0) * 1000)
        for s in account.steps:
            steps.setdefault(s.operation, []).append(s.ms)
    out("transfer_ms_median", statistics.median(times))
    out("transfer_ms_min", min(times))
    out("transfer_ms_max", max(times))
    for op, ms in steps.items():
        out(f"step_{op}_ms_median", statistics.median(ms))
    return statistics.median(times), recorder.messages, gw


def floor(messages, gw, rounds: int) -> float:
    cfg = gw.config
    peer = XmlsecPeer(cfg.key, cfg.cert, cfg.ca)
    eight = []
    for _, request, response in messages:
        eight += [unsigned(request), unsigned(response)]
    out("messages", len(eight))
    out("message_bytes_total", sum(len(m) for _, req, resp in messages for m in (req, resp)))
    sums = []
    for _ in range(rounds + 2):
        t0 = time.perf_counter()
        for body, to, action in eight:
            signed = peer.sign(body, to=to, action=action, message_id=f"urn:uuid:{uuid.uuid4()}")
            if not peer.verify(signed):
                raise SystemExit("python-xmlsec does not verify its own message")
            etree.fromstring(signed)
        sums.append((time.perf_counter() - t0) * 1000)
    return statistics.median(sums[2:])


# ---- throughput against `serve` --------------------------------------------------------------------------------

def throughput(args, gw: LocalGateway) -> None:
    folder = Path(tempfile.mkdtemp(prefix="oso-bench-"))
    port = free_port()
    config = replace(gw.config, port=port, public_url="", workers=2, database_url=f"sqlite:///{folder / 'gw.db'}",
                     log_level="warning")
    toml = folder / "gateway.toml"
    keys = ("host", "cert", "key", "ca", "crl", "database_url", "zoeksleutel_key", "bundles_dir", "log_level")
    toml.write_text("[gateway]\n" + "".join(f'{k} = "{getattr(config, k)}"\n' for k in keys)
                    + f"port = {port}\nworkers = 2\n", encoding="utf-8")
    from gateway.store import Database

    database = Database(config.database_url)
    database.migrate()
    prepare_dev(database, config)
    pgn = klaarzetten(config.database_url, POVO_FULL)
    database.dispose()
    proc, log = start_serve(folder, "--config", str(toml))
    try:
        wait_healthy(config.base_url, proc, log, error=SystemExit)
        for clients in (1, args.clients):
            targets = [Doelsysteem.from_config(config) for _ in range(clients)]
            for t in targets:
                one_transfer(t, pgn)  # warm: the workers' WSDL clients, the bundles, the connections
            done, failed, latencies = [0], [0], []
            lock = threading.Lock()
            stop_at = time.monotonic() + args.seconds

            def run(t):
                while time.monotonic() < stop_at:
                    t0 = time.perf_counter()
                    try:
                        account = t.transfer(pgn=pgn, bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                                             doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK)
                        ok = account.resultaat == "OverdrachtGeslaagd"
                    except Exception:
                        ok = False
                    ms = (time.perf_counter() - t0) * 1000
                    with lock:
                        (done if ok else failed)[0] += 1
                        latencies.append(ms)

            t0 = time.perf_counter()
            threads = [threading.Thread(target=run, args=(t,)) for t in targets]
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            elapsed = time.perf_counter() - t0
            out(f"serve_{clients}_clients_transfers_per_s", done[0] / elapsed)
            out(f"serve_{clients}_clients_transfer_ms_median", statistics.median(latencies))
            out(f"serve_{clients}_clients_failed", failed[0])
    finally:
        stop(proc)
        import shutil

        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--transfers", type=int, default=30)
    p.add_argument("--rounds", type=int, default=15, help="rounds of the floor")
    p.add_argument("--clients", type=int, default=4, help="concurrent targets against serve")
    p.add_argument("--seconds", type=float, default=10.0, help="length of each throughput run")
    p.add_argument("--no-serve", action="store_true", help="skip the throughput part")
    args = p.parse_args()
    out("cpus", os.cpu_count())
    transfer_ms, messages, gw = single(args)
    try:
        floor_ms = floor(messages, gw, args.rounds)
        out("floor_ms", floor_ms)
        ratio = transfer_ms / floor_ms
        out("transfer_over_floor", ratio)
        out("goal_transfer_within_3x_floor", "met" if ratio <= GOAL_RATIO else "MISSED")
        if not args.no_serve:
            throughput(args, gw)
    finally:
        gw.stop()
    return 0 if ratio <= GOAL_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
