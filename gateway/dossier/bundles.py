"""Edustandaard validation bundles: find them, load them, compile them once, run them.

A *bundles dir* holds one folder per standaardversie (``2019.1/``, …), each laid out like the official technical
files of the OSO-gegevensset::

    2019.1/OSO_gegevensset_2019.1.xsd        the XSD (its targetNamespace is the dossier namespace of that year)
    2019.1/OV/ValideerOverstapprofielen.xsl  business rules of the overstap profiles (PO-PO, PO-VO, VO-VO, binnen-BRIN)
    2019.1/OV/include/…                      what it includes (code lists)
    2019.1/PaO/ValideerSwvPaO-profielen.xsl  business rules of the samenwerkingsverband (SWV / PaO) profiles
    2019.1/PaO/include/…

A bundle is chosen by the dossier's namespace and ``metadata/standaardversie``: the folder whose name is the
standaardversie and whose XSD's targetNamespace is the dossier's namespace. The standaardversie from the dossier is
only ever compared with folder names found by listing the directory, never joined into a path.

The XSD is compiled with lxml, the XSLTs (2.0) with saxonche (Saxon-HE), each once per bundle, on first use; the
compiled forms are kept and reused. Saxon's executables are not thread-safe: runs are serialised by a lock.

Which stylesheet runs (the *profile*): ``PaO`` for ``overdrachtsoort`` ``swv-dossier``; ``OV`` for
``overstapdossier`` and ``overdrachtbinnenbrin``; when the overdrachtsoort is missing or unknown, ``PaO`` if
``metadata/overstap`` is ``POSWV`` or ``VOSWV``, else ``OV``. (Both stylesheets read ``overdrachtsoort`` themselves:
the OV rules refuse a ``swv-dossier`` (OVa.OS03) and the PaO rules anything else (PaO.SO03), so running the wrong
one would only report that.)

Rule ids: the XSLTs' messages carry no id; the id stands in the comment above each check ("… business rule
OVa.IZ01"). When a bundle is compiled, its stylesheets (and their includes) are read once to map each message text
to the id(s) of the comment before it; a message whose own text carries an id keeps that one.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from pathlib import Path

from lxml import etree

from .findings import BUSINESS_RULE, ERROR, INFO, SCHEMA, WARNING, Finding, gateway, xpath_of

MELDINGEN_NS = "http://www.edustandaard.nl/oso_gegevensset/2019/schemas/Meldingen"
XSL_NS = "http://www.w3.org/1999/XSL/Transform"
OV, PAO = "OV", "PaO"
PROFILES = (OV, PAO)

_RULE_HEADER = re.compile(r"business rule\s+([A-Za-z]+\.[A-Za-z?]*[0-9?]+)")
_RULE_ID = re.compile(r"[A-Za-z]+\.[A-Za-z]*[0-9]+")
_RULE_IN_TEXT = re.compile(r"\b((?:OV[ab]?|PaO|OG|OS)\.[A-Za-z]*[0-9]+)\b")
_SEVERITY = {"fout": ERROR, "error": ERROR, "waarschuwing": WARNING, "warning": WARNING,
             "informatie": INFO, "info": INFO, "melding": INFO}


class BundleError(Exception):
    """A bundle folder is not laid out as expected, or its XSD or XSLT does not compile."""


class NoBundle(Exception):
    """No bundle fits the dossier; ``reason`` says why, in words for a person."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _trusted_parser(*, comments: bool) -> etree.XMLParser:
    # Bundle files are configuration, but still: no network, no entities.
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, remove_comments=not comments)


def _norm(text: str) -> str:
    return " ".join(text.split())


def _read_target_namespace(xsd: Path) -> str | None:
    for _event, el in etree.iterparse(str(xsd), events=("start",), resolve_entities=False, no_network=True,
                                      load_dtd=False):
        return el.get("targetNamespace")
    return None


_saxon_lock = threading.RLock()
_saxon_proc = None


def saxon_processor():
    """The process's one PySaxonProcessor (created on first use)."""
    global _saxon_proc
    with _saxon_lock:
        if _saxon_proc is None:
            from saxonche import PySaxonProcessor

            _saxon_proc = PySaxonProcessor(license=False)
        return _saxon_proc


def rule_ids_of_stylesheet(path: Path) -> dict[str, tuple[str, ...]]:
    """Map each message text of an Edustandaard XSLT (and its includes) to the rule id(s) in the comment above it."""
    out: dict[str, tuple[str, ...]] = {}
    seen: set[Path] = set()

    def walk(p: Path) -> None:
        p = p.resolve()
        if p in seen:
            return
        seen.add(p)
        root = etree.parse(str(p), _trusted_parser(comments=True)).getroot()
        current: tuple[str, ...] = ()
        last_was_rule = False
        for node in root.iter():
            if node.tag is etree.Comment:
                text = node.text or ""
                headers = _RULE_HEADER.findall(text)  # "… business rule OVa.LL03", or "OVb.LL??" (no number)
                if headers:
                    ids = tuple(h for h in headers if _RULE_ID.fullmatch(h))
                    current = (current + ids) if (last_was_rule and ids and current) else ids
                    last_was_rule = True
                else:
                    if text.strip().startswith("Afspraak"):
                        current = ()
                    last_was_rule = False
                continue
            if not isinstance(node.tag, str):
                continue
            last_was_rule = False
            if node.tag in (f"{{{XSL_NS}}}include", f"{{{XSL_NS}}}import") and node.get("href"):
                walk(p.parent / node.get("href"))
                continue
            if node.tag == f"{{{XSL_NS}}}with-param" and node.get("name") == "tekst":
                parent = node.getparent()
                if parent is not None and parent.tag == f"{{{XSL_NS}}}call-template" and current:
                    key = _norm("".join(node.itertext()))
                    merged = out.get(key, ()) + tuple(i for i in current if i not in out.get(key, ()))
                    out[key] = merged

    walk(path)
    return out


