"""WUS message security (Edukoppeling / Digikoppeling 2W-be-S), sans-IO: bytes in, values or typed errors out."""

from .credentials import Credentials
from .errors import RULES, SecurityError
from .policy import Policy
from .replay import MemoryReplayStore, ReplayStore
from .sign import SignedEnvelope, sign_envelope, sign_request, sign_response
from .trust import TrustStore, oin_of
from .verify import VerifiedMessage, verify, verify_response
from .xmlparse import parse_untrusted

__all__ = [
    "Credentials", "MemoryReplayStore", "Policy", "RULES", "ReplayStore", "SecurityError", "SignedEnvelope",
    "TrustStore", "VerifiedMessage", "oin_of", "parse_untrusted", "sign_envelope", "sign_request", "sign_response",
    "verify", "verify_response",
]
