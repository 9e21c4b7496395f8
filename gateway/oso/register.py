"""The register's entities: schools, vendors (leveranciers) and aanleverpunten. Frozen values; the store keeps them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import Enum

from . import identifiers as ids


class Sector(str, Enum):
    PO = "PO"
    VO = "VO"
    SWV = "SWV"


class RegisterError(ValueError):
    """Bad input for the register: says which field and why."""


@dataclass(frozen=True)
class School:
    brin: str
    vestiging: str
    sector: Sector
    naam: str

    def __post_init__(self):
        if not ids.is_brin(self.brin):
            raise RegisterError(f"BRIN {self.brin!r} is malformed: two digits and two capitals, e.g. 00YY")
        if not ids.is_vestiging(self.vestiging):
            raise RegisterError(f"vestiging {self.vestiging!r} is malformed: two digits, e.g. 00")
        if not isinstance(self.sector, Sector):
            try:
                object.__setattr__(self, "sector", Sector(self.sector))
            except ValueError:
                raise RegisterError(f"sector {self.sector!r} is not PO, VO or SWV") from None
        if not self.naam or not self.naam.strip():
            raise RegisterError("a school needs a name")


@dataclass(frozen=True)
class Vendor:
    """A leverancier, identified by the OIN in its certificate. Only a qualified vendor may exchange dossiers."""

    oin: str
    naam: str
    gekwalificeerd: bool = False
    gekwalificeerd_sinds: date | None = None

    def __post_init__(self):
        if not ids.is_oin(self.oin):
            raise RegisterError(f"OIN {self.oin!r} is malformed: exactly 20 digits")
        if not self.naam or not self.naam.strip():
            raise RegisterError("a vendor needs a name")
        if self.gekwalificeerd_sinds is not None and not self.gekwalificeerd:
            raise RegisterError("gekwalificeerd_sinds is only set for a qualified vendor")


@dataclass(frozen=True)
class Aanleverpunt:
    """A school's delivery endpoint at its vendor."""

    routeringskenmerk: str
    brin: str
    vestiging: str
    vendor_oin: str
    document_url: str
    notificatie_url: str | None = None
    actief: bool = True

    def __post_init__(self):
        if not ids.is_routeringskenmerk(self.routeringskenmerk):
            raise RegisterError(f"routeringskenmerk {self.routeringskenmerk!r} is malformed: 20 digits or capitals")
        if not ids.is_brin(self.brin):
            raise RegisterError(f"BRIN {self.brin!r} is malformed: two digits and two capitals, e.g. 00YY")
        if not ids.is_vestiging(self.vestiging):
            raise RegisterError(f"vestiging {self.vestiging!r} is malformed: two digits, e.g. 00")
        if not ids.is_oin(self.vendor_oin):
            raise RegisterError(f"OIN {self.vendor_oin!r} is malformed: exactly 20 digits")
        for name in ("document_url", "notificatie_url"):
            url = getattr(self, name)
            if url is not None and not (url.startswith("http://") or url.startswith("https://")):
                raise RegisterError(f"{name} {url!r} must be an http(s) URL")
