"""An independent peer for the WUS signed profile, written with python-xmlsec (libxmlsec1 + OpenSSL).

Used by ``tests/test_interop_xmlsec.py`` (interop) and by ``bench/bench_wsse.py`` (the speed yardstick). Nothing
here imports ``gateway``: the point is a second implementation that shares no code with ours.

Signing (``XmlsecPeer.sign``) writes the layout of ``gateway.wsse.sign_request``: wsa To / Action / MessageID /
From (with the signer's OIN), a ``wsse:Security`` header with ``mustUnderstand="1"`` holding a ``wsu:Timestamp``
(Created, Expires), an X509v3 ``wsse:BinarySecurityToken`` and a ``ds:Signature`` with exclusive c14n, RSA-SHA256
and one SHA-256 reference (exclusive c14n transform) per wsa header, the Timestamp and the Body, by ``wsu:Id``;
KeyInfo holds a ``wsse:SecurityTokenReference`` with a direct ``wsse:Reference`` to the token. libxmlsec computes
every digest and the SignatureValue (``xmlsec.SignatureContext.sign``); this module only builds the template.

Verification (``XmlsecPeer.verify``) is what a careful python-xmlsec user would write for this profile:

* parse with a parser that resolves no entities and opens no network (lxml's defaults otherwise);
* register the ``wsu:Id`` of every element that has one (``ctx.register_id``), refusing duplicate ids;
* find the one ``ds:Signature`` in ``soap:Header/wsse:Security``;
* libxmlsec does not understand a ``wsse:SecurityTokenReference`` in KeyInfo, so the token it points at is looked
  up by its ``wsse:Reference/@URI`` (it must be an X509v3 BinarySecurityToken) and its certificate is put into
  KeyInfo as ``ds:X509Data/ds:X509Certificate`` (KeyInfo is not signed, so this changes no digest);
* verify with a ``xmlsec.KeysManager`` that holds the CA certificates (the root as trusted, the others as
  untrusted intermediates): libxmlsec then builds and checks the certificate chain with OpenSSL (signatures and
  validity periods) before it uses the key. Choice made: this one, not "the key of the BST certificate"
  (``xmlsec.Key.from_memory(der, CERT_DER)``), which checks no chain at all (available as
  ``verify(..., check_chain=False)``, the lighter yardstick the bench also reports);
* allow-lists of algorithms through ``enable_signature_transform`` / ``enable_reference_transform``: exclusive
  c14n, RSA-SHA256/384/512, SHA-256/384/512;
* ``ctx.verify`` recomputes every reference's digest and checks the SignatureValue.

What it does NOT check (the gateway's ``verify`` does): which elements the references cover and where they stand
(coverage by position, the defence against signature wrapping), the envelope structure, the Timestamp's freshness,
replay of a MessageID, revocation (CRL), key usage, the OIN in the certificate and in wsa:From, wsa:To / Action.
"""

from __future__ import annotations

import base64
import re
import secrets
from datetime import datetime, timedelta, timezone
from pathlib import Path

import xmlsec
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from lxml import etree

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSA_NS = "http://www.w3.org/2005/08/addressing"
WSSE_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
BASE64_BINARY = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
ANONYMOUS = WSA_NS + "/anonymous"

_NSMAP = {"wsse": WSSE_NS, "wsu": WSU_NS, "wsa": WSA_NS, "ds": DS_NS}
_ID = f"{{{WSU_NS}}}Id"
_WITH_ID = etree.XPath("//*[@wsu:Id]", namespaces={"wsu": WSU_NS})
_PEM_CERT = re.compile(rb"-----BEGIN CERTIFICATE-----\r?\n.*?-----END CERTIFICATE-----\r?\n?", re.S)

# The algorithms of the profile (SIGN003, SIGN004, WB007): nothing else is enabled when verifying.
_SIGNATURE_TRANSFORMS = (
    xmlsec.Transform.EXCL_C14N,
    xmlsec.Transform.RSA_SHA256,
    xmlsec.Transform.RSA_SHA384,
    xmlsec.Transform.RSA_SHA512,
)
_REFERENCE_TRANSFORMS = (
    xmlsec.Transform.EXCL_C14N,
    xmlsec.Transform.SHA256,
    xmlsec.Transform.SHA384,
    xmlsec.Transform.SHA512,
)


def _q(namespace: str, local: str) -> str:
    return f"{{{namespace}}}{local}"


