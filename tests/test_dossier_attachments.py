"""Attachment checks on ZIPs made here: sound, bombs, traversal, encryption, lies, truncation; bounded memory."""

from __future__ import annotations

import base64
import io
import struct
import time
import tracemalloc
import zipfile
import zlib

import pytest
from lxml import etree

from gateway.dossier.attachments import PLACEHOLDER, AttachmentLimits, check_attachments, inspect_zip
from gateway.dossier.findings import ERROR, GATEWAY, WARNING

NS = "http://www.edustandaard.nl/oso_gegevensset/2019/dossier"
MiB = 1024 * 1024


def make_zip(entries: dict[str, bytes], method=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=method) as zf:
        for name, data in entries.items():
            zf.writestr(zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0)), data, compress_type=method)
    return buf.getvalue()


def zeros_bomb(size: int, name: str = "nullen.txt") -> bytes:
    """A ZIP with one deflated entry of `size` zero bytes, built without holding them in memory."""
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(MiB)
    parts, crc = [], 0
    for _ in range(size // MiB):
        parts.append(comp.compress(chunk))
        crc = zlib.crc32(chunk, crc)
    parts.append(comp.flush())
    data = b"".join(parts)
    info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED
    info.CRC, info.compress_size, info.file_size = crc, len(data), size
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        # write header + raw deflate stream ourselves (zipfile would inflate 200 MB to write it)
        zf.fp.write(info.FileHeader())
        zf.fp.write(data)
        zf.filelist.append(info)
        zf.NameToInfo[name] = info
        info.header_offset = 0
        zf.start_dir = zf.fp.tell()
    return buf.getvalue()


def rules(results) -> list[str]:
    return [r for _s, r, _t in results]


def test_a_sound_zip_passes():
    assert inspect_zip(make_zip({"rapport.pdf": b"%PDF-1.4 hallo" * 100, "map/b.txt": b"tekst"})) == []


def test_zip_bomb_is_caught_from_the_header_without_inflating():
    bomb = zeros_bomb(200 * MiB)
    assert len(bomb) < 400_000
    tracemalloc.start()
    t0 = time.perf_counter()
    out = inspect_zip(bomb)
    elapsed = time.perf_counter() - t0
    _cur, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert rules(out) == ["DOS-ATT-BOMB", "DOS-ATT-BOMB"]  # total and entry: 200 MiB > 100 MiB
    assert all(s == ERROR for s, _r, _t in out)
    assert elapsed < 1.0 and peak < 4 * MiB


def test_ratio_limit_applies_above_the_floor_only():
    small = make_zip({"leeg.txt": bytes(64 * 1024)})  # 64 KiB of zeros compresses ~1000:1, but it is small
    assert inspect_zip(small) == []
    big = zeros_bomb(8 * MiB)  # 8 MiB < the 100 MiB size limit, but ~1000:1 above the 1 MiB floor
    out = inspect_zip(big)
    assert rules(out) == ["DOS-ATT-BOMB"] and "ratio" in out[0][2]
    assert inspect_zip(big, AttachmentLimits(max_ratio=5000)) == []


def test_streaming_counts_real_size_against_a_smaller_budget():
    z = make_zip({"a.txt": bytes(3 * MiB), "b.txt": bytes(3 * MiB)})
    out = inspect_zip(z, AttachmentLimits(max_uncompressed_bytes=5 * MiB, max_ratio=10_000))
    assert rules(out) == ["DOS-ATT-BOMB"] and "together" in out[0][2]


def test_a_header_that_lies_about_its_size_is_not_inflated_past_it():
    z = bytearray(make_zip({"a.txt": bytes(4 * MiB)}))
    cd = z.rfind(b"PK\x01\x02")
    struct.pack_into("<I", z, cd + 24, 1000)  # central directory: uncompressed size 1000 (really 4 MiB)
    out = inspect_zip(bytes(z), AttachmentLimits(max_ratio=1e9))
    assert rules(out) == ["DOS-ATT-CORRUPT"]  # zipfile stops at the declared size; the CRC then fails


@pytest.mark.parametrize("name", ["../../etc/passwd", "map/../../x", "/etc/passwd", "C:\\Windows\\x.dll",
                                  "..\\..\\boot.ini"])
def test_path_traversal_and_absolute_paths(name):
    out = inspect_zip(make_zip({name: b"x"}))
    assert rules(out) == ["DOS-ATT-PATH"]
    assert repr(name) in out[0][2]


def test_dots_in_a_name_are_fine():
    assert inspect_zip(make_zip({"verslag..v2.txt": b"x", "./a.txt": b"y"})) == []


def test_encrypted_entry():
    z = bytearray(make_zip({"geheim.txt": b"x" * 100}, method=zipfile.ZIP_STORED))
    struct.pack_into("<H", z, 6, struct.unpack_from("<H", z, 6)[0] | 1)  # local header flag bit 0
    cd = z.rfind(b"PK\x01\x02")
    struct.pack_into("<H", z, cd + 8, struct.unpack_from("<H", z, cd + 8)[0] | 1)
    assert rules(inspect_zip(bytes(z))) == ["DOS-ATT-ENCRYPTED"]


def test_unusual_method():
    z = bytearray(make_zip({"a.txt": b"x" * 100}, method=zipfile.ZIP_STORED))
    struct.pack_into("<H", z, 8, 6)  # local: "imploded"
    cd = z.rfind(b"PK\x01\x02")
    struct.pack_into("<H", z, cd + 10, 6)
    assert rules(inspect_zip(bytes(z))) == ["DOS-ATT-METHOD"]


def test_too_many_entries_and_empty():
    many = make_zip({f"f{i}.txt": b"x" for i in range(60)})
    assert rules(inspect_zip(many)) == ["DOS-ATT-COUNT"]
    empty = make_zip({})
    assert inspect_zip(empty) == [(WARNING, "DOS-ATT-EMPTY", "the ZIP archive holds no files")]


def test_not_a_zip():
    out = inspect_zip(b"%PDF-1.4\n%...")
    assert rules(out) == ["DOS-ATT-NOTZIP"] and "PDF" in out[0][2]
    assert rules(inspect_zip(b"hello")) == ["DOS-ATT-NOTZIP"]
    assert rules(inspect_zip(b"PK\x05\x06broken")) == ["DOS-ATT-NOTZIP"]


def test_truncated_zip_is_a_warning_by_default_and_its_header_still_checked():
    z = make_zip({"verslag.pdf": bytes(range(256)) * 40})
    cut = z[:200]
    assert [(s, r) for s, r, _t in inspect_zip(cut)] == [(WARNING, "DOS-ATT-TRUNCATED")]
    strict = AttachmentLimits(truncated=ERROR)
    assert [(s, r) for s, r, _t in inspect_zip(cut, strict)] == [(ERROR, "DOS-ATT-TRUNCATED")]
    evil = make_zip({"../x.pdf": b"y" * 5000})[:60]
    assert rules(inspect_zip(evil)) == ["DOS-ATT-PATH", "DOS-ATT-TRUNCATED"]


def _doc_tree(*docs: tuple[str, str]) -> etree._Element:
    items = "".join(f"<document><bestandsnaam>{n}</bestandsnaam><bestandsinhoud>{c}</bestandsinhoud></document>"
                    for n, c in docs)
    return etree.fromstring(f'<dossier xmlns="{NS}"><x>{items}</x></dossier>')


def test_findings_name_the_document_and_slim_replaces_big_contents():
    good = base64.b64encode(make_zip({"a.txt": bytes(range(256)) * 40}, method=zipfile.ZIP_STORED)).decode()
    assert len(good) > 4096  # large enough to be replaced
    root = _doc_tree(("ok.txt", good), ("kapot.pdf", "!!not base64!!"), ("plaatje.gif", good),
                     ("bom.txt", base64.b64encode(zeros_bomb(200 * MiB)).decode()))
    out = check_attachments(root, slim=True)
    got = [(f.severity, f.source, f.rule, f.document) for f in out]
    assert got == [(ERROR, GATEWAY, "DOS-ATT-BASE64", "kapot.pdf"), (WARNING, GATEWAY, "DOS-ATT-TYPE", "plaatje.gif"),
                   (ERROR, GATEWAY, "DOS-ATT-BOMB", "bom.txt"), (ERROR, GATEWAY, "DOS-ATT-BOMB", "bom.txt")]
    assert out[0].location == "/dossier[1]/x[1]/document[2]"
    bodies = [e.text for e in root.iter(f"{{{NS}}}bestandsinhoud")]
    assert bodies[0] == PLACEHOLDER and bodies[1] == "!!not base64!!" and bodies[3] == PLACEHOLDER


def test_base64_with_line_breaks_is_fine_and_bad_padding_is_not():
    z = base64.encodebytes(make_zip({"a.txt": b"abc"})).decode()  # 76-column lines
    assert "\n" in z
    assert check_attachments(_doc_tree(("a.txt", z))) == []
    assert [f.rule for f in check_attachments(_doc_tree(("a.txt", "QUJD=")))] == ["DOS-ATT-BASE64"]


def test_document_count_and_size_limits():
    small = base64.b64encode(make_zip({"a.txt": b"abc"})).decode()
    root = _doc_tree(*[(f"{i}.txt", small) for i in range(5)])
    assert [f.rule for f in check_attachments(root, AttachmentLimits(max_documents=3))] == ["DOS-ATT-COUNT"]
    assert [f.rule for f in check_attachments(root, AttachmentLimits(max_document_bytes=50))] == ["DOS-ATT-SIZE"] * 5
    total = check_attachments(root, AttachmentLimits(max_total_bytes=300))
    assert [f.rule for f in total] == ["DOS-ATT-SIZE"] and total[0].document == "2.txt"
