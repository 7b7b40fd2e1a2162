"""Bad NPS deliveries fail with errors that name the file and the problem (issue #13, input side).

Real bytes on disk: encodings (UTF-8 without BOM and gzip are accepted and recorded; ZIP, HTML,
binary and damaged gzip are refused by name), an unbalanced quote (its physical line), a file
whose rows carry another month (which months, how many rows, which lines), and files mode reading
only the files of the month being materialised (a bad file blocks its own month only).
"""

import gzip
import hashlib
import io
import zipfile
from datetime import date
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from dag import nps_raw_ingestion as bronze
from dag.nps_csv import (
    CANONICAL_COLUMNS,
    NpsCsvError,
    file_month,
    parse_bytes,
    peek_month,
    sniff_encoding,
)
from dag.nps_sample import generate_month, sample_file_name
from dag.nps_source import NpsSource, NpsSourceError, name_month
from dag_io import DeltaIOManager
from tests.nps.test_nps_csv import HEADER, REAL_ROW, cp949

MARCH, APRIL, MAY = date(2024, 3, 1), date(2024, 4, 1), date(2024, 5, 1)
def month_file(month: date, rows: int = 60) -> bytes:
    return generate_month(month, rows=rows, seed=3)


def as_utf8(raw: bytes) -> bytes:
    return raw.decode("cp949", errors="replace").encode("utf-8")


# --- encodings -----------------------------------------------------------------------------------
def test_utf8_without_bom_is_accepted_and_recorded() -> None:
    raw = month_file(MARCH)
    reference = parse_bytes(raw, "cp949.csv")
    parsed = parse_bytes(as_utf8(raw), "utf8.csv")
    assert parsed.encoding == "utf-8"
    assert reference.encoding == "cp949"
    # the sample's stray CP949 bytes became U+FFFD in the UTF-8 copy: same text, nothing replaced
    assert parsed.bytes_replaced == 0
    assert parsed.frame.select(CANONICAL_COLUMNS).equals(reference.frame.select(CANONICAL_COLUMNS))


def test_utf8_stray_byte_is_counted_and_does_not_flip_the_encoding() -> None:
    raw = cp949(HEADER, REAL_ROW, REAL_ROW).decode("cp949").encode("utf-8")
    raw = raw.replace("우성".encode(), b"\xff" + "우성".encode(), 1)
    parsed = parse_bytes(raw, "stray.csv")
    assert (parsed.encoding, parsed.bytes_replaced) == ("utf-8", 1)
    assert parsed.frame["company_name"].to_list() == ["\ufffd우성기전(주)", "우성기전(주)"]


def test_ascii_and_cp949_heads_stay_cp949() -> None:
    assert sniff_encoding(b"DATA_CRT_YM,WKPL_NM\r\n") == "cp949"
    assert sniff_encoding(month_file(MARCH)) == "cp949"
    assert sniff_encoding(as_utf8(month_file(MARCH))) == "utf-8"


def test_utf8_file_with_an_unknown_header_says_how_it_was_read() -> None:
    raw = cp949(HEADER.replace("우편번호", "우편코드"), REAL_ROW).decode("cp949").encode("utf-8")
    with pytest.raises(
        NpsCsvError,
        match=r"odd\.csv: unrecognised NPS header: unknown column names: column 5 '우편코드'.*"
        r"\(the file was read as UTF-8 \(no BOM\)\)",
    ):
        parse_bytes(raw, "odd.csv")


def test_gzip_is_decompressed_and_said_so() -> None:
    raw = month_file(MARCH)
    packed = gzip.compress(raw)
    parsed = parse_bytes(packed, "march.csv.gz")
    assert (parsed.compression, parsed.encoding) == ("gzip", "cp949")
    assert parsed.file_bytes == len(raw)  # the CSV size, comparable with plain months
    assert parsed.delivered_bytes == len(packed)
    assert parsed.sha256 == hashlib.sha256(packed).hexdigest()  # of the delivered bytes
    assert parsed.frame.select(CANONICAL_COLUMNS).equals(
        parse_bytes(raw, "march.csv").frame.select(CANONICAL_COLUMNS)
    )
    assert peek_month(packed[:4096], "march.csv.gz") == MARCH


