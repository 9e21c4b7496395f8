"""Live revocation: a TrustStore made from files reads its CRL file again when it changes (a stat() at most every few
seconds), when a CRL in force passes its nextUpdate, and keeps the last good CRLs when the file becomes unusable
(logged). Against a real ``serve --dev`` with two workers: a vendor revoked while it runs is refused (PKI002) by
every worker within seconds, without a restart."""

from __future__ import annotations

import json
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from lxml import etree

from gateway.config import Config
from gateway.pki import init_pki, issue, revoke
from gateway.wsse import Credentials, ns, sign_request
from gateway.wsse.errors import FailedAuthentication, ServerSecurityError
from gateway.wsse.trust import CRL_RELOAD_INTERVAL_S, TrustStore

from .conftest import free_port
from .serve_process import clean_env, start_serve, stop, tail, wait_healthy

OIN = "00000001234567890000"
OSO = "http://xml.kennisnet.nl/schemas/Overstapservice/20200910"
PING = f"{OSO}/ping"


def cert_of(party) -> x509.Certificate:
    return x509.load_pem_x509_certificate(Path(party.cert_path).read_bytes())


def refused(trust: TrustStore, cert, at=None) -> str | None:
    """The rule and reason when ``cert`` is refused, else None."""
    try:
        trust.check(cert, at)
    except (FailedAuthentication, ServerSecurityError) as err:
        return f"{err.rule}: {err.reason}"
    return None


def crl_pem(pki_dir: Path, this_update: datetime, next_update: datetime, revoked=()) -> bytes:
    """Both CRLs of the PKI in ``pki_dir`` (issuing, then root), with fixed numbers: CRLs made with the same serials
    and dates of the same encoding have the same size."""
    certs = x509.load_pem_x509_certificates((pki_dir / "ca.pem").read_bytes())
    root, issuing = certs[0], certs[1]
    out = b""
    for cert, key_file, serials in ((issuing, "test-only-issuing-ca.key.pem", revoked),
                                    (root, "test-only-root-ca.key.pem", ())):
        key = serialization.load_pem_private_key((pki_dir / key_file).read_bytes(), None)
        b = (x509.CertificateRevocationListBuilder().issuer_name(cert.subject).last_update(this_update)
             .next_update(next_update).add_extension(x509.CRLNumber(1000), critical=False))
        for serial in serials:
            b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                          .revocation_date(this_update).build())
        out += b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
    return out


