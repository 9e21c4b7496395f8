"""``validate(data) -> Report``: one dossier, every layer, bytes in and a value out (the only I/O is a bundle's files,
read and compiled once on its first use).

Order: the one safe parser (``gateway.wsse.xmlparse.parse_untrusted``: no DTD, size and depth limits; a refusal
becomes a ``gateway`` finding and the verdict ``invalid``); the gateway's own checks (identity, release,
attachments); then, when a bundle fits, the bundle's XSD and the business-rule XSLT of the dossier's profile.

The attachments are checked first and, in the working tree this function parsed, each large ``bestandsinhoud`` is
replaced by a short placeholder as soon as it has been read: the XSD types it as a non-empty string and the XSLTs
never read it, so their verdicts do not change, while the schema validator and Saxon see a document of a few hundred
KB instead of one as large as the attachments (this is what keeps the peak RSS growth for a dossier with 50 MiB of
attachments, ~70 MB on disk, at about 2.1 times its size: see bench/bench_dossier.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from ..wsse.errors import MalformedMessage
from ..wsse.xmlparse import parse_untrusted
from .attachments import AttachmentLimits, check_attachments
from .bundles import Bundle, BundleRegistry, NoBundle, profile_for
from .findings import ERROR, RULES, Finding, Report, gateway, xpath_of
from .identity import IdentityPolicy, check_identity
from .release import Transfer, check_release

MiB = 1024 * 1024
# libxml2 without XML_PARSE_HUGE (the safe parser's setting) refuses a text node longer than this
_PARSER_TEXT_LIMIT = 10_000_000
DOSSIER_NS = re.compile(r"http://www\.edustandaard\.nl/oso_gegevensset/[0-9]{4}/dossier")


def _has_huge_text(data: bytes, limit: int = _PARSER_TEXT_LIMIT) -> bool:
    """Whether the bytes hold a run of more than `limit` bytes without '<' (only to explain a refusal).

    Linear and bounded: such a run covers a whole block of limit/2 bytes at a multiple of limit/2, so only those
    blocks are probed (a handful of memchr calls), and each run found is measured once.
    """
    half = limit // 2
    n = len(data)
    off = 0
    while off + half <= n:
        if data.find(b"<", off, off + half) != -1:
            off += half
            continue
        start = data.rfind(b"<", 0, off) + 1
        end = data.find(b"<", off)
        end = n if end < 0 else end
        if end - start > limit:
            return True
        off = end + 1
    return False


@dataclass(frozen=True)
class DossierPolicy:
    """Limits and exceptions for dossier validation."""

    max_bytes: int = 128 * MiB  # the whole dossier, attachments included
    max_depth: int = 100
    identity: IdentityPolicy = IdentityPolicy()
    attachments: AttachmentLimits = AttachmentLimits()


DEFAULT_POLICY = DossierPolicy()


def validate(data: bytes, bundles: BundleRegistry | Bundle | None = None, *,
             policy: DossierPolicy = DEFAULT_POLICY, transfer: Transfer | None = None) -> Report:
    """Validate one dossier. ``bundles``: a registry (picks by namespace and standaardversie), one bundle, or None
    (gateway checks only: the report then says it cannot validate in full)."""
    try:
        root = parse_untrusted(data, max_bytes=policy.max_bytes, max_depth=policy.max_depth)
    except MalformedMessage as exc:
        rule = exc.rule if exc.rule in RULES else "GW-XML"
        reason = exc.reason
        if rule == "GW-XML" and _has_huge_text(data):
            reason += (f" (it holds a text of more than {_PARSER_TEXT_LIMIT:,} characters, e.g. an attachment of more "
                       "than ~7.5 MB, which the safe parser does not accept)")
        return Report((gateway(ERROR, rule, reason),), is_dossier=False)
    qn = etree.QName(root)
    if qn.localname != "dossier" or not DOSSIER_NS.fullmatch(qn.namespace or ""):
        return Report((gateway(ERROR, "DOS-ROOT", f"the root element is {{{qn.namespace or ''}}}{qn.localname}, not "
                               "an OSO dossier (http://www.edustandaard.nl/oso_gegevensset/<year>/dossier)",
                               xpath_of(root)),), namespace=qn.namespace, is_dossier=False)
    return validate_tree(root, bundles, policy=policy, transfer=transfer)


def validate_tree(root: etree._Element, bundles: BundleRegistry | Bundle | None = None, *,
                  policy: DossierPolicy = DEFAULT_POLICY, transfer: Transfer | None = None) -> Report:
    """Validate a dossier already parsed by ``parse_untrusted``. The tree is changed: large attachment contents are
    replaced by a placeholder once checked (see the module docstring)."""
    ns = etree.QName(root).namespace
    versie_el = root.find(f"{{{ns}}}metadata/{{{ns}}}standaardversie")
    versie = (versie_el.text or "").strip() if versie_el is not None else None

    own: list[Finding] = []
    own += check_identity(root, policy.identity)
    own += check_release(root, transfer)
    own += check_attachments(root, policy.attachments, slim=True)

    bundle: Bundle | None = None
    problem: str | None = None
    if bundles is None:
        problem = "no bundles configured: only the gateway's own checks ran"
    elif isinstance(bundles, Bundle):
        if bundles.namespace != ns:
            problem = f"bundle {bundles.version} is for namespace {bundles.namespace}, the dossier is in {ns}"
        else:
            bundle = bundles
    else:
        try:
            bundle = bundles.select(ns, versie)
        except NoBundle as exc:
            problem = exc.reason

    standard: list[Finding] = []
    profile = None
    if bundle is not None:
        profile = profile_for(root)
        standard += bundle.check_schema(root)
        try:
            standard += bundle.check_rules(root, profile)
        except NoBundle as exc:
            problem = exc.reason
    return Report(tuple(standard + own), namespace=ns, standaardversie=versie,
                  bundle=bundle.version if bundle is not None else None, profile=profile, problem=problem)
