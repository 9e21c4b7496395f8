"""Build and run the Apache WSS4J 1.6 interop tool (``tests/interop/wss4j/Wss4jTool.java``).

The tool is compiled once per test session into a temporary directory and run as a subprocess::

    tool = build_wss4j_tool(tmp_dir)            # or the session fixture ``wss4j_tool``
    tool(["verify", "--ca", "ca.pem", "--in", "signed.xml"])   # -> subprocess.CompletedProcess
    signed = tool.sign(cert_path, key_path, unsigned_bytes)     # -> bytes, raises on failure
    result = tool.verify(ca_path, signed_bytes)                 # -> Wss4jVerdict

It needs the Debian packages ``libwss4j-java`` (WSS4J 1.6 with Apache Santuario, commons-logging and slf4j) and
``default-jdk-headless`` (javac/java). When they are missing the tests fail with a message naming them: they are
not skipped, as CI installs them (``make system-deps``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

TOOL_SOURCE = Path(__file__).resolve().parent / "wss4j" / "Wss4jTool.java"
TOOL_CLASS = "Wss4jTool"

# Where Debian installs the jars; WSS4J_JAVA_DIR overrides it (e.g. a directory of Maven-downloaded jars).
JAVA_DIR = Path(os.environ.get("WSS4J_JAVA_DIR", "/usr/share/java"))
# Needed to compile: WSS4J itself and Apache Santuario (xmlsec), whose classes the API exposes.
COMPILE_JARS = ("wss4j.jar", "xmlsec.jar")
# Needed at run time as well: WSS4J logs through commons-logging, Santuario through the slf4j API.
RUNTIME_JARS = COMPILE_JARS + ("commons-logging.jar", "slf4j-api.jar")
# Optional: an slf4j binding that discards Santuario's logging (otherwise slf4j warns on stderr).
OPTIONAL_JARS = ("slf4j-nop.jar",)

DEBIAN_PACKAGES = "libwss4j-java default-jdk-headless"
COMPILE_TIMEOUT = 180  # seconds; javac on one file takes a few
RUN_TIMEOUT = 60  # seconds; one JVM run takes about half a second

SOAP11_NS = "http://schemas.xmlsoap.org/soap/envelope/"
WSU_NS = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
WSA_NS = "http://www.w3.org/2005/08/addressing"


class Wss4jUnavailable(RuntimeError):
    """java, javac or the WSS4J jars are missing."""


@dataclass(frozen=True)
class Wss4jVerdict:
    """What ``Wss4jTool verify`` said: ``ok`` (exit status 0), the signed elements as ``{ns}local`` strings in
    SignedInfo order, the signer's subject DN (RFC 2253, ``serialNumber=<OIN>`` first) and the error line."""

    ok: bool
    signed: list[str] = field(default_factory=list)
    signer: str | None = None
    error: str | None = None
    process: subprocess.CompletedProcess | None = field(default=None, repr=False, compare=False)

    @property
    def signer_oin(self) -> str | None:
        if not self.signer:
            return None
        for rdn in self.signer.split(","):
            key, _, value = rdn.partition("=")
            if key.strip().lower() == "serialnumber":
                return value.strip()
        return None


