"""A PKIoverheid-shaped test PKI for the OSO gateway.

Production OSO parties authenticate with PKIoverheid (private root) certificates: two-way TLS, and WS-Security
signatures whose signing certificate carries the party's OIN in ``subject.serialNumber`` (rule PKI001), must be
within its validity period and must not be revoked per the CRL (PKI002, WT004).  For development, the test suite
and the conformance suite we need certificates of that shape without a real CA.  This module makes them.

Everything made here is for testing only: every CA's subject CN and O, and every party's O, say "TEST ONLY", and
the CA private keys sit unencrypted next to the certificates.

Layout of a PKI directory ``DIR`` (all files PEM):

``ca.pem``
    The root CA certificate followed by the issuing CA certificate: the trust store of a verifier.
``crl.pem``
    The issuing CA's CRL followed by the root CA's CRL.  Both are reissued (thisUpdate = now, nextUpdate = now + 30
    days, CRLNumber + 1) whenever a certificate is revoked.
``NAME.cert.pem`` / ``NAME.key.pem``
    A party's certificate and its unencrypted PKCS#8 private key (mode 0600).  ``init_pki`` issues one for the
    gateway itself.
``test-only-root-ca.key.pem`` / ``test-only-issuing-ca.key.pem``
    The CA private keys (mode 0600), needed to issue and revoke later.
``untrusted-ca.pem`` / ``test-only-untrusted-ca.key.pem``
    A separate, self-signed CA that is deliberately *not* in ``ca.pem`` or ``crl.pem``; made on the first
    ``issue(..., untrusted=True)``.  Certificates it issues look right but do not chain to the trust store.
``index.json``
    Which party names were issued, with their OIN, serial number and issuing CA; ``revoke`` reads it.

The public functions are :func:`init_pki`, :func:`issue`, :func:`revoke` and :func:`load_crls`; they raise
:class:`PkiError` for anything the caller got wrong.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .oso.identifiers import is_oin
from .wsse.trust import load_crls as crls_in

__all__ = [
    "CA_FILE",
    "CRL_FILE",
    "DEFAULT_GATEWAY_OIN",
    "INDEX_FILE",
    "ISSUING_CA_KEY_FILE",
    "ROOT_CA_KEY_FILE",
    "UNTRUSTED_CA_FILE",
    "UNTRUSTED_CA_KEY_FILE",
    "IssuedParty",
    "PkiError",
    "init_pki",
    "issue",
    "load_crls",
    "revoke",
]

#: The gateway's own test OIN: 20 digits, shaped like an education-sector OIN.
DEFAULT_GATEWAY_OIN = "00000001999999990000"

CA_FILE = "ca.pem"
CRL_FILE = "crl.pem"
INDEX_FILE = "index.json"
ROOT_CA_KEY_FILE = "test-only-root-ca.key.pem"
ISSUING_CA_KEY_FILE = "test-only-issuing-ca.key.pem"
UNTRUSTED_CA_FILE = "untrusted-ca.pem"
UNTRUSTED_CA_KEY_FILE = "test-only-untrusted-ca.key.pem"

DEFAULT_LABEL = "OSO Gateway"
_MAX_LABEL_LEN = 30  # "<label> Test Issuing CA <tag> - TEST ONLY" within X.520's 64 characters for commonName
_LABEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]*")


def _ca_names(label: str, tag: str) -> dict[str, str]:
    """The CA names of one PKI: its label, and a tag of its own so that no two PKIs share a CA name (a trust store
    that looks issuers up by name can hold several side by side: a vendor's own and the conformance suite's)."""
    return {"root_o": f"{label} TEST ONLY", "root_cn": f"{label} Test Root CA {tag} - TEST ONLY",
            "issuing_cn": f"{label} Test Issuing CA {tag} - TEST ONLY",
            "untrusted_o": f"{label} Untrusted TEST ONLY", "untrusted_cn": f"{label} Untrusted Test CA {tag} - TEST ONLY"}

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_YEAR = timedelta(days=365)
_CRL_LIFETIME = timedelta(days=30)

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
# O = "<name> TEST ONLY" must stay within X.520's 64-character upper bound for organizationName.
_MAX_NAME_LEN = 64 - len(" TEST ONLY")
# Party names whose NAME.key.pem would overwrite a CA key file.
_RESERVED_NAMES = frozenset(
    n.removesuffix(".key.pem") for n in (ROOT_CA_KEY_FILE, ISSUING_CA_KEY_FILE, UNTRUSTED_CA_KEY_FILE)
)
_INDEX_FORMAT = 1

_ISSUING = "issuing"
_UNTRUSTED = "untrusted"


class PkiError(ValueError):
    """The caller asked for something this test PKI cannot do: a bad OIN or party name, a directory that holds
    no PKI, conflicting flags, a name issued before, or revoking something that cannot be revoked."""


@dataclass(frozen=True)
class IssuedParty:
    """A party certificate issued by :func:`init_pki` or :func:`issue`.

    ``cert_path`` is ``DIR/NAME.cert.pem``; ``key_path`` is ``DIR/NAME.key.pem`` (unencrypted PKCS#8 PEM).
    """

    name: str
    oin: str
    cert_path: Path
    key_path: Path


@dataclass(frozen=True)
class _Ca:
    """A CA certificate with its private key."""

    cert: x509.Certificate
    key: rsa.RSAPrivateKey


# --------------------------------------------------------------------------------------------------- public API


def init_pki(
    directory: Path | str,
    *,
    gateway_name: str = "gateway",
    gateway_oin: str = DEFAULT_GATEWAY_OIN,
    key_size: int = 2048,
    now: datetime | None = None,
    label: str = DEFAULT_LABEL,
) -> IssuedParty:
    """Create a fresh test PKI in ``directory`` and return the gateway's certificate and key.

    The CAs are named after ``label`` (e.g. ``"<label> Test Root CA 3f9a1c - TEST ONLY"``) with a random tag of this
    PKI's own, so that the CAs of two PKIs never share a name.

    Creates ``directory`` (and its parents) if missing, then makes a self-signed root CA, an issuing CA signed by
    the root, an empty CRL for each, and a party certificate for the gateway issued by the issuing CA, with
    subjectAltName DNS ``gateway_name`` and ``localhost`` and IP ``127.0.0.1`` and ``::1`` so that it can serve
    TLS on loopback.  All keys are RSA keys of ``key_size`` bits.  ``now`` (default: the current time; a naive
    datetime is taken as UTC) anchors every validity period.

    Raises :class:`FileExistsError` when ``directory`` already holds a PKI (its ``ca.pem`` exists) and
    :class:`PkiError` for a bad ``gateway_name`` or ``gateway_oin``.
    """
    _check_name(gateway_name)
    _check_oin(gateway_oin)
    if not isinstance(label, str) or len(label) > _MAX_LABEL_LEN or not _LABEL_RE.fullmatch(label):
        raise PkiError(f"bad PKI label {label!r}: letters, digits, spaces, '.', '_' or '-', at most "
                       f"{_MAX_LABEL_LEN} characters")
    names = _ca_names(label, secrets.token_hex(3))
    now = _utc(now)
    directory = Path(directory)
    ca_path = directory / CA_FILE
    if ca_path.exists():
        raise FileExistsError(
            f"{ca_path} exists: {directory} already holds a PKI; refusing to overwrite it "
            "(use another directory, or remove this one first)"
        )
    directory.mkdir(parents=True, exist_ok=True)

    root = _self_signed_ca(_ca_subject(names["root_o"], names["root_cn"]), key_size, now, path_length=1)

    issuing_key = _new_key(key_size)
    issuing_cert = _sign(
        x509.CertificateBuilder()
        .subject_name(_ca_subject(names["root_o"], names["issuing_cn"]))
        .issuer_name(root.cert.subject)
        .public_key(issuing_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _HOUR)
        .not_valid_after(now + 5 * _YEAR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(issuing_key.public_key()), critical=False)
        .add_extension(_aki(root.cert), critical=False),
        root.key,
    )
    issuing = _Ca(issuing_cert, issuing_key)

    _write(directory / ROOT_CA_KEY_FILE, _key_pem(root.key), private=True)
    _write(directory / ISSUING_CA_KEY_FILE, _key_pem(issuing_key), private=True)
    _write_crls(directory, issuing, root, now)
    _save_index(directory, {"format": _INDEX_FORMAT, "parties": {}, "names": names})
    party = _issue_party(
        directory,
        issuing,
        _ISSUING,
        name=gateway_name,
        oin=gateway_oin,
        not_before=now - _HOUR,
        not_after=now + 2 * _YEAR,
        digital_signature=True,
        key_size=key_size,
        dns_names=_unique([gateway_name, "localhost"]),
        ip_addresses=(ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")),
    )
    # ca.pem last: until it exists the directory does not count as a PKI, so a failed init can simply be rerun.
    _write(directory / CA_FILE, _cert_pem(root.cert) + _cert_pem(issuing_cert))
    return party


def issue(
    directory: Path | str,
    name: str,
    oin: str,
    *,
    expired: bool = False,
    not_yet_valid: bool = False,
    revoked: bool = False,
    no_digital_signature: bool = False,
    untrusted: bool = False,
    key_size: int = 2048,
    dns_names: Sequence[str] = (),
    now: datetime | None = None,
    no_oin: bool = False,
) -> IssuedParty:
    """Issue a certificate and key for party ``name`` with OIN ``oin`` from the PKI in ``directory``.

    The certificate comes from the issuing CA, or with ``untrusted=True`` from a separate self-signed CA that is
    created in ``directory`` on first use and never appears in ``ca.pem`` or ``crl.pem``.  The flags make the
    certificates a receiver must refuse:

    * ``expired``: valid from now - 2 years to now - 1 day (default validity: now - 1 hour to now + 2 years);
    * ``not_yet_valid``: valid from now + 30 days to now + 2 years;
    * ``revoked``: also listed on the issuing CA's CRL, and ``crl.pem`` is rewritten;
    * ``no_digital_signature``: keyUsage holds keyEncipherment only, so the key may not sign messages;
    * ``no_oin``: no subject.serialNumber, so the certificate names no OIN (PKI001); ``oin`` is only recorded.

    ``dns_names`` are the subjectAltName DNS names (default: ``[name]``).  ``now`` defaults to the current time;
    a naive datetime is taken as UTC.

    Raises :class:`PkiError` for a bad name or OIN, a name issued before, conflicting flags (``expired`` with
    ``not_yet_valid``; ``revoked`` with ``untrusted``, as the untrusted CA publishes no CRL), or a directory
    without a PKI.
    """
    _check_name(name)
    _check_oin(oin)
    if expired and not_yet_valid:
        raise PkiError("conflicting flags: a certificate cannot be both expired and not yet valid")
    if revoked and untrusted:
        raise PkiError(
            "conflicting flags: the untrusted CA publishes no CRL (it is not in crl.pem), so its "
            "certificates cannot be revoked"
        )
    if isinstance(dns_names, str):
        dns_names = [dns_names]
    dns_list = _unique(dns_names) or [name]
    for dns in dns_list:
        if not isinstance(dns, str) or not dns or not dns.isascii():
            raise PkiError(f"bad DNS name {dns!r}: expected a non-empty ASCII string")
    now = _utc(now)
    directory = _pki_dir(directory)
    index = _load_index(directory)
    _check_unused(directory, index, name)

    if untrusted:
        ca, issuer_kind = _untrusted_ca(directory, key_size, now), _UNTRUSTED
    else:
        ca, issuer_kind = _load_ca(directory, ISSUING_CA_KEY_FILE), _ISSUING
    if expired:
        not_before, not_after = now - 2 * _YEAR, now - _DAY
    elif not_yet_valid:
        not_before, not_after = now + 30 * _DAY, now + 2 * _YEAR
    else:
        not_before, not_after = now - _HOUR, now + 2 * _YEAR

    party = _issue_party(
        directory,
        ca,
        issuer_kind,
        name=name,
        oin=oin,
        not_before=not_before,
        not_after=not_after,
        digital_signature=not no_digital_signature,
        key_size=key_size,
        dns_names=dns_list,
        ip_addresses=(),
        oin_in_certificate=not no_oin,
    )
    if revoked:
        revoke(directory, name, now=now)
    return party


def revoke(directory: Path | str, name: str, *, now: datetime | None = None) -> None:
    """Revoke party ``name``'s certificate: list it on the issuing CA's CRL (revocation date ``now``) and rewrite
    ``crl.pem``, reissuing both CRLs with thisUpdate = ``now`` and an incremented CRLNumber.

    Raises :class:`PkiError` when ``directory`` holds no PKI, ``name`` was never issued there, was issued by the
    untrusted CA (which publishes no CRL), or is already revoked.
    """
    _check_name(name)
    now = _utc(now)
    directory = _pki_dir(directory)
    entry = _load_index(directory)["parties"].get(name)
    if entry is None:
        raise PkiError(f"no party named {name!r} was issued in {directory}; nothing to revoke")
    if entry["issuer"] != _ISSUING:
        raise PkiError(
            f"{name!r} was issued by the untrusted CA, which publishes no CRL (it is not in crl.pem); "
            "its certificate cannot be revoked"
        )
    serial = int(entry["serial"], 16)
    issuing = _load_ca(directory, ISSUING_CA_KEY_FILE)
    old = _current_crl(directory, issuing)
    if old is not None and old.get_revoked_certificate_by_serial_number(serial) is not None:
        raise PkiError(f"{name!r} (serial {serial:x}) is already revoked")
    root = _load_ca(directory, ROOT_CA_KEY_FILE)
    _write_crls(directory, issuing, root, now, revoke_serial=serial)


def load_crls(path: Path | str) -> list[x509.CertificateRevocationList]:
    """Return every CRL in the PEM file ``path``, in file order (``crl.pem`` holds one per CA, concatenated).

    Raises :class:`PkiError` when the file holds no CRL at all, so that a wrong or empty file is never mistaken
    for "nothing is revoked".
    """
    crls = crls_in(Path(path).read_bytes())
    if not crls:
        raise PkiError(f"{path} holds no PEM 'X509 CRL' block")
    return crls


# ---------------------------------------------------------------------------------------------- argument checks


def _check_name(name: object) -> None:
    """Refuse party names that are not safe, portable file names and subject CNs."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or not name.isascii():
        raise PkiError(
            f"bad party name {name!r}: it must start with a letter or digit and contain only "
            "letters, digits, '.', '_' and '-'"
        )
    if len(name) > _MAX_NAME_LEN:
        raise PkiError(f"bad party name {name!r}: at most {_MAX_NAME_LEN} characters")
    if name.lower() in _RESERVED_NAMES:
        raise PkiError(f"bad party name {name!r}: reserved for a CA key file")


def _check_oin(oin: object) -> None:
    """Refuse OINs that are not exactly 20 ASCII digits."""
    if not is_oin(oin):
        raise PkiError(f"bad OIN {oin!r}: an OIN is exactly 20 digits (0-9)")


def _check_unused(directory: Path, index: dict, name: str) -> None:
    """Refuse a name issued before (compared case-insensitively, for case-insensitive file systems) or whose
    certificate or key file already exists."""
    for issued in index["parties"]:
        if issued.lower() == name.lower():
            raise PkiError(f"a party named {issued!r} was already issued in {directory}; pick another name")
    for path in (directory / f"{name}.cert.pem", directory / f"{name}.key.pem"):
        if path.exists():
            raise PkiError(f"{path} already exists; pick another name or remove the file")


def _pki_dir(directory: Path | str) -> Path:
    """Return ``directory`` as a Path, or raise :class:`PkiError` when it holds no PKI made by :func:`init_pki`."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PkiError(f"no PKI directory {directory}: run init first")
    if not (directory / CA_FILE).is_file():
        raise PkiError(f"{directory} holds no PKI ({CA_FILE} is missing): run init first")
    return directory


def _utc(now: datetime | None) -> datetime:
    """``now`` as an aware UTC datetime with whole seconds (X.509 times have no fractions); naive means UTC."""
    if now is None:
        now = datetime.now(timezone.utc)
    elif now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    else:
        now = now.astimezone(timezone.utc)
    return now.replace(microsecond=0)


def _unique(items: Iterable[str]) -> list[str]:
    """``items`` without repeats, first occurrence kept."""
    return list(dict.fromkeys(items))


# ------------------------------------------------------------------------------------------------ certificates


def _new_key(key_size: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


def _sign(builder: x509.CertificateBuilder, key: rsa.RSAPrivateKey) -> x509.Certificate:
    return builder.sign(key, hashes.SHA256())


def _ca_subject(organization: str, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _ca_key_usage() -> x509.KeyUsage:
    """keyCertSign + cRLSign, nothing else."""
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    """An AuthorityKeyIdentifier holding the issuer's subject key identifier (keyIdentifier only)."""
    ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _issue_party(
    directory: Path,
    ca: _Ca,
    issuer_kind: str,
    *,
    name: str,
    oin: str,
    not_before: datetime,
    not_after: datetime,
    digital_signature: bool,
    key_size: int,
    dns_names: Sequence[str],
    ip_addresses: Sequence[ipaddress.IPv4Address | ipaddress.IPv6Address],
    oin_in_certificate: bool = True,
) -> IssuedParty:
    """Make, sign and store a party certificate and key, and record it in ``index.json``."""
    key = _new_key(key_size)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "NL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"{name} TEST ONLY"),
            x509.NameAttribute(NameOID.COMMON_NAME, name),
        ]
        # PKI001: the party's OIN lives in subject.serialNumber (none: a certificate a receiver must refuse).
        + ([x509.NameAttribute(NameOID.SERIAL_NUMBER, oin)] if oin_in_certificate else [])
    )
    san: list[x509.GeneralName] = [x509.DNSName(d) for d in dns_names]
    san += [x509.IPAddress(ip) for ip in ip_addresses]
    cert = _sign(
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=digital_signature,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_aki(ca.cert), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False),
        ca.key,
    )
    party = IssuedParty(
        name=name,
        oin=oin,
        cert_path=directory / f"{name}.cert.pem",
        key_path=directory / f"{name}.key.pem",
    )
    _write(party.key_path, _key_pem(key), private=True)
    _write(party.cert_path, _cert_pem(cert))
    index = _load_index(directory)
    index["parties"][name] = {
        "oin": oin,
        "serial": f"{cert.serial_number:x}",
        "issuer": issuer_kind,
        "cert": party.cert_path.name,
        "key": party.key_path.name,
    }
    _save_index(directory, index)
    return party


