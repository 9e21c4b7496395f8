"""Certificate trust: chain to the configured anchors, validity period, revocation (CRL), key usage, OIN.

Path building and chain signature checks are done by ``cryptography.x509.verification`` (the Rust verifier of
the cryptography project, web-PKI rules for the CAs); this module adds what the WUS profile asks on top: the
CRL of every issuer in the chain, digitalSignature key usage, and the OIN from ``subject.serialNumber`` (PKI001).
Verdicts for a certificate are cached by its fingerprint (a chain walk costs ~50 µs, a message should not) and
dropped whenever the CRLs change.

**Live CRLs.** A store made from files (``from_files``) keeps watching its CRL file: at most every
``reload_interval`` seconds (default 5) a ``check`` looks at the file's inode, size and mtime (one ``stat``) and reads
it again when they changed, when a loaded CRL has passed its nextUpdate, or every ``REREAD_S`` seconds in any case
(a file rewritten in place within the mtime's granularity). So a vendor revoked while ``serve`` runs is refused by
every worker within seconds, without a restart. A file that cannot be read, holds no CRL, or holds a CRL that does
not verify leaves the last good CRLs in force, and is logged (once per change of the file). Revocation stays fail
closed as before: a certificate whose issuer's CRL is past its nextUpdate is refused (PKI002) until a fresh CRL is
read.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from .errors import FailedAuthentication, InvalidSecurityToken, ServerSecurityError

log = logging.getLogger("oso.gateway.trust")

OIN_PATTERN = re.compile(r"[0-9]{20}")
CRL_RELOAD_INTERVAL_S = 5.0  # how often (at most) a check looks at the CRL file
REREAD_S = 300.0  # read the CRL file again after this long even when its stat() looks unchanged
MAX_CRL_FILE_BYTES = 256 * 1024 * 1024  # a file larger than this is not taken for a CRL file
_PEM_BLOCK = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n.*?-----END \1-----\r?\n?", re.S)


def oin_of(cert: x509.Certificate) -> str | None:
    """The OIN in the certificate's ``subject.serialNumber`` (PKI001), or None when there is none."""
    values = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)]
    if len(values) == 1 and isinstance(values[0], str) and OIN_PATTERN.fullmatch(values[0]):
        return values[0]
    return None


def pem_blocks(data: bytes, label: bytes) -> list[bytes]:
    return [m.group(0) for m in _PEM_BLOCK.finditer(data) if m.group(1) == label]


def load_certificates(data: bytes) -> list[x509.Certificate]:
    return x509.load_pem_x509_certificates(data) if b"-----BEGIN CERTIFICATE-----" in data else []


def load_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    return [x509.load_pem_x509_crl(block) for block in pem_blocks(data, b"X509 CRL")]


def crls_in_pem(data: bytes) -> list[x509.CertificateRevocationList]:
    """The CRLs of a PEM file that must hold some: ValueError when it holds none or one cannot be read."""
    try:
        crls = load_crls(data)
    except ValueError:
        raise ValueError("a PEM 'X509 CRL' block in it is not a readable CRL") from None
    if not crls:
        raise ValueError("holds no CRL (no PEM 'X509 CRL' block)")
    return crls


