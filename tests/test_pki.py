"""Tests of gateway.pki, the PKIoverheid-shaped test PKI.

One PKI is made per module (RSA key generation dominates the run time); each test issues its own party names, and
the tests that revoke compare CRL state before and after rather than absolute values.
"""

from __future__ import annotations

import ipaddress
import re
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError

from gateway import pki
from gateway.pki import DEFAULT_GATEWAY_OIN, IssuedParty, PkiError

NOW = datetime(2025, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
OIN = "00000001234567890000"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
YEAR = timedelta(days=365)


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pki") / "nested" / "dir"
    pki.init_pki(directory, now=NOW)
    return directory


def load_cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def ca_certs(directory: Path) -> tuple[x509.Certificate, x509.Certificate]:
    """(root, issuing) from ca.pem."""
    certs = x509.load_pem_x509_certificates((directory / "ca.pem").read_bytes())
    roots = [c for c in certs if c.issuer == c.subject]
    others = [c for c in certs if c.issuer != c.subject]
    assert len(roots) == 1 and len(others) == 1
    return roots[0], others[0]


def crls(directory: Path) -> tuple[x509.CertificateRevocationList, x509.CertificateRevocationList]:
    """(issuing CA's CRL, root's CRL) from crl.pem."""
    root, issuing = ca_certs(directory)
    loaded = pki.load_crls(directory / "crl.pem")
    assert len(loaded) == 2
    by_issuer = {crl.issuer: crl for crl in loaded}
    return by_issuer[issuing.subject], by_issuer[root.subject]


def crl_number(crl: x509.CertificateRevocationList) -> int:
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def verifier(directory: Path, at: datetime):
    root, issuing = ca_certs(directory)
    return PolicyBuilder().store(Store([root, issuing])).time(at).build_client_verifier()


def ext(cert: x509.Certificate, cls):
    return cert.extensions.get_extension_for_class(cls)


# ----------------------------------------------------------------------------------------------------- init


def test_init_creates_every_file(pki_dir: Path) -> None:
    for name in (
        "ca.pem",
        "crl.pem",
        "gateway.cert.pem",
        "gateway.key.pem",
        "test-only-root-ca.key.pem",
        "test-only-issuing-ca.key.pem",
    ):
        assert (pki_dir / name).is_file(), name
    gateway = load_cert(pki_dir / "gateway.cert.pem")
    assert gateway.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == DEFAULT_GATEWAY_OIN
    san = ext(gateway, x509.SubjectAlternativeName).value
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    verifier(pki_dir, NOW).verify(gateway, [])


def test_init_returns_the_gateway_party(tmp_path: Path) -> None:
    party = pki.init_pki(tmp_path / "a" / "b", gateway_name="tc", gateway_oin=OIN)  # default now: the clock
    assert party == IssuedParty("tc", OIN, tmp_path / "a" / "b" / "tc.cert.pem", tmp_path / "a" / "b" / "tc.key.pem")
    root, issuing = ca_certs(tmp_path / "a" / "b")
    verifier(tmp_path / "a" / "b", datetime.now(timezone.utc)).verify(load_cert(party.cert_path), [issuing])


def test_init_refuses_an_existing_pki(pki_dir: Path) -> None:
    before = (pki_dir / "ca.pem").read_bytes()
    with pytest.raises(FileExistsError, match="already holds a PKI"):
        pki.init_pki(pki_dir)
    assert (pki_dir / "ca.pem").read_bytes() == before


def test_init_checks_gateway_name_and_oin(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="OIN"):
        pki.init_pki(tmp_path / "x", gateway_oin="1234")
    with pytest.raises(PkiError, match="party name"):
        pki.init_pki(tmp_path / "x", gateway_name="../gw")
    assert not (tmp_path / "x").exists()


def test_ca_pem_holds_root_and_issuing_ca(pki_dir: Path) -> None:
    certs = x509.load_pem_x509_certificates((pki_dir / "ca.pem").read_bytes())
    assert len(certs) == 2
    root, issuing = ca_certs(pki_dir)
    root.verify_directly_issued_by(root)
    issuing.verify_directly_issued_by(root)
    for cert, pathlen, years in ((root, 1, 10), (issuing, 0, 5)):
        for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATION_NAME):
            assert "TEST ONLY" in cert.subject.get_attributes_for_oid(oid)[0].value
        assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "NL"
        bc = ext(cert, x509.BasicConstraints)
        assert bc.critical and bc.value.ca and bc.value.path_length == pathlen
        ku = ext(cert, x509.KeyUsage)
        assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign and not ku.value.digital_signature
        ext(cert, x509.SubjectKeyIdentifier)
        assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
        assert cert.not_valid_before_utc == NOW - HOUR
        assert cert.not_valid_after_utc == NOW + years * YEAR
    assert re.fullmatch(r"CN=OSO Gateway Test Root CA [0-9a-f]{6} - TEST ONLY,O=OSO Gateway TEST ONLY,C=NL",
                        root.subject.rfc4514_string())
    assert (
        ext(issuing, x509.AuthorityKeyIdentifier).value.key_identifier
        == ext(root, x509.SubjectKeyIdentifier).value.digest
    )


