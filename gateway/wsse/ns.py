"""Namespaces and algorithm identifiers of the WUS signed profile."""

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSSE11 = "http://docs.oasis-open.org/wss/oasis-wss-wssecurity-secext-1.1.xsd"
DS = "http://www.w3.org/2000/09/xmldsig#"
EC = "http://www.w3.org/2001/10/xml-exc-c14n#"
XML = "http://www.w3.org/XML/1998/namespace"

WSA_ANONYMOUS = WSA + "/anonymous"

EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
EXC_C14N_WITH_COMMENTS = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments"

BASE64_ENCODING = (
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-soap-message-security-1.0#Base64Binary"
)
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"

# Allow-lists (SIGN003, SIGN004): SHA-2 only. Values are hashlib / cryptography names.
DIGESTS = {
    "http://www.w3.org/2001/04/xmlenc#sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#sha384": "sha384",
    "http://www.w3.org/2001/04/xmlenc#sha512": "sha512",
}
SIGNATURES = {
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256": "sha256",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384": "sha384",
    "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512": "sha512",
}
DIGEST_URI = {name: uri for uri, name in DIGESTS.items()}
SIGNATURE_URI = {name: uri for uri, name in SIGNATURES.items()}

# The WS-Addressing headers a message of the profile may carry, in the order we write them.
WSA_HEADERS = ("To", "Action", "MessageID", "RelatesTo", "From", "ReplyTo", "FaultTo")

NSMAP = {"wsse": WSSE, "wsu": WSU, "wsa": WSA, "ds": DS}
