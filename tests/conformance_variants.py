"""Deliberately broken variants of the reference source, each with one defect, and the scenario meant to catch it.

A variant is made in one of three ways, all undone after its test:
- a WSGI wrapper that rewrites the reference's *answers* (``RewriteAnswers``) with the mutation tools the suite
  itself uses (``gateway.conformance.mutations``), re-signing with the reference's own key where the defect is
  not the signature itself: the answer of a stack that signs the wrong parts, with SHA-1, without confirmation, …;
- a WSGI wrapper that rewrites the *requests* before the reference verifies them (``RewriteRequests``): the
  behaviour of a stack that does not check something, modelled by making the message pass (re-signing with the
  suite's key, which the reference trusts: a lax verifier in front of a strict one);
- a monkeypatch of one rule of the reference (its release rules, its TC client, its verifier's settings).

``catches`` is the scenario meant to catch the defect: the self-test requires it to fail.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Callable

from lxml import etree

from gateway.conformance import mutations as m
from gateway.dossier import Report
from gateway.wsse import ns, sign_envelope

from .conformance_bench import RewriteAnswers, RewriteRequests, SourceBench

AP_NS = "http://xml.kennisnet.nl/schemas/Overstapservice/20200910"


PREFLIGHT = "preflight"  # a variant whose defect the preflight stops (exit 2, one line) before any scenario


@dataclass(frozen=True)
class Variant:
    name: str
    defect: str
    catches: str
    apply: Callable[[SourceBench, object], None]  # (bench, pytest's monkeypatch)


VARIANTS: list[Variant] = []


def variant(name: str, catches: str, defect: str):
    def register(fn):
        VARIANTS.append(Variant(name, defect, catches, fn))
        return fn
    return register


def answers(bench: SourceBench, fn) -> None:
    bench.front.wrap = RewriteAnswers(bench.ref_app, fn)


def requests_(bench: SourceBench, fn) -> None:
    bench.front.wrap = RewriteRequests(bench.ref_app, fn)


def no_validation(bench, monkeypatch) -> None:
    """The release path without the reference's validation step (a source that does not validate)."""
    from gateway.school.uitlevering import Controle

    class NoValidation(Controle):
        def __call__(self, data, transfer):
            return Report(())

    monkeypatch.setattr(bench.bron, "controle", NoValidation(None, bench.bron.controle.policy))


def patch_beslis(monkeypatch, wrapper) -> None:
    from gateway.services import aanleverpunt

    real = aanleverpunt.beslis
    monkeypatch.setattr(aanleverpunt, "beslis", lambda record, verzoek, sc, now, **kw: wrapper(real, record, verzoek,
                                                                                            sc, now, **kw))


def _is_fault(body: bytes) -> bool:
    return m.tree(body).find(f"{{{ns.SOAP11}}}Body/{{{ns.SOAP11}}}Fault") is not None


def _payload(root):
    return m.body(root)[0]


# ------------------------------------------------------------------------------------ the answers' signature
@variant("response-unsigned", "WUS-WB003-RESPONSE-SIGNED", "answers without wsse:Security")
def _v(bench, mp):
    answers(bench, lambda body, env: m.strip_security(body))


@variant("body-not-covered", "WUS-WB004-RESPONSE-COVERAGE", "signs its answers without the Body")
def _v(bench, mp):
    answers(bench, lambda body, env: m.drop_reference_to(body, "Body", bench.vendor.private_key))


@variant("no-signatureconfirmation", "WUS-WB014-SIGNATURECONFIRMATION", "no SignatureConfirmation in its answers")
def _v(bench, mp):
    answers(bench, lambda body, env: m.drop_confirmation(body, bench.vendor.private_key))


@variant("wrong-relatesto", "WUS-WSA-RELATESTO", "RelatesTo is a MessageID of its own making")
def _v(bench, mp):
    answers(bench, lambda body, env: m.set_header_text(body, "RelatesTo", f"urn:uuid:{uuid.uuid4()}",
                                                       bench.vendor.private_key))