class Wss4jTool:
    """The compiled tool: call it with the tool's arguments to get the ``CompletedProcess``."""

    def __init__(self, java: str, classpath: str, workdir: Path):
        self.java = java
        self.classpath = classpath
        self.workdir = workdir

    def __call__(self, args: list[str], *, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
        cmd = [self.java, "-Djava.awt.headless=true", "-XX:TieredStopAtLevel=1", "-cp", self.classpath, TOOL_CLASS]
        return subprocess.run(
            cmd + [str(a) for a in args],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    run = __call__

    def _scratch(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="msg-", dir=self.workdir))

    def sign(self, cert_path: str | Path, key_path: str | Path, unsigned: bytes, *, ttl: int | None = None) -> bytes:
        """Sign ``unsigned`` (a SOAP 1.1 envelope with its wsa headers) the way WSS4J does; return the bytes."""
        scratch = self._scratch()
        src, dst = scratch / "unsigned.xml", scratch / "signed.xml"
        src.write_bytes(unsigned)
        args = ["sign", "--cert", cert_path, "--key", key_path, "--in", src, "--out", dst]
        if ttl is not None:
            args += ["--ttl", str(ttl)]
        proc = self(args)
        if proc.returncode != 0:
            raise AssertionError(
                f"Wss4jTool sign failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"
            )
        return dst.read_bytes()

    def verify(self, ca_path: str | Path, signed: bytes) -> Wss4jVerdict:
        """Verify ``signed`` with WSSecurityEngine against the CA certificates in ``ca_path``."""
        scratch = self._scratch()
        src = scratch / "signed.xml"
        src.write_bytes(signed)
        proc = self(["verify", "--ca", ca_path, "--in", src])
        signed_parts, signer, error = [], None, None
        for line in proc.stdout.splitlines():
            if line.startswith("SIGNED "):
                signed_parts.append(line[len("SIGNED ") :])
            elif line.startswith("SIGNER "):
                signer = line[len("SIGNER ") :]
            elif line.startswith("ERROR "):
                error = line[len("ERROR ") :]
        if proc.returncode not in (0, 1):  # 2: bad command line; anything else: the JVM died
            raise AssertionError(
                f"Wss4jTool verify could not run (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr[-4000:]}"
            )
        return Wss4jVerdict(proc.returncode == 0, signed_parts, signer, error, proc)


def _missing_message(what: str) -> str:
    return (
        f"the Apache WSS4J interop tests need {what}; install the Debian packages {DEBIAN_PACKAGES} "
        f"(sudo apt-get install {DEBIAN_PACKAGES}, or `make system-deps`)"
    )


def _find_tools() -> tuple[str, str, list[Path], list[Path]]:
    java_home = os.environ.get("JAVA_HOME")
    java = javac = None
    if java_home:
        java = shutil.which("java", path=str(Path(java_home) / "bin"))
        javac = shutil.which("javac", path=str(Path(java_home) / "bin"))
    java = java or shutil.which("java")
    javac = javac or shutil.which("javac")
    if not java or not javac:
        raise Wss4jUnavailable(_missing_message("java and javac (a JDK)"))
    missing = [j for j in RUNTIME_JARS if not (JAVA_DIR / j).is_file()]
    if missing:
        raise Wss4jUnavailable(_missing_message(f"{', '.join(missing)} in {JAVA_DIR}"))
    compile_cp = [JAVA_DIR / j for j in COMPILE_JARS]
    run_cp = [JAVA_DIR / j for j in RUNTIME_JARS] + [JAVA_DIR / j for j in OPTIONAL_JARS if (JAVA_DIR / j).is_file()]
    return java, javac, compile_cp, run_cp


def build_wss4j_tool(workdir: str | Path) -> Wss4jTool:
    """Compile the tool into ``workdir/classes``; raise :class:`Wss4jUnavailable` when the JDK or jars are missing."""
    java, javac, compile_cp, run_cp = _find_tools()
    workdir = Path(workdir)
    classes = workdir / "classes"
    classes.mkdir(parents=True, exist_ok=True)
    cmd = [
        javac,
        "-encoding",
        "UTF-8",
        "-Xlint:-path",  # commons-logging's manifest names jars Debian does not ship
        "-nowarn",
        "-d",
        str(classes),
        "-cp",
        os.pathsep.join(map(str, compile_cp)),
        str(TOOL_SOURCE),
    ]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMPILE_TIMEOUT, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as exc:
        raise RuntimeError(f"javac did not finish within {COMPILE_TIMEOUT} s") from exc
    if proc.returncode != 0:
        raise RuntimeError(f"javac failed (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    classpath = os.pathsep.join([str(classes)] + [str(p) for p in run_cp])
    return Wss4jTool(java, classpath, workdir)


@pytest.fixture(scope="session")
def wss4j_tool(tmp_path_factory) -> Wss4jTool:
    """The compiled WSS4J tool, once per session. Fails (never skips) when java/javac/WSS4J are missing."""
    try:
        return build_wss4j_tool(tmp_path_factory.mktemp("wss4j"))
    except Wss4jUnavailable as exc:
        message = str(exc)
    pytest.fail(message, pytrace=False)