def _read_crl_file(path: Path) -> tuple[bytes, tuple]:
    """The bytes of a CRL file and the (device, inode, size, mtime_ns) of what was read (one open file)."""
    with open(path, "rb") as f:
        st = os.fstat(f.fileno())
        if st.st_size > MAX_CRL_FILE_BYTES:
            raise ValueError(f"is larger than {MAX_CRL_FILE_BYTES} bytes")
        data = f.read(MAX_CRL_FILE_BYTES + 1)
    return data, (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class _Revocation:
    """What the CRLs (as set when the verdict was made) say of one certificate of the chain."""

    is_leaf: bool
    has_crl: bool
    next_update: datetime | None
    revoked_at: datetime | None


@dataclass(frozen=True)
class _ChainVerdict:
    chain: tuple[x509.Certificate, ...]
    not_before: datetime
    not_after: datetime
    oin: str | None
    revocation: tuple[_Revocation, ...] = ()


def _as_utc(when: datetime | None) -> datetime:
    if when is None:
        return datetime.now(timezone.utc)
    if when.tzinfo is None:
        raise ValueError("times must be timezone-aware")
    return when.astimezone(timezone.utc)


@dataclass(frozen=True)
class CrlStatus:
    """What a store knows of its CRL file (for the dashboard's health page and the logs)."""

    path: str | None
    loaded_at: datetime | None  # when the CRLs in force were read
    next_update: datetime | None  # the earliest nextUpdate among them
    reloads: int  # how often a changed file was taken up since start
    problem: str | None  # why the file as it is now is not in force (the last good CRLs are), or None


def _ca_key(ca: x509.Certificate) -> bytes:
    """A CA as its CRLs name it: its subject, and the key that signs them."""
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    spki = ca.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return ca.subject.public_bytes() + b"\x00" + spki


class TrustStore:
    """Trust anchors, intermediate CAs and CRLs, with a per-certificate verdict cache; made from files, it reloads
    its CRLs when the file changes (see the module's docstring)."""

    def __init__(
        self,
        certificates: Iterable[x509.Certificate],
        crls: Iterable[x509.CertificateRevocationList] = (),
        *,
        require_revocation: bool | None = None,
        crl_path: str | Path | None = None,
        reload_interval: float | None = CRL_RELOAD_INTERVAL_S,
        clock=None,
    ):
        certs = list(certificates)
        self.anchors = [c for c in certs if c.issuer == c.subject]
        self.intermediates = [c for c in certs if c.issuer != c.subject]
        if not self.anchors:
            raise ValueError("no trust anchor (self-signed root CA certificate) among the CA certificates")
        self._store = verification.Store(self.anchors)
        self._policy_ee = verification.ExtensionPolicy.permit_all()
        self._policy_ca = verification.ExtensionPolicy.webpki_defaults_ca()
        self._lock = threading.Lock()
        self._cache: dict[x509.Certificate, _ChainVerdict] = {}  # certificates compare and hash by their DER
        self._generation = 0
        self._crls: dict[bytes, x509.CertificateRevocationList] = {}
        self._next_update: datetime | None = None
        # the wall clock for nextUpdate (tests move it); the monotonic one paces the polling
        self._clock = clock or (lambda: datetime.now(timezone.utc))
        self._loaded_at: datetime | None = None
        self.set_crls(crls)
        # With CRLs configured, a certificate whose issuer has none is refused (fail closed).
        self.require_revocation = bool(self._crls) if require_revocation is None else require_revocation
        # the CRL file, watched when given (from_files): what was read of it, and when to look again
        self.crl_path = Path(crl_path) if crl_path else None
        self.reload_interval = reload_interval if self.crl_path is not None else None
        self._reload_lock = threading.Lock()
        self._next_poll = time.monotonic() + (self.reload_interval or 0.0)
        self._next_reread = time.monotonic() + REREAD_S
        self._file_stat: tuple | None = None  # (device, inode, size, mtime_ns) of the file as last read
        self._file_digest: bytes | None = None  # SHA-256 of the content in force
        self._problem: str | None = None
        self._trouble_key = None
        self._reloads = 0

    @classmethod
    def from_pem(cls, ca_pem: bytes, crl_pem: bytes | None = None, **kwargs) -> "TrustStore":
        """``crl_pem`` None: no CRLs. Given, it must hold at least one PEM CRL (ValueError otherwise): a wrong or
        empty file is never taken for "nothing is revoked"."""
        crls = () if crl_pem is None else crls_in_pem(crl_pem)
        return cls(load_certificates(ca_pem), crls, **kwargs)

    @classmethod
    def from_files(cls, ca_path: str | Path, crl_path: str | Path | None = None, *,
                   reload_interval: float | None = CRL_RELOAD_INTERVAL_S, **kwargs) -> "TrustStore":
        """The CA certificates of ``ca_path`` and the CRLs of ``crl_path`` (None or "": none; a file that holds no
        CRL is refused with a ValueError naming it). With a CRL file, the store reloads it when it changes, looking
        at most every ``reload_interval`` seconds (None: never)."""
        crls, stat, digest = (), None, None
        if crl_path:
            try:
                data, stat = _read_crl_file(Path(crl_path))
                crls = crls_in_pem(data)
            except ValueError as exc:
                raise ValueError(f"{crl_path}: {exc}") from None
            digest = hashlib.sha256(data).digest()
        store = cls(load_certificates(Path(ca_path).read_bytes()), crls, crl_path=crl_path or None,
                    reload_interval=reload_interval, **kwargs)
        store._file_stat, store._file_digest = stat, digest
        return store

    @property
    def has_crls(self) -> bool:
        """Whether CRLs were given: without them revocation is not checked at all."""
        return bool(self._crls)

    def set_crls(self, crls: Iterable[x509.CertificateRevocationList]) -> None:
        """Replace the CRLs (after checking each is signed by a CA we know) and drop cached verdicts. A ValueError
        leaves the CRLs in force unchanged."""
        by_issuer: dict[bytes, x509.CertificateRevocationList] = {}
        # Several CAs may bear one name (two test PKIs, a re-keyed CA): a CRL belongs to the CA whose key signed
        # it, never to whichever CA of that name came last.
        named: dict[bytes, list[x509.Certificate]] = {}
        for c in self.anchors + self.intermediates:
            named.setdefault(c.subject.public_bytes(), []).append(c)
        for crl in crls:
            candidates = named.get(crl.issuer.public_bytes())
            if not candidates:
                raise ValueError(f"a CRL from an unknown issuer: {crl.issuer.rfc4514_string()}")
            issuer = next((c for c in candidates if crl.is_signature_valid(c.public_key())), None)
            if issuer is None:
                raise ValueError(f"the CRL of {crl.issuer.rfc4514_string()} has an invalid signature")
            by_issuer[_ca_key(issuer)] = crl
        updates = [c.next_update_utc for c in by_issuer.values() if c.next_update_utc is not None]
        with self._lock:
            self._crls = by_issuer
            self._next_update = min(updates) if updates else None
            self._loaded_at = self._clock()
            self._cache = {}
            self._generation += 1

    # ---- live CRLs ------------------------------------------------------------------------------------------------

    def crl_status(self) -> CrlStatus:
        return CrlStatus(str(self.crl_path) if self.crl_path else None, self._loaded_at, self._next_update,
                         self._reloads, self._problem)

    def refresh_crls(self, *, force: bool = False) -> bool:
        """Read the CRL file again if it changed (or when ``force``, or a CRL in force is past its nextUpdate, or it
        was last read ``REREAD_S`` ago); True when new CRLs were taken up. Never raises: a file that cannot be
        used keeps the CRLs in force, and is logged once per change."""
        if self.crl_path is None:
            return False
        with self._reload_lock:
            return self._refresh(force)

    def _maybe_refresh(self) -> None:
        """Called by every check: one monotonic clock read, a stat() at most every ``reload_interval`` seconds."""
        if self.reload_interval is None or time.monotonic() < self._next_poll:
            return
        if not self._reload_lock.acquire(blocking=False):
            return  # another thread is reading the file: judge with the CRLs in force meanwhile
        try:
            if time.monotonic() >= self._next_poll:
                self._refresh(False)
        except Exception:  # a check must never fail because the watcher did
            log.exception("checking the CRL file %s failed; the CRLs in force are kept", self.crl_path)
        finally:
            self._reload_lock.release()

    def _refresh(self, force: bool) -> bool:
        now = time.monotonic()
        self._next_poll = now + (self.reload_interval or 0.0)
        path = self.crl_path
        try:
            st = os.stat(path)
        except OSError as exc:
            self._trouble(("stat", exc.errno), f"cannot be read ({exc.strerror or exc})")
            return False
        stat = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        stale = self._next_update is not None and self._clock() >= self._next_update
        if not (force or stale or stat != self._file_stat or now >= self._next_reread):
            return False
        self._next_reread = now + REREAD_S
        try:
            data, stat = _read_crl_file(path)
        except (OSError, ValueError) as exc:
            self._file_stat = stat
            self._trouble(("read", stat, str(exc)), f"cannot be read ({getattr(exc, 'strerror', None) or exc})")
            return False
        self._file_stat = stat
        digest = hashlib.sha256(data).digest()
        if digest == self._file_digest:
            if stale:
                self._trouble(("stale", digest), "holds no CRL newer than the one past its nextUpdate "
                              f"({self._next_update.isoformat(timespec='seconds')}): certificates of that issuer are "
                              "refused (PKI002) until a fresh CRL is put there")
            elif self._problem is not None:  # back to the content in force: nothing to complain about any more
                log.info("the CRL file %s holds the CRLs in force again", path, extra={"crl_file": str(path)})
                self._problem = self._trouble_key = None
            return False
        try:
            crls = crls_in_pem(data)
            self.set_crls(crls)
        except ValueError as exc:
            self._trouble(("invalid", digest), f"is not usable ({exc})")
            return False
        self._file_digest = digest
        self._reloads += 1
        self._problem = self._trouble_key = None
        log.info("reloaded the CRLs from %s: %d CRL(s), the earliest nextUpdate %s", path, len(crls),
                 self._next_update.isoformat(timespec="seconds") if self._next_update else "none",
                 extra={"crl_file": str(path), "crls": len(crls)})
        return True

    def _trouble(self, key, text: str) -> None:
        """A CRL file that cannot be taken up: the last good CRLs stay in force; logged once per distinct problem."""
        problem = f"{self.crl_path} {text}; the CRLs read at " + (
            self._loaded_at.isoformat(timespec="seconds") if self._loaded_at else "start") + " stay in force"
        if self._trouble_key != key:
            self._trouble_key = key
            log.warning("the CRL file %s", problem, extra={"crl_file": str(self.crl_path)})
        self._problem = problem

    def check(self, cert: x509.Certificate, at: datetime | None = None) -> str:
        """Judge ``cert`` as a message signer at time ``at``; return its OIN or raise a refusal."""
        self._maybe_refresh()
        at = _as_utc(at)
        if cert.not_valid_before_utc > at:
            raise FailedAuthentication("PKI002", "the signing certificate is not yet valid")
        if cert.not_valid_after_utc < at:
            raise FailedAuthentication("PKI002", "the signing certificate has expired")
        verdict = self._cache.get(cert)
        if verdict is None:
            generation = self._generation
            verdict = self._build(cert, at)
            with self._lock:
                if generation == self._generation:  # not when the CRLs changed meanwhile
                    self._cache[cert] = verdict
        if not (verdict.not_before <= at <= verdict.not_after):
            raise FailedAuthentication("PKI002", "a CA certificate in the chain is not valid at this time")
        self._check_revocation(verdict.revocation, at)
        if verdict.oin is None:
            raise FailedAuthentication(
                "PKI001", "the signing certificate carries no OIN (20 digits) in subject.serialNumber"
            )
        return verdict.oin

    def _build(self, cert: x509.Certificate, at: datetime) -> _ChainVerdict:
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        except x509.ExtensionNotFound:
            usage = None
        except ValueError:
            raise InvalidSecurityToken("WB009", "the signing certificate has malformed extensions") from None
        if usage is None or not usage.digital_signature:
            raise FailedAuthentication("GW-KEYUSAGE", "the signing certificate does not allow digitalSignature")
        verifier = (
            verification.PolicyBuilder()
            .store(self._store)
            .time(at)
            .extension_policies(ca_policy=self._policy_ca, ee_policy=self._policy_ee)
            .build_client_verifier()
        )
        try:
            verified = verifier.verify(cert, self.intermediates)
        except Exception:  # VerificationError, or anything an odd certificate makes the verifier raise
            raise FailedAuthentication(
                "PKI002", "the signing certificate does not chain to a trusted root"
            ) from None
        chain = tuple(verified.chain)
        crls = self._crls
        revocation = []
        for c, issuer in zip(chain, chain[1:]):
            crl = crls.get(_ca_key(issuer))
            entry = crl.get_revoked_certificate_by_serial_number(c.serial_number) if crl is not None else None
            revocation.append(_Revocation(
                is_leaf=c is chain[0],
                has_crl=crl is not None,
                next_update=crl.next_update_utc if crl is not None else None,
                revoked_at=entry.revocation_date_utc if entry is not None else None,
            ))
        return _ChainVerdict(
            chain=chain,
            not_before=max(c.not_valid_before_utc for c in chain),
            not_after=min(c.not_valid_after_utc for c in chain),
            oin=oin_of(cert),
            revocation=tuple(revocation),
        )

    def _check_revocation(self, revocation: tuple[_Revocation, ...], at: datetime) -> None:
        for r in revocation:
            if not r.has_crl:
                if self.require_revocation and r.is_leaf:
                    raise ServerSecurityError("PKI002", "no revocation list is configured for the certificate's issuer")
                continue
            if r.next_update is not None and r.next_update < at:
                raise ServerSecurityError("PKI002", "the revocation list of the certificate's issuer is out of date")
            if r.revoked_at is not None and r.revoked_at <= at:
                which = "signing certificate" if r.is_leaf else "a CA certificate in its chain"
                raise FailedAuthentication("PKI002", f"the {which} has been revoked")