@variant("sha1-answers", "WUS-SIGN003-RESPONSE-SHA2", "signs its answers with SHA-1 and RSA-SHA1")
def _v(bench, mp):
    answers(bench, lambda body, env: m.with_sha1(body, bench.vendor.private_key))


@variant("key-identifier", "WUS-WB010-RESPONSE-DIRECT-REFERENCE", "KeyInfo names its certificate by SKI, "
         "not by a direct reference to the token")
def _v(bench, mp):
    def fn(body, env):
        root = m.tree(body)
        ref = m.one(root, "//ds:KeyInfo/wsse:SecurityTokenReference/wsse:Reference")
        ski = etree.Element(m.q(ns.WSSE, "KeyIdentifier"), EncodingType=ns.BASE64_ENCODING,
                            ValueType="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0"
                                      "#X509SubjectKeyIdentifier")
        ski.text = "c29tZSBzdWJqZWN0IGtleSBpZA=="
        ref.addprevious(ski)
        ref.getparent().remove(ref)
        return m.to_bytes(root)
    answers(bench, fn)


@variant("changed-after-signing", "WUS-WB013-RESPONSE-VERIFIES", "a proxy changes the answer after it was signed")
def _v(bench, mp):
    def fn(body, env):
        root = m.tree(body)
        m.body(root).set("proxied", "yes")
        return m.to_bytes(root)
    answers(bench, fn)


@variant("fixed-response-messageid", "WUS-WSA-RESPONSE-HEADERS", "every answer carries the same MessageID")
def _v(bench, mp):
    answers(bench, lambda body, env: m.set_header_text(body, "MessageID", "urn:uuid:00000000-0000-4000-8000-"
                                                       "000000000000", bench.vendor.private_key))


@variant("unsigned-faults", "WUS-FAULT-SIGNED", "signs its documentResponses but not its Faults")
def _v(bench, mp):
    answers(bench, lambda body, env: m.strip_security(body) if _is_fault(body) else body)


@variant("extra-element", "OSO-BRON-CONTRACT-XSD", "adds an element of its own to the documentResponse")
def _v(bench, mp):
    def fn(body, env):
        root = m.tree(body)
        payload = _payload(root)
        if payload.tag == f"{{{AP_NS}}}documentResponse":
            etree.SubElement(payload, f"{{{AP_NS}}}opmerking").text = "vrije tekst"
            m.resign(root, bench.vendor.private_key)
        return m.to_bytes(root)
    answers(bench, fn)


@variant("invalid-dossier", "OSO-BRON-DOSSIER-VALID", "releases dossiers without the pupil's achternaam")
def _v(bench, mp):
    def fn(body, env):
        root = m.tree(body)
        for el in root.iter("{http://www.edustandaard.nl/oso_gegevensset/2019/dossier}achternaam"):
            el.getparent().remove(el)
            m.resign(root, bench.vendor.private_key)
            break
        return m.to_bytes(root)
    answers(bench, fn)


# ------------------------------------------------------------------------------------ sessiecontrole
class _Geslaagd:
    def __init__(self, real=None):
        self.real = real

    def sessiecontrole(self, verzoek, **context):
        from gateway.school.uitlevering import Sessiecontrole

        if self.real is not None:
            self.real.sessiecontrole(verzoek, **context)  # asked, and the answer ignored
        return Sessiecontrole("Geslaagd", "PO")


@variant("skips-sessiecontrole", "OSO-BRON-SESSIECONTROLE-FIRST", "never asks the TC (takes every session as good)")
def _v(bench, mp):
    mp.setattr(bench.bron, "tc", _Geslaagd())


@variant("ignores-refused-sessiecontrole", "OSO-BRON-SESSIECONTROLE-HONOURED", "asks the TC, then ignores a refusal")
def _v(bench, mp):
    mp.setattr(bench.bron, "tc", _Geslaagd(bench.bron.tc))


class _Anyone(str):
    """An OIN that equals every OIN: a source that never compares the signer with the doel's vendor."""

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = str.__hash__