def _load_ca(directory: Path, key_file: str, cert_file: str = CA_FILE) -> _Ca:
    """Load a CA's private key from ``key_file`` and pick its certificate out of ``cert_file`` by public key."""
    key = serialization.load_pem_private_key((directory / key_file).read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):  # pragma: no cover - only we write these files
        raise PkiError(f"{directory / key_file} does not hold an RSA key")
    wanted = _spki(key.public_key())
    for cert in x509.load_pem_x509_certificates((directory / cert_file).read_bytes()):
        if _spki(cert.public_key()) == wanted:
            return _Ca(cert, key)
    raise PkiError(f"no certificate in {directory / cert_file} matches the key in {directory / key_file}")


def _untrusted_ca(directory: Path, key_size: int, now: datetime) -> _Ca:
    """Load the untrusted CA of ``directory``, creating it (self-signed, outside ca.pem) on first use."""
    if (directory / UNTRUSTED_CA_FILE).exists():
        return _load_ca(directory, UNTRUSTED_CA_KEY_FILE, UNTRUSTED_CA_FILE)
    names = _load_index(directory).get("names") or _ca_names(DEFAULT_LABEL, secrets.token_hex(3))
    ca = _self_signed_ca(_ca_subject(names["untrusted_o"], names["untrusted_cn"]), key_size, now, path_length=0)
    _write(directory / UNTRUSTED_CA_KEY_FILE, _key_pem(ca.key), private=True)
    _write(directory / UNTRUSTED_CA_FILE, _cert_pem(ca.cert))
    return ca


