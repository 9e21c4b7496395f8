"""What validation found: one small value per finding, and the report that holds them.

A finding says how bad it is (``severity``), which layer found it (``source``: the bundle's XSD, the bundle's
business-rule XSLT, or the gateway's own checks), which rule (an Edustandaard id such as ``OVa.IZ01``, an XSD
constraint such as ``xsd:cvc-pattern-valid``, or a gateway id from ``RULES``), where (an XPath in the style the
Edustandaard XSLTs use, ``/dossier[1]/huidigeschool[1]/leerling[1]/bsn[1]``), and, for an attachment, which
document (its ``bestandsnaam``). Texts never carry the value that failed a check when that value identifies a
pupil (a BSN or onderwijsnummer): reports go to logs and to the servicedesk.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from lxml import etree

ERROR, WARNING, INFO = "error", "warning", "info"
SEVERITIES = (ERROR, WARNING, INFO)

SCHEMA, BUSINESS_RULE, GATEWAY = "schema", "business-rule", "gateway"
SOURCES = (SCHEMA, BUSINESS_RULE, GATEWAY)

# The gateway's own rule ids. Parse refusals keep the ids of the one safe parser (gateway.wsse.xmlparse).
RULES: dict[str, str] = {
    # safe parsing (ids of gateway.wsse.errors)
    "GW-SIZE": "a dossier is at most the configured size",
    "GW-XML": "a dossier is well-formed XML within the configured nesting depth",
    "R1008": "a dossier carries no DTD (no DOCTYPE, entities or external references)",
    "WS006": "a dossier is UTF-8 encoded",
    # structure
    "DOS-ROOT": "the root element is <dossier> in an OSO-gegevensset namespace",
    "DOS-XSLT": "the bundle's business rules ran to the end (a dynamic error means they could not judge)",
    # identity
    "DOS-BSN": "a BSN is 9 digits and passes the elfproef (a configured test school's test numbers excepted)",
    "DOS-ONDERWIJSNUMMER": "an onderwijsnummer is 9 digits, starts with 1 and passes its check "
    "(a configured test school's test numbers excepted)",
    "DOS-TESTNUMBER": "a test number of a configured test school was accepted in place of the check",
    "DOS-BRIN": "a BRIN code is two digits and two capitals ([0-9]{2}[A-Z]{2})",
    "DOS-VESTIGING": "a vestigingscode is two digits",
    "DOS-DATE": "a date is a date that exists (and a geboortemaand a month that exists)",
    # release
    "DOS-CAT-VERBODEN": "a category that categorie_uitlevering marks VERBODEN carries no data",
    "DOS-CAT-OPTUIT": "a category that categorie_uitlevering marks OPT-UIT (parents opted out) carries no data",
    "DOS-INZAGE": "a PO-PO or PO-VO overstapdossier records that the parents inspected it (inzage = true)",
    "DOS-TOESTEMMING": "a VO-VO overstapdossier records consent (toestemming = Ja)",
    "DOS-OVERDRACHTSOORT": "overdrachtsoort and metadata/overstap agree with each other and with the transfer",
    "DOS-BRON": "the dossier comes from the school the transfer names (huidigeschool/brincode)",
    # attachments
    "DOS-ATT-COUNT": "a dossier holds at most the configured number of attachments, a ZIP the configured number "
    "of entries",
    "DOS-ATT-BASE64": "an attachment's bestandsinhoud is valid base64",
    "DOS-ATT-NOTZIP": "an attachment is a ZIP archive",
    "DOS-ATT-TRUNCATED": "an attachment is a complete ZIP archive (with its central directory)",
    "DOS-ATT-EMPTY": "an attachment's ZIP archive holds at least one file",
    "DOS-ATT-SIZE": "attachments stay within the configured compressed size, per document and in total",
    "DOS-ATT-BOMB": "a ZIP stays within the configured uncompressed size and compression ratio",
    "DOS-ATT-PATH": "no ZIP entry has an absolute path or a '..' component",
    "DOS-ATT-ENCRYPTED": "no ZIP entry is encrypted",
    "DOS-ATT-METHOD": "ZIP entries use a common compression method (stored, deflate, bzip2, lzma)",
    "DOS-ATT-CORRUPT": "a ZIP entry decompresses and matches its CRC",
    "DOS-ATT-TYPE": "an attachment is one of the file types the standard allows (PDF, JPG, PNG, DOC, DOCX, ODF, "
    "XLS, XLSX, TXT, PPT, PPTX)",
}


@dataclass(frozen=True)
class Finding:
    severity: str  # ERROR | WARNING | INFO
    source: str  # SCHEMA | BUSINESS_RULE | GATEWAY
    rule: str | None
    text: str
    location: str | None = None  # XPath
    document: str | None = None  # an attachment's bestandsnaam

    def __post_init__(self):
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if self.source not in SOURCES:
            raise ValueError(f"unknown source {self.source!r}")
        if self.source == GATEWAY and self.rule is not None and self.rule not in RULES:
            raise ValueError(f"unknown gateway rule id {self.rule!r}")

    def to_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def gateway(severity: str, rule: str, text: str, location: str | None = None,
            document: str | None = None) -> Finding:
    return Finding(severity, GATEWAY, rule, text, location, document)


VALID, INVALID, CANNOT_VALIDATE = "valid", "invalid", "cannot-validate"


@dataclass(frozen=True)
class Report:
    """The verdict on one dossier.

    ``status`` is ``valid`` (no error under the bundle's XSD and XSLT and the gateway's checks), ``invalid`` (at least
    one error, or the bytes could not be read as a dossier at all), or ``cannot-validate`` (no bundle fits: the
    gateway's own checks ran, and their findings are here, but the standard's own rules could not be applied).
    """

    findings: tuple[Finding, ...]
    namespace: str | None = None
    standaardversie: str | None = None
    bundle: str | None = None  # the bundle's standaardversie, when one was used
    profile: str | None = None  # "OV" or "PaO": which business-rule stylesheet ran
    problem: str | None = None  # why the dossier could not be validated in full
    is_dossier: bool = True  # False: the bytes are not an OSO dossier at all (not XML, a DTD, another root)

    @property
    def errors(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == ERROR)

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity == WARNING)

    @property
    def status(self) -> str:
        if not self.is_dossier:
            return INVALID
        if self.problem is not None:
            return CANNOT_VALIDATE
        return INVALID if self.errors else VALID

    @property
    def valid(self) -> bool:
        return self.status == VALID

    def by_source(self) -> dict[str, list[Finding]]:
        out: dict[str, list[Finding]] = {s: [] for s in SOURCES}
        for f in self.findings:
            out[f.source].append(f)
        return out

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "namespace": self.namespace,
            "standaardversie": self.standaardversie,
            "bundle": self.bundle,
            "profile": self.profile,
            "problem": self.problem,
            "counts": {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES},
            "findings": {src: [f.to_dict() for f in fs] for src, fs in self.by_source().items()},
        }


def xpath_of(el: etree._Element) -> str:
    """The element's path as the Edustandaard XSLTs write it: local names with a position among same-named siblings."""
    steps = []
    node = el
    while node is not None:
        tag = node.tag
        pos = 1 + sum(1 for _ in node.itersiblings(tag, preceding=True))
        steps.append(f"{tag.rpartition('}')[2]}[{pos}]")
        node = node.getparent()
    return "/" + "/".join(reversed(steps))