@variant("believes-any-signer", "OSO-BRON-ANDERE-LEVERANCIER", "does not check that the documentRequest is signed "
         "by the vendor registered for its doel aanleverpunt (trusts the TC's Geslaagd alone)")
def _v(bench, mp):
    mp.setattr(bench.bron, "doel_leverancier", lambda rk: _Anyone("00000000000000000000"))


@variant("collapses-tc-codes", "OSO-BRON-SESSIE-AFWIJKEND", "answers every refused sessiecontrole with "
         "LeveringGeweigerd instead of the TC's code")
def _v(bench, mp):
    from gateway.school.uitlevering import Besluit

    def wrapper(real, record, verzoek, sc, now, **kw):
        if not sc.geslaagd:
            return Besluit("LeveringGeweigerd", reden="refused")
        return real(record, verzoek, sc, now, **kw)
    patch_beslis(mp, wrapper)


@variant("unknown-session-own-code", "OSO-BRON-SESSIE-ONBEKEND", "answers a session the TC does not know with a "
         "code of its own (OngeldigVerzoek) instead of the TC's SessieOnbekend")
def _v(bench, mp):
    from gateway.school.uitlevering import Besluit

    def wrapper(real, record, verzoek, sc, now, **kw):
        if sc.resultaat == "SessieOnbekend":
            return Besluit("OngeldigVerzoek", reden="own code")
        return real(record, verzoek, sc, now, **kw)
    patch_beslis(mp, wrapper)


# ------------------------------------------------------------------------------------ release rules
@variant("releases-without-inzage", "OSO-BRON-INZAGE-ONTBREEKT", "no inzage rule (and no validation before release)")
def _v(bench, mp):
    from gateway.school import uitlevering

    mp.setattr(uitlevering, "NEEDS_INZAGE", ())
    no_validation(bench, mp)


@variant("releases-without-toestemming", "OSO-BRON-TOESTEMMING-ONTBREEKT", "no toestemming rule (and no validation)")
def _v(bench, mp):
    from gateway.school import uitlevering

    mp.setattr(uitlevering, "NEEDS_TOESTEMMING", ())
    no_validation(bench, mp)


@variant("releases-verboden", "OSO-BRON-CATEGORIE-UITLEVERING", "releases the categories marked VERBODEN (no "
         "filtering, no validation)")
def _v(bench, mp):
    from gateway.school import uitlevering

    mp.setattr(uitlevering, "verwijder_categorieen", lambda data, policy=None: (data, ()))
    no_validation(bench, mp)


@variant("ignores-geweigerd", "OSO-BRON-LEVERINGGEWEIGERD", "releases a dossier the school withholds")
def _v(bench, mp):
    def wrapper(real, record, verzoek, sc, now, **kw):
        return real(replace(record, geweigerd=False) if record is not None else None, verzoek, sc, now, **kw)
    patch_beslis(mp, wrapper)


@variant("crashes-on-unknown-pupil", "OSO-BRON-LEERLING-ONBEKEND", "a Fault (a crash) for a pupil it does not know")
def _v(bench, mp):
    def wrapper(real, record, verzoek, sc, now, **kw):
        if record is None and sc.geslaagd:
            raise RuntimeError("no such pupil")
        return real(record, verzoek, sc, now, **kw)
    patch_beslis(mp, wrapper)


@variant("ignores-verzameldatum", "OSO-BRON-VERZAMELDATUM", "does not compare the dossierVerzameldatum")
def _v(bench, mp):
    patch_beslis(mp, lambda real, record, verzoek, sc, now, **kw: real(record, replace(verzoek, verzameldatum=None),
                                                                        sc, now, **kw))


@variant("inzage-also-binnenbrin", "OSO-BRON-HAPPY-BINNENBRIN", "demands inzage for a binnen-BRIN transfer too")
def _v(bench, mp):
    from gateway.school.uitlevering import Besluit

    def wrapper(real, record, verzoek, sc, now, **kw):
        binnen_brin = verzoek.overdrachtsoort == "overdrachtbinnenbrin"
        if sc.geslaagd and record is not None and binnen_brin and not record.inzage:
            return Besluit("LeerlinginfoNietOpvraagbaar", reden="no inzage")
        return real(record, verzoek, sc, now, **kw)
    patch_beslis(mp, wrapper)


