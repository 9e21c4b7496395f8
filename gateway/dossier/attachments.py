"""Attachment checks: each ``document/bestandsinhoud`` is base64 of a ZIP archive; check it without trusting it.

Memory stays bounded: one attachment at a time is decoded (the text the parser holds is replaced by a short
placeholder as soon as it has been read, when ``slim`` is set, so the tree does not keep a second copy); the ZIP is
judged from its central directory first (entry count, names, encryption, method, declared sizes and ratio), and
only entries that pass are decompressed, streamed in chunks and counted, stopping at the limit. Nothing is
extracted to disk or kept.

A ZIP that starts with a local file header but has no central directory (cut short) is reported with the severity
``AttachmentLimits.truncated`` (default: warning). The 12 official 2019.1 example dossiers carry such stubs (162
bytes whose header announces 3,534 compressed bytes): they are not usable documents, but Kennisnet's XSD and XSLT
accept them, so the project reports them without making the dossier invalid. Set ``truncated=ERROR`` to refuse them.
Their local headers are still checked for paths, encryption and declared sizes.

Note: the one safe parser (``gateway.wsse.xmlparse``, libxml2 without XML_PARSE_HUGE) refuses any text node of more
than 10,000,000 characters, so in practice one attachment is at most ~7.5 MB decoded whatever
``max_document_bytes`` says; ``validate`` explains such a refusal.
"""

from __future__ import annotations

import binascii
import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass

from lxml import etree

from .findings import ERROR, WARNING, Finding, gateway, xpath_of

MiB = 1024 * 1024
PLACEHOLDER = "UEsFBgAAAAAAAAAAAAAAAAAAAAAAAA=="  # base64 of an empty ZIP (end of central directory only)
SLIM_THRESHOLD = 4096  # texts longer than this are replaced by PLACEHOLDER after they have been read

ALLOWED_EXTENSIONS = frozenset({
    "pdf", "jpg", "jpeg", "png", "doc", "docx", "odf", "odt", "ods", "odp", "xls", "xlsx", "txt", "ppt", "pptx"})


@dataclass(frozen=True)
class AttachmentLimits:
    max_documents: int = 100  # attachments per dossier
    max_document_bytes: int = 20 * MiB  # one attachment's ZIP (decoded)
    max_total_bytes: int = 100 * MiB  # all attachments' ZIPs together (decoded)
    max_entries: int = 50  # files in one ZIP
    max_uncompressed_bytes: int = 100 * MiB  # one ZIP's files together, uncompressed
    max_ratio: float = 100.0  # uncompressed / compressed, per entry ...
    ratio_floor: int = 1 * MiB  # ... judged once an entry is larger than this (tiny text compresses well)
    truncated: str = WARNING  # severity of a ZIP without central directory (see the module docstring)
    allowed_extensions: frozenset[str] = ALLOWED_EXTENSIONS  # others: a warning
    chunk_size: int = 256 * 1024


