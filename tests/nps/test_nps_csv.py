"""Parsing the NPS monthly workplace file: encodings, header variants, quirks and clear errors."""

import codecs
from datetime import date

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dag.nps_csv import (
    CANONICAL_COLUMNS,
    ENGLISH_HEADER,
    KOREAN_HEADER,
    LINEAGE_COLUMNS,
    NpsCsvError,
    file_month,
    leading_word,
    parse_bytes,
    peek_month,
)
from dag.nps_sample import generate_month, header_line

REAL_ROW = (
    "2021-03,우성기전(주),126811,1,12816,경기도 광주시 도척면,경기도 광주시 도척면 도척윗로,"
    "4161033025,4161033025,41,610,330,1,292201,동력식 수지 공구 제조업,1988-01-01,0001-01-01,"
    "0001-01-01,5,792720,0,0"
)
HEADER = ",".join(KOREAN_HEADER)


def cp949(*lines: str) -> bytes:
    return ("\r\n".join(lines) + "\r\n").encode("cp949")


def test_real_row_is_read_as_strings_under_canonical_names() -> None:
    parsed = parse_bytes(cp949(HEADER, REAL_ROW), "real.csv")
    frame = parsed.frame
    assert frame.columns == [*CANONICAL_COLUMNS, *LINEAGE_COLUMNS]
    assert all(frame.schema[c] == pl.String for c in CANONICAL_COLUMNS)
    row = frame.row(0, named=True)
    assert row["company_name"] == "우성기전(주)"
    assert row["legal_dong_addr_code"] == "4161033025"
    assert row["re_registered_at"] == "0001-01-01"
    assert row["monthly_notice_amount"] == "792720"
    assert row["line_number"] == 2
    assert row["source_file"] == "real.csv"
    assert row["header_variant"] == "standard"
    assert parsed.encoding == "cp949"
    assert parsed.bytes_replaced == 0
    assert len(row["source_sha256"]) == 64
    assert row["source_bytes"] == len(cp949(HEADER, REAL_ROW))


@pytest.mark.parametrize("variant", ["standard", "spaced", "annotated_2021", "legacy_english"])
def test_each_header_variant_gives_the_same_rows(variant: str) -> None:
    body = generate_month(date(2022, 5, 1), rows=60, seed=7, header_variant="standard")
    reference = parse_bytes(body, "ref.csv").frame.select(CANONICAL_COLUMNS)
    lines = body.split(b"\r\n", 1)
    variant_file = header_line(variant).encode("cp949") + b"\r\n" + lines[1]
    parsed = parse_bytes(variant_file, f"{variant}.csv")
    assert parsed.header_variant == variant
    assert parsed.frame.select(CANONICAL_COLUMNS).equals(reference)


def test_header_columns_are_matched_by_name_not_position() -> None:
    names = list(KOREAN_HEADER)
    values = REAL_ROW.split(",")
    names[1], names[2] = names[2], names[1]  # 사업자등록번호 before 사업장명
    values[1], values[2] = values[2], values[1]
    row = parse_bytes(cp949(",".join(names), ",".join(values)), "swapped.csv").frame.row(
        0, named=True
    )
    assert row["company_name"] == "우성기전(주)"
    assert row["business_reg_num"] == "126811"


def test_leading_word_reads_2021_notes_and_english_codes() -> None:
    assert leading_word("자료생성년월(자격마감일 기준)") == "자료생성년월"
    assert leading_word(" 사업장가입상태코드 1:등록2:탈퇴") == "사업장가입상태코드"
    assert leading_word("\ufeffDATA_CRT_YM") == "DATA_CRT_YM"
    assert len(set(ENGLISH_HEADER)) == 22


def test_stray_undecodable_byte_is_replaced_and_counted() -> None:
    raw = cp949(HEADER, REAL_ROW).replace("우성".encode("cp949"), b"\xff" + "우성".encode("cp949"))
    parsed = parse_bytes(raw, "stray.csv")
    assert parsed.bytes_replaced == 1
    assert parsed.frame.item(0, "company_name") == "\ufffd우성기전(주)"
    assert parsed.frame.item(0, "bytes_replaced") == 1


def test_embedded_quotes_are_unescaped() -> None:
    row = REAL_ROW.replace("우성기전(주)", '"(유)케이비에프에스""전주밥상"""')
    parsed = parse_bytes(cp949(HEADER, row), "quotes.csv")
    assert parsed.frame.item(0, "company_name") == '(유)케이비에프에스"전주밥상"'
    assert parsed.frame.item(0, "lost_subscribers") == "0"