@variant("released-without-dossier", "OSO-BRON-HAPPY-POPO", "answers OverdrachtGeslaagd but leaves the dossier "
         "out")
def _v(bench, mp):
    def fn(body, env):
        root = m.tree(body)
        holders = list(root.iter(f"{{{AP_NS}}}dossier"))
        for holder in holders:
            holder.getparent().remove(holder)
        if holders:
            m.resign(root, bench.vendor.private_key)
        return m.to_bytes(root)
    answers(bench, fn)


@variant("zoeksleutel-brins-swapped", PREFLIGHT, "matches the zoeksleutel with bron and doel BRIN swapped (no test "
         "pupil is found: the preflight says so)")
def _v(bench, mp):
    from gateway.services import aanleverpunt

    real = aanleverpunt.zoek
    mp.setattr(aanleverpunt, "zoek", lambda keys, key, frag, *, bron_brin, doel_brin, pupils: real(
        keys, key, frag, bron_brin=doel_brin, doel_brin=bron_brin, pupils=pupils))


@variant("never-finds-toestemming", "OSO-BRON-HAPPY-VOVO", "answers LeerlinginfoNietOpvraagbaar for every VO-VO dossier, "
         "consent recorded or not")
def _v(bench, mp):
    from gateway.school.uitlevering import Besluit

    def wrapper(real, record, verzoek, sc, now, **kw):
        if sc.geslaagd and record is not None and record.overstap == "VOVO":
            return Besluit("LeerlinginfoNietOpvraagbaar", reden="own rule")
        return real(record, verzoek, sc, now, **kw)
    patch_beslis(mp, wrapper)


# ------------------------------------------------------------------------------------ the PGN
@variant("bsn-in-header", "OSO-BRON-PGN-NOT-IN-CLEAR", "sends the pupil's BSN in an HTTP header of its answer")
def _v(bench, mp):
    from gateway.services import aanleverpunt

    seen = threading.local()
    real = aanleverpunt._zoek_leerling

    def spy(school, verzoek, keys):
        record = real(school, verzoek, keys)
        seen.pgn = record.pgn if record is not None else None
        return record
    mp.setattr(aanleverpunt, "_zoek_leerling", spy)

    def fn(body, env):
        pgn = getattr(seen, "pgn", None)
        seen.pgn = None
        return body, ([("X-Debug-Leerling", pgn)] if pgn else [])
    answers(bench, fn)


# ------------------------------------------------------------------------------------ verification
class _AlwaysNew:
    def remember(self, key, until, now):
        return True


@variant("accepts-replay", "WUS-GW-REPLAY-REQUEST", "keeps no record of MessageIDs")
def _v(bench, mp):
    mw = bench.aanleverpunt
    mp.setattr(mw, "endpoint", replace(mw.endpoint, replay=_AlwaysNew()))


@variant("accepts-expired", "WUS-WB002-REQUEST-EXPIRED", "allows two hours of clock skew")
def _v(bench, mp):
    mw = bench.aanleverpunt
    mp.setattr(mw, "endpoint", replace(mw.endpoint, policy=replace(mw.endpoint.policy, clock_skew=timedelta(hours=2))))


@variant("any-wsa-to", "WUS-WSA-TO-WRONG", "does not compare wsa:To with its own address")
def _v(bench, mp):
    mw = bench.aanleverpunt
    mp.setattr(mw, "endpoint", replace(mw.endpoint, policy=replace(mw.endpoint.policy, endpoint=None)))