def _flip_middle_byte(raw: bytes) -> bytes:
    packed = bytearray(gzip.compress(raw))
    packed[len(packed) // 2] ^= 0xFF
    return bytes(packed)


def _zip(raw: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("march.csv", raw)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (_flip_middle_byte, r"the file is gzip-compressed but its gzip stream is damaged"),
        (lambda raw: gzip.compress(raw)[:2000], r"the file is gzip-compressed but .* cut short"),
        (
            lambda raw: gzip.compress(gzip.compress(raw)),
            r"the gzip content is gzip-compressed twice",
        ),
        (_zip, r"the file is zip-compressed \(a ZIP archive"),
        (lambda raw: bytes(range(256)) * 40, r"the file is not text \(binary\): 40 NUL"),
        (lambda raw: b"\xd0\xcf\x11\xe0" + raw, r"the file is not text \(binary\)"),
        (
            lambda raw: raw.decode("cp949", errors="replace").encode("utf-16"),
            r"the file is UTF-16 text",
        ),
        (
            lambda raw: b"<!DOCTYPE html><html><body>error</body></html>",
            r"the file is an HTML page, not CSV",
        ),
        (
            lambda raw: gzip.compress(bytes(range(256)) * 40),
            r"the gzip content is not text \(binary",
        ),
    ],
    ids=[
        "gzip-damaged",
        "gzip-cut",
        "gzip-twice",
        "zip",
        "binary",
        "xls",
        "utf-16",
        "html",
        "gz-binary",
    ],
)
def test_files_that_are_not_csv_text_are_named_with_the_reason(make, message: str) -> None:
    with pytest.raises(NpsCsvError, match=rf"^bad\.csv: {message}"):
        parse_bytes(make(month_file(MARCH)), "bad.csv")


def test_empty_gzip_is_an_error() -> None:
    with pytest.raises(NpsCsvError, match=r"e\.csv: file is empty after gzip decompression"):
        parse_bytes(gzip.compress(b"\r\n"), "e.csv")


# --- unbalanced quotes ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("line", "replace", "field"),
    [
        (3, ("우성기전(주)", '"우성기전(주)'), 2),  # opened, never closed, lines follow
        (6, ("동력식 수지 공구 제조업", '"동력식 수지 공구 제조업'), 15),  # the last line
        (4, ("우성기전(주)", '우성"기전(주)'), 2),  # a stray quote inside a field
    ],
)
def test_unbalanced_quote_names_file_and_physical_line(
    line: int, replace: tuple[str, str], field: int
) -> None:
    rows = [REAL_ROW] * 4
    rows[line - 3] = REAL_ROW.replace(*replace)  # line 2 is `quoted_ok`
    quoted_ok = REAL_ROW.replace("동력식 수지 공구 제조업", '"떡, 빵 및 ""과자"" 제조업"')
    with pytest.raises(
        NpsCsvError, match=rf"^q\.csv: unbalanced quote: line {line} field {field} opens a quote"
    ):
        parse_bytes(cp949(HEADER, quoted_ok, *rows), "q.csv")


# --- month mismatch ------------------------------------------------------------------------------
def mixed_month(first_rows: int, other: date, month: date, rows: int = 60) -> bytes:
    """A month file whose first `first_rows` data lines carry `other` instead of `month`."""
    lines = month_file(month, rows=rows).split(b"\r\n")
    old, new = f"{month:%Y-%m}".encode(), f"{other:%Y-%m}".encode()
    for i in range(1, first_rows + 1):
        lines[i] = lines[i].replace(old, new, 1)
    return b"\r\n".join(lines)


def test_month_mismatch_names_months_counts_and_lines() -> None:
    frame = parse_bytes(mixed_month(3, MARCH, APRIL), "april.csv").frame
    assert file_month(frame, "april.csv") == APRIL  # the most frequent month, as before
    with pytest.raises(
        NpsCsvError,
        match=r"^april\.csv: 3 of 60 rows carry another 자료생성년월 than the partition's "
        r"2024-04; the file holds 2024-04 \(57 rows\), 2024-03 \(3 rows\); first disagreeing "
        r"lines: 2, 3, 4$",
    ):
        file_month(frame, "april.csv", expected=APRIL)
    with pytest.raises(NpsCsvError, match=r"57 of 60 rows .* partition's 2024-03.*lines: 5, 6, 7"):
        file_month(frame, "april.csv", expected=MARCH)


