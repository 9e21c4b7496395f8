"""Structured logs: one JSON object per line, with the fields a log call passes in ``extra`` (the exchange log
carries the MessageID and sessieId). What is logged is decided by the callers; the exchange log is built from the
journal entry, so it holds no pupil data either. gunicorn's access log is written without query strings or
referers (a search in the dashboard must not end up in a log)."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
ACCESS_LOG_FORMAT = '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str, separators=(",", ":"))


def gunicorn_logconfig(level: str) -> dict:
    """A logging.dictConfig for gunicorn (``logconfig_dict``): the root, gunicorn's error and access logs, all
    JSON lines on stderr."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"json": handler},
        "root": {"level": level.upper(), "handlers": ["json"]},
        "loggers": {name: {"level": "INFO", "handlers": ["json"], "propagate": False}
                    for name in ("gunicorn.error", "gunicorn.access")},
    }


def configure(level: str = "info", fmt: str = "json") -> None:
    """Log to stderr, JSON lines or plain text (for commands run outside gunicorn)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