@variant("trusts-any-certificate", "WUS-PKI002-UNTRUSTED-CERT", "takes the certificate in the message as trusted")
def _v(bench, mp):
    from gateway.wsse import TrustStore, oin_of

    class AnyCertificate(TrustStore):
        def check(self, cert, at=None):
            return oin_of(cert)

    mw = bench.aanleverpunt
    trust = AnyCertificate.from_files(bench.suite.o.ca, bench.suite.o.crl)
    mp.setattr(mw, "endpoint", replace(mw.endpoint, trust=trust))


@variant("no-coverage-check", "WUS-WB004-REQUEST-WRAPPED", "verifies the referenced elements wherever they are "
         "(no coverage by position)")
def _v(bench, mp):
    import importlib

    mp.setattr(importlib.import_module("gateway.wsse.verify"), "_coverage", lambda *a, **k: None)


def _signed_with(data: bytes, digest_uri: str) -> bool:
    return any(el.get("Algorithm") == digest_uri for el in m.xp(m.tree(data), "//ds:DigestMethod"))


@variant("accepts-sha1", "WUS-SIGN003-REQUEST-SHA1", "accepts SHA-1 digests and RSA-SHA1 signatures")
def _v(bench, mp):
    def fn(data, env):
        if not _signed_with(data, m.SHA1_DIGEST):
            return data
        root = m.tree(data)  # a lax front: takes the SHA-1 signature and hands the strict one a SHA-2 message
        for method in m.xp(root, "//ds:DigestMethod"):
            method.set("Algorithm", ns.DIGEST_URI["sha256"])
        m.one(root, "//ds:SignatureMethod").set("Algorithm", ns.SIGNATURE_URI["sha256"])
        return m.to_bytes(m.resign(root, bench.suite_creds.private_key))
    requests_(bench, fn)


@variant("no-digest-check", "WUS-WB013-REQUEST-TAMPERED", "does not compare the digests")
def _v(bench, mp):
    def fn(data, env):
        root = m.tree(data)
        if not m.xp(root, "//wsse:Security/ds:Signature"):
            return data
        return m.to_bytes(m.resign(root, bench.suite_creds.private_key))  # digests made to match what arrived
    requests_(bench, fn)


@variant("accepts-unsigned", "WUS-WB003-REQUEST-UNSIGNED", "accepts a request without wsse:Security")
def _v(bench, mp):
    def fn(data, env):
        root = m.tree(data)
        if m.xp(root, "//wsse:Security"):
            return data
        return sign_envelope(data, bench.suite_creds).to_bytes()
    requests_(bench, fn)


@variant("ignores-wsa-from", "WUS-PKI001-FROM-MISMATCH", "ignores wsa:From (does not bind it to the certificate)")
def _v(bench, mp):
    def fn(data, env):
        root = m.tree(data)
        froms = m.xp(root, "/soap:Envelope/soap:Header/wsa:From")
        if not froms or f"oin={bench.suite_creds.oin}" in etree.tostring(froms[0]).decode():
            return data
        ref = m.reference_to(root, froms[0])
        ref.getparent().remove(ref)
        froms[0].getparent().remove(froms[0])
        return m.to_bytes(m.resign(root, bench.suite_creds.private_key))
    requests_(bench, fn)


@variant("no-soapaction-check", "WUS-WS002-SOAPACTION-MISMATCH", "does not compare SOAPAction with wsa:Action")
def _v(bench, mp):
    def fn(data, env):
        env.pop("HTTP_SOAPACTION", None)
        return data
    requests_(bench, fn)


@variant("to-not-required-covered", "WUS-WB004-TO-UNSIGNED", "accepts a wsa:To its signature does not cover")
def _v(bench, mp):
    def fn(data, env):
        root = m.tree(data)
        to = m.xp(root, "/soap:Envelope/soap:Header/wsa:To")
        ident = to[0].get(m.WSU_ID) if to else None
        if not to or (ident and m.xp(root, "//ds:Reference[@URI=$u]", u="#" + ident)) \
                or not m.xp(root, "//wsse:Security/ds:Signature"):
            return data
        m.add_reference(root, to[0], "To-added-by-the-lax-front")
        return m.to_bytes(m.resign(root, bench.suite_creds.private_key))
    requests_(bench, fn)