def _time(when: datetime) -> str:
    when = when.astimezone(timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def _parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class XmlsecPeer:
    """A python-xmlsec signer and verifier; the key, the certificate and the CA store are loaded once."""

    def __init__(
        self, key_path: str | Path | None, cert_path: str | Path | None, ca_path: str | Path | None = None
    ):
        """``key_path`` and ``cert_path`` (PEM) are needed to sign, ``ca_path`` (PEM, root and issuing CA) to
        verify; either pair may be None for a peer that only verifies or only signs."""
        self.key = self.bst_value = self.oin = None
        if key_path is not None and cert_path is not None:
            cert_pem = Path(cert_path).read_bytes()
            self.key = xmlsec.Key.from_file(str(key_path), xmlsec.KeyFormat.PEM)
            self.key.load_cert_from_memory(cert_pem, xmlsec.KeyFormat.PEM)
            cert = x509.load_pem_x509_certificate(cert_pem)
            self.bst_value = base64.b64encode(cert.public_bytes(Encoding.DER)).decode("ascii")
            oins = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.SERIAL_NUMBER)]
            self.oin = oins[0] if len(oins) == 1 else None
        self.manager = self._manager(Path(ca_path)) if ca_path else None
        self._parser = _parser()

    @staticmethod
    def _manager(ca_path: Path) -> xmlsec.KeysManager:
        """A keys manager holding the CA certificates: the self-signed ones trusted, the others untrusted
        intermediates (libxmlsec reads one certificate per load, so the PEM file is split here)."""
        manager = xmlsec.KeysManager()
        for pem in _PEM_CERT.findall(ca_path.read_bytes()):
            cert = x509.load_pem_x509_certificate(pem)
            kind = xmlsec.KeyDataType.TRUSTED if cert.issuer == cert.subject else xmlsec.KeyDataType.NONE
            manager.load_cert_from_memory(pem, xmlsec.KeyFormat.PEM, kind)
        return manager

    # ------------------------------------------------------------------------------------------------ signing

    def sign(
        self,
        envelope: bytes,
        *,
        to: str,
        action: str,
        message_id: str,
        from_oin: str | None = None,
        now: datetime | None = None,
        ttl: timedelta = timedelta(seconds=300),
    ) -> bytes:
        """Sign an unsigned SOAP 1.1 envelope (bytes) in the WUS layout; returns the signed bytes."""
        if self.key is None:
            raise ValueError("XmlsecPeer.sign needs the private key and certificate")
        old = etree.fromstring(envelope, self._parser)
        if old.tag != _q(SOAP_NS, "Envelope"):
            raise ValueError("not a SOAP 1.1 Envelope")
        # Declare wsse, wsu, wsa and ds once, on the Envelope.
        root = etree.Element(old.tag, attrib=dict(old.attrib), nsmap={**old.nsmap, **_NSMAP})
        root.text = old.text
        for child in list(old):
            root.append(child)
        body = root.find(_q(SOAP_NS, "Body"))
        if body is None:
            raise ValueError("the envelope has no Body")
        header = root.find(_q(SOAP_NS, "Header"))
        if header is None:
            header = etree.Element(_q(SOAP_NS, "Header"))
            root.insert(0, header)

        wsa = []
        for name, value in (("To", to), ("Action", action), ("MessageID", message_id)):
            el = etree.SubElement(header, _q(WSA_NS, name))
            el.text = value
            wsa.append((name, el))
        oin = from_oin or self.oin
        if oin:
            el = etree.SubElement(header, _q(WSA_NS, "From"))
            etree.SubElement(el, _q(WSA_NS, "Address")).text = f"{ANONYMOUS}?oin={oin}"
            wsa.append(("From", el))

        security = etree.Element(_q(WSSE_NS, "Security"))
        security.set(_q(SOAP_NS, "mustUnderstand"), "1")
        header.insert(0, security)
        now = now or datetime.now(timezone.utc)
        timestamp = etree.SubElement(security, _q(WSU_NS, "Timestamp"))
        etree.SubElement(timestamp, _q(WSU_NS, "Created")).text = _time(now)
        etree.SubElement(timestamp, _q(WSU_NS, "Expires")).text = _time(now + ttl)
        bst = etree.SubElement(security, _q(WSSE_NS, "BinarySecurityToken"),
                               EncodingType=BASE64_BINARY, ValueType=X509V3)
        bst_id = f"X509-{secrets.token_hex(8)}"
        bst.set(_ID, bst_id)
        bst.text = self.bst_value

        signature = xmlsec.template.create(root, xmlsec.Transform.EXCL_C14N, xmlsec.Transform.RSA_SHA256, ns="ds")
        security.append(signature)
        ctx = xmlsec.SignatureContext()
        ctx.key = self.key
        parts = wsa + [("TS", timestamp), ("Body", body)]
        for kind, element in parts:
            ident = element.get(_ID)
            if not ident:
                ident = f"{kind}-{secrets.token_hex(8)}"
                element.set(_ID, ident)
            ctx.register_id(element, "Id", WSU_NS)
            ref = xmlsec.template.add_reference(signature, xmlsec.Transform.SHA256, uri="#" + ident)
            xmlsec.template.add_transform(ref, xmlsec.Transform.EXCL_C14N)
        key_info = xmlsec.template.ensure_key_info(signature)
        str_ = etree.SubElement(key_info, _q(WSSE_NS, "SecurityTokenReference"))
        etree.SubElement(str_, _q(WSSE_NS, "Reference"), URI="#" + bst_id, ValueType=X509V3)
        ctx.sign(signature)
        return etree.tostring(root, xml_declaration=True, encoding="UTF-8")

    # ----------------------------------------------------------------------------------------------- verifying

    def verify(self, data: bytes, *, check_chain: bool = True) -> bool:
        """True when the signature verifies (every reference digest, the SignatureValue) with the certificate of
        the BinarySecurityToken, and that certificate chains to the CA store; False otherwise.

        ``check_chain=False`` is the lighter variant (what zeep does, with the token's certificate instead of a
        configured one): the key is taken from the token's certificate and no chain is built; the bench reports
        it as a second yardstick."""
        if check_chain and self.manager is None:
            raise ValueError("XmlsecPeer.verify needs the CA certificates (ca_path)")
        try:
            root = etree.fromstring(data, self._parser)
        except etree.XMLSyntaxError:
            return False
        if root.getroottree().docinfo.doctype:
            return False
        signatures = root.findall(f"{_q(SOAP_NS, 'Header')}/{_q(WSSE_NS, 'Security')}/{_q(DS_NS, 'Signature')}")
        if len(signatures) != 1:
            return False
        signature = signatures[0]

        ctx = xmlsec.SignatureContext(self.manager) if check_chain else xmlsec.SignatureContext()
        ids: dict[str, etree._Element] = {}
        for element in _WITH_ID(root):
            ident = element.get(_ID)
            if ident in ids:
                return False  # a duplicate id: which element a reference means would be ambiguous
            ids[ident] = element
            ctx.register_id(element, "Id", WSU_NS)

        # KeyInfo/SecurityTokenReference/Reference → the BinarySecurityToken → ds:X509Data for libxmlsec.
        key_info = signature.find(_q(DS_NS, "KeyInfo"))
        if key_info is None or len(key_info) != 1:
            return False
        ref = key_info.find(f"{_q(WSSE_NS, 'SecurityTokenReference')}/{_q(WSSE_NS, 'Reference')}")
        uri = ref.get("URI", "") if ref is not None else ""
        bst = ids.get(uri[1:]) if uri.startswith("#") else None
        if bst is None or bst.tag != _q(WSSE_NS, "BinarySecurityToken") or bst.get("ValueType") != X509V3:
            return False
        if check_chain:
            key_info.remove(key_info[0])
            x509_data = etree.SubElement(key_info, _q(DS_NS, "X509Data"))
            etree.SubElement(x509_data, _q(DS_NS, "X509Certificate")).text = bst.text
        else:
            try:
                der = base64.b64decode("".join((bst.text or "").split()), validate=True)
                ctx.key = xmlsec.Key.from_memory(der, xmlsec.KeyFormat.CERT_DER)
            except (ValueError, xmlsec.Error):
                return False

        for transform in _SIGNATURE_TRANSFORMS:
            ctx.enable_signature_transform(transform)
        for transform in _REFERENCE_TRANSFORMS:
            ctx.enable_reference_transform(transform)
        try:
            ctx.verify(signature)
        except xmlsec.Error:
            return False
        return True


def xmlsec_sign(
    unsigned_envelope: bytes,
    key_pem_path: str | Path,
    cert_pem_path: str | Path,
    *,
    to: str,
    action: str,
    message_id: str,
    **options,
) -> bytes:
    """One-shot signing (loads the key each call; use ``XmlsecPeer`` to sign many)."""
    return XmlsecPeer(key_pem_path, cert_pem_path).sign(
        unsigned_envelope, to=to, action=action, message_id=message_id, **options
    )


def xmlsec_verify(signed: bytes, ca_pem_path: str | Path) -> bool:
    """One-shot verification against the CA certificates in ``ca_pem_path``."""
    return XmlsecPeer(None, None, ca_pem_path).verify(signed)