def _self_signed_ca(name: x509.Name, key_size: int, now: datetime, *, path_length: int) -> _Ca:
    """A new self-signed CA (a fresh key), valid from an hour ago for ten years."""
    key = _new_key(key_size)
    cert = _sign(
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _HOUR)
        .not_valid_after(now + 10 * _YEAR)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False),
        key,
    )
    return _Ca(cert, key)


# ------------------------------------------------------------------------------------------------------- CRLs


def _current_crl(directory: Path, ca: _Ca) -> x509.CertificateRevocationList | None:
    """The CRL in ``crl.pem`` issued (name and signature) by ``ca``, or None."""
    path = directory / CRL_FILE
    if not path.exists():
        return None
    for crl in load_crls(path):
        if crl.issuer == ca.cert.subject and crl.is_signature_valid(ca.cert.public_key()):
            return crl
    return None


def _next_crl(
    ca: _Ca, old: x509.CertificateRevocationList | None, now: datetime, revoke_serial: int | None
) -> x509.CertificateRevocationList:
    """Reissue ``ca``'s CRL: the entries of ``old`` (plus ``revoke_serial``, revoked at ``now``), thisUpdate now,
    nextUpdate now + 30 days, CRLNumber one more than ``old``'s (1 for a first CRL)."""
    number = 1
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.cert.subject)
        .last_update(now)
        .next_update(now + _CRL_LIFETIME)
    )
    if old is not None:
        number = old.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number + 1
        for entry in old:
            builder = builder.add_revoked_certificate(entry)
    if revoke_serial is not None:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(revoke_serial).revocation_date(now).build()
        )
    builder = builder.add_extension(x509.CRLNumber(number), critical=False).add_extension(
        _aki(ca.cert), critical=False
    )
    return builder.sign(ca.key, hashes.SHA256())