@variant("body-not-required-covered", "WUS-WB004-BODY-UNSIGNED", "accepts a Body its signature does not cover")
def _v(bench, mp):
    def fn(data, env):
        root = m.tree(data)
        body = m.body(root)
        ident = body.get(m.WSU_ID)
        if (ident and m.xp(root, "//ds:Reference[@URI=$u]", u="#" + ident)) or not m.xp(root, "//ds:Signature") \
                or m.xp(root, "/soap:Envelope/soap:Header/wsa:ReplyTo"):
            return data
        m.add_reference(root, body, ident or "Body-added-by-the-lax-front")
        return m.to_bytes(m.resign(root, bench.suite_creds.private_key))
    requests_(bench, fn)


# ------------------------------------------------------------------------------------ the chain's rules, deeper
@variant("generic-faults", "WUS-FAULT-QUALITY", "answers every refusal with soapenv:Server 'error' (signed), naming "
         "no rule")
def _v(bench, mp):
    def fn(body, env):
        if not _is_fault(body):
            return body
        root = m.tree(body)
        fault = m.body(root)[0]
        fault.find("faultcode").text = "soapenv:Server"
        fault.find("faultstring").text = "error"
        detail = fault.find("detail")
        if detail is not None:
            fault.remove(detail)
        return m.to_bytes(m.resign(root, bench.vendor.private_key))
    answers(bench, fn)


class _Remembering:
    """A TC client that remembers a Geslaagd per session and asks the TC only the first time."""

    def __init__(self, real):
        self.real, self.seen = real, {}

    def sessiecontrole(self, verzoek, **context):
        if verzoek.sessie_id in self.seen:
            return self.seen[verzoek.sessie_id]
        answer = self.real.sessiecontrole(verzoek, **context)
        if answer.geslaagd:
            self.seen[verzoek.sessie_id] = answer
        return answer

    def __getattr__(self, name):
        return getattr(self.real, name)


@variant("remembers-sessiecontrole", "OSO-BRON-SESSIECONTROLE-PER-REQUEST", "asks the TC once per session and "
         "remembers its Geslaagd")
def _v(bench, mp):
    mp.setattr(bench.bron, "tc", _Remembering(bench.bron.tc))


@variant("believes-unverified-tc-answer", "OSO-BRON-TC-ANSWER-VERIFIED", "does not compare the digests of the "
         "TC's answers")
def _v(bench, mp):
    from gateway.client import wsse_plugin

    real = wsse_plugin.verify_response

    def lax(data, **kw):  # digests made to match what arrived, then the strict check: a verifier without digests
        root = m.tree(data)
        if m.xp(root, "//wsse:Security/ds:Signature"):
            data = m.to_bytes(m.resign(root, bench.suite_creds.private_key))
        return real(data, **kw)
    mp.setattr(wsse_plugin, "verify_response", lax)


@variant("releases-another-pupil", "OSO-BRON-DOSSIER-LEERLING", "releases a dossier whose pupil is not the one asked "
         "for")
def _v(bench, mp):
    def fn(body, env):
        root = m.tree(body)
        changed = False
        for el in root.iter("{http://www.edustandaard.nl/oso_gegevensset/2019/dossier}bsn"):
            if el.getparent() is not None and etree.QName(el.getparent()).localname == "leerling":
                el.text = bench.pupils.onbekend
                changed = True
        if changed:
            m.resign(root, bench.vendor.private_key)
        return m.to_bytes(root)
    answers(bench, fn)


# ------------------------------------------------------------------------------------ every check of a receiver
def _lax(bench, repair) -> None:
    """A lax front: ``repair(root, env)`` makes the hostile shape it does not check pass (True when it changed the
    message), and the message is re-signed with the suite's key (which the reference trusts)."""
    def fn(data, env):
        if data.lstrip().startswith(b"<!DOCTYPE") or b"<!DOCTYPE" in data[:200]:
            return data
        root = m.tree(data)
        if not m.xp(root, "//wsse:Security/ds:Signature") or not repair(root, env):
            return data
        return m.to_bytes(m.resign(root, bench.suite_creds.private_key))
    requests_(bench, fn)