_B64 = re.compile(r"[A-Za-z0-9+/ \t\r\n\f\v]*(?:=[ \t\r\n\f\v]*){0,2}")  # ASCII whitespace only
_DRIVE = re.compile(r"[A-Za-z]:")
_SUPPORTED_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA}
_MAGIC = ((b"%PDF", "a PDF file"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
          (b"\xd0\xcf\x11\xe0", "an MS Office (OLE) file"), (b"GIF8", "a GIF image"), (b"{\\rtf", "an RTF file"))
_LOCAL = struct.Struct("<4sHHHHHIIIHH")


def _b64_length(text: str) -> int:
    """Characters that count in base64 (all but whitespace), without copying the text."""
    return len(text) - sum(text.count(c) for c in " \t\r\n\f\v")


def _fmt(n: int) -> str:
    return f"{n / MiB:.1f} MiB" if n >= MiB else f"{n} bytes"


def check_attachments(root: etree._Element, limits: AttachmentLimits = AttachmentLimits(), *,
                      slim: bool = False) -> list[Finding]:
    """Check every ``document`` in the dossier; with ``slim``, leave a placeholder in place of large contents."""
    ns = etree.QName(root).namespace or ""
    tag_doc, tag_name, tag_body = (f"{{{ns}}}{n}" for n in ("document", "bestandsnaam", "bestandsinhoud"))
    out: list[Finding] = []
    total = 0
    count = 0
    over_total = False
    for doc in root.iter(tag_doc):
        count += 1
        if count > limits.max_documents:
            continue  # counted below, not inspected
        name = (doc.findtext(tag_name) or "").strip() or None

        def add(severity, rule, text, doc=doc, name=name):
            out.append(gateway(severity, rule, text, xpath_of(doc), name))

        if name is not None and limits.allowed_extensions:
            ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
            if ext not in limits.allowed_extensions:
                add(WARNING, "DOS-ATT-TYPE", f"file type {('.' + ext) if ext else '(none)'} is not one the standard "
                    "allows for attachments")
        body = doc.find(tag_body)
        if body is None:
            continue  # the XSD says so
        text = body.text or ""
        if slim and len(text) > SLIM_THRESHOLD:
            body.text = PLACEHOLDER  # the tree lets go of its copy; `text` is the only one left
        if not text.strip():
            continue  # the XSD says so (nonEmptyStringType)
        estimate = len(text) * 3 // 4
        if estimate > limits.max_document_bytes:
            add(ERROR, "DOS-ATT-SIZE", f"the attachment is about {_fmt(estimate)}, more than the limit of "
                f"{_fmt(limits.max_document_bytes)}; not inspected")
            continue
        if over_total or total + estimate > limits.max_total_bytes:
            if not over_total:
                add(ERROR, "DOS-ATT-SIZE", f"the attachments together exceed the limit of "
                    f"{_fmt(limits.max_total_bytes)}; this and later attachments are not inspected")
                over_total = True
            continue
        if not _B64.fullmatch(text) or _b64_length(text) % 4:
            add(ERROR, "DOS-ATT-BASE64", "bestandsinhoud is not valid base64 (characters outside the base64 alphabet, "
                "after the padding, or a length that is not a multiple of 4)")
            continue
        try:
            raw = binascii.a2b_base64(text)
        except (binascii.Error, ValueError) as exc:
            add(ERROR, "DOS-ATT-BASE64", f"bestandsinhoud is not valid base64 ({exc})")
            continue
        del text
        total += len(raw)
        for severity, rule, msg in inspect_zip(raw, limits):
            add(severity, rule, msg)
        del raw
    if count > limits.max_documents:
        out.append(gateway(ERROR, "DOS-ATT-COUNT", f"the dossier holds {count} attachments, more than the limit of "
                           f"{limits.max_documents}; the first {limits.max_documents} were inspected", xpath_of(root)))
    return out


def inspect_zip(raw: bytes, limits: AttachmentLimits = AttachmentLimits()) -> list[tuple[str, str, str]]:
    """Judge one decoded attachment; returns (severity, rule, text) triples, empty when it is a sound ZIP."""
    if not raw.startswith(b"PK"):
        what = next((desc for magic, desc in _MAGIC if raw.startswith(magic)), None)
        hint = f" (it looks like {what} that was not zipped)" if what else ""
        return [(ERROR, "DOS-ATT-NOTZIP", f"the attachment is not a ZIP archive{hint}")]
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, struct.error,
            NotImplementedError, UnicodeDecodeError):
        if raw.startswith(b"PK\x03\x04"):
            return _scan_local_headers(raw, limits)
        return [(ERROR, "DOS-ATT-NOTZIP", "the attachment is not a readable ZIP archive")]
    with zf:
        return _inspect_members(zf, limits)


def _name_problems(name: str) -> str | None:
    if "\x00" in name:
        return f"entry {name[:80]!r} has a NUL character in its name"
    if name.startswith(("/", "\\")) or _DRIVE.match(name):
        return f"entry {name[:80]!r} has an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return f"entry {name[:80]!r} climbs out of its folder ('..')"
    return None


def _header_problems(name: str, flags: int, method: int, csize: int, usize: int,
                     limits: AttachmentLimits) -> list[tuple[str, str, str]]:
    out = []
    p = _name_problems(name)
    if p:
        out.append((ERROR, "DOS-ATT-PATH", p))
    if flags & 0x1 or method == 99:  # 99: WinZip AES
        out.append((ERROR, "DOS-ATT-ENCRYPTED", f"entry {name[:80]!r} is encrypted"))
    elif method not in _SUPPORTED_METHODS:
        out.append((ERROR, "DOS-ATT-METHOD", f"entry {name[:80]!r} uses compression method {method}"))
    if usize > limits.max_uncompressed_bytes:
        out.append((ERROR, "DOS-ATT-BOMB", f"entry {name[:80]!r} declares {_fmt(usize)} uncompressed, more than "
                    f"the limit of {_fmt(limits.max_uncompressed_bytes)} (zip bomb?)"))
    elif usize > limits.ratio_floor and usize > limits.max_ratio * max(csize, 1):
        out.append((ERROR, "DOS-ATT-BOMB", f"entry {name[:80]!r} declares a compression ratio of "
                    f"{usize / max(csize, 1):.0f}:1, more than the limit of {limits.max_ratio:.0f}:1 (zip bomb?)"))
    return out


