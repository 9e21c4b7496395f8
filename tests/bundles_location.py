"""The one place that says where the tests (and benchmarks) find the official dossier bundles.

A bundles dir holds one folder per standaardversie (``2019.1/``). Which one: the environment's
``OSO_GATEWAY_BUNDLES_DIR`` when set; else ``../shared/oso-gegevensset`` beside the clone, when it is there (the
development machine's reference copy); else ``var/bundles`` of the clone, where ``oso-gateway bundles fetch`` (and
``make test``, when neither of the others is there) puts them.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _bundles_dir() -> Path:
    configured = os.environ.get("OSO_GATEWAY_BUNDLES_DIR")
    if configured:
        return Path(configured)
    shared = REPO.parent / "shared" / "oso-gegevensset"
    if shared.is_dir():
        return shared
    return REPO / "var" / "bundles"


BUNDLES_DIR = _bundles_dir()
GEGEVENSSET = BUNDLES_DIR / "2019.1"