@dataclass
class RuleSet:
    """One compiled business-rule stylesheet (OV or PaO) of a bundle."""

    profile: str
    path: Path
    executable: object  # saxonche.PyXsltExecutable
    rule_ids: dict[str, tuple[str, ...]]

    def run(self, root: etree._Element) -> list[Finding]:
        """Run the stylesheet over the dossier and turn its ``meldingen`` into findings."""
        from saxonche import PySaxonApiError

        text = etree.tostring(root, encoding="unicode")
        proc = saxon_processor()
        try:
            with _saxon_lock:
                node = proc.parse_xml(xml_text=text)
                result = self.executable.transform_to_string(xdm_node=node)
        except PySaxonApiError as exc:
            return [gateway(ERROR, "DOS-XSLT", f"the {self.profile} business rules could not be evaluated: "
                            f"{_norm(str(exc))[:300]}")]
        if not result:
            return [gateway(ERROR, "DOS-XSLT", f"the {self.profile} business rules returned nothing")]
        return self._findings(result, root)

    def _findings(self, result: str, root: etree._Element) -> list[Finding]:
        out_root = etree.fromstring(result.encode("utf-8"), _trusted_parser(comments=False))
        ns = etree.QName(root).namespace or ""
        soort = (root.findtext(f"{{{ns}}}overdrachtsoort") or "").strip()
        prefer = "OVb." if soort == "overdrachtbinnenbrin" else ("OVa." if self.profile == OV else "PaO.")
        out: list[Finding] = []
        for m in out_root.iter(f"{{{MELDINGEN_NS}}}melding"):
            typ = _norm(m.findtext(f"{{{MELDINGEN_NS}}}type") or "")
            tekst = _norm(m.findtext(f"{{{MELDINGEN_NS}}}tekst") or "")
            locatie = _norm(m.findtext(f"{{{MELDINGEN_NS}}}locatie") or "") or None
            severity = _SEVERITY.get(typ.lower(), ERROR)  # an unknown type counts as an error
            in_text = _RULE_IN_TEXT.findall(tekst)
            ids = tuple(in_text) if in_text else self.rule_ids.get(tekst, ())
            chosen = tuple(i for i in ids if i.startswith(prefer)) or ids
            rule = ",".join(chosen) if chosen else None
            out.append(Finding(severity, BUSINESS_RULE, rule, tekst, locatie))
        return out


@dataclass
class Bundle:
    """The XSD and the OV/PaO business rules of one standaardversie, compiled."""

    version: str
    path: Path
    namespace: str
    schema: etree.XMLSchema
    rules: dict[str, RuleSet]
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def check_schema(self, root: etree._Element) -> list[Finding]:
        with self._lock:
            ok = self.schema.validate(root)
            errors = [] if ok else list(self.schema.error_log)
        tree = root.getroottree()
        out = []
        for e in errors:
            location = e.path or None
            if e.path:
                try:
                    hits = tree.xpath(e.path)
                    if hits and isinstance(hits[0], etree._Element):
                        location = xpath_of(hits[0])
                except etree.XPathError:
                    pass
            message = e.message.replace(f"{{{self.namespace}}}", "")
            severity = WARNING if e.level_name == "WARNING" else ERROR
            out.append(Finding(severity, SCHEMA, _xsd_rule(e.type_name), message, location))
        return out

    def profile_for(self, root: etree._Element) -> str:
        return profile_for(root)

    def check_rules(self, root: etree._Element, profile: str | None = None) -> list[Finding]:
        profile = profile or profile_for(root)
        rs = self.rules.get(profile)
        if rs is None:
            raise NoBundle(f"bundle {self.version} has no {profile} business rules")
        return rs.run(root)


def profile_for(root: etree._Element) -> str:
    """OV or PaO, from the dossier's overdrachtsoort, else its metadata/overstap (see the module docstring)."""
    ns = etree.QName(root).namespace or ""
    soort = (root.findtext(f"{{{ns}}}overdrachtsoort") or "").strip()
    if soort == "swv-dossier":
        return PAO
    if soort in ("overstapdossier", "overdrachtbinnenbrin"):
        return OV
    overstap = (root.findtext(f"{{{ns}}}metadata/{{{ns}}}overstap") or "").strip()
    return PAO if overstap in ("POSWV", "VOSWV") else OV