def _write_crls(directory: Path, issuing: _Ca, root: _Ca, now: datetime, revoke_serial: int | None = None) -> None:
    """Rewrite ``crl.pem``: the issuing CA's CRL (with ``revoke_serial`` added) followed by the root's CRL."""
    crls = [
        _next_crl(issuing, _current_crl(directory, issuing), now, revoke_serial),
        _next_crl(root, _current_crl(directory, root), now, None),
    ]
    _write(directory / CRL_FILE, b"".join(crl.public_bytes(serialization.Encoding.PEM) for crl in crls))


# ------------------------------------------------------------------------------------------------------ files


def _spki(public_key: object) -> bytes:
    return public_key.public_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, *, private: bool = False) -> None:
    """Write ``data`` to ``path`` atomically (temporary file + rename); mode 0600 when ``private``, else 0644.

    A private file is created with mode 0600 from the start, so the key is never readable by others."""
    mode = 0o600 if private else 0o644
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _load_index(directory: Path) -> dict:
    """Read ``index.json`` (an empty index when it is missing)."""
    path = directory / INDEX_FILE
    if not path.exists():
        return {"format": _INDEX_FORMAT, "parties": {}}
    return json.loads(path.read_text(encoding="utf-8"))


def _save_index(directory: Path, index: dict) -> None:
    _write(directory / INDEX_FILE, (json.dumps(index, indent=2, sort_keys=True) + "\n").encode("utf-8"))