@variant("accepts-dtd", "WUS-R1008-REQUEST-DTD", "parses a DOCTYPE (and drops it) instead of refusing it")
def _v(bench, mp):
    import re

    def fn(data, env):
        return re.sub(rb"<!DOCTYPE[^\[>]*(\[[^\]]*\])?\s*>\s*", b"", data, count=1)
    requests_(bench, fn)


def _covering(name: str):
    def repair(root, env):
        el = m.xp(root, f"/soap:Envelope/soap:Header/wsse:Security/wsu:{name}" if name == "Timestamp"
                  else f"/soap:Envelope/soap:Header/wsa:{name}")
        if not el:
            return False
        ident = el[0].get(m.WSU_ID)
        if ident and m.xp(root, "//ds:Reference[@URI=$u]", u="#" + ident):
            return False
        m.add_reference(root, el[0], ident or f"{name}-added-by-the-lax-front")
        return True
    return repair


for _header in ("Timestamp", "MessageID", "Action", "From"):
    VARIANTS.append(Variant(f"accepts-{_header.lower()}-not-covered",
                            f"does not require the signature to cover {_header}",
                            f"WUS-WB004-{_header.upper()}-UNSIGNED",
                            (lambda h: lambda bench, mp: _lax(bench, _covering(h)))(_header)))


def _timestamp(root, created, expires):
    ts = etree.Element(m.q(ns.WSU, "Timestamp"))
    etree.SubElement(ts, m.q(ns.WSU, "Created")).text = created.strftime("%Y-%m-%dT%H:%M:%SZ")
    etree.SubElement(ts, m.q(ns.WSU, "Expires")).text = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    return ts


@variant("accepts-no-timestamp", "WUS-WB002-NO-TIMESTAMP", "accepts a request without a Timestamp")
def _v(bench, mp):
    from datetime import datetime, timezone

    def repair(root, env):
        sec = m.security(root)
        if m.xp(sec, "wsu:Timestamp"):
            return False
        now = datetime.now(timezone.utc)
        ts = _timestamp(root, now, now + timedelta(minutes=5))
        sec.insert(0, ts)
        m.add_reference(root, ts, "TS-added-by-the-lax-front")
        return True
    _lax(bench, repair)


