"""``oso-gateway serve`` as a child process, for the tests and the bench: started in a folder with an environment
without ``OSO_GATEWAY_*`` (the config file or ``--dev`` is what counts), its output in a log file; healthy once
/health answers; stopped with SIGTERM (killed when it does not stop)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def clean_env(**extra) -> dict:
    """This process's environment without OSO_GATEWAY_*, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OSO_GATEWAY_")}
    env.update(extra)
    return env


def start_serve(folder: Path, *args: str, env: dict | None = None, log: str = "serve.log",
                **popen) -> tuple[subprocess.Popen, Path]:
    """``oso-gateway serve ARGS`` in ``folder``; stdout and stderr go to ``folder/log`` (a file, not a pipe: nobody
    need read it while the server runs)."""
    path = Path(folder) / log
    with open(path, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "gateway", "serve", *args], cwd=folder,
                                env=clean_env() if env is None else env, stdout=out, stderr=subprocess.STDOUT,
                                **popen)
    return proc, path


def tail(log: Path, size: int = 3000) -> str:
    return log.read_text(errors="replace")[-size:] if log.exists() else ""


def wait_healthy(url: str, proc: subprocess.Popen, log: Path, *, session=None, timeout: float = 40,
                 ready=lambda: True, error: type[BaseException] = AssertionError) -> None:
    """Until ``url``/health answers 200 (through ``session`` when given) and ``ready()``; ``error`` with the log's
    tail when the server exits or the time runs out."""
    import requests

    get = (session or requests).get
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise error(f"serve exited with {proc.returncode}:\n{tail(log)}")
        try:
            if get(url + "/health", timeout=1).status_code == 200 and ready():
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise error(f"serve at {url} did not become healthy in {timeout} s:\n{tail(log)}")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM, and a kill when it has not stopped after 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
