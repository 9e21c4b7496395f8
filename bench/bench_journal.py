"""What the journal costs: signed Traffic Center operations handled by the gateway with the journal on, against the
same gateway with it off, in one run.

Run from the repository root:  .venv/bin/python bench/bench_journal.py   (or `make bench`; ~25 s)

Two ``GatewayApp``s with the same configuration but ``journal`` (1 / 0), each on its own SQLite database (WAL, as
serve runs it) with the same register, are called as WSGI applications in this process: no HTTP and no client, so
what is timed is what the server does for a message — verify the signed request (signature, certificate chain and
CRL, freshness, addressing), validate the Body against the XSD, run the TC's rules in one transaction (the replay
id, what the operation stores and, when on, the journal entry), sign the answer. Metrics and the exchange log run
in both. Two operations: ``overdracht`` (opens a session: the TC's usual write) and ``ping`` (the lightest signed
operation: only the replay id is written). Requests are signed before the timing, each with its own MessageID.

The two gateways take turns message by message (who goes first alternates), so that drift of a shared machine hits
both alike; each message is timed on its own. ``*_median_ms`` is the median per message, ``*_mean_ms`` the mean
(every message, WAL checkpoints and garbage collection included; noisier). ``journal_overhead_pct`` compares the
medians; the goal is < 10 % for overdracht (exit status 1 otherwise). Prints ``name: value`` lines.
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]  # gateway and tests (the register of the contract tests) when not installed

from sqlalchemy import text  # noqa: E402

from gateway.config import Config  # noqa: E402
from gateway.journal.entry import entry_from_exchange  # noqa: E402
from gateway.pki import init_pki, issue  # noqa: E402
from gateway.store import Database  # noqa: E402
from gateway.web.app import GatewayApp  # noqa: E402
from gateway.web.security import Exchange  # noqa: E402
from gateway.wsse import Credentials, ns, sign_request, verify  # noqa: E402
from gateway.wsse.xmlparse import parse_untrusted  # noqa: E402
from tests.tc_harness import (BRON_BRIN, DOEL_BRIN, DOEL_OIN, DOEL_RK, PGNFRAG, ZOEKSLEUTEL,  # noqa: E402
                              register_parties)

TC = "http://xml.kennisnet.nl/schemas/Overstapservice/20200910"
LIMIT = 0.10
BODIES = {
    "overdracht": (f"<tc:overdrachtRequest xmlns:tc=\"{TC}\"><tc:bronBrin>{BRON_BRIN}</tc:bronBrin>"
                   f"<tc:doelBrin>{DOEL_BRIN}</tc:doelBrin><tc:doelRouteringsKenmerk>{DOEL_RK}"
                   f"</tc:doelRouteringsKenmerk><tc:zoeksleutelPgnfrag><tc:zoeksleutel>{ZOEKSLEUTEL}</tc:zoeksleutel>"
                   f"<tc:pgnfrag>{PGNFRAG}</tc:pgnfrag></tc:zoeksleutelPgnfrag>"
                   "<tc:overdrachtsoort>overstapdossier</tc:overdrachtsoort></tc:overdrachtRequest>"),
    "ping": f'<tc:pingRequest xmlns:tc="{TC}"/>',
}


def envelope(operation: str) -> bytes:
    return (f'<soapenv:Envelope xmlns:soapenv="{ns.SOAP11}"><soapenv:Body>{BODIES[operation]}</soapenv:Body>'
            "</soapenv:Envelope>").encode()


def call(app, data: bytes, action: str) -> bytes:
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/tc", "CONTENT_LENGTH": str(len(data)),
               "CONTENT_TYPE": "text/xml; charset=utf-8", "HTTP_SOAPACTION": f'"{action}"',
               "wsgi.input": io.BytesIO(data), "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
               "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8099", "QUERY_STRING": ""}
    status = []
    body = b"".join(app(environ, lambda s, h, e=None: status.append(s)))
    if not status[0].startswith("200") or b"Fault>" in body:
        raise SystemExit(f"bench: the gateway answered {status[0]}: {body[:300]!r}")
    return body


def measure(apps: dict, creds, to: str, operation: str, rounds: int, per_round: int) -> dict[str, list[float]]:
    action = f"{TC}/{operation}"
    body = envelope(operation)
    for app, _ in apps.values():  # warm up: spyne, schema, statement caches
        for _ in range(30):
            call(app, sign_request(body, creds, to=to, action=action), action)
    times: dict[str, list[float]] = {name: [] for name in apps}
    for r in range(rounds):
        batches = {name: [sign_request(body, creds, to=to, action=action) for _ in range(per_round)]
                   for name in apps}
        for i in range(per_round):
            for name in (("on", "off") if (i + r) % 2 == 0 else ("off", "on")):
                app, data = apps[name][0], batches[name][i]
                t0 = time.perf_counter()
                call(app, data, action)
                times[name].append(time.perf_counter() - t0)
    return times


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--per-round", type=int, default=200, help="signed messages per gateway per round")
    args = p.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="oso-bench-journal-"))
    pki_dir = folder / "pki"
    init_pki(pki_dir)
    party = issue(pki_dir, "doel-las", DOEL_OIN)
    creds = Credentials.from_files(party.cert_path, party.key_path)
    base = Config(port=8099, cert=str(pki_dir / "gateway.cert.pem"), key=str(pki_dir / "gateway.key.pem"),
                  ca=str(pki_dir / "ca.pem"), crl=str(pki_dir / "crl.pem"), dashboard_key=str(folder / "d.key"))
    apps = {}
    for name, journal in (("on", 1), ("off", 0)):
        db = Database(f"sqlite:///{folder / f'{name}.db'}")
        db.migrate()
        register_parties(db)
        apps[name] = (GatewayApp(replace(base, journal=journal, database_url=db.url), database=db), db)
    to = base.base_url + "/tc"

    print(f"setup: {args.rounds} rounds x {args.per_round} signed messages per gateway per operation, SQLite WAL, "
          "in-process WSGI")
    goal_met = True
    for operation in ("overdracht", "ping"):
        times = measure(apps, creds, to, operation, args.rounds, args.per_round)
        med = {n: statistics.median(t) for n, t in times.items()}
        mean = {n: statistics.fmean(t) for n, t in times.items()}
        overhead = (med["on"] - med["off"]) / med["off"]
        for n in ("off", "on"):
            print(f"{operation}_journal_{n}_median_ms: {med[n] * 1000:.3f}")
        for n in ("off", "on"):
            print(f"{operation}_journal_{n}_mean_ms: {mean[n] * 1000:.3f}")
        print(f"{operation}_journal_overhead_pct: {overhead * 100:.1f}")
        print(f"{operation}_journal_overhead_mean_pct: {(mean['on'] - mean['off']) / mean['off'] * 100:.1f}")
        if operation == "overdracht":
            goal_met = overhead < LIMIT

    # the journal's own parts, on their own: building an entry (sha256 of both halves included)
    action = f"{TC}/overdracht"
    request = sign_request(envelope("overdracht"), creds, to=to, action=action)
    response = call(apps["off"][0], request, action)
    endpoint = apps["off"][0].services["/tc"][0].endpoint
    vm = verify(request, policy=endpoint.policy, trust=endpoint.trust)
    ex = Exchange("trafficcenter", datetime.now(timezone.utc), request, verified=vm, status="200 OK",
                  response=response, answer=parse_untrusted(response))
    n = 2000
    t0 = time.perf_counter()
    for _ in range(n):
        entry_from_exchange(ex)
    print(f"journal_entry_build_us: {(time.perf_counter() - t0) / n * 1e6:.1f}")
    for name, (_, database) in apps.items():
        with database.unit_of_work(readonly=True) as repo:
            print(f"journal_rows_{name}: {repo.session.execute(text('SELECT count(*) FROM journal')).scalar()}")
        database.dispose()
    print(f"journal_goal: overdracht < {LIMIT * 100:.0f} % ({'met' if goal_met else 'NOT met'})")
    return 0 if goal_met else 1


if __name__ == "__main__":
    sys.exit(main())