def test_empty_and_placeholder_dates_are_kept_as_delivered() -> None:
    row = REAL_ROW.replace("1988-01-01,0001-01-01,0001-01-01", "1988-01-01,,0001-01-01")
    frame = parse_bytes(cp949(HEADER, row), "dates.csv").frame
    assert frame.item(0, "re_registered_at") == ""
    assert frame.item(0, "withdrawn_at") == "0001-01-01"


def test_duplicates_and_blank_lines_keep_physical_line_numbers() -> None:
    frame = parse_bytes(cp949(HEADER, REAL_ROW, "", REAL_ROW), "dup.csv").frame
    assert frame.height == 2
    assert frame["line_number"].to_list() == [2, 4]
    assert frame.select(CANONICAL_COLUMNS).is_duplicated().all()


def test_utf8_with_bom_is_accepted() -> None:
    raw = codecs.BOM_UTF8 + ("\r\n".join([HEADER, REAL_ROW]) + "\r\n").encode("utf-8")
    parsed = parse_bytes(raw, "bom.csv")
    assert parsed.encoding == "utf-8-sig"
    assert parsed.frame.item(0, "company_name") == "우성기전(주)"
    assert parsed.header_variant == "standard"


def test_header_with_21_columns_is_a_clear_error() -> None:
    short_header = ",".join(KOREAN_HEADER[:-1])
    short_row = REAL_ROW.rsplit(",", 1)[0]
    with pytest.raises(NpsCsvError, match=r"short\.csv: .*21 columns, expected 22.*lost_subscr"):
        parse_bytes(cp949(short_header, short_row), "short.csv")


def test_data_line_with_21_fields_is_a_clear_error() -> None:
    short_row = REAL_ROW.rsplit(",", 1)[0]
    with pytest.raises(NpsCsvError, match=r"ragged\.csv: 1 data line.*line 3 \(21 fields\)"):
        parse_bytes(cp949(HEADER, REAL_ROW, short_row), "ragged.csv")


@pytest.mark.parametrize("raw", [b"", b"\r\n  \r\n", codecs.BOM_UTF8])
def test_empty_file_is_a_clear_error(raw: bytes) -> None:
    with pytest.raises(NpsCsvError, match=r"empty\.csv: file is empty"):
        parse_bytes(raw, "empty.csv")


def test_header_only_file_is_an_error() -> None:
    with pytest.raises(NpsCsvError, match=r"head\.csv: header only, no data rows"):
        parse_bytes(cp949(HEADER), "head.csv")


def test_unknown_header_name_is_named_in_the_error() -> None:
    header = HEADER.replace("우편번호", "우편코드")
    with pytest.raises(
        NpsCsvError,
        match=r"unknown column names: column 5 '우편코드'; missing columns \['zip_code'\]",
    ):
        parse_bytes(cp949(header, REAL_ROW), "odd.csv")


def test_file_month_and_peek_month_read_the_content() -> None:
    body = generate_month(date(2019, 11, 1), rows=30)
    assert file_month(parse_bytes(body, "x.csv").frame, "x.csv") == date(2019, 11, 1)
    assert peek_month(body[:2000], "x.csv") == date(2019, 11, 1)
    with pytest.raises(NpsCsvError, match="no valid 자료생성년월"):
        peek_month(cp949(HEADER, REAL_ROW.replace("2021-03", "2021/03")), "bad.csv")


_CP949_TEXT = st.text(
    alphabet=st.sampled_from(list("가나다라마바사아자차카타파하㈜()（）\"', .-&ABCxyz019 ")),
    min_size=1,
    max_size=30,
).filter(lambda s: s.strip() != "")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(_CP949_TEXT, min_size=1, max_size=8))
def test_any_quoted_name_round_trips_through_cp949(names: list[str]) -> None:
    rows = pl.DataFrame(
        {c: [REAL_ROW.split(",")[i]] * len(names) for i, c in enumerate(CANONICAL_COLUMNS)}
    ).with_columns(company_name=pl.Series(names))
    body = rows.write_csv(include_header=False, quote_style="necessary", line_terminator="\r\n")
    parsed = parse_bytes((HEADER + "\r\n" + body).encode("cp949"), "prop.csv")
    assert parsed.frame["company_name"].to_list() == names
    assert parsed.frame["line_number"].to_list() == list(range(2, len(names) + 2))
