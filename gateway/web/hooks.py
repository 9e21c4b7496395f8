"""What ``serve`` sets up for the servicedesk: JSON logs in gunicorn, the metrics folder the workers share, the
dashboard's session key, and each worker's hourly journal purge."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

from .jsonlog import ACCESS_LOG_FORMAT, gunicorn_logconfig


def prepare(config) -> str:
    """Before the workers start: the metrics folder (emptied; returned) and the dashboard key (made if missing)."""
    from .auth import load_or_make_key
    from .metrics import use_multiprocess

    folder = config.metrics_dir
    if not folder:
        folder = tempfile.mkdtemp(prefix="oso-gateway-metrics-")
        master = os.getpid()
        # removed when the master exits (a worker runs atexit too, but must leave it to the others)
        atexit.register(lambda: os.getpid() == master and shutil.rmtree(folder, ignore_errors=True))
    use_multiprocess(folder)
    load_or_make_key(config.dashboard_key)
    return folder


def _post_worker_init(worker) -> None:
    start = getattr(worker.wsgi, "start_housekeeping", None)
    if start is not None:
        start()


def _child_exit(server, worker) -> None:
    from .metrics import worker_exited

    worker_exited(worker.pid)


def gunicorn_settings(cfg, config) -> None:
    """gunicorn's settings for the servicedesk (called from the application's ``load_config``)."""
    cfg.set("access_log_format", ACCESS_LOG_FORMAT)  # no query strings, no referers
    if config.log_format == "json":
        cfg.set("logconfig_dict", gunicorn_logconfig(config.log_level))
    cfg.set("post_worker_init", _post_worker_init)
    cfg.set("child_exit", _child_exit)
