"""Certificate trust: chain to the configured anchors, validity period, revocation (CRL), key usage, OIN.

Path building and chain signature checks are done by ``cryptography.x509.verification`` (the Rust verifier of
the cryptography project, web-PKI rules for the CAs); this module adds what the WUS profile asks on top: the
CRL of every issuer in the chain, digitalSignature key usage, and the OIN from ``subject.serialNumber`` (PKI001).
Verdicts for a certificate are cached by its fingerprint (a chain walk costs ~50 µs, a message should not) and
dropped whenever the CRLs change.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable

from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import NameOID

from .errors import FailedAuthentication, InvalidSecurityToken, ServerSecurityError

OIN_PATTERN = re.compile(r"[0-9]{20}")
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


class TrustStore:
    """Trust anchors, intermediate CAs and CRLs, with a per-certificate verdict cache."""

    def __init__(
        self,
        certificates: Iterable[x509.Certificate],
        crls: Iterable[x509.CertificateRevocationList] = (),
        *,
        require_revocation: bool | None = None,
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
        self.set_crls(crls)
        # With CRLs configured, a certificate whose issuer has none is refused (fail closed).
        self.require_revocation = bool(self._crls) if require_revocation is None else require_revocation

    @classmethod
    def from_pem(cls, ca_pem: bytes, crl_pem: bytes | None = None, **kwargs) -> "TrustStore":
        """``crl_pem`` None: no CRLs. Given, it must hold at least one PEM CRL (ValueError otherwise): a wrong or
        empty file is never taken for "nothing is revoked"."""
        crls = () if crl_pem is None else crls_in_pem(crl_pem)
        return cls(load_certificates(ca_pem), crls, **kwargs)

    @classmethod
    def from_files(cls, ca_path: str | Path, crl_path: str | Path | None = None, **kwargs) -> "TrustStore":
        """The CA certificates of ``ca_path`` and the CRLs of ``crl_path`` (None or "": none; a file that holds no
        CRL is refused with a ValueError naming it)."""
        crls = ()
        if crl_path:
            try:
                crls = crls_in_pem(Path(crl_path).read_bytes())
            except ValueError as exc:
                raise ValueError(f"{crl_path}: {exc}") from None
        return cls(load_certificates(Path(ca_path).read_bytes()), crls, **kwargs)

    @property
    def has_crls(self) -> bool:
        """Whether CRLs were given: without them revocation is not checked at all."""
        return bool(self._crls)

    def set_crls(self, crls: Iterable[x509.CertificateRevocationList]) -> None:
        """Replace the CRLs (after checking each is signed by a CA we know) and drop cached verdicts."""
        by_issuer: dict[bytes, x509.CertificateRevocationList] = {}
        cas = {c.subject.public_bytes(): c for c in self.anchors + self.intermediates}
        for crl in crls:
            issuer = cas.get(crl.issuer.public_bytes())
            if issuer is None:
                raise ValueError(f"a CRL from an unknown issuer: {crl.issuer.rfc4514_string()}")
            if not crl.is_signature_valid(issuer.public_key()):
                raise ValueError(f"the CRL of {crl.issuer.rfc4514_string()} has an invalid signature")
            by_issuer[crl.issuer.public_bytes()] = crl
        with self._lock:
            self._crls = by_issuer
            self._cache = {}
            self._generation += 1

    def check(self, cert: x509.Certificate, at: datetime | None = None) -> str:
        """Judge ``cert`` as a message signer at time ``at``; return its OIN or raise a refusal."""
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
            crl = crls.get(issuer.subject.public_bytes())
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
