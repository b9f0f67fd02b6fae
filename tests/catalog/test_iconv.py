"""CP949 → UTF-8 through iconv(3) gives exactly what Python's codec gives: every character, every
error offset, whatever the chunk boundaries."""

from __future__ import annotations

import hashlib
import random
from pathlib import Path

import pytest

from catalog.ingestion import detect, iconv

REAL_KR = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "real-kr"


def _every_cp949_character() -> bytes:
    """Every byte sequence CP949 defines: ASCII and each valid lead/trail pair, one per line."""
    valid = [bytes([b]) for b in range(1, 0x80) if b != 0x0A]
    for lead in range(0x81, 0xFF):
        for trail in range(0x41, 0xFF):
            pair = bytes([lead, trail])
            try:
                pair.decode("cp949")
            except UnicodeDecodeError:
                continue
            valid.append(pair)
    return b"\n".join(valid)


def _convert(converter, data: bytes, chunk: int) -> bytes:
    with converter:
        out = [converter.convert(data[i : i + chunk]) for i in range(0, len(data), chunk)]
        out.append(converter.convert(b"", final=True))
    return b"".join(out)


def _error_offset(converter, data: bytes, chunk: int) -> int | None:
    try:
        _convert(converter, data, chunk)
    except iconv.Undecodable as exc:
        return exc.offset
    return None


def test_this_machine_converts_cp949_with_iconv():
    # The Debian images the service runs on have glibc's converters; without them ingestion
    # would silently fall back on the slower codec.
    assert iconv.open_converter("cp949") is not None


@pytest.mark.parametrize("chunk", [1, 2, 3, 4096, 1 << 20])
def test_every_cp949_character_comes_out_as_the_codec_writes_it(chunk):
    data = _every_cp949_character()
    expected = data.decode("cp949").encode("utf-8")
    assert len(expected) > 17_000 * 2  # all 8,822 Hangul and the hanja/symbol pairs are there
    assert _convert(iconv.open_converter("cp949"), data, chunk) == expected
    assert _convert(iconv.CodecConverter("cp949"), data, chunk) == expected


def test_bad_bytes_are_reported_at_the_offset_the_codec_reports():
    good = "수원시,한식 음식점,똠양꿍,12000\n".encode("cp949") * 50
    rng = random.Random(18)
    bad_sequences = [b"\x80", b"\xff", b"\x81\x0a", b"\xc9\x41", b"\xa1\x00\x41", b"\xfe\xff"]
    checked = 0
    for _ in range(200):
        at = rng.randrange(len(good))
        data = good[:at] + rng.choice(bad_sequences) + good[at:]
        expected = _error_offset(iconv.CodecConverter("cp949"), data, len(data))
        if expected is None:  # inserted after a lead byte, it can complete a valid pair
            continue
        for chunk in (1, 5, 64, len(data)):
            assert _error_offset(iconv.open_converter("cp949"), data, chunk) == expected, (at, chunk)
            assert _error_offset(iconv.CodecConverter("cp949"), data, chunk) == expected, (at, chunk)
        checked += 1
    assert checked > 150


def test_a_character_cut_off_at_the_end_of_the_file_is_an_error_at_its_first_byte():
    data = "가나다".encode("cp949")[:-1]
    assert _error_offset(iconv.open_converter("cp949"), data, 2) == 4
    assert _error_offset(iconv.CodecConverter("cp949"), data, 2) == 4


@pytest.mark.parametrize(
    "name",
    ["gg_local_currency_issuance_usage_monthly_cp949.csv", "national_traditional_market_standard_cp949.csv"],
)
def test_a_real_cp949_file_is_transcoded_to_the_bytes_the_codec_gives(tmp_path, name):
    src = REAL_KR / name
    out = tmp_path / "utf8.csv"
    seen = []
    with detect.Digest() as digest:
        assert detect._transcode(src, out, "cp949", on_fraction=seen.append, digest=digest) is None
        assert digest.hexdigest() == hashlib.sha256(src.read_bytes()).hexdigest()  # the file as sent
    assert out.read_bytes() == src.read_bytes().decode("cp949").encode("utf-8")
    assert seen[-1] == 1.0
