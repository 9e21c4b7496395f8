"""A party's signing credentials, loaded once (loading a PEM key costs ~26 ms: never per message)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .trust import oin_of


@dataclass(frozen=True)
class Credentials:
    """An RSA private key with its X.509 certificate, ready to sign."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey = field(repr=False)
    der: bytes = field(repr=False)
    bst_value: str = field(repr=False)  # base64 of the DER, as the BinarySecurityToken carries it
    oin: str | None = None

    @classmethod
    def from_pem(cls, cert_pem: bytes, key_pem: bytes, password: bytes | None = None) -> "Credentials":
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=password)
        return cls.from_objects(cert, key)

    @classmethod
    def from_files(cls, cert_path: str | Path, key_path: str | Path, password: bytes | None = None) -> "Credentials":
        """The credentials of two PEM files; OSError or ValueError naming the file that cannot be read or used."""
        cert_pem, key_pem = Path(cert_path).read_bytes(), Path(key_path).read_bytes()
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError:
            raise ValueError(f"{cert_path}: not a PEM certificate") from None
        try:
            key = serialization.load_pem_private_key(key_pem, password=password)
        except TypeError:
            raise ValueError(f"{key_path}: the private key is encrypted (the gateway reads unencrypted PEM keys; "
                             "keep the file readable to the gateway alone)") from None
        except ValueError:
            raise ValueError(f"{key_path}: not a PEM private key") from None
        try:
            return cls.from_objects(cert, key)
        except ValueError as exc:
            raise ValueError(f"{key_path}: {exc}") from None

    @classmethod
    def from_objects(cls, cert: x509.Certificate, key) -> "Credentials":
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError("the WUS profile signs with RSA: the key is not an RSA key")
        if key.public_key().public_numbers() != cert.public_key().public_numbers():
            raise ValueError("the private key does not belong to the certificate")
        der = cert.public_bytes(serialization.Encoding.DER)
        return cls(cert, key, der, base64.b64encode(der).decode("ascii"), oin_of(cert))

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.der).hexdigest()