def replace_file(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@pytest.fixture
def pki_dir(tmp_path):
    d = tmp_path / "pki"  # a PKI of its own: revoking rewrites crl.pem, and the session's is shared
    init_pki(d)
    return d


def test_a_store_from_files_watches_its_crl_file_and_the_gateways_trust_does(pki_dir):
    assert TrustStore.from_files(pki_dir / "ca.pem", pki_dir / "crl.pem").reload_interval == CRL_RELOAD_INTERVAL_S
    assert TrustStore.from_files(pki_dir / "ca.pem").reload_interval is None  # no CRL file: nothing to watch
    config = Config(ca=str(pki_dir / "ca.pem"), crl=str(pki_dir / "crl.pem"))
    trust = config.trust()  # what every worker's middleware and the reference parties' clients use
    assert trust.crl_path == pki_dir / "crl.pem" and trust.reload_interval == CRL_RELOAD_INTERVAL_S


def test_a_revocation_counts_at_the_next_look(pki_dir):
    vendor = cert_of(issue(pki_dir, "vendor", OIN))
    trust = TrustStore.from_files(pki_dir / "ca.pem", pki_dir / "crl.pem", reload_interval=0.3)
    assert trust.check(vendor) == OIN
    revoke(pki_dir, "vendor")
    start = time.monotonic()
    while refused(trust, vendor) is None:
        assert time.monotonic() - start < 3, "the revocation was not taken up"
        time.sleep(0.02)
    assert refused(trust, vendor) == "PKI002: the signing certificate has been revoked"
    status = trust.crl_status()
    assert (status.reloads, status.problem) == (1, None)
    # a look costs a stat(): an unchanged file is not read again, and the verdicts stay cached
    trust.reload_interval = 0
    assert not trust.refresh_crls() and trust.crl_status().reloads == 1


def test_an_unusable_crl_file_keeps_the_last_good_crls_and_is_logged_once(pki_dir, tmp_path, caplog):
    good = cert_of(issue(pki_dir, "good-las", OIN))
    bad = cert_of(issue(pki_dir, "revoked-las", OIN, revoked=True))
    crl = pki_dir / "crl.pem"
    trust = TrustStore.from_files(pki_dir / "ca.pem", crl, reload_interval=0)  # every check looks
    assert trust.check(good) == OIN and "revoked" in refused(trust, bad)
    in_force = crl.read_bytes()
    other = tmp_path / "other"
    init_pki(other)  # the same CA names, other keys: its CRLs do not verify here
    caplog.set_level(logging.INFO, logger="oso.gateway.trust")
    for what, change in (("garbage", lambda: replace_file(crl, b"not a CRL\n")),
                         ("empty", lambda: replace_file(crl, b"")),
                         ("cut off", lambda: replace_file(crl, in_force[:len(in_force) // 3])),
                         ("another CA's", lambda: replace_file(crl, (other / "crl.pem").read_bytes())),
                         ("gone", lambda: crl.unlink())):
        caplog.clear()
        change()
        for _ in range(3):  # judged with the CRLs in force, the file looked at each time
            assert trust.check(good) == OIN, what
            assert "revoked" in refused(trust, bad), what
        problem = trust.crl_status().problem
        assert problem and str(crl) in problem and "stay in force" in problem, what
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1 and str(crl) in warnings[0].getMessage(), (what, caplog.text)
    # a good file again, with one more revocation: taken up, the problem gone
    replace_file(crl, in_force)
    later = cert_of(issue(pki_dir, "later2-las", OIN))
    revoke(pki_dir, "later2-las")
    assert "revoked" in refused(trust, later) and trust.check(good) == OIN
    assert trust.crl_status().problem is None
    assert any("reloaded the CRLs" in r.getMessage() for r in caplog.records)


def test_a_crl_past_its_next_update_is_read_again_and_fails_closed_until_a_fresh_one(pki_dir, caplog):
    vendor = cert_of(issue(pki_dir, "vendor", OIN))
    t0 = datetime.now(timezone.utc).replace(microsecond=0)
    crl = pki_dir / "crl.pem"
    with open(crl, "r+b") as f:  # in place: the same inode from here on
        f.write(crl_pem(pki_dir, t0 - timedelta(hours=1), t0 + timedelta(hours=1)))
        f.truncate()
    clock = [t0]
    trust = TrustStore.from_files(pki_dir / "ca.pem", crl, reload_interval=0, clock=lambda: clock[0])
    assert trust.check(vendor, t0) == OIN and trust.crl_status().next_update == t0 + timedelta(hours=1)

    # a fresh CRL written in place, of the same size, and the mtime put back: stat() cannot tell it changed
    before = os.stat(crl)
    fresh = crl_pem(pki_dir, t0, t0 + timedelta(days=30))
    assert len(fresh) == before.st_size
    with open(crl, "r+b") as f:
        f.write(fresh)
    os.utime(crl, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(crl)
    assert (after.st_ino, after.st_size, after.st_mtime_ns) == (before.st_ino, before.st_size, before.st_mtime_ns)
    assert trust.check(vendor, t0) == OIN and trust.crl_status().reloads == 0  # nothing made it look

    # the CRL in force passes its nextUpdate: the file is read again, and the fresh one taken up
    clock[0] = t0 + timedelta(hours=2)
    assert trust.check(vendor, clock[0]) == OIN
    assert trust.crl_status().next_update == t0 + timedelta(days=30) and trust.crl_status().reloads == 1

    # past that one's nextUpdate too, with nothing newer in the file: fail closed, as before, and said once
    caplog.set_level(logging.INFO, logger="oso.gateway.trust")
    clock[0] = t0 + timedelta(days=31)
    for _ in range(3):
        assert refused(trust, vendor, clock[0]) == ("PKI002: the revocation list of the certificate's issuer is out "
                                                    "of date")
    assert "nextUpdate" in trust.crl_status().problem
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1


# ---- against a real serve --------------------------------------------------------------------------------------

def _ping_body() -> bytes:
    return (f'<soapenv:Envelope xmlns:soapenv="{ns.SOAP11}"><soapenv:Body><tc:pingRequest xmlns:tc="{OSO}"/>'
            "</soapenv:Body></soapenv:Envelope>").encode()


def _exchange_lines(log: Path) -> list[dict]:
    out = []
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("logger") == "oso.gateway.exchange" and record.get("operation") == "ping":
                out.append(record)
    return out


def test_a_vendor_revoked_while_serve_runs_is_refused_by_every_worker_within_seconds(tmp_path):
    port = free_port()
    env = clean_env(OSO_GATEWAY_PORT=str(port), OSO_GATEWAY_WORKERS="2")
    proc, log = start_serve(tmp_path, "--dev", env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log, timeout=90)
        pki_dir = tmp_path / "var" / "pki"
        vendor = issue(pki_dir, "live-vendor", OIN)
        creds = Credentials.from_files(vendor.cert_path, vendor.key_path)

        def ping(_=None) -> tuple[float, str]:
            """A signed ping on a connection of its own (so the workers share them); when it was sent and what came
            back: "accepted", or the refusal's rule."""
            data = sign_request(_ping_body(), creds, to=url + "/tc", action=PING)
            sent = time.monotonic()
            r = requests.post(url + "/tc", data=data, timeout=60, headers={
                "Content-Type": "text/xml", "SOAPAction": PING, "Connection": "close"})
            if r.status_code == 200:
                return sent, "accepted"
            fault = etree.fromstring(r.content).findtext(f".//{{{ns.SOAP11}}}Fault/faultstring") or r.text[:200]
            return sent, fault

        def workers(verdict: str, rule: str | None = None) -> set[int]:
            return {x["pid"] for x in _exchange_lines(log)
                    if x.get("verdict") == verdict and (rule is None or x.get("rule") == rule)}

        with ThreadPoolExecutor(6) as pool:
            deadline = time.monotonic() + 60
            while len(workers("accepted")) < 2:  # a signed ping succeeds on both workers
                assert time.monotonic() < deadline, f"pings did not reach both workers:\n{tail(log)}"
                assert all(o == "accepted" for _, o in pool.map(ping, range(6)))
            revoked_wall = datetime.now(timezone.utc)
            revoke(pki_dir, "live-vendor")  # rewrites crl.pem; serve is not told
            revoked_at = time.monotonic()
            results: list[tuple[float, str]] = []
            deadline = revoked_at + 60
            while True:
                assert time.monotonic() < deadline, f"not refused by both workers:\n{results[-12:]}\n{tail(log)}"
                results += pool.map(ping, range(6))
                late = [o for t, o in results if t - revoked_at > CRL_RELOAD_INTERVAL_S + 1.0]
                if len(late) >= 12 and len(workers("refused", "PKI002")) >= 2:
                    break
                time.sleep(0.1)
        # every ping sent once a worker's next look was due (the interval, and a second's margin) was refused
        assert late and all(o.startswith("PKI002: the signing certificate has been revoked") for o in late), late
        assert all(o == "accepted" or o.startswith("PKI002") for _, o in results)
        first_refused = min(t for t, o in results if o.startswith("PKI002")) - revoked_at
        per_worker = {}
        for x in _exchange_lines(log):
            if x.get("rule") == "PKI002":
                when = datetime.fromisoformat(x["time"])
                per_worker[x["pid"]] = min(per_worker.get(x["pid"], when), when)
        assert len(per_worker) == 2
        spans = sorted((when - revoked_wall).total_seconds() for when in per_worker.values())
        assert spans[-1] < CRL_RELOAD_INTERVAL_S + 5, spans  # each worker within its interval (and a margin)
        assert proc.poll() is None  # never restarted
        print(f"\nrevoke -> first PKI002 refusal {first_refused:.2f} s; per worker "
              f"{', '.join(f'{s:.2f} s' for s in spans)}; {len(results)} pings after the revocation")
    finally:
        stop(proc)