def _inspect_members(zf: zipfile.ZipFile, limits: AttachmentLimits) -> list[tuple[str, str, str]]:
    infos = zf.infolist()
    if not infos:
        return [(WARNING, "DOS-ATT-EMPTY", "the ZIP archive holds no files")]
    if len(infos) > limits.max_entries:
        return [(ERROR, "DOS-ATT-COUNT", f"the ZIP archive holds {len(infos)} entries, more than the limit of "
                 f"{limits.max_entries}; not inspected further")]
    out: list[tuple[str, str, str]] = []
    declared_total = sum(i.file_size for i in infos)
    if declared_total > limits.max_uncompressed_bytes:
        out.append((ERROR, "DOS-ATT-BOMB", f"the ZIP's files declare {_fmt(declared_total)} uncompressed together, "
                    f"more than the limit of {_fmt(limits.max_uncompressed_bytes)} (zip bomb?)"))
    budget = limits.max_uncompressed_bytes
    for info in infos:
        problems = _header_problems(info.filename, info.flag_bits, info.compress_type, info.compress_size,
                                    info.file_size, limits)
        out.extend(problems)
        if problems or info.is_dir() or declared_total > limits.max_uncompressed_bytes:
            continue
        # Stream the entry to learn its real size (zipfile never yields more than the declared size, and checks
        # the CRC at the end); stop as soon as the budget is spent.
        n = 0
        try:
            with zf.open(info) as fh:
                while True:
                    chunk = fh.read(limits.chunk_size)
                    if not chunk:
                        break
                    n += len(chunk)
                    if n > budget:
                        out.append((ERROR, "DOS-ATT-BOMB", f"entry {info.filename[:80]!r} inflates past the limit of "
                                    f"{_fmt(limits.max_uncompressed_bytes)} (zip bomb?)"))
                        break
        except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, NotImplementedError,
                RuntimeError) as exc:
            out.append((ERROR, "DOS-ATT-CORRUPT", f"entry {info.filename[:80]!r} cannot be read: "
                        f"{str(exc)[:120] or type(exc).__name__}"))
            continue
        budget -= n
        if budget < 0:
            break
        ratio = n / max(info.compress_size, 1)
        if n > limits.ratio_floor and ratio > limits.max_ratio:
            out.append((ERROR, "DOS-ATT-BOMB", f"entry {info.filename[:80]!r} inflates {ratio:.0f}:1, more than the "
                        f"limit of {limits.max_ratio:.0f}:1 (zip bomb?)"))
    return out


def _scan_local_headers(raw: bytes, limits: AttachmentLimits) -> list[tuple[str, str, str]]:
    """A ZIP without central directory: read what its local headers declare, and say it is cut short."""
    out: list[tuple[str, str, str]] = []
    pos, entries, first = 0, 0, None
    while pos + _LOCAL.size <= len(raw) and raw.startswith(b"PK\x03\x04", pos) and entries < limits.max_entries:
        _sig, _ver, flags, method, _t, _d, _crc, csize, usize, nlen, xlen = _LOCAL.unpack_from(raw, pos)
        name = raw[pos + _LOCAL.size: pos + _LOCAL.size + nlen].decode("utf-8" if flags & 0x800 else "cp437",
                                                                         errors="replace")
        out.extend(_header_problems(name, flags, method, csize, usize, limits))
        if first is None:
            first = (csize, len(raw) - pos - _LOCAL.size - nlen - xlen)
        entries += 1
        pos += _LOCAL.size + nlen + xlen + csize
    detail = ""
    if first is not None:
        detail = f"; its first entry announces {first[0]} compressed bytes, {max(first[1], 0)} are present"
    out.append((limits.truncated, "DOS-ATT-TRUNCATED", f"the ZIP archive is cut short (no central directory"
                f"{detail}): the document cannot be opened"))
    return out
