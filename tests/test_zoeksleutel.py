"""The zoeksleutel scheme: standard base64, deterministic per key and schools, matchable by the source, no PGN inside;
the pgnfrag four keyed check digits."""

import base64
import re

import pytest

from gateway.oso.zoeksleutel import ChainKey, ZoeksleutelError, maak, zoek

KEY = ChainKey("k2026", bytes(range(32)))
OTHER = ChainKey("k2025", bytes(range(1, 33)))
PUPILS = [("118716943", "pupil-a"), ("127095823", "pupil-b"), ("100000004", "onr-pupil")]


def test_the_shape_the_contract_asks():
    zk, frag = maak(KEY, pgn="118716943", bron_brin="00YY", doel_brin="11AA")
    assert re.fullmatch(r"([A-Za-z0-9+/]{4})*([A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?", zk)  # standard base64
    raw = base64.b64decode(zk)
    assert raw[0] == 1 and raw[2:2 + raw[1]] == b"k2026" and len(raw) == 2 + raw[1] + 32  # version, key id, MAC
    assert re.fullmatch(r"[0-9]{4}", frag)


def test_source_finds_the_pupil():
    zk, frag = maak(KEY, pgn="118716943", bron_brin="00YY", doel_brin="11AA")
    assert zoek([OTHER, KEY], zk, frag, bron_brin="00YY", doel_brin="11AA", pupils=PUPILS) == "pupil-a"
    # other schools, another key, a wrong pgnfrag, a zoeksleutel of another scheme: no match
    assert zoek([KEY], zk, frag, bron_brin="00YY", doel_brin="22BB", pupils=PUPILS) is None
    assert zoek([OTHER], zk, frag, bron_brin="00YY", doel_brin="11AA", pupils=PUPILS) is None
    wrong = f"{(int(frag) + 1) % 10000:04d}"
    assert zoek([KEY], zk, wrong, bron_brin="00YY", doel_brin="11AA", pupils=PUPILS) is None
    for other in ("v1.k2026.abc", base64.b64encode(b"\x02\x05k2026" + bytes(32)).decode(), "not base64!"):
        assert zoek([KEY], other, frag, bron_brin="00YY", doel_brin="11AA", pupils=PUPILS) is None


def test_the_pgnfrag_depends_on_the_key_and_the_schools():
    frags = {maak(key, pgn="118716943", bron_brin="00YY", doel_brin=doel)[1]
             for key in (KEY, OTHER) for doel in ("11AA", "22BB", "33CC")}
    assert len(frags) >= 5  # six combinations, four digits each: a collision is rare, not a pattern


def test_test_numbers_and_onderwijsnummers():
    zk, frag = maak(KEY, pgn="127095823", bron_brin="00YY", doel_brin="11AA")  # fails the elfproef: test number
    assert zoek([KEY], zk, frag, bron_brin="00YY", doel_brin="11AA", pupils=PUPILS) == "pupil-b"
    zk, frag = maak(KEY, pgn="100000004", bron_brin="00YY", doel_brin="11AA")  # an onderwijsnummer
    assert zoek([KEY], zk, frag, bron_brin="00YY", doel_brin="11AA", pupils=PUPILS) == "onr-pupil"


def test_no_pgn_in_the_key_in_any_encoding():
    pgn = "118716943"
    zk, frag = maak(KEY, pgn=pgn, bron_brin="00YY", doel_brin="11AA")
    text = zk + frag
    for form in (pgn, pgn[-4:], base64.b64encode(pgn.encode()).decode(), pgn.encode().hex()):
        assert form not in text  # not even the last four digits: the pgnfrag is keyed
    assert maak(KEY, pgn=pgn, bron_brin="00YY", doel_brin="22BB")[0] != zk


@pytest.mark.parametrize("bad", ["12345678", "abcdefghi", "1234567890"])
def test_bad_pgn(bad):
    with pytest.raises(ZoeksleutelError):
        maak(KEY, pgn=bad, bron_brin="00YY", doel_brin="11AA")


def test_key_file_round_trip():
    assert ChainKey.from_text(KEY.to_text()) == KEY
    with pytest.raises(ZoeksleutelError):
        ChainKey.from_text("nonsense")
    with pytest.raises(ZoeksleutelError):
        ChainKey("k", b"short")
