"""`oso-gateway verify` and `diagnose` as a new user meets them: the gateway's own signed pingResponse (with and
without the request it answers), a CRL file that holds no CRL, a revoked signer with and without --crl, and a message
signed with RSA-SHA1. Each case asserts the exact exit status and the exact line(s) the user reads."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from gateway.commands import main
from gateway.pki import DEFAULT_GATEWAY_OIN
from gateway.wsse import Credentials, Policy, TrustStore, ns, sign_request, sign_response, verify, verify_response
from tests.conftest import VENDOR_OIN
from tests.wsse_helpers import RSA_SHA1, SHA1_DIGEST, one, resign, signature_value, to_bytes, tree, xp

OSO = "http://xml.kennisnet.nl/schemas/Overstapservice/20200910"
TO = "http://localhost:8080/tc"
PING = f"{OSO}/ping"
PING_REQUEST = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
                b'<oso:pingRequest xmlns:oso="' + OSO.encode() + b'"/></soapenv:Body></soapenv:Envelope>')
# what the gateway's Traffic Center answers a ping with (the contract's pingResponse, resultaat Geslaagd)
PING_RESPONSE = (b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>'
                 b'<oso:pingResponse xmlns:oso="' + OSO.encode() + b'"><oso:resultaat>Geslaagd</oso:resultaat>'
                 b"</oso:pingResponse></soapenv:Body></soapenv:Envelope>")
NO_CRL = "revocation NOT checked (no --crl)"
NO_REQUEST = "RelatesTo and SignatureConfirmation NOT checked: give --response-to REQUEST"


@dataclass
class Files:
    dir: Path
    ca: Path
    crl: Path
    school: Credentials
    gateway: Credentials
    gone: Credentials  # trusted, but on the CRL

    def write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path

    def request(self, name: str = "request.xml", creds: Credentials | None = None) -> Path:
        return self.write(name, sign_request(PING_REQUEST, creds or self.school, to=TO, action=PING))

    def response(self, request: Path, name: str = "response.xml", **kwargs) -> Path:
        data = request.read_bytes()
        kwargs.setdefault("relates_to", tree(data).findtext(f".//{{{ns.WSA}}}MessageID"))
        kwargs.setdefault("confirmation", signature_value(data))
        return self.write(name, sign_response(PING_RESPONSE, self.gateway, action=PING + "Response", **kwargs))

    def trust(self) -> TrustStore:
        return TrustStore.from_files(self.ca, self.crl)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Files:
    d = tmp_path_factory.mktemp("verify-diagnose")
    pki = d / "pki"
    assert main(["pki", "init", "--dir", str(pki)]) == 0
    assert main(["pki", "issue", "--dir", str(pki), "--name", "school", "--oin", VENDOR_OIN]) == 0
    assert main(["pki", "issue", "--dir", str(pki), "--name", "gone", "--oin", VENDOR_OIN, "--revoked"]) == 0

    def creds(name: str) -> Credentials:
        return Credentials.from_files(pki / f"{name}.cert.pem", pki / f"{name}.key.pem")

    return Files(d, pki / "ca.pem", pki / "crl.pem", creds("school"), creds("gateway"), creds("gone"))


def cli(capsys, *args: str) -> tuple[int, list[str], list[str]]:
    capsys.readouterr()
    status = main([str(a) for a in args])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err.splitlines()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway", *map(str, args)], capture_output=True, timeout=60)


def valid_line(path: Path, vm, head: str = "VALID ") -> str:
    return (f"{path}: {head}signer OIN {vm.oin}, action {vm.action}, MessageID {vm.message_id}, "
            f"signed {vm.created.isoformat()}")


# ------------------------------------------------------------------------------------------------ responses


def test_own_ping_response_is_valid_against_its_request(files, capsys):
    request = files.request()
    response = files.response(request)
    req = verify(request.read_bytes(), policy=Policy(), trust=files.trust())
    vm = verify_response(response.read_bytes(), request_message_id=req.message_id,
                         request_signature_value=req.signature_value, policy=Policy(), trust=files.trust())
    assert vm.to is None and vm.oin == DEFAULT_GATEWAY_OIN

    status, out, err = cli(capsys, "verify", response, "--ca", files.ca, "--crl", files.crl, "--to", TO,
                           "--response-to", request)
    assert (status, err) == (0, [])
    assert out == [valid_line(response, vm, f"VALID response to {req.message_id}, ")]

    status, out, err = cli(capsys, "diagnose", response, "--ca", files.ca, "--crl", files.crl, "--to", TO,
                           "--response-to", request)
    assert (status, err) == (0, [])
    assert out[0] == f"{response}: VALID, signer OIN {DEFAULT_GATEWAY_OIN}"
    assert out[1] == "  judged as: a response, against the request given (--response-to)"
    assert not [line for line in out if line.startswith(("FAIL", "skip"))], out
    assert "ok   WSA-RELATESTO wsa:RelatesTo is the request's MessageID: it answers the request" in out
    assert ("ok   WB014 the SignatureConfirmation carries the request's SignatureValue: the request's signature is "
            "confirmed") in out
    assert "ok   WSA-TO wsa:To (optional in a response): absent: a response goes back on the same connection" in out
    assert "ok   GW-XSD the Body against the contract (overstapservice-20200910.xsd): pingResponse conforms" in out
    assert "ok   WSA-ACTION wsa:Action matches the Body: trafficcenter: ping (its answer)" in out


def test_own_ping_response_without_its_request_says_what_was_not_checked(files, capsys):
    request = files.request()
    response = files.response(request)
    relates_to = tree(request.read_bytes()).findtext(f".//{{{ns.WSA}}}MessageID")
    vm = verify_response(response.read_bytes(), request_message_id=relates_to,
                         request_signature_value=signature_value(request.read_bytes()), policy=Policy(),
                         trust=files.trust())

    status, out, err = cli(capsys, "verify", response, "--ca", files.ca, "--crl", files.crl)
    assert (status, err) == (0, [])
    assert out == [valid_line(response, vm, f"VALID response (RelatesTo {relates_to}), ") + f"; {NO_REQUEST}"]

    status, out, err = cli(capsys, "diagnose", response, "--ca", files.ca, "--crl", files.crl)
    assert (status, err) == (0, [])
    assert out[0] == f"{response}: VALID, signer OIN {DEFAULT_GATEWAY_OIN}, {NO_REQUEST}"
    assert out[1] == ("  judged as: a response (it carries wsa:RelatesTo), without its request: RelatesTo and "
                      "SignatureConfirmation NOT checked against it; give --response-to REQUEST")
    assert out[2].endswith(f" 2 not checked; {NO_REQUEST}")
    assert not [line for line in out if line.startswith("FAIL")], out
    needs = "NOT checked: the request is not at hand (give --response-to REQUEST)"
    assert f"skip WSA-RELATESTO wsa:RelatesTo is the request's MessageID: {needs}" in out
    assert f"skip WB014 the SignatureConfirmation carries the request's SignatureValue: {needs}" in out
    assert f"ok   WSA-RELATESTO wsa:RelatesTo: {relates_to}" in out


def test_a_response_to_another_request_is_invalid(files, capsys):
    request = files.request()
    wrong = files.response(request, "wrong-relates-to.xml", relates_to="urn:uuid:00000000-0000-0000-0000-000000000000")
    status, out, err = cli(capsys, "verify", wrong, "--ca", files.ca, "--crl", files.crl, "--response-to", request)
    assert (status, err) == (1, [])
    assert out == [f"{wrong}: INVALID WSA-RELATESTO [InvalidAddressingHeader Digikoppeling 0008] wsa:RelatesTo is "
                   "not the MessageID of our request (judged as a response)"]

    status, out, err = cli(capsys, "diagnose", wrong, "--ca", files.ca, "--crl", files.crl, "--response-to", request)
    assert (status, err) == (1, [])
    assert out[0] == (f"{wrong}: REFUSED WSA-RELATESTO [wsa:InvalidAddressingHeader Digikoppeling 0008] "
                      "wsa:RelatesTo is not the MessageID of our request")
    assert out[1] == ("  cause: a response's wsa:RelatesTo is the request's MessageID; to fix: set a response's "
                      "wsa:RelatesTo to the request's MessageID")
    fails = [line for line in out if line.startswith("FAIL")]
    assert fails == ["FAIL WSA-RELATESTO [wsa:InvalidAddressingHeader Digikoppeling 0008] wsa:RelatesTo is the "
                     "request's MessageID: wsa:RelatesTo is not the MessageID of our request"]

    # the same response confirming another request's signature: WB014
    other = files.request("other-request.xml")
    unconfirmed = files.response(request, "other-confirmation.xml", confirmation=signature_value(other.read_bytes()))
    status, out, err = cli(capsys, "verify", unconfirmed, "--ca", files.ca, "--crl", files.crl,
                           "--response-to", request)
    assert (status, err) == (1, [])
    assert out == [f"{unconfirmed}: INVALID WB014 [InvalidSecurity] the SignatureConfirmation does not confirm our "
                   "request's SignatureValue (judged as a response)"]


def test_what_can_be_judged_without_the_request_is_judged(files, capsys):
    """Without --response-to, a response that carries no SignatureConfirmation at all is still refused (WB014), and
    one that names another address in wsa:To than --to is refused; anonymous is fine."""
    request = files.request()
    bare = files.response(request, "no-confirmation.xml", confirmation=None)
    status, out, err = cli(capsys, "verify", bare, "--ca", files.ca, "--crl", files.crl)
    assert (status, err) == (1, [])
    assert out == [f"{bare}: INVALID WB014 [InvalidSecurity] the response carries no SignatureConfirmation (judged as "
                   f"a response); {NO_REQUEST}"]

    elsewhere = files.response(request, "to-elsewhere.xml", to="http://elsewhere.example/tc")
    status, out, _ = cli(capsys, "verify", elsewhere, "--ca", files.ca, "--crl", files.crl, "--to", TO,
                         "--response-to", request)
    assert status == 1
    assert out == [f"{elsewhere}: INVALID WSA-TO [DestinationUnreachable Digikoppeling 0005] wsa:To does not "
                   "address this service (judged as a response)"]
    anonymous = files.response(request, "to-anonymous.xml", to=ns.WSA_ANONYMOUS)
    status, out, _ = cli(capsys, "verify", anonymous, "--ca", files.ca, "--crl", files.crl, "--to", TO,
                         "--response-to", request)
    assert status == 0 and out[0].startswith(f"{anonymous}: VALID response to "), out


def test_response_to_must_name_a_signed_request(files, capsys):
    unsigned = files.write("unsigned.xml", PING_REQUEST)
    response = files.response(files.request())
    for command in ("verify", "diagnose"):
        status, out, err = cli(capsys, command, response, "--ca", files.ca, "--response-to", unsigned)
        assert (status, out) == (2, [])
        assert err == [f"{command}: --response-to {unsigned} is not a signed request (it needs one wsa:MessageID and "
                       "one ds:SignatureValue)"]
    status, out, err = cli(capsys, "verify", response, "--ca", files.ca, "--response-to", files.dir / "missing.xml")
    assert (status, out, err) == (2, [], [f"verify: cannot read --response-to {files.dir / 'missing.xml'}: No such "
                                          "file or directory"])


def test_sign_then_verify_a_response_in_real_processes(files):
    request = files.request("process-request.xml")
    pki = files.ca.parent
    signed = subprocess.run([sys.executable, "-m", "gateway", "sign", "--cert", str(pki / "gateway.cert.pem"),
                             "--key", str(pki / "gateway.key.pem"), "--action", PING + "Response",
                             "--response-to", str(request)], input=PING_RESPONSE, capture_output=True, timeout=60)
    assert signed.returncode == 0, signed.stderr
    response = files.write("process-response.xml", signed.stdout)
    r = run("verify", response, "--ca", files.ca, "--crl", files.crl, "--response-to", request)
    assert (r.returncode, r.stderr) == (0, b"")
    [line] = r.stdout.decode().splitlines()
    request_id = tree(request.read_bytes()).findtext(f".//{{{ns.WSA}}}MessageID")
    assert line.startswith(f"{response}: VALID response to {request_id}, signer OIN {DEFAULT_GATEWAY_OIN}, "
                           f"action {PING}Response, ")
    r = run("verify", response, "--ca", files.ca, "--crl", files.crl)  # the old complaint: "wsa:To … missing"
    assert r.returncode == 0 and b"WSA-TO" not in r.stdout and r.stdout.decode().rstrip().endswith(NO_REQUEST)


# ----------------------------------------------------------------------------------------------- revocation


@pytest.mark.parametrize("what", ["certificate", "empty", "garbage"])
def test_a_crl_file_without_a_crl_is_refused(files, capsys, what):
    crl = {"certificate": files.ca.parent / "school.cert.pem", "empty": files.write("empty.pem", b""),
           "garbage": files.write("garbage.pem", b"-----BEGIN X509 CRL-----\nbm90IGEgQ1JM\n-----END X509 CRL-----\n")
           }[what]
    signed = files.request("gone-for-crl.xml", files.gone)
    reason = "a PEM 'X509 CRL' block in it is not a readable CRL" if what == "garbage" else \
        "holds no CRL (no PEM 'X509 CRL' block)"
    for command in ("verify", "diagnose"):
        status, out, err = cli(capsys, command, signed, "--ca", files.ca, "--crl", crl)
        assert (status, out) == (2, [])
        assert err == [f"{command}: --crl {crl}: {reason}"]
    with pytest.raises(ValueError, match="holds no CRL|not a readable CRL") as info:
        TrustStore.from_files(files.ca, crl)  # what serve and the client load: refused too
    assert str(crl) in str(info.value)


def test_a_crl_file_that_cannot_be_read_is_refused(files, capsys):
    missing = files.dir / "no-such-crl.pem"
    status, out, err = cli(capsys, "verify", files.request(), "--ca", files.ca, "--crl", missing)
    assert (status, out, err) == (2, [], [f"verify: cannot read --crl {missing}: No such file or directory"])
    status, out, err = cli(capsys, "diagnose", files.request(), "--crl", files.crl)
    assert (status, out, err) == (2, [], ["diagnose: --crl needs --ca (the CAs whose CRLs they are)"])


def test_a_revoked_signer_is_invalid_with_the_crl(files, capsys):
    gone = files.request("gone.xml", files.gone)
    status, out, err = cli(capsys, "verify", gone, "--ca", files.ca, "--crl", files.crl)
    assert (status, err) == (1, [])
    assert out == [f"{gone}: INVALID PKI002 [FailedAuthentication Digikoppeling 0002] the signing certificate has "
                   "been revoked"]
    status, out, err = cli(capsys, "diagnose", gone, "--ca", files.ca, "--crl", files.crl)
    assert (status, err) == (1, [])
    assert out[0] == (f"{gone}: REFUSED PKI002 [wsse:FailedAuthentication Digikoppeling 0002] the signing certificate "
                      "has been revoked")
    assert [line for line in out if line.startswith("FAIL")] == [
        "FAIL PKI002 [wsse:FailedAuthentication Digikoppeling 0002] the certificate chains to a trusted root, is not "
        "revoked, may sign: the signing certificate has been revoked"]


def test_without_a_crl_every_verdict_says_revocation_was_not_checked(files, capsys):
    gone = files.request("gone-no-crl.xml", files.gone)
    tampered = files.write("tampered.xml", gone.read_bytes().replace(PING.encode(), b"urn:evil"))
    vm = verify(gone.read_bytes(), policy=Policy(), trust=TrustStore.from_files(files.ca))
    status, out, err = cli(capsys, "verify", gone, tampered, "--ca", files.ca)
    assert (status, err) == (1, [])
    assert out == [valid_line(gone, vm) + f"; {NO_CRL}",
                   f"{tampered}: INVALID WB013 [FailedCheck] the digest of Action does not match: the element was "
                   f"changed after signing; {NO_CRL}"]
    status, out, err = cli(capsys, "verify", gone, "--ca", files.ca)
    assert (status, out, err) == (0, [valid_line(gone, vm) + f"; {NO_CRL}"], [])

    status, out, err = cli(capsys, "diagnose", gone, "--ca", files.ca)
    assert (status, err) == (0, [])
    assert out[0] == f"{gone}: VALID, signer OIN {VENDOR_OIN}, {NO_CRL}"
    assert out[2].endswith(f" 1 not checked; {NO_CRL}")
    assert "skip PKI002 the certificate is not revoked: revocation NOT checked: no CRL given (--crl)" in out
    assert (f"ok   PKI002 the certificate chains to a trusted root and may sign: trusted (OIN {VENDOR_OIN})"
            in out)


# ------------------------------------------------------------------------------------------------- RSA-SHA1


def _with_rsa_sha1(files: Files, name: str, *, sha1_digests: bool = False) -> Path:
    """A request signed by the school with RSA-SHA1 (as many vendors' stacks still default to), re-signed for real
    so that the algorithm is the only defect."""
    root = tree(sign_request(PING_REQUEST, files.school, to=TO, action=PING))
    one(root, "//ds:SignatureMethod").set("Algorithm", RSA_SHA1)
    if sha1_digests:
        for method in xp(root, "//ds:DigestMethod"):
            method.set("Algorithm", SHA1_DIGEST)
    return files.write(name, to_bytes(resign(root, files.school.private_key)))


def test_diagnose_explains_rsa_sha1(files, capsys):
    signed = _with_rsa_sha1(files, "rsa-sha1.xml")
    status, out, err = cli(capsys, "diagnose", signed, "--ca", files.ca, "--crl", files.crl)
    assert (status, err) == (1, [])
    assert out[0] == (f"{signed}: REFUSED SIGN004 [wsse:UnsupportedAlgorithm] the signature algorithm is not RSA "
                      "with SHA-256/384/512")
    assert out[1] == ("  cause: the signature is RSA with SHA-256, SHA-384 or SHA-512; to fix: sign with RSA-SHA-256 "
                      "(or 384/512) and a key of at least 2048 bits")
    assert [line for line in out if line.startswith("FAIL")] == [
        "FAIL SIGN004 [wsse:UnsupportedAlgorithm] ds:Signature layout and algorithms (exclusive c14n, RSA-SHA-2): the "
        "signature algorithm is not RSA with SHA-256/384/512; the message uses RSA-SHA1 "
        "(http://www.w3.org/2000/09/xmldsig#rsa-sha1)"]
    assert ("skip SIGN004 SignatureValue: not verified: the signature method RSA-SHA1 "
            "(http://www.w3.org/2000/09/xmldsig#rsa-sha1) is not allowed (RSA with SHA-256/384/512 only)") in out
    assert "Traceback" not in "\n".join(out + err)

    # without --ca the same explanation, as the first problem found
    status, out, err = cli(capsys, "diagnose", signed)
    assert (status, err) == (1, [])
    assert out[0].startswith(f"{signed}: PROBLEMS: first SIGN004 ds:Signature layout and algorithms")
    assert out[1].startswith("  cause: the signature is RSA with SHA-256, SHA-384 or SHA-512; to fix: sign with")

    status, out, err = cli(capsys, "verify", signed, "--ca", files.ca, "--crl", files.crl)
    assert (status, err) == (1, [])
    assert out == [f"{signed}: INVALID SIGN004 [UnsupportedAlgorithm] the signature algorithm is not RSA with "
                   "SHA-256/384/512"]


def test_diagnose_explains_sha1_digests_too_in_a_real_process(files):
    signed = _with_rsa_sha1(files, "all-sha1.xml", sha1_digests=True)
    r = run("diagnose", signed, "--ca", files.ca, "--crl", files.crl)
    out = r.stdout.decode()
    assert (r.returncode, r.stderr) == (1, b"")
    assert "Traceback" not in out
    lines = out.splitlines()
    assert lines[0] == (f"{signed}: REFUSED SIGN004 [wsse:UnsupportedAlgorithm] the signature algorithm is not RSA "
                        "with SHA-256/384/512")
    sign003 = [line for line in lines if line.startswith("FAIL SIGN003")]
    assert len(sign003) == 6  # To, Action, MessageID, From, Timestamp, Body: each reference names SHA-1
    assert all(line.endswith("a digest algorithm is not SHA-256/384/512; the message uses SHA-1 "
                             "(http://www.w3.org/2000/09/xmldsig#sha1)") for line in sign003), sign003
    assert lines.count("     to fix: digest with SHA-256 (or SHA-384/512); SHA-1 and MD5 are refused") == 6