def _materialize(folder: Path, lake: Path, month: date, **kwargs: object):
    return dg.materialize(
        [bronze.nps_his_download],
        partition_key=month.isoformat(),
        resources={
            "delta_io_manager": DeltaIOManager(root_uri=str(lake)),
            "nps_source": NpsSource(mode="files", source_dir=str(folder)),
        },
        **kwargs,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "delivered"
    path.mkdir()
    return path


def test_month_mismatch_through_nps_his_download(
    data_dir: Path, folder: Path, tmp_path: Path
) -> None:
    # Named for April, its first three rows carry March: it is April's file, and bronze says
    # what is wrong with it (before: "no file with 자료생성년월 2024-04").
    (folder / sample_file_name(APRIL)).write_bytes(mixed_month(3, MARCH, APRIL))
    with pytest.raises(bronze.NpsIngestionError) as failure:
        _materialize(folder, tmp_path / "lake", APRIL)
    message = str(failure.value)
    assert message.startswith(f"nps_his_download partition 2024-04-01: {sample_file_name(APRIL)}")
    assert "3 of 60 rows carry another 자료생성년월 than the partition's 2024-04" in message
    assert "2024-03 (3 rows)" in message and "first disagreeing lines: 2, 3, 4" in message
    assert not (tmp_path / "lake" / "nps_his_download").exists()


def test_unbalanced_quote_deep_in_a_real_file_fails_nps_his_download(
    data_dir: Path, folder: Path, tmp_path: Path
) -> None:
    lines = month_file(MARCH, rows=3_000).split(b"\r\n")
    lines[1234] = b'"' + lines[1234]  # physical line 1235 (the header is line 1)
    (folder / sample_file_name(MARCH)).write_bytes(b"\r\n".join(lines))
    with pytest.raises(bronze.NpsIngestionError) as failure:
        _materialize(folder, tmp_path / "lake", MARCH)
    assert str(failure.value).startswith(
        f"nps_his_download partition 2024-03-01: {sample_file_name(MARCH)}: unbalanced quote: "
        "line 1235 field 1 opens a quote that is not closed on that line"
    )


# --- files mode: a bad file blocks its own month only --------------------------------------------
def test_garbage_file_blocks_only_its_own_month(
    data_dir: Path, folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (folder / sample_file_name(MARCH)).write_bytes(month_file(MARCH))
    garbage = folder / sample_file_name(APRIL)
    garbage.write_bytes(bytes(range(256)) * 400)
    (folder / "nps_202405.csv.gz").write_bytes(gzip.compress(as_utf8(month_file(MAY))))
    peeked: list[str] = []
    real_peek = NpsSource._peek

    def spy(path: Path):
        peeked.append(path.name)
        return real_peek(path)

    monkeypatch.setattr(NpsSource, "_peek", staticmethod(spy))
    lake = tmp_path / "lake"
    march = _materialize(folder, lake, MARCH)
    assert march.success
    assert peeked == [sample_file_name(MARCH)]  # only March's file was opened
    info = march.asset_materializations_for_node("nps_his_download")[0].metadata
    assert info["per_month"].value["2024-03"]["encoding"] == "cp949"

    peeked.clear()
    may = _materialize(folder, lake, MAY)
    assert peeked == ["nps_202405.csv.gz"]
    per_month = may.asset_materializations_for_node("nps_his_download")[0].metadata["per_month"]
    assert {k: per_month.value["2024-05"][k] for k in ("encoding", "compression")} == {
        "encoding": "utf-8",
        "compression": "gzip",
    }
    assert (
        per_month.value["2024-05"]["delivered_bytes"]
        == (folder / "nps_202405.csv.gz").stat().st_size
    )

    with pytest.raises(bronze.NpsIngestionError) as failure:
        _materialize(folder, lake, APRIL)
    message = str(failure.value)
    assert "nps_his_download partition 2024-04-01: nps_source files mode" in message
    assert f"cannot read the data month of {garbage} (it is named for 2024-04)" in message
    assert f"{garbage.name}: the file is not text (binary)" in message
    rows = pl.read_delta(str(lake / "nps_his_download")).group_by("ym").len().sort("ym")
    assert rows.rows() == [(MARCH, 60), (MAY, 60)]


def test_garbage_named_for_another_month_is_listed_when_the_month_is_missing(
    folder: Path,
) -> None:
    (folder / sample_file_name(APRIL)).write_bytes(b"<html><body>503</body></html>")
    (folder / sample_file_name(MAY)).write_bytes(month_file(MAY))
    with pytest.raises(NpsSourceError) as failure:
        NpsSource(mode="files", source_dir=str(folder)).fetch_month(MARCH)
    message = str(failure.value)
    assert (
        "no file with 자료생성년월 2024-03" in message and "months present: ['2024-05']" in message
    )
    assert f"{sample_file_name(APRIL)} (named for 2024-04): unreadable:" in message
    assert "HTML page" in message


def test_unreadable_file_without_a_month_in_its_name_blocks_every_month(folder: Path) -> None:
    (folder / sample_file_name(MARCH)).write_bytes(month_file(MARCH))
    (folder / "latest.csv").write_bytes(gzip.compress(month_file(APRIL))[:300])
    with pytest.raises(NpsSourceError, match=r"latest\.csv \(its name carries no month"):
        NpsSource(mode="files", source_dir=str(folder)).fetch_month(MARCH)


@pytest.mark.parametrize(
    ("name", "month"),
    [
        ("국민연금공단_국민연금 가입 사업장 내역_202403.csv", MARCH),
        ("국민연금공단_국민연금 가입 사업장 내역_20240331.csv", MARCH),
        ("nps-2024-04.csv.gz", APRIL),
        ("nps_2024_05_01.csv", MAY),
        ("latest.csv", None),
        ("nps_2024.csv", None),
        ("a_202403_to_202404.csv", None),  # two months: the content decides
        ("id12202403.csv", None),  # digits around: not a month
    ],
)
def test_month_in_a_file_name(name: str, month: date | None) -> None:
    assert name_month(name) == month
