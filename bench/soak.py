"""A soak under faults: signed transfers from several client processes against ``oso-gateway serve`` (two workers)
on PostgreSQL, for minutes, with one worker killed (``kill -9``) and PostgreSQL restarted once mid-run.

Not part of CI (it restarts the machine's PostgreSQL and runs for ten minutes); see bench/README.md. Run it on a
quiet machine:

    .venv/bin/python bench/soak.py                    # 10 minutes, 3 client processes
    .venv/bin/python bench/soak.py --minutes 3 --clients 2

What it checks, from what the clients saw and what the database holds afterwards:

- ``acknowledged_lost``: sessions whose afmelding the TC acknowledged (OverdrachtGeslaagd) that the database does not
  hold as closed with that result. Must be 0.
- ``releases_per_session_max``: release-log rows of one session for one requester. Must be 1.
- ``failed_by_kill``, ``failed_by_restart``: transfers that ended without a dossier within 15 s of the kill or the
  restart (retries of transient failures should carry them through). Goal 0.
- ``recovery_after_kill_s``: seconds from the kill until throughput over 10 s is back to ≥ 90 % of its median
  before the kill (goal ≤ 30); likewise ``recovery_after_restart_s``.
- ``worker_rss_growth_pct``: growth of each worker's memory from its first minute (after 30 s of warm-up; for the
  worker that replaced the killed one, its own first minute) to the run's last minute: the largest (goal ≤ 10 %).
- ``transfers``, ``transfers_per_s``, ``error_rate``.

Prints ``name: value`` lines.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO)]

from tests.bundles_location import BUNDLES_DIR  # noqa: E402
from tests.serve_process import clean_env, start_serve, stop, wait_healthy  # noqa: E402

ADMIN_URL = "postgresql://root@127.0.0.1:5432/test"
PUPILS = ("127095823", "127095824")  # the test school's pupils whose dossiers are released (PO-VO, VO-VO)


def out(name: str, value) -> None:
    print(f"{name}: {value:.2f}" if isinstance(value, float) else f"{name}: {value}", flush=True)


def _client(folder: str, config_path: str, until: float, log_path: str, index: int) -> None:
    """One client process: transfers until ``until``, one JSON line per transfer."""
    os.chdir(folder)
    from gateway.client.target import Doelsysteem
    from gateway.config import load_config
    from gateway.store.testschool import TEST_BRIN, TEST_DOEL_BRIN, TEST_DOEL_ROUTERINGSKENMERK

    config = load_config(config_path)
    target = Doelsysteem.from_config(config, timeout=15)
    n = 0
    with open(log_path, "a", encoding="utf-8") as log:
        while time.time() < until:
            pupil = PUPILS[(index + n) % len(PUPILS)]
            n += 1
            t0 = time.time()
            try:
                account = target.transfer(pgn=pupil, bron_brin=TEST_BRIN, doel_brin=TEST_DOEL_BRIN,
                                          doel_routeringskenmerk=TEST_DOEL_ROUTERINGSKENMERK)
                record = {"t0": t0, "t1": time.time(), "sessie": account.sessie_id, "resultaat": account.resultaat,
                          "confirmed": account.confirmed, "dossier": account.dossier is not None,
                          "exit": account.exit_code, "retries": sum(1 for s in account.steps if s.attempt > 1),
                          "failures": [f"{s.operation}:{s.failure.kind}:{s.failure.text[:80]}"
                                       for s in account.steps if s.failure is not None]}
            except Exception as exc:  # noqa: BLE001 - a soak records, it does not stop
                record = {"t0": t0, "t1": time.time(), "sessie": None, "resultaat": None, "confirmed": False,
                          "dossier": False, "exit": -1, "retries": 0, "failures": [f"exception:{exc!r}"[:160]]}
            log.write(json.dumps(record) + "\n")
            log.flush()


def _children(pid: int) -> list[int]:
    kids = []
    for path in Path(f"/proc/{pid}/task").glob("*/children"):
        kids += [int(x) for x in path.read_text().split()]
    return kids


def _rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _restart_postgres() -> float:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    t0 = time.time()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"], check=True,
                   capture_output=True, timeout=120)
    return time.time() - t0


def _window_rate(records, start: float, end: float) -> float:
    return sum(1 for r in records if r["dossier"] and start <= r["t1"] < end) / max(end - start, 1e-9)


def _recovery(records, event: float, baseline: float, end: float) -> float | None:
    """Seconds from ``event`` until a 10 s window reaches 90 % of ``baseline`` (None: never)."""
    t = event
    while t + 10 <= end:
        if _window_rate(records, t, t + 10) >= 0.9 * baseline:
            return t - event
        t += 1
    return None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="how long the clients run (default 10)")
    ap.add_argument("--clients", type=int, default=3, help="client processes (default 3)")
    ap.add_argument("--admin-url", default=ADMIN_URL, help="PostgreSQL to make the soak's database in")
    ap.add_argument("--no-kill", action="store_true", help="do not kill a worker")
    ap.add_argument("--no-restart", action="store_true", help="do not restart PostgreSQL")
    args = ap.parse_args()

    import psycopg
    from psycopg import sql

    name = f"oso_soak_{secrets.token_hex(4)}"
    with psycopg.connect(args.admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database_url = args.admin_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + "/" + name
    folder = Path(tempfile.mkdtemp(prefix="oso-soak-"))
    port = int(subprocess.check_output([sys.executable, "-c", "import socket; s=socket.socket(); "
                                        "s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"]).decode())
    config_path = folder / "gateway.toml"
    config_path.write_text(f'[gateway]\nport = {port}\nworkers = 2\ndatabase_url = "{database_url}"\n'
                           f'log_level = "warning"\nbundles_dir = "{BUNDLES_DIR if BUNDLES_DIR.is_dir() else ""}"\n',
                           encoding="utf-8")
    proc, log = start_serve(folder, "--dev", "--config", str(config_path), env=clean_env())
    records: list[dict] = []
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc, log, timeout=60)
        duration = args.minutes * 60
        start = time.time() + 5  # the clients build their zeep clients first
        until = start + duration
        logs = [folder / f"client{i}.jsonl" for i in range(args.clients)]
        ctx = multiprocessing.get_context("spawn")
        clients = [ctx.Process(target=_client, args=(str(folder), str(config_path), until, str(path), i))
                   for i, path in enumerate(logs)]
        for c in clients:
            c.start()
        kill_at = start + duration / 3
        restart_at = start + 2 * duration / 3
        killed_at = restarted_at = None
        restart_s = None
        rss: dict[int, list[tuple[float, int]]] = {}
        while time.time() < until:
            now = time.time()
            for pid in _children(proc.pid):
                kb = _rss_kb(pid)
                if kb:
                    rss.setdefault(pid, []).append((now, kb))
            if not args.no_kill and killed_at is None and now >= kill_at:
                victims = _children(proc.pid)
                if victims:
                    os.kill(victims[0], signal.SIGKILL)
                    killed_at = now
            if not args.no_restart and restarted_at is None and now >= restart_at:
                restarted_at = now
                restart_s = _restart_postgres()
            time.sleep(2)
        for c in clients:
            c.join(timeout=120)
        for path in logs:
            if path.exists():
                records += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
        _report(records, start, until, killed_at, restarted_at, restart_s, rss, database_url)
    finally:
        stop(proc)
        with psycopg.connect(args.admin_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    return 0


def _report(records, start, until, killed_at, restarted_at, restart_s, rss, database_url) -> None:
    from sqlalchemy import text

    from gateway.store import Database

    done = [r for r in records if r["dossier"] and r["confirmed"]]
    out("transfers", len(records))
    out("transfers_ok", len(done))
    out("transfers_per_s", len(done) / (until - start))
    out("error_rate", 1 - len(done) / max(len(records), 1))
    out("retries", sum(r["retries"] for r in records))

    def failed_near(t):
        return sum(1 for r in records if not (r["dossier"] and r["confirmed"]) and t is not None
                   and r["t0"] - 15 <= t <= r["t1"] + 15)

    if killed_at is not None:
        baseline = statistics.median(_window_rate(records, t, t + 10)
                                     for t in range(int(start + 30), int(killed_at - 10)))
        out("throughput_before_kill_per_s", baseline)
        recovery = _recovery(records, killed_at, baseline, until)
        out("recovery_after_kill_s", recovery if recovery is not None else "never")
        out("failed_by_kill", failed_near(killed_at))
    if restarted_at is not None:
        out("postgres_restart_s", restart_s)
        before = statistics.median(_window_rate(records, t, t + 10)
                                   for t in range(int(restarted_at - 60), int(restarted_at - 10)))
        recovery = _recovery(records, restarted_at, before, until)
        out("recovery_after_restart_s", recovery if recovery is not None else "never")
        out("failed_by_restart", failed_near(restarted_at))
    failures: dict[str, int] = {}
    for r in records:
        if not (r["dossier"] and r["confirmed"]):
            key = (r["failures"] or [str(r["resultaat"])])[-1].split(":")[:2]
            failures[":".join(key)] = failures.get(":".join(key), 0) + 1
    for key, count in sorted(failures.items()):
        out(f"failed_{key.replace(':', '_').replace(' ', '_')}", count)

    db = Database(database_url)
    with db.engine.connect() as conn:
        closed = {row[0]: row[1] for row in conn.execute(text("SELECT sessie_id, resultaat FROM sessie "
                                                                 "WHERE status = 'afgemeld'"))}
        per = conn.execute(text("SELECT max(n) FROM (SELECT count(*) AS n FROM school_uitlevering WHERE sha256 "
                                "IS NOT NULL GROUP BY sessie_id, aanvrager_oin) t")).scalar()
    db.dispose()
    lost = [r["sessie"] for r in done if r["sessie"] not in closed]
    out("acknowledged_lost", len(lost))
    out("releases_per_session_max", per or 0)
    growth = []
    for pid, samples in rss.items():
        if killed_at is not None and samples[-1][0] < until - 10:
            continue  # the killed worker
        began = max(start, samples[0][0]) + 30  # a replacement worker: from its own first half minute on
        first = [kb for t, kb in samples if began <= t < began + 60]
        last = [kb for t, kb in samples if t >= until - 60]
        if first and last:
            growth.append(100.0 * (statistics.median(last) - statistics.median(first)) / statistics.median(first))
            out(f"worker_{pid}_rss_mb", statistics.median(last) / 1024)
    if growth:
        out("worker_rss_growth_pct", max(growth))


if __name__ == "__main__":
    sys.exit(main())
