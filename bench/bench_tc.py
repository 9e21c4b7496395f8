"""The price of security: signed Traffic Center operations per second through the real server, against the same
server with the security layer off, in one run.

Run from the repository root:  .venv/bin/python bench/bench_tc.py   (or `make bench`; ~40 s on 2 CPUs)

- signed:   `oso-gateway serve` (gunicorn, gthread, 2 workers × 4 threads, SQLite) — every request verified
            (signature, certificate chain + CRL, freshness, addressing, replay row in the same transaction, XSD),
            every answer signed.
- unsigned: gunicorn with the SAME worker settings serving bench/tc_insecure_app.py: the same spyne TC application
            and the same unit of work, behind a stand-in that only parses the Body (see that file). Bench only.

Workload: transfer sessions, overdracht → sessiecontrole → afmelding (3 operations, two parties), from a few client
processes at once, each with a keep-alive connection. Signed clients sign every request when they send it (the
sessieId comes from the answer) but do not verify the answers (what the server costs is measured, not a client);
unsigned clients send the same envelopes without the signature. Every answer is checked for its result code.
Rounds alternate which server goes first; figures are medians over the rounds. Prints ``name: value`` lines; see
bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import multiprocessing
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import fields
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]  # gateway and tests (the register of the contract tests) when not installed

from gateway.config import Config  # noqa: E402
from gateway.pki import init_pki, issue  # noqa: E402
from gateway.store import Database  # noqa: E402
from gateway.wsse import Credentials, ns, sign_request  # noqa: E402
from gateway.wsse.sign import from_address  # noqa: E402
from tests.serve_process import clean_env, start_serve, stop, wait_healthy  # noqa: E402
from tests.tc_harness import (BRON_BRIN, BRON_OIN, BRON_RK, DOEL_BRIN, DOEL_OIN, DOEL_RK, PGNFRAG,  # noqa: E402
                              register_parties)

TC = "http://xml.kennisnet.nl/schemas/Overstapservice/20200910"
GOAL = 1 / 3  # signed ≥ 33 % of unsigned
JOURNAL_SETTING = "journal" in {f.name for f in fields(Config)}
START_TIMEOUT = 40
CALL_TIMEOUT = 30


def out(name: str, value) -> None:
    if isinstance(value, float):
        value = f"{value:.3f}" if value < 10 else f"{value:.1f}"
    print(f"{name}: {value}", flush=True)


# --------------------------------------------------------------------------------------------- the messages


def _envelope(body: str, *, to: str, action: str, oin: str, unsigned: bool) -> bytes:
    """The request as a client sends it: signed ones get their wsa headers from the signer; unsigned ones carry
    the same wsa headers written out (From with the caller's OIN, which the insecure stand-in believes)."""
    header = ""
    if unsigned:
        header = (f'<soapenv:Header xmlns:wsa="{ns.WSA}"><wsa:To>{to}</wsa:To><wsa:Action>{action}</wsa:Action>'
                  f"<wsa:MessageID>urn:uuid:{uuid.uuid4()}</wsa:MessageID>"
                  f"<wsa:From><wsa:Address>{from_address(oin)}</wsa:Address></wsa:From></soapenv:Header>")
    return (f'<soapenv:Envelope xmlns:soapenv="{ns.SOAP11}">{header}<soapenv:Body>{body}</soapenv:Body>'
            "</soapenv:Envelope>").encode()


_PARTIJEN = (f"<tc:bronBrin>{BRON_BRIN}</tc:bronBrin><tc:bronRouteringsKenmerk>{BRON_RK}</tc:bronRouteringsKenmerk>"
             f"<tc:doelBrin>{DOEL_BRIN}</tc:doelBrin><tc:doelRouteringsKenmerk>{DOEL_RK}</tc:doelRouteringsKenmerk>")


def _leerling(zoeksleutel: str) -> str:
    return (f"<tc:zoeksleutelPgnfrag><tc:zoeksleutel>{zoeksleutel}</tc:zoeksleutel><tc:pgnfrag>{PGNFRAG}"
            "</tc:pgnfrag></tc:zoeksleutelPgnfrag>")


def _overdracht(zoeksleutel: str) -> str:
    return (f'<tc:overdrachtRequest xmlns:tc="{TC}"><tc:bronBrin>{BRON_BRIN}</tc:bronBrin>'
            f"<tc:doelBrin>{DOEL_BRIN}</tc:doelBrin><tc:doelRouteringsKenmerk>{DOEL_RK}</tc:doelRouteringsKenmerk>"
            f"{_leerling(zoeksleutel)}<tc:overdrachtsoort>overstapdossier</tc:overdrachtsoort></tc:overdrachtRequest>")


def _sessiecontrole(sessie_id: str, zoeksleutel: str) -> str:
    return (f'<tc:sessiecontroleRequest xmlns:tc="{TC}">{_PARTIJEN}{_leerling(zoeksleutel)}'
            f"<tc:overdrachtsoort>overstapdossier</tc:overdrachtsoort><tc:sessieId>{sessie_id}</tc:sessieId>"
            "</tc:sessiecontroleRequest>")


def _afmelding(sessie_id: str) -> str:
    return (f'<tc:afmeldingRequest xmlns:tc="{TC}">{_PARTIJEN}<tc:sessieId>{sessie_id}</tc:sessieId>'
            "<tc:resultaat>OverdrachtGeslaagd</tc:resultaat></tc:afmeldingRequest>")


_FIELD = {name: re.compile(rf"<(?:\w+:)?{name}>([^<]*)</(?:\w+:)?{name}>".encode())
          for name in ("resultaat", "sessieId")}


def _field(answer: bytes, name: str) -> str | None:
    found = _FIELD[name].search(answer)
    return found.group(1).decode() if found else None


# --------------------------------------------------------------------------------------------- the clients


class Client:
    """One keep-alive connection to one server; sends the three steps of a session."""

    def __init__(self, port: int, signed: bool, doel: Credentials, bron: Credentials, tag: str):
        self.port, self.signed, self.doel, self.bron, self.tag = port, signed, doel, bron, tag
        self.to = f"http://127.0.0.1:{port}/tc"
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=CALL_TIMEOUT)
        self.n = 0

    def call(self, op: str, body: str, creds: Credentials) -> bytes:
        action = f"{TC}/{op}"
        data = _envelope(body, to=self.to, action=action, oin=creds.oin, unsigned=not self.signed)
        if self.signed:
            data = sign_request(data, creds, to=self.to, action=action)
        self.conn.request("POST", "/tc", body=data, headers={"Content-Type": "text/xml; charset=utf-8",
                                                             "SOAPAction": f'"{action}"'})
        response = self.conn.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"{op}: HTTP {response.status}: {answer[:300]!r}")
        return answer

    def cycle(self) -> None:
        self.n += 1
        zoeksleutel = base64.b64encode(f"{self.tag}.{self.n:06d}".encode()).decode()  # base64, as the contract asks
        opened = self.call("overdracht", _overdracht(zoeksleutel), self.doel)
        sessie_id = _field(opened, "sessieId")
        if _field(opened, "resultaat") != "Geslaagd" or not sessie_id:
            raise RuntimeError(f"overdracht: {opened[:300]!r}")
        checked = self.call("sessiecontrole", _sessiecontrole(sessie_id, zoeksleutel), self.bron)
        if _field(checked, "resultaat") != "Geslaagd":
            raise RuntimeError(f"sessiecontrole: {checked[:300]!r}")
        closed = self.call("afmelding", _afmelding(sessie_id), self.doel)
        if _field(closed, "resultaat") != "OverdrachtGeslaagd":  # the TC's acknowledgement
            raise RuntimeError(f"afmelding: {closed[:300]!r}")


