"""``oso-gateway bundles fetch | check`` (gateway/dossier/official.py): the pinned official bundle, assembled from an
archive laid out like Edustandaard's repository (common/ linked from OV/ and PaO/ by symlinks), made here from the
bytes of the tests' bundles and served from a loopback HTTP server in this process. GitHub is never contacted."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
from pathlib import Path

import pytest

from gateway.commands import main
from gateway.dossier import VALID, load_bundles, official, validate

from .bundles_location import BUNDLES_DIR, GEGEVENSSET

TOP = f"oso-gegevensset-{official.COMMIT}"
XSD = "OSO_gegevensset_2019.1.xsd"
INCLUDE = "ValideerOSOgegevensset_2019.1.xsl"
POVO = "OV/examples/Voorbeelddossier_OV_POVO_opt_out.xml"
SWV = "PaO/examples/Voorbeelddossier_PaO_VOSWV_opt_out.xml"


# ------------------------------------------------------------------------------------------------------ helpers
def upstream_tree(root: Path, tamper: str | None = None) -> Path:
    """A folder laid out like the repository at the pinned commit: the XSD and the include only in common/, OV/
    reaching the include through a symlinked folder, PaO/ through a symlinked file, both the XSD through a symlink;
    examples; release notes named as upstream names them. ``tamper``: a manifest path whose copy gets one byte
    changed."""
    top = root / TOP
    src = GEGEVENSSET

    def put(rel: str, data: bytes) -> None:
        (top / rel).parent.mkdir(parents=True, exist_ok=True)
        (top / rel).write_bytes(data)

    put("README.md", b"# OSO gegevensset\n")
    put(f"common/{XSD}", (src / XSD).read_bytes())
    put(f"common/include/{INCLUDE}", (src / "OV" / "include" / INCLUDE).read_bytes())
    put("OV/ValideerOverstapprofielen.xsl", (src / "OV" / "ValideerOverstapprofielen.xsl").read_bytes())
    put("PaO/ValideerSwvPaO-profielen.xsl", (src / "PaO" / "ValideerSwvPaO-profielen.xsl").read_bytes())
    for profile in ("OV", "PaO"):
        for example in sorted((src / profile / "examples").glob("*.xml")):
            put(f"{profile}/examples/{example.name}", example.read_bytes())
        os.symlink(f"../common/{XSD}", top / profile / XSD)
    release_notes = {"OV": "release notes overstapprofielen.txt", "PaO": "release notes SWV PaO-profielen.txt"}
    for profile, name in release_notes.items():
        notes = src / profile / "release-notes.txt"  # not pinned: a fetched bundles dir does not have them
        put(f"{profile}/{name}", notes.read_bytes() if notes.is_file() else b"Release notes 2019.1\n")
    os.symlink("../common/include", top / "OV" / "include")
    (top / "PaO" / "include").mkdir()
    os.symlink(f"../../common/include/{INCLUDE}", top / "PaO" / "include" / INCLUDE)
    if tamper:
        target = Path(os.path.realpath(top / tamper))
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0x01
        target.write_bytes(bytes(data))
    return top


def make_archive(out: Path, tamper: str | None = None, extra=None) -> Path:
    """The tree of ``upstream_tree`` as a .tar.gz (symlinks stored as symlinks); ``extra(tar)`` adds entries."""
    with tempfile.TemporaryDirectory() as tmp:
        top = upstream_tree(Path(tmp), tamper)
        with tarfile.open(out, "w:gz") as tar:
            tar.add(top, arcname=TOP)
            if extra:
                extra(tar)
    return out


def add_file(tar: tarfile.TarFile, name: str, data: bytes = b"evil\n") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


def add_link(tar: tarfile.TarFile, name: str, target: str) -> None:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = tarfile.SYMTYPE, target
    tar.addfile(info)


class Server:
    """A loopback HTTP server in a thread, serving the files it is given and remembering every path asked for."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                server.requests.append(self.path)
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)


@pytest.fixture(scope="module")
def good_archive(tmp_path_factory) -> Path:
    return make_archive(tmp_path_factory.mktemp("archive") / "good.tar.gz")


@pytest.fixture
def server(good_archive):
    s = Server()
    s.files["/edustandaard/oso-gegevensset/tar.gz/" + official.COMMIT] = good_archive.read_bytes()
    yield s
    s.close()