def _xsd_rule(type_name: str) -> str:
    s = type_name.removeprefix("SCHEMAV_").lower()
    m = re.fullmatch(r"(.*?)((?:_[0-9]+)*)", s)
    base, suffix = (m.group(1), m.group(2)) if m else (s, "")
    return "xsd:" + base.replace("_", "-") + suffix.replace("_", ".")


def _one(folder: Path, pattern: str, what: str) -> Path | None:
    hits = sorted(p for p in folder.glob(pattern) if p.is_file())
    if len(hits) > 1:
        raise BundleError(f"{folder}: more than one {what} ({', '.join(h.name for h in hits)})")
    return hits[0] if hits else None


def load_bundle(folder: str | Path, version: str | None = None) -> Bundle:
    """Compile one bundle folder: its XSD (lxml) and its OV and PaO stylesheets (saxonche)."""
    folder = Path(folder)
    version = version or folder.name
    xsd = _one(folder, "*.xsd", "XSD")
    if xsd is None:
        raise BundleError(f"{folder}: no XSD")
    namespace = _read_target_namespace(xsd)
    if not namespace:
        raise BundleError(f"{xsd}: no targetNamespace")
    try:
        schema = etree.XMLSchema(etree.parse(str(xsd), _trusted_parser(comments=False)))
    except (etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise BundleError(f"{xsd}: the XSD does not compile: {exc}") from None
    rules: dict[str, RuleSet] = {}
    for profile in PROFILES:
        xsl = _one(folder / profile, "*.xsl", f"{profile} stylesheet") if (folder / profile).is_dir() else None
        if xsl is None:
            continue
        rules[profile] = _compile(profile, xsl)
    if not rules:
        raise BundleError(f"{folder}: neither OV/*.xsl nor PaO/*.xsl")
    return Bundle(version, folder, namespace, schema, rules)


def _compile(profile: str, xsl: Path) -> RuleSet:
    from saxonche import PySaxonApiError

    proc = saxon_processor()
    try:
        with _saxon_lock:
            executable = proc.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(xsl.resolve()))
    except PySaxonApiError as exc:
        raise BundleError(f"{xsl}: the stylesheet does not compile: {_norm(str(exc))[:300]}") from None
    if executable is None:
        raise BundleError(f"{xsl}: the stylesheet does not compile")
    return RuleSet(profile, xsl, executable, rule_ids_of_stylesheet(xsl))


class BundleRegistry:
    """The bundles of one bundles dir, compiled on first use and kept."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise BundleError(f"{self.root}: not a directory")
        self._folders = {p.name: p for p in sorted(self.root.iterdir())
                         if p.is_dir() and any(q.suffix == ".xsd" for q in p.iterdir() if q.is_file())}
        self._loaded: dict[str, Bundle] = {}
        self._namespaces: dict[str, str | None] = {}
        self._lock = threading.Lock()

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(self._folders)

    def get(self, version: str) -> Bundle:
        """The compiled bundle of a standaardversie (compiled now if this is its first use)."""
        with self._lock:
            b = self._loaded.get(version)
            if b is None:
                folder = self._folders.get(version)
                if folder is None:
                    raise NoBundle(self._missing(version))
                b = self._loaded[version] = load_bundle(folder, version)
            return b

    def namespace_of(self, version: str) -> str | None:
        if version not in self._namespaces:
            xsd = _one(self._folders[version], "*.xsd", "XSD")
            self._namespaces[version] = _read_target_namespace(xsd) if xsd else None
        return self._namespaces[version]

    def _missing(self, version: str) -> str:
        have = ", ".join(self._folders) or "none"
        return f"no bundle for standaardversie {version[:40]!r} (bundles in {self.root}: {have})"

    def select(self, namespace: str | None, standaardversie: str | None) -> Bundle:
        """The bundle for a dossier, or NoBundle saying why none fits."""
        if standaardversie:
            if standaardversie not in self._folders:
                raise NoBundle(self._missing(standaardversie))
            ns = self.namespace_of(standaardversie)
            if ns != namespace:
                raise NoBundle(f"bundle {standaardversie} is for namespace {ns}, the dossier is in {namespace}")
            return self.get(standaardversie)
        fits = [v for v in self._folders if self.namespace_of(v) == namespace]
        if len(fits) == 1:
            return self.get(fits[0])
        if not fits:
            raise NoBundle(f"the dossier names no standaardversie and no bundle is for namespace {namespace}")
        raise NoBundle(f"the dossier names no standaardversie and several bundles are for namespace {namespace}: "
                       f"{', '.join(fits)}")


# Where `oso-gateway bundles fetch` puts the official bundles by default (relative to the working folder, as var/ is).
FETCHED_DIR = Path("var") / "bundles"


def default_bundles_dir() -> str | None:
    """The bundles dir to use when none is configured: the fetched one, when it is there."""
    return str(FETCHED_DIR) if FETCHED_DIR.is_dir() else None


def load_bundles(root: str | Path) -> BundleRegistry:
    return BundleRegistry(root)