def test_initial_crls_are_empty_and_signed(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    pki.init_pki(directory, now=NOW)
    root, issuing = ca_certs(directory)
    issuing_crl, root_crl = crls(directory)
    for crl, ca in ((issuing_crl, issuing), (root_crl, root)):
        assert len(crl) == 0
        assert crl.is_signature_valid(ca.public_key())
        assert isinstance(crl.signature_hash_algorithm, hashes.SHA256)
        assert crl.last_update_utc == NOW and crl.next_update_utc == NOW + 30 * DAY
        assert crl_number(crl) == 1
        assert (
            ext(crl, x509.AuthorityKeyIdentifier).value.key_identifier
            == ext(ca, x509.SubjectKeyIdentifier).value.digest
        )
    # The issuing CA's CRL comes first.
    assert pki.load_crls(directory / "crl.pem")[0].issuer == issuing.subject


# ------------------------------------------------------------------------------------------------------ issue


def test_issued_certificate_profile(pki_dir: Path) -> None:
    party = pki.issue(pki_dir, "school-a", OIN, now=NOW)
    assert party == IssuedParty("school-a", OIN, pki_dir / "school-a.cert.pem", pki_dir / "school-a.key.pem")
    cert = load_cert(party.cert_path)
    _, issuing = ca_certs(pki_dir)
    cert.verify_directly_issued_by(issuing)
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)
    # PKI001: the OIN is in subject.serialNumber.
    assert cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)[0].value == OIN
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "school-a"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "school-a TEST ONLY"
    assert cert.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "NL"
    bc = ext(cert, x509.BasicConstraints)
    assert bc.critical and not bc.value.ca
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.digital_signature and ku.value.key_encipherment and not ku.value.key_cert_sign
    eku = ext(cert, x509.ExtendedKeyUsage).value
    assert set(eku) == {ExtendedKeyUsageOID.CLIENT_AUTH, ExtendedKeyUsageOID.SERVER_AUTH}
    assert ext(cert, x509.SubjectKeyIdentifier).value == x509.SubjectKeyIdentifier.from_public_key(cert.public_key())
    assert (
        ext(cert, x509.AuthorityKeyIdentifier).value.key_identifier
        == ext(issuing, x509.SubjectKeyIdentifier).value.digest
    )
    assert ext(cert, x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName) == ["school-a"]
    assert cert.not_valid_before_utc == NOW - HOUR
    assert cert.not_valid_after_utc == NOW + 2 * YEAR
    assert cert.serial_number > 0


