"""The official OSO gegevensset bundle, pinned: where it comes from, what it must hold, how to fetch and check it.

Edustandaard publishes the technical files of the OSO gegevensset (the XSD, the business-rule XSLTs, example
dossiers) in the public GitHub repository ``edustandaard/oso-gegevensset``. The gateway pins one commit of it
(``COMMIT``, standaardversie ``VERSION``) and, for that commit, the sha256 of every file of a bundle folder laid out
as ``gateway.dossier.bundles`` reads it (``MANIFEST``: our path -> sha256).

The repository is laid out differently from a bundle folder: files shared by ``OV/`` and ``PaO/`` sit in
``common/`` and are linked from there with git symlinks, and the names of some files differ. So fetching does not
rely on the repository's paths. It downloads the archive of the pinned commit (or reads a copy of it), extracts it
into a temporary folder, refusing anything that could land outside it, and then, for every manifest entry, takes a
regular file of the extracted tree whose sha256 is the pinned one (a symlink inside the tree counts as the file it
points at; a file at the same relative path is preferred). A missing entry fails the whole fetch. The folder is
assembled beside its final place and renamed into place only when complete, so a failed fetch leaves nothing
behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import posixpath
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from .bundles import FETCHED_DIR

REPOSITORY = "edustandaard/oso-gegevensset"
COMMIT = "5ef550f7babedc5ac1dce6a185c49252d93c1787"
VERSION = "2019.1"
ARCHIVE_URL = f"https://codeload.github.com/{REPOSITORY}/tar.gz/{COMMIT}"
NOTE = "SOURCE.md"  # the note written into an assembled folder

MiB = 1024 * 1024
MAX_ARCHIVE_BYTES = 50 * MiB  # the archive as downloaded (compressed)
MAX_EXTRACTED_BYTES = 200 * MiB  # all its regular files together, extracted
MAX_MEMBERS = 10_000  # entries in the archive, and files seen while following its symlinks
TIMEOUT = 60.0  # seconds, for connecting and for each read
_FILTER_ERROR = getattr(tarfile, "FilterError", ())  # tarfile's "data" filter refused an entry (3.11.4+)

# sha256 and path (relative to the standaardversie folder) of every file a bundle folder of VERSION holds, as
# published at COMMIT with its symlinks resolved. Not pinned: release notes (named differently upstream) and notes.
_PINNED = """
6e15371983dc78b09d8741a532bb06e9018d6f2256d5ab0ba8e47c014c10982d  OSO_gegevensset_2019.1.xsd
3670b7959f987d86f50015c142ed8349b2339e0edfc518abe0edbc96b5d0637b  OV/ValideerOverstapprofielen.xsl
ea03e701c7509c14f08b009fb9d02d271e85412be76927103aea2e9e2764acab  OV/examples/Voorbeelddossier_OV_BB_full.xml
eb76c068dd4c4b9673a90a1467e8e5beb75e35202684016aa71a4368549a7461  OV/examples/Voorbeelddossier_OV_BB_opt_out.xml
17c19fd82e6184b8e28e3e4a418224052cc2afacebc7b85c0ea0fff6b49955ff  OV/examples/Voorbeelddossier_OV_POPO_full.xml
63e43a1c1123156899d0d6d79e064d1e776b4a5a3010a7025f99dfbf63777a63  OV/examples/Voorbeelddossier_OV_POPO_opt_out.xml
78763c742106d0a285ff9ae373f964c49cdc11da8731764eec9cdfe58035b035  OV/examples/Voorbeelddossier_OV_POVO_full.xml
1ee0c6b6477b2d28cdd2fec65bd0e5a08ec453835d9b536a15785dba69c33fdd  OV/examples/Voorbeelddossier_OV_POVO_opt_out.xml
e112ee2bb71cdc6a69d035026f10e224513588d620d8a2818567c32ce75798ce  OV/examples/Voorbeelddossier_OV_VOVO_full.xml
ef604f0ace7e3a4be4736520f4019b368d0c4aaadf513933e52ddeceb47b61e9  OV/examples/Voorbeelddossier_OV_VOVO_opt_out.xml
65a3b068dadb941046f3c313011aeb0ea8897ae3fe5e25a06b299428ae529dc4  OV/include/ValideerOSOgegevensset_2019.1.xsl
12fa9976503296aff7a774d157841872933773c9be9c9aab97ad14da0bb90966  PaO/ValideerSwvPaO-profielen.xsl
4ff868aa0dd5ff002d963e4debb6731b96acd13ade3831c6131d569c5942b444  PaO/examples/Voorbeelddossier_PaO_POSWV_full.xml
d19413b3645a988471df1c91fd177f3c3f6aeb648fbcafb8b985232aa78bf7f7  PaO/examples/Voorbeelddossier_PaO_POSWV_opt_out.xml
b1da69f3ae5411934ce48add3436789a5fd29ee3f7219480e07a793087db3230  PaO/examples/Voorbeelddossier_PaO_VOSWV_full.xml
81644c48f54e08addef7124f7c01b7ba8716b255a901bf14cf34545ba90e4744  PaO/examples/Voorbeelddossier_PaO_VOSWV_opt_out.xml
65a3b068dadb941046f3c313011aeb0ea8897ae3fe5e25a06b299428ae529dc4  PaO/include/ValideerOSOgegevensset_2019.1.xsl
"""
MANIFEST: dict[str, str] = {path: digest for digest, path in
                            (line.split("  ", 1) for line in _PINNED.strip().splitlines())}


class OfficialError(Exception):
    """Fetching or checking the pinned bundle failed; the message says why, in one line."""


class ArchiveError(OfficialError):
    """The archive is missing, not a tar.gz, too large, holds an entry that could land outside its folder, or lacks
    a pinned file."""


class TargetError(OfficialError):
    """The bundles dir cannot be made or written, or already holds a copy that differs (and no ``force``)."""


class DownloadError(OfficialError):
    """The archive could not be downloaded: no connection, a time-out, an HTTP error."""


@dataclass(frozen=True)
class Problem:
    """One way a bundle folder differs from the manifest: ``missing``, ``differs`` or ``not pinned`` (an XSD or
    XSLT the loader could pick up that the manifest does not name)."""

    path: str
    what: str

    def __str__(self) -> str:
        return f"{self.path} {self.what}"


@dataclass(frozen=True)
class Fetched:
    """The outcome of ``fetch``: the standaardversie folder, and whether it was fetched now or already there."""

    path: Path
    fetched: bool
    source: str | None  # the URL or file it came from; None when it was already there


# ------------------------------------------------------------------------------------------------------- verify
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def _problems(folder: Path) -> list[Problem]:
    out: list[Problem] = []
    for rel, digest in MANIFEST.items():
        p = folder / rel
        if not p.is_file():
            out.append(Problem(rel, "missing"))
        elif _sha256(p) != digest:
            out.append(Problem(rel, "differs"))
    if folder.is_dir():
        for top, dirs, files in os.walk(folder):  # symlinked folders are not followed
            dirs.sort()
            for name in sorted(files):
                rel = (Path(top) / name).relative_to(folder).as_posix()
                if name.endswith((".xsd", ".xsl")) and rel not in MANIFEST:
                    out.append(Problem(rel, "not pinned"))
    return out


def verify(bundles_dir: str | Path) -> list[Problem]:
    """How the ``VERSION`` folder of a bundles dir differs from the manifest; empty when it holds every pinned file
    with its pinned content (and no other XSD or XSLT). Other files (notes, release notes) are not looked at."""
    return _problems(Path(bundles_dir) / VERSION)


def describe(problems: list[Problem], most: int = 3) -> str:
    """The problems in one line: the first few, and how many more."""
    text = ", ".join(str(p) for p in problems[:most])
    return text + (f" (and {len(problems) - most} more)" if len(problems) > most else "")


# -------------------------------------------------------------------------------------------------------- fetch
def fetch(bundles_dir: str | Path = FETCHED_DIR, archive: str | None = None, *, force: bool = False,
          timeout: float = TIMEOUT, max_bytes: int = MAX_ARCHIVE_BYTES,
          progress: Callable[[str], None] | None = None) -> Fetched:
    """Put the pinned bundle in ``bundles_dir/VERSION``: from ``archive`` (a local .tar.gz, or an http(s) URL of a
    mirror) or else the archive of ``COMMIT`` on GitHub.

    Before anything is downloaded: checks the archive argument; then, without ``force``, whether the folder is
    already there as pinned (then it is kept, ``fetched`` False) or there and different (refused); then that
    ``bundles_dir`` can be made and written. With ``force`` an existing folder is replaced, but only once the new
    one is complete."""
    say = progress or (lambda _m: None)
    kind, where = _source(archive)
    target = Path(bundles_dir)
    final = target / VERSION
    problems = _problems(final) if final.is_dir() and not force else None
    if problems == []:  # already there as pinned: nothing to write (the folder may well be read-only)
        return Fetched(final, False, None)
    _check_target(target)
    if final.exists() or final.is_symlink():
        if not final.is_dir():
            raise TargetError(f"{final} is there and is not a folder")
        if not force:
            raise TargetError(f"{final} is already there but differs from the pinned files ({describe(problems)}); "
                              "replace it with --force")
    with tempfile.TemporaryDirectory(prefix="oso-gegevensset-") as tmp:
        work = Path(tmp)
        if kind == "url":
            say(f"downloading {where}")
            path = work / "archive.tar.gz"
            _download(where, path, timeout=timeout, max_bytes=max_bytes)
        else:
            path = Path(where)
            if path.stat().st_size > max_bytes:
                raise ArchiveError(f"{where}: larger than {max_bytes // MiB} MB")
        tree = work / "tree"
        tree.mkdir()
        _extract(path, tree, where)
        chosen = _match(tree, where)
        _install(chosen, target, final, source=where)
    return Fetched(final, True, where)


def _source(archive: str | None) -> tuple[str, str]:
    """("url", URL) or ("file", path) of the archive to read; ArchiveError when it names neither."""
    if archive is None:
        return "url", ARCHIVE_URL
    scheme = urlsplit(archive).scheme.lower()
    if scheme in ("http", "https"):
        return "url", archive
    if len(scheme) > 1:  # ftp:, file:, … (a one-letter "scheme" is a Windows drive)
        raise ArchiveError(f"{archive}: not a local file or an http(s) URL")
    p = Path(archive)
    if not p.is_file():
        raise ArchiveError(f"{archive}: no such file" if not p.exists() else f"{archive}: not a file")
    return "file", archive


def _check_target(target: Path) -> None:
    """The bundles dir is a folder, or can be made as one, and can be written."""
    if target.exists() and not target.is_dir():
        raise TargetError(f"{target}: not a folder")
    probe = Path(os.path.abspath(target))
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        raise TargetError(f"{target}: cannot be made ({probe} is not a folder)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise TargetError(f"{target}: cannot be written ({probe} is not writable)")


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise urllib.error.HTTPError(newurl, code, "redirected to an address that is not http(s)", headers, fp)
        return super().redirect_request(req, fp, code, msg, headers, newurl)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _download(url: str, dest: Path, *, timeout: float, max_bytes: int) -> None:
    from .. import __version__

    opener = urllib.request.build_opener(_HttpOnlyRedirects)
    request = urllib.request.Request(url, headers={"User-Agent": f"oso-gateway/{__version__}"})
    try:
        with opener.open(request, timeout=timeout) as response, dest.open("wb") as out:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise ArchiveError(f"{url}: larger than {max_bytes // MiB} MB ({int(length)} bytes)")
            total = 0
            while chunk := response.read(1 << 16):
                total += len(chunk)
                if total > max_bytes:
                    raise ArchiveError(f"{url}: larger than {max_bytes // MiB} MB")
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"could not download {url}: HTTP {exc.code} {_one_line(exc.reason)}") from None
    except urllib.error.URLError as exc:
        raise DownloadError(f"could not download {url}: {_one_line(exc.reason)}") from None
    except (OSError, http.client.HTTPException) as exc:  # a time-out while reading, a connection reset, …
        raise DownloadError(f"could not download {url}: {_one_line(exc) or type(exc).__name__}") from None


# ------------------------------------------------------------------------------------------------------ extract
def _unsafe(label: str, member: tarfile.TarInfo, why: str) -> ArchiveError:
    return ArchiveError(f"{label}: refused, entry {member.name!r} {why}")


def _safe_members(tar: tarfile.TarFile, label: str) -> list[tarfile.TarInfo]:
    """Every entry of the archive, or ArchiveError for the first that could write (or link) outside the folder it
    is extracted to, that is a device or fifo, or that would be written through a symlink of the archive."""
    members: list[tarfile.TarInfo] = []
    links: set[str] = set()
    files: set[str] = set()
    total = 0
    for m in tar:
        if len(members) >= MAX_MEMBERS:
            raise ArchiveError(f"{label}: more than {MAX_MEMBERS} entries")
        name = m.name
        if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
            raise _unsafe(label, m, "has an absolute path")
        if ".." in PurePosixPath(name.replace("\\", "/")).parts:
            raise _unsafe(label, m, "leads out of the archive's folder (..)")
        if not (m.isfile() or m.isdir() or m.issym() or m.islnk()):
            raise _unsafe(label, m, "is a device, fifo or other special file")
        norm = posixpath.normpath(name)
        if any(norm == link or norm.startswith(link + "/") for link in links):
            raise _unsafe(label, m, "would be written through a symlink")
        if not m.isdir() and (norm in files or norm in links):
            raise _unsafe(label, m, "appears twice")
        if m.issym():
            target = m.linkname
            if target.startswith(("/", "\\")):
                raise _unsafe(label, m, "is a symlink to an absolute path")
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(norm), target))
            if resolved == ".." or resolved.startswith("../"):
                raise _unsafe(label, m, f"is a symlink leaving the archive's folder ({target})")
            links.add(norm)
        elif m.islnk():
            target = posixpath.normpath(m.linkname)
            if target not in files:  # only to a regular file that came before it
                raise _unsafe(label, m, f"is a hard link to something other than a file of the archive ({target})")
            files.add(norm)
        elif m.isfile():
            total += m.size
            if total > MAX_EXTRACTED_BYTES:
                raise ArchiveError(f"{label}: more than {MAX_EXTRACTED_BYTES // MiB} MB when extracted")
            files.add(norm)
        members.append(m)
    return members


def _extract(archive: Path, dest: Path, label: str) -> None:
    """Extract the tar.gz into ``dest`` after checking every entry (``_safe_members``); with the "data" filter of
    tarfile where this Python has it, which checks again where each entry lands."""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = _safe_members(tar, label)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:  # pragma: no cover - Pythons before 3.11.4: the checks above are all there is
                tar.extractall(dest, members=members)
    except _FILTER_ERROR as exc:
        raise ArchiveError(f"{label}: refused, {_one_line(exc)}") from None
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise ArchiveError(f"{label}: not a readable tar.gz archive ({_one_line(exc)})") from None
    except OSError as exc:  # gzip.BadGzipFile, a truncated stream
        raise ArchiveError(f"{label}: not a readable tar.gz archive ({_one_line(exc)})") from None


def _files_of(tree: Path) -> dict[str, Path]:
    """Every regular file of the extracted tree by its path in the tree, following symlinks that stay inside it
    (a folder reached through a symlink is walked under the symlink's path). Paths are relative to the archive's
    one top folder (``oso-gegevensset-<commit>/``) when it has one."""
    root = tree.resolve()
    entries = list(root.iterdir())
    if len(entries) == 1 and entries[0].is_dir() and not entries[0].is_symlink():
        base = entries[0]
    else:
        base = root
    found: dict[str, Path] = {}

    def inside(p: Path) -> bool:
        return p == root or root in p.parents

    def walk(folder: Path, rel: str, seen: frozenset[Path]) -> None:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            logical = f"{rel}/{entry.name}" if rel else entry.name
            path = Path(entry.path)
            if entry.is_symlink():
                real = Path(os.path.realpath(path))
                if not inside(real):
                    continue
                if real.is_dir():
                    if real not in seen:
                        walk(real, logical, seen | {real})
                elif real.is_file():
                    found[logical] = real
            elif entry.is_dir(follow_symlinks=False):
                walk(path, logical, seen | {path})
            elif entry.is_file(follow_symlinks=False):
                found[logical] = path
            if len(found) > MAX_MEMBERS:
                raise ArchiveError(f"more than {MAX_MEMBERS} files in the archive (following its symlinks)")

    walk(base, "", frozenset({base}))
    return found


def _match(tree: Path, label: str) -> dict[str, Path]:
    """For every manifest entry, the extracted file with its pinned sha256: at the same path if there is one, else
    at a path ending in it, else the first by name. ArchiveError naming every entry not found."""
    files = _files_of(tree)
    digests: dict[Path, str] = {}
    by_digest: dict[str, list[str]] = {}
    for rel, real in sorted(files.items()):
        if real not in digests:
            digests[real] = _sha256(real)
        by_digest.setdefault(digests[real], []).append(rel)
    chosen: dict[str, Path] = {}
    missing: list[str] = []
    for rel, digest in MANIFEST.items():
        paths = by_digest.get(digest, [])
        if not paths:
            missing.append(rel)
            continue
        pick = rel if rel in paths else next((p for p in paths if p.endswith("/" + rel)), paths[0])
        chosen[rel] = files[pick]
    if missing:
        shown = ", ".join(missing[:5]) + (f" (and {len(missing) - 5} more)" if len(missing) > 5 else "")
        raise ArchiveError(f"{label}: no file with the pinned content of {shown} "
                           f"({REPOSITORY} at commit {COMMIT})")
    return chosen


# ------------------------------------------------------------------------------------------------------ install
def _note(source: str) -> str:
    when = datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    rows = "\n".join(f"| `{rel}` | `{digest}` |" for rel, digest in MANIFEST.items())
    return f"""# OSO gegevensset {VERSION}: the official technical files

Fetched by `oso-gateway bundles fetch` on {when}.

- repository: `{REPOSITORY}` (https://github.com/{REPOSITORY}), public, by Edustandaard
- commit: `{COMMIT}`
- read from: {source}

The repository keeps the files that OV/ and PaO/ share in common/ and links them with symlinks; this folder holds
copies, laid out as the gateway's bundle loader reads them. Each file was taken from the archive of that commit by
its sha256, as pinned in gateway/dossier/official.py; `oso-gateway bundles check` compares them again.

| file | sha256 |
|---|---|
{rows}
"""


def _install(chosen: dict[str, Path], target: Path, final: Path, *, source: str) -> None:
    """Copy the chosen files into a new folder beside ``final``, verify it, and rename it into place (moving an
    existing ``final`` aside first and removing it once the new one is there). On any failure nothing is left:
    not the new folder, not the folders made for it."""
    made: list[Path] = []
    probe = Path(os.path.abspath(target))
    while not probe.exists():
        made.append(probe)
        probe = probe.parent
    try:
        target.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{VERSION}.partial-", dir=target))
        try:
            staging.chmod(0o755)
            for rel, src in chosen.items():
                dst = staging / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, dst)
            (staging / NOTE).write_text(_note(source), encoding="utf-8")
            problems = _problems(staging)
            if problems:  # the copies differ from what was hashed: the disk or the tree changed underneath
                raise ArchiveError(f"{source}: the copies do not verify ({describe(problems)})")
            if final.exists() or final.is_symlink():
                old = Path(tempfile.mkdtemp(prefix=f".{VERSION}.old-", dir=target))
                old.rmdir()
                final.rename(old)
                try:
                    staging.rename(final)
                except BaseException:
                    old.rename(final)
                    raise
                if old.is_symlink():
                    old.unlink()
                else:
                    shutil.rmtree(old, ignore_errors=True)
            else:
                staging.rename(final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    except BaseException:
        for d in made:  # innermost first; only folders this call made, and only when empty
            try:
                d.rmdir()
            except OSError:
                break
        raise