def _client_process(index: int, ports: dict, parties: dict, conn) -> None:
    doel = Credentials.from_files(*parties["doel"])
    bron = Credentials.from_files(*parties["bron"])
    clients = {mode: Client(port, mode.startswith("signed"), doel, bron, f"bench.{mode}.{os.getpid()}.{index}")
               for mode, port in ports.items()}
    conn.send("ready")
    while True:
        command = conn.recv()
        if command is None:
            return
        mode, cycles = command
        clients[mode].conn.close()  # a fresh connection: the server closes one idle for 2 s (gunicorn keepalive)
        started = time.perf_counter()
        try:
            for _ in range(cycles):
                clients[mode].cycle()
        except Exception as exc:  # noqa: BLE001 - reported to the parent, which stops the bench
            conn.send(("error", f"{type(exc).__name__}: {exc}"))
            continue
        conn.send(("ok", time.perf_counter() - started))


# --------------------------------------------------------------------------------------------- the servers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> set[int]:
    kids: set[int] = set()
    for name in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            kids.update(int(x) for x in name.read_text().split())
        except OSError:
            pass
    return kids


def _cpu_seconds(pids) -> float:
    """user + system CPU time of these processes (their own, not their children's), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / tick


def _database(url: str) -> None:
    db = Database(url)
    db.migrate()
    register_parties(db)
    db.dispose()


def start_signed(folder: Path, name: str, pki: Path, workers: int, threads: int,
                 extra: str = "") -> tuple[subprocess.Popen, int, Path]:
    """`oso-gateway serve` with its defaults, plus the settings in ``extra`` (TOML lines)."""
    port = _free_port()
    url = f"sqlite:///{folder / (name + '.db')}"
    _database(url)
    config = folder / f"{name}.toml"
    config.write_text(
        "[gateway]\n"
        f'host = "127.0.0.1"\nport = {port}\nworkers = {workers}\nthreads = {threads}\nlog_level = "warning"\n'
        f'cert = "{pki / "gateway.cert.pem"}"\nkey = "{pki / "gateway.key.pem"}"\n'
        f'ca = "{pki / "ca.pem"}"\ncrl = "{pki / "crl.pem"}"\ndatabase_url = "{url}"\n{extra}', encoding="utf-8")
    proc, log = start_serve(folder, "--config", str(config), log=f"{name}.log")
    return proc, port, log


def start_unsigned(folder: Path, workers: int, threads: int) -> tuple[subprocess.Popen, int, Path]:
    """gunicorn with the settings `oso-gateway serve` gives it (gateway/web/server.py), serving the stand-in."""
    port = _free_port()
    url = f"sqlite:///{folder / 'unsigned.db'}"
    _database(url)
    log = folder / "unsigned.log"
    argv = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--worker-class", "gthread", "--threads", str(threads), "--timeout", "60", "--log-level", "warning",
            "--access-logfile", "-", "--pythonpath", f"{REPO / 'bench'},{REPO}", "tc_insecure_app:create_app()"]
    with open(log, "wb") as sink:
        proc = subprocess.Popen(argv, cwd=folder, env=clean_env(BENCH_DATABASE_URL=url), stdout=sink,
                                stderr=subprocess.STDOUT)
    return proc, port, log


# --------------------------------------------------------------------------------------------- the run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    parser.add_argument("--cycles", type=int, default=60,
                        help="sessions per client per batch (3 operations each; default 60)")
    parser.add_argument("--rounds", type=int, default=5, help="timed batches per server (default 5)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="per worker (the serve default)")
    args = parser.parse_args()

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-tc-") as tmp:
        folder = Path(tmp)
        pki = folder / "pki"
        init_pki(pki)
        doel, bron = issue(pki, "doel-las", DOEL_OIN), issue(pki, "bron-las", BRON_OIN)
        parties = {"doel": (str(doel.cert_path), str(doel.key_path)),
                   "bron": (str(bron.cert_path), str(bron.key_path))}
        servers = {"signed": start_signed(folder, "signed", pki, args.workers, args.threads)}
        if JOURNAL_SETTING:  # the same server without its message journal: what the security layer alone costs
            servers["signed_nojournal"] = start_signed(folder, "signed_nojournal", pki, args.workers, args.threads,
                                                       "journal = 0\n")
        servers["unsigned"] = start_unsigned(folder, args.workers, args.threads)
        ctx = multiprocessing.get_context("fork")
        pipes, procs = [], []
        try:
            for proc, port, log in servers.values():
                wait_healthy(f"http://127.0.0.1:{port}", proc, log, timeout=START_TIMEOUT,
                             ready=lambda: len(_children(proc.pid)) >= 2, error=SystemExit)
            ports = {mode: port for mode, (_, port, _) in servers.items()}
            for i in range(args.clients):
                parent, child = ctx.Pipe()
                p = ctx.Process(target=_client_process, args=(i, ports, parties, child), daemon=True)
                p.start()
                pipes.append(parent)
                procs.append(p)
            for pipe in pipes:
                if not pipe.poll(30) or pipe.recv() != "ready":
                    raise SystemExit("a client process did not start")

            def batch(mode: str, cycles: int) -> tuple[float, float, float]:
                """(operations per second, server CPU seconds, client CPU seconds) of one batch on one server."""
                workers = _children(servers[mode][0].pid)
                cpu, client_cpu = _cpu_seconds(workers), _cpu_seconds(p.pid for p in procs)
                t0 = time.perf_counter()
                for pipe in pipes:
                    pipe.send((mode, cycles))
                for pipe in pipes:
                    if not pipe.poll(120):
                        raise SystemExit(f"{mode}: a client did not finish its batch")
                    status, value = pipe.recv()
                    if status != "ok":
                        log = servers[mode][2].read_text(errors="replace")[-3000:]
                        raise SystemExit(f"{mode}: a client failed: {value}\n{mode} server's log:\n{log}")
                seconds = time.perf_counter() - t0
                if _children(servers[mode][0].pid) != workers:
                    raise SystemExit(f"{mode}: a worker was replaced during the batch")
                return (3 * cycles * len(pipes) / seconds, _cpu_seconds(workers) - cpu,
                        _cpu_seconds(p.pid for p in procs) - client_cpu)

            for mode in servers:  # warm-up: every worker has loaded, compiled and connected
                batch(mode, max(2, args.cycles // 8))
            rates = {mode: [] for mode in servers}
            cpu_ms = {mode: [] for mode in servers}
            client_ms = {mode: [] for mode in servers}
            ops = 3 * args.cycles * args.clients
            for r in range(args.rounds):
                order = list(servers)[r % len(servers):] + list(servers)[:r % len(servers)]  # who goes first rotates
                for mode in order:
                    rate, cpu, client_cpu = batch(mode, args.cycles)
                    rates[mode].append(rate)
                    cpu_ms[mode].append(1000 * cpu / ops)
                    client_ms[mode].append(1000 * client_cpu / ops)
        finally:
            for pipe in pipes:
                try:
                    pipe.send(None)
                except OSError:
                    pass
            for p in procs:
                p.join(timeout=10)
                if p.is_alive():
                    p.kill()
            for proc, _, _ in servers.values():
                stop(proc)

    median = {mode: statistics.median(rates[mode]) for mode in servers}
    cpu = {mode: statistics.median(cpu_ms[mode]) for mode in servers}
    out("python", sys.version.split()[0])
    out("cpus", os.cpu_count())
    out("server_workers", args.workers)
    out("server_threads_per_worker", args.threads)
    out("client_processes", args.clients)
    out("operations_per_batch", 3 * args.cycles * args.clients)
    out("rounds", args.rounds)
    for mode in servers:
        out(f"{mode}_ops_per_s", median[mode])
    for mode in servers:
        if mode != "unsigned":
            out(f"{mode}_share_of_unsigned", median[mode] / median["unsigned"])
    for mode in servers:
        out(f"{mode}_ops_per_s_by_round", " ".join(f"{x:.1f}" for x in rates[mode]))
    for mode in servers:
        out(f"{mode}_server_cpu_ms_per_op", cpu[mode])
    for mode in servers:
        out(f"{mode}_client_cpu_ms_per_op", statistics.median(client_ms[mode]))
    out("goal_signed_ge_33pct_of_unsigned", "met" if median["signed"] / median["unsigned"] >= GOAL else "MISSED")
    out("run_seconds", time.perf_counter() - started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