def test_dns_names(pki_dir: Path) -> None:
    party = pki.issue(pki_dir, "school-dns", OIN, dns_names=["a.example", "b.example"], now=NOW)
    san = ext(load_cert(party.cert_path), x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["a.example", "b.example"]


def test_key_matches_certificate(pki_dir: Path) -> None:
    party = pki.issue(pki_dir, "school-key", OIN, now=NOW)
    pem = party.key_path.read_bytes()
    assert pem.startswith(b"-----BEGIN " + b"PRIVATE KEY-----")  # PKCS#8, unencrypted (split: no key-like literal)
    key = serialization.load_pem_private_key(pem, password=None)
    public = load_cert(party.cert_path).public_key()
    signature = key.sign(b"message", padding.PKCS1v15(), hashes.SHA256())
    public.verify(signature, b"message", padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        public.verify(signature, b"other message", padding.PKCS1v15(), hashes.SHA256())


def test_client_verifier_accepts_a_normal_certificate(pki_dir: Path) -> None:
    party = pki.issue(pki_dir, "school_b.example", OIN, now=NOW)
    _, issuing = ca_certs(pki_dir)
    verified = verifier(pki_dir, NOW).verify(load_cert(party.cert_path), [issuing])
    assert verified.subjects == [x509.DNSName("school_b.example")]


def test_expired(pki_dir: Path) -> None:
    cert = load_cert(pki.issue(pki_dir, "school-expired", OIN, expired=True, now=NOW).cert_path)
    assert cert.not_valid_before_utc == NOW - 2 * YEAR
    assert cert.not_valid_after_utc == NOW - DAY
    _, issuing = ca_certs(pki_dir)
    with pytest.raises(VerificationError):
        verifier(pki_dir, NOW).verify(cert, [issuing])


def test_not_yet_valid(pki_dir: Path) -> None:
    cert = load_cert(pki.issue(pki_dir, "school-future", OIN, not_yet_valid=True, now=NOW).cert_path)
    assert cert.not_valid_before_utc == NOW + 30 * DAY
    assert cert.not_valid_after_utc == NOW + 2 * YEAR
    _, issuing = ca_certs(pki_dir)
    with pytest.raises(VerificationError):
        verifier(pki_dir, NOW).verify(cert, [issuing])
    verifier(pki_dir, NOW + 31 * DAY).verify(cert, [issuing])


def test_no_digital_signature(pki_dir: Path) -> None:
    cert = load_cert(pki.issue(pki_dir, "school-nods", OIN, no_digital_signature=True, now=NOW).cert_path)
    ku = ext(cert, x509.KeyUsage)
    assert ku.critical and ku.value.key_encipherment and not ku.value.digital_signature


def test_untrusted_does_not_chain_to_ca_pem(pki_dir: Path) -> None:
    ca_before = (pki_dir / "ca.pem").read_bytes()
    first = load_cert(pki.issue(pki_dir, "school-evil", OIN, untrusted=True, now=NOW).cert_path)
    second = load_cert(pki.issue(pki_dir, "school-evil2", OIN, untrusted=True, now=NOW).cert_path)
    untrusted_ca = load_cert(pki_dir / "untrusted-ca.pem")
    assert "TEST ONLY" in untrusted_ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    first.verify_directly_issued_by(untrusted_ca)
    second.verify_directly_issued_by(untrusted_ca)  # the untrusted CA is made once, then reused
    assert (pki_dir / "test-only-untrusted-ca.key.pem").is_file()
    assert (pki_dir / "ca.pem").read_bytes() == ca_before
    assert untrusted_ca.subject not in {crl.issuer for crl in pki.load_crls(pki_dir / "crl.pem")}
    _, issuing = ca_certs(pki_dir)
    for intermediates in ([untrusted_ca], [issuing], []):
        with pytest.raises(VerificationError):
            verifier(pki_dir, NOW).verify(first, intermediates)


# ---------------------------------------------------------------------------------------------- revocation


def test_issue_revoked(pki_dir: Path) -> None:
    number_before = crl_number(crls(pki_dir)[0])
    cert = load_cert(pki.issue(pki_dir, "school-revoked", OIN, revoked=True, now=NOW).cert_path)
    root, issuing = ca_certs(pki_dir)
    issuing_crl, root_crl = crls(pki_dir)
    entry = issuing_crl.get_revoked_certificate_by_serial_number(cert.serial_number)
    assert entry is not None and entry.revocation_date_utc == NOW
    assert root_crl.get_revoked_certificate_by_serial_number(cert.serial_number) is None
    assert issuing_crl.is_signature_valid(issuing.public_key())
    assert not issuing_crl.is_signature_valid(root.public_key())
    assert root_crl.is_signature_valid(root.public_key())
    assert crl_number(issuing_crl) == number_before + 1
    assert issuing_crl.last_update_utc == NOW and issuing_crl.next_update_utc == NOW + 30 * DAY
    # The certificate itself is otherwise normal.
    verifier(pki_dir, NOW).verify(cert, [issuing])


def test_revoke_later(pki_dir: Path) -> None:
    earlier = load_cert(pki.issue(pki_dir, "school-r1", OIN, revoked=True, now=NOW).cert_path)
    cert = load_cert(pki.issue(pki_dir, "school-r2", OIN, now=NOW).cert_path)
    issuing_before, root_before = crls(pki_dir)
    assert issuing_before.get_revoked_certificate_by_serial_number(cert.serial_number) is None

    later = NOW + 2 * DAY
    pki.revoke(pki_dir, "school-r2", now=later)
    root, issuing = ca_certs(pki_dir)
    issuing_crl, root_crl = crls(pki_dir)
    assert issuing_crl.get_revoked_certificate_by_serial_number(cert.serial_number).revocation_date_utc == later
    # Earlier revocations stay, with their own dates.
    assert issuing_crl.get_revoked_certificate_by_serial_number(earlier.serial_number).revocation_date_utc == NOW
    assert crl_number(issuing_crl) == crl_number(issuing_before) + 1
    assert crl_number(root_crl) == crl_number(root_before) + 1
    assert issuing_crl.last_update_utc == later and issuing_crl.next_update_utc == later + 30 * DAY
    assert issuing_crl.is_signature_valid(issuing.public_key())
    assert root_crl.is_signature_valid(root.public_key())

    with pytest.raises(PkiError, match="already revoked"):
        pki.revoke(pki_dir, "school-r2", now=later)


def test_revoke_errors(pki_dir: Path) -> None:
    with pytest.raises(PkiError, match="no party named 'nobody'"):
        pki.revoke(pki_dir, "nobody")
    pki.issue(pki_dir, "school-evil-r", OIN, untrusted=True, now=NOW)
    with pytest.raises(PkiError, match="untrusted CA"):
        pki.revoke(pki_dir, "school-evil-r")


def test_load_crls_refuses_a_file_without_crls(tmp_path: Path, pki_dir: Path) -> None:
    with pytest.raises(PkiError, match="no PEM 'X509 CRL'"):
        pki.load_crls(pki_dir / "ca.pem")


# ------------------------------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    "oin",
    ["", "1234", "0" * 19, "0" * 21, "0000000123456789000a", " 00000001234567890000", "٠" * 20, 12345678901234567890],
)
def test_bad_oin(pki_dir: Path, oin: object) -> None:
    with pytest.raises(PkiError, match="bad OIN .*exactly 20 digits"):
        pki.issue(pki_dir, "school-badoin", oin)  # type: ignore[arg-type]
    assert not (pki_dir / "school-badoin.cert.pem").exists()


@pytest.mark.parametrize(
    "name",
    ["", "-school", ".hidden", "a/b", "../x", "a b", "schoöl", "x" * 55, "test-only-root-ca", "TEST-ONLY-ISSUING-CA", None],
)
def test_bad_name(pki_dir: Path, name: object) -> None:
    with pytest.raises(PkiError, match="bad party name"):
        pki.issue(pki_dir, name, OIN)  # type: ignore[arg-type]


def test_duplicate_name(pki_dir: Path) -> None:
    pki.issue(pki_dir, "school-dup", OIN, now=NOW)
    for name in ("school-dup", "SCHOOL-DUP", "gateway"):
        with pytest.raises(PkiError, match="already issued"):
            pki.issue(pki_dir, name, OIN, now=NOW)


def test_conflicting_flags(pki_dir: Path) -> None:
    with pytest.raises(PkiError, match="both expired and not yet valid"):
        pki.issue(pki_dir, "school-conflict", OIN, expired=True, not_yet_valid=True)
    with pytest.raises(PkiError, match="untrusted CA publishes no CRL"):
        pki.issue(pki_dir, "school-conflict", OIN, revoked=True, untrusted=True)
    assert not (pki_dir / "school-conflict.cert.pem").exists()


def test_no_pki_in_directory(tmp_path: Path) -> None:
    with pytest.raises(PkiError, match="run init first"):
        pki.issue(tmp_path / "missing", "school", OIN)
    with pytest.raises(PkiError, match="ca.pem is missing"):
        pki.issue(tmp_path, "school", OIN)
    with pytest.raises(PkiError, match="run init first"):
        pki.revoke(tmp_path, "school")


def test_key_files_are_private(pki_dir: Path) -> None:
    pki.issue(pki_dir, "school-mode", OIN, now=NOW)
    pki.issue(pki_dir, "school-mode-evil", OIN, untrusted=True, now=NOW)
    keys = sorted(pki_dir.glob("*.key.pem"))
    names = {k.name for k in keys}
    assert {
        "gateway.key.pem",
        "school-mode.key.pem",
        "test-only-root-ca.key.pem",
        "test-only-issuing-ca.key.pem",
        "test-only-untrusted-ca.key.pem",
    } <= names
    for key in keys:
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert stat.S_IMODE((pki_dir / "school-mode.cert.pem").stat().st_mode) == 0o644
    assert not list(pki_dir.glob(".*.tmp"))


def test_no_two_pkis_share_a_ca_name_and_a_label_names_them(tmp_path: Path) -> None:
    """A trust store that looks issuers up by name must be able to hold two test PKIs side by side (a vendor's own
    and the conformance suite's): their CAs, untrusted CA included, never share a name."""
    pki.init_pki(tmp_path / "a")
    pki.init_pki(tmp_path / "b", label="OSO Conformance Suite")
    pki.issue(tmp_path / "a", "x", "00000001000000000001", untrusted=True)
    pki.issue(tmp_path / "b", "x", "00000001000000000001", untrusted=True)
    names = []
    for d in ("a", "b"):
        for f in ("ca.pem", pki.UNTRUSTED_CA_FILE):
            names += [c.subject.rfc4514_string() for c in x509.load_pem_x509_certificates((tmp_path / d / f).read_bytes())]
    assert len(names) == 6 and len(set(names)) == 6, names
    assert sum("OSO Conformance Suite" in n for n in names) == 3
    with pytest.raises(pki.PkiError, match="label"):
        pki.init_pki(tmp_path / "c", label="x" * 31)


def test_a_certificate_without_an_oin_is_refused_with_pki001(tmp_path: Path) -> None:
    from gateway.wsse import TrustStore
    from gateway.wsse.errors import FailedAuthentication

    pki.init_pki(tmp_path / "p")
    party = pki.issue(tmp_path / "p", "anonymous", "00000001000000000042", no_oin=True)
    cert = x509.load_pem_x509_certificate(party.cert_path.read_bytes())
    assert not cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)
    with pytest.raises(FailedAuthentication) as refused:
        TrustStore.from_files(tmp_path / "p" / "ca.pem", tmp_path / "p" / "crl.pem").check(cert)
    assert refused.value.rule == "PKI001"