def good_url(server: Server) -> str:
    return server.url("/edustandaard/oso-gegevensset/tar.gz/" + official.COMMIT)


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(["bundles", *[str(a) for a in argv]])
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("bundles fetch: "), err
    return lines[0]


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def files_under(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() or p.is_symlink()}


# -------------------------------------------------------------------------------------------------- the manifest
def test_the_manifest_pins_every_file_of_the_tests_bundle():
    assert len(official.MANIFEST) == 17
    assert official.verify(BUNDLES_DIR) == []
    pinned_here = {rel for rel in files_under(GEGEVENSSET)
                   if not rel.endswith("release-notes.txt") and rel != official.NOTE}
    assert pinned_here == set(official.MANIFEST)
    assert official.ARCHIVE_URL == ("https://codeload.github.com/edustandaard/oso-gegevensset/tar.gz/"
                                    "5ef550f7babedc5ac1dce6a185c49252d93c1787")


# ------------------------------------------------------------------------------------------------------- fetch
def test_fetch_from_a_url_assembles_a_bundle_that_validates(server, tmp_path, capsys):
    dest = tmp_path / "bundles"
    code, out, err = run(capsys, "fetch", "--dir", dest, "--archive", good_url(server))
    assert code == 0, err
    assert err == ""
    assert f"downloading {good_url(server)}" in out and "17 files as pinned" in out
    assert server.requests == ["/edustandaard/oso-gegevensset/tar.gz/" + official.COMMIT]
    folder = dest / "2019.1"
    assert sorted(p.name for p in dest.iterdir()) == ["2019.1"]  # no partial or temporary folder left beside it
    assert files_under(folder) == set(official.MANIFEST) | {official.NOTE}
    for rel, digest in official.MANIFEST.items():
        assert not (folder / rel).is_symlink() and sha(folder / rel) == digest, rel
    note = (folder / official.NOTE).read_text(encoding="utf-8")
    assert official.COMMIT in note and "edustandaard/oso-gegevensset" in note and "Fetched by" in note
    assert good_url(server) in note

    registry = load_bundles(dest)
    assert registry.versions == ("2019.1",)
    for example in (POVO, SWV):
        report = validate((folder / example).read_bytes(), registry)
        assert report.status == VALID and report.bundle == "2019.1", report.findings
    assert run(capsys, "check", "--dir", dest)[0] == 0
    code, out, _err = run(capsys, "fetch", "--dir", dest, "--archive", good_url(server))
    assert code == 0 and "already there and verifies" in out and "downloading" not in out
    assert len(server.requests) == 1  # not downloaded again


def test_fetch_from_a_local_file_twice_and_with_force(good_archive, tmp_path, capsys):
    dest = tmp_path / "b"
    code, out, err = run(capsys, "fetch", "--dir", dest, "--archive", good_archive)
    assert code == 0 and err == "" and "downloading" not in out
    note = (dest / "2019.1" / official.NOTE).read_text(encoding="utf-8")
    assert str(good_archive) in note

    code, out, err = run(capsys, "fetch", "--dir", dest, "--archive", good_archive)
    assert code == 0 and err == ""
    assert "already there and verifies" in out
    assert (dest / "2019.1" / official.NOTE).read_text(encoding="utf-8") == note  # left as it was

    # a copy that differs is not replaced without --force, and is with it
    xsl = dest / "2019.1" / "OV" / "ValideerOverstapprofielen.xsl"
    xsl.write_bytes(xsl.read_bytes() + b"\n")
    code, out, err = run(capsys, "fetch", "--dir", dest, "--archive", good_archive)
    assert code == 2 and "OV/ValideerOverstapprofielen.xsl differs" in one_error_line(err) and "--force" in err
    code, out, err = run(capsys, "fetch", "--dir", dest, "--archive", good_archive, "--force")
    assert code == 0 and err == "" and "already" not in out
    assert official.verify(dest) == []
    assert sorted(p.name for p in dest.iterdir()) == ["2019.1"]


