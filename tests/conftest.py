"""Shared fixtures: one test PKI per session (real keys, made here, kept in a temporary folder)."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gateway.pki import IssuedParty, init_pki, issue
from gateway.wsse import Credentials, MemoryReplayStore, Policy, TrustStore

from .bundles_location import GEGEVENSSET

pytest_plugins = ["tests.dbfixtures"]

POVO_FULL = GEGEVENSSET / "OV" / "examples" / "Voorbeelddossier_OV_POVO_full.xml"

VENDOR_OIN = "00000001234567890000"
OTHER_OIN = "00000001555555550000"
ENDPOINT = "http://localhost:8080/tc"


@dataclass
class TestPki:
    """A test PKI with a few parties, each issued once on first use."""

    dir: Path
    gateway: IssuedParty
    _parties: dict = field(default_factory=dict)
    _creds: dict = field(default_factory=dict)

    __test__ = False  # not a test class

    @property
    def ca(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def crl(self) -> Path:
        return self.dir / "crl.pem"

    def party(self, name: str, oin: str = VENDOR_OIN, **flags) -> IssuedParty:
        if name not in self._parties:
            self._parties[name] = issue(self.dir, name, oin, **flags)
        return self._parties[name]

    def credentials(self, name: str = "vendor", oin: str = VENDOR_OIN, **flags) -> Credentials:
        if name not in self._creds:
            p = self.gateway if name == "gateway" else self.party(name, oin, **flags)
            self._creds[name] = Credentials.from_files(p.cert_path, p.key_path)
        return self._creds[name]

    def trust(self) -> TrustStore:
        return TrustStore.from_files(self.ca, self.crl)


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> TestPki:
    d = tmp_path_factory.mktemp("pki")
    return TestPki(d, init_pki(d))


@pytest.fixture
def replay() -> MemoryReplayStore:
    return MemoryReplayStore()


@pytest.fixture
def policy() -> Policy:
    return Policy(endpoint=ENDPOINT)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