@variant("accepts-future", "WUS-WB002-REQUEST-FUTURE", "does not look at a Created in the future")
def _v(bench, mp):
    from datetime import datetime, timezone

    def repair(root, env):
        created = m.xp(root, "//wsse:Security/wsu:Timestamp/wsu:Created")
        now = datetime.now(timezone.utc)
        if not created or datetime.fromisoformat(created[0].text.replace("Z", "+00:00")) <= now + timedelta(
                seconds=60):
            return False
        created[0].text = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        for expires in m.xp(root, "//wsse:Security/wsu:Timestamp/wsu:Expires"):
            expires.text = (now + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return True
    _lax(bench, repair)


def _trust_variant(bench, mp, judge) -> None:
    """The reference's verifier with a trust store whose ``check`` is ``judge(real_check, cert, at)``."""
    from gateway.wsse import TrustStore

    class Lax(TrustStore):
        def check(self, cert, at=None):
            return judge(super().check, cert, at)

    mw = bench.aanleverpunt
    mp.setattr(mw, "endpoint", replace(mw.endpoint, trust=Lax.from_files(bench.suite.o.ca, bench.suite.o.crl)))


def _ignoring(reason: str):
    """A trust store that lets a certificate through when the one refusal it meets is ``reason``."""
    from gateway.wsse import oin_of
    from gateway.wsse.errors import SecurityError

    def judge(check, cert, at):
        try:
            return check(cert, at)
        except SecurityError as err:
            if reason in err.reason:
                return oin_of(cert)
            raise
    return judge


@variant("ignores-not-after", "WUS-PKI002-CERT-EXPIRED", "does not look at the signing certificate's notAfter")
def _v(bench, mp):
    _trust_variant(bench, mp, _ignoring("has expired"))


@variant("ignores-not-before", "WUS-PKI002-CERT-NOT-YET-VALID", "does not look at the signing certificate's "
         "notBefore")
def _v(bench, mp):
    _trust_variant(bench, mp, _ignoring("not yet valid"))


@variant("no-revocation-check", "WUS-PKI002-CERT-REVOKED", "loads no CRLs")
def _v(bench, mp):
    from gateway.wsse import TrustStore

    mw = bench.aanleverpunt
    mp.setattr(mw, "endpoint", replace(mw.endpoint, trust=TrustStore.from_files(bench.suite.o.ca, None)))


@variant("ignores-key-usage", "WUS-GW-KEYUSAGE-CERT", "does not look at the certificate's keyUsage")
def _v(bench, mp):
    _trust_variant(bench, mp, _ignoring("digitalSignature"))


@variant("oin-from-wsa-from", "WUS-PKI001-CERT-NO-OIN", "takes the sender's OIN from wsa:From when the "
         "certificate names none")
def _v(bench, mp):
    from gateway.wsse.errors import SecurityError

    def judge(check, cert, at):
        try:
            return check(cert, at)
        except SecurityError as err:
            if err.rule == "PKI001":
                return bench.suite_creds.oin  # what the message's wsa:From would say
            raise
    _trust_variant(bench, mp, judge)


def _adding(name: str, value):
    """A lax front that puts a missing wsa header back (``value(env)``), as if it had never been required."""
    def repair(root, env):
        header = m.header(root)
        if m.xp(header, f"wsa:{name}"):
            return False
        el = etree.SubElement(header, m.q(ns.WSA, name))
        el.text = value(env)
        m.add_reference(root, el, f"{name}-added-by-the-lax-front")
        return True
    return repair


@variant("accepts-no-action", "WUS-WSA-ACTION-MISSING", "does not require wsa:Action (dispatches on the Body)")
def _v(bench, mp):
    from gateway import contracts

    action = contracts.service("aanleverpunt").operation("document").action
    _lax(bench, _adding("Action", lambda env: action))


@variant("accepts-no-to", "WUS-WSA-TO-MISSING", "does not require wsa:To")
def _v(bench, mp):
    _lax(bench, _adding("To", lambda env: bench.suite.o.endpoint))


@variant("action-not-bound", "WUS-WSA-ACTION-WRONG", "dispatches on the Body and never compares wsa:Action with it")
def _v(bench, mp):
    from gateway import contracts

    op = contracts.service("aanleverpunt").operation("document")

    def repair(root, env):
        action = m.xp(root, "/soap:Envelope/soap:Header/wsa:Action")
        if not action or action[0].text == op.action:
            return False
        action[0].text = op.action
        env["HTTP_SOAPACTION"] = f'"{op.action}"'
        return True
    _lax(bench, repair)


@variant("accepts-no-messageid", "WUS-WSA-MESSAGEID-MISSING", "does not require wsa:MessageID")
def _v(bench, mp):
    def repair(root, env):
        header = m.header(root)
        if m.xp(header, "wsa:MessageID"):
            return False
        mid = etree.SubElement(header, m.q(ns.WSA, "MessageID"))
        mid.text = f"urn:uuid:{uuid.uuid4()}"
        m.add_reference(root, mid, "MID-added-by-the-lax-front")
        return True
    _lax(bench, repair)


@variant("no-request-schema", "WUS-GW-XSD-REQUEST", "does not validate requests against the contract (drops what "
         "it does not know)")
def _v(bench, mp):
    def repair(root, env):
        extra = m.xp(root, "/soap:Envelope/soap:Body/*/*[local-name()='opmerking']")
        for el in extra:
            el.getparent().remove(el)
        return bool(extra)
    _lax(bench, repair)


BY_NAME = {v.name: v for v in VARIANTS}
assert len(BY_NAME) == len(VARIANTS)