def test_fetch_through_the_command_line_into_the_default_dir(server, tmp_path):
    r = subprocess.run([sys.executable, "-m", "gateway", "bundles", "fetch", "--archive", good_url(server)],
                       cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert "var/bundles/2019.1: OSO gegevensset 2019.1, 17 files as pinned" in r.stdout
    assert official.verify(tmp_path / "var" / "bundles") == []
    assert len(server.requests) == 1


def test_a_tampered_file_is_refused_and_nothing_is_left(server, tmp_path, capsys):
    server.files["/tampered.tar.gz"] = make_archive(tmp_path / "t.tar.gz",
                                                    tamper="OV/ValideerOverstapprofielen.xsl").read_bytes()
    dest = tmp_path / "new" / "bundles"
    code, out, err = run(capsys, "fetch", "--dir", dest, "--archive", server.url("/tampered.tar.gz"))
    assert code == 2
    line = one_error_line(err)
    assert "OV/ValideerOverstapprofielen.xsl" in line and official.COMMIT in line
    assert "PaO/" not in line  # only what is missing is named
    assert not (tmp_path / "new").exists()  # not even the folders made for it

    existing = tmp_path / "existing"
    existing.mkdir()
    code, _out, err = run(capsys, "fetch", "--dir", existing, "--archive", tmp_path / "t.tar.gz")
    assert code == 2 and list(existing.iterdir()) == []


def test_a_shared_file_missing_from_common_names_both_copies(tmp_path, capsys):
    """The include is one file upstream (common/), two here: without it both OV's and PaO's are missing."""
    with tempfile.TemporaryDirectory() as tmp:
        top = upstream_tree(Path(tmp))
        (top / "common" / "include" / INCLUDE).unlink()
        with tarfile.open(tmp_path / "a.tar.gz", "w:gz") as tar:
            tar.add(top, arcname=TOP)
    code, _out, err = run(capsys, "fetch", "--dir", tmp_path / "b", "--archive", tmp_path / "a.tar.gz")
    line = one_error_line(err)
    assert code == 2 and f"OV/include/{INCLUDE}" in line and f"PaO/include/{INCLUDE}" in line
    assert not (tmp_path / "b").exists()


def device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info


UNSAFE = {
    "dot-dot": lambda tar, out: add_file(tar, f"{TOP}/../../evil"),
    "absolute path": lambda tar, out: add_file(tar, str(out / "evil-absolute")),
    "symlink leaving the tree": lambda tar, out: (add_link(tar, f"{TOP}/OV/escape", "../" * 20 + "tmp"),
                                                  add_file(tar, f"{TOP}/OV/escape/evil-through-link")),
    "symlink to an absolute path": lambda tar, out: (add_link(tar, f"{TOP}/OV/escape", str(out)),
                                                     add_file(tar, f"{TOP}/OV/escape/evil-through-link")),
    "writing through a symlink that stays inside": lambda tar, out: (add_link(tar, f"{TOP}/up", "."),
                                                                     add_link(tar, f"{TOP}/up/x", "../..")),
    "device": lambda tar, out: tar.addfile(device(f"{TOP}/null")),
}


@pytest.mark.parametrize("kind", list(UNSAFE))
def test_an_archive_with_an_entry_that_could_land_outside_is_refused(kind, tmp_path, capsys, monkeypatch):
    outside = tmp_path / "outside"
    outside.mkdir()
    scratch = tmp_path / "scratch"  # where the archive is extracted, so that "outside it" is under tmp_path
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    archive = make_archive(tmp_path / "unsafe.tar.gz", extra=lambda tar: UNSAFE[kind](tar, outside))
    dest = tmp_path / "bundles"
    code, _out, err = run(capsys, "fetch", "--dir", dest, "--archive", archive)
    assert code == 2
    assert "refused" in one_error_line(err)
    assert list(outside.iterdir()) == [] and list(scratch.iterdir()) == []
    assert not [p for p in tmp_path.rglob("*evil*")]
    assert not dest.exists()


def test_tarfiles_data_filter_refuses_too_when_the_own_checks_are_bypassed(tmp_path, capsys, monkeypatch):
    """The second line: with the entry checks switched off, tarfile's "data" filter still keeps a file from being
    written through a symlink that leaves the tree, and that refusal is reported as one."""
    outside = tmp_path / "outside"
    outside.mkdir()
    monkeypatch.setattr(official, "_safe_members", lambda tar, label: tar.getmembers())
    archive = make_archive(tmp_path / "a.tar.gz", extra=lambda tar: (
        add_link(tar, f"{TOP}/OV/escape", str(outside)), add_file(tar, f"{TOP}/OV/escape/evil-through-link")))
    code, _out, err = run(capsys, "fetch", "--dir", tmp_path / "b", "--archive", archive)
    assert code == 2 and "refused" in one_error_line(err)
    assert list(outside.iterdir()) == [] and not (tmp_path / "b").exists()


def test_an_unreachable_url_is_exit_3_in_one_line(tmp_path, capsys):
    url = f"http://127.0.0.1:{closed_port()}/archive.tar.gz"
    code, out, err = run(capsys, "fetch", "--dir", tmp_path / "b", "--archive", url)
    assert code == 3
    assert one_error_line(err).startswith(f"bundles fetch: could not download {url}: ")
    assert not (tmp_path / "b").exists()


def test_an_http_error_is_exit_3(server, tmp_path, capsys):
    code, _out, err = run(capsys, "fetch", "--dir", tmp_path / "b", "--archive", server.url("/nothing-here"))
    assert code == 3 and "HTTP 404" in one_error_line(err)
    assert server.requests == ["/nothing-here"]


def test_an_archive_over_the_size_cap_is_refused(server, tmp_path, capsys):
    with pytest.raises(official.ArchiveError, match="larger than"):
        official.fetch(tmp_path / "b", good_url(server), max_bytes=1000)
    assert not (tmp_path / "b").exists()


def test_an_unwritable_dir_is_exit_2_before_any_download(server, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder\n")
    for dest in (blocker / "bundles", blocker):
        code, _out, err = run(capsys, "fetch", "--dir", dest, "--archive", good_url(server))
        assert code == 2
        assert str(blocker) in one_error_line(err)
    assert server.requests == []
    assert blocker.read_text() == "not a folder\n"


def test_a_bad_archive_argument_is_exit_2(tmp_path, capsys):
    not_gz = tmp_path / "plain.tar.gz"
    not_gz.write_bytes(b"<html>not an archive</html>\n")
    for archive, says in ((tmp_path / "missing.tar.gz", "no such file"), ("ftp://127.0.0.1/a.tar.gz", "http(s)"),
                          (tmp_path, "not a file"), (not_gz, "not a readable tar.gz")):
        code, _out, err = run(capsys, "fetch", "--dir", tmp_path / "b", "--archive", archive)
        assert code == 2 and says in one_error_line(err), err
    assert not (tmp_path / "b").exists()


# ------------------------------------------------------------------------------------------------------- check
def test_check_a_copy_of_the_tests_bundle_then_change_it(tmp_path, capsys):
    assert run(capsys, "check", "--dir", BUNDLES_DIR)[0] == 0
    dest = tmp_path / "b"
    shutil.copytree(GEGEVENSSET, dest / "2019.1")
    for p in (dest / "2019.1").rglob("*"):
        p.chmod(0o755 if p.is_dir() else 0o644)
    code, out, _err = run(capsys, "check", "--dir", dest)
    assert code == 0 and "all 17 files as pinned" in out

    xsl = dest / "2019.1" / "PaO" / "ValideerSwvPaO-profielen.xsl"
    data = bytearray(xsl.read_bytes())
    data[100] ^= 0x20
    xsl.write_bytes(bytes(data))
    code, out, _err = run(capsys, "check", "--dir", dest)
    assert code == 1 and f"differs: {xsl}" in out

    (dest / "2019.1" / "OV" / "examples" / "Voorbeelddossier_OV_BB_full.xml").unlink()
    (dest / "2019.1" / "OV" / "extra.xsl").write_text("<x/>")
    code, out, _err = run(capsys, "check", "--dir", dest)
    assert code == 1
    assert "missing: " in out and "Voorbeelddossier_OV_BB_full.xml" in out and "not pinned: " in out
    assert "3 files not as pinned" in out


def test_check_of_a_dir_that_is_not_there_is_exit_2(tmp_path, capsys):
    code, out, err = run(capsys, "check", "--dir", tmp_path / "nope")
    assert code == 2 and out == "" and err.startswith("bundles check: ") and len(err.splitlines()) == 1
