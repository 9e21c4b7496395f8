"""The zoeksleutel scheme: deterministic per key and schools, matchable by the source, no PGN inside."""

import base64

import pytest

from gateway.oso.zoeksleutel import ChainKey, ZoeksleutelError, maak, zoek

KEY = ChainKey("k2026", bytes(range(32)))
OTHER = ChainKey("k2025", bytes(range(1, 33)))
PUPILS = [("118716943", "pupil-a"), ("127095823", "pupil-b"), ("100000004", "onr-pupil")]


def test_source_finds_the_pupil():
    zk, frag = maak(KEY, pgn="118716943", bron_brin="00YY", doel_brin="11AA")
    assert frag == "BSN" and zk.startswith("v1.k2026.")
    assert zoek([OTHER, KEY], zk, frag, bron_brin="00YY", doel_brin="11AA", pupils=PUPILS) == "pupil-a"
    # other schools, another key, a wrong kind: no match
    assert zoek([KEY], zk, frag, bron_brin="00YY", doel_brin="22BB", pupils=PUPILS) is None
    assert zoek([OTHER], zk, frag, bron_brin="00YY", doel_brin="11AA", pupils=PUPILS) is None
    assert zoek([KEY], zk, "ONR", bron_brin="00YY", doel_brin="11AA", pupils=PUPILS) is None


def test_test_numbers_and_onderwijsnummers():
    zk, frag = maak(KEY, pgn="127095823", bron_brin="00YY", doel_brin="11AA")  # fails the elfproef: test number
    assert zoek([KEY], zk, frag, bron_brin="00YY", doel_brin="11AA", pupils=PUPILS) == "pupil-b"
    zk, frag = maak(KEY, pgn="100000004", bron_brin="00YY", doel_brin="11AA")
    assert frag == "ONR"
    assert zoek([KEY], zk, frag, bron_brin="00YY", doel_brin="11AA", pupils=PUPILS) == "onr-pupil"


def test_no_pgn_in_the_key_in_any_encoding():
    pgn = "118716943"
    zk, frag = maak(KEY, pgn=pgn, bron_brin="00YY", doel_brin="11AA")
    text = zk + frag
    for form in (pgn, base64.b64encode(pgn.encode()).decode(), pgn.encode().hex()):
        assert form not in text
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
