"""The fast paths of the NPS parse and silver steps behave exactly like the exact checks they
replace: field counts proven without a per-line regex, and digest + statistics from one pass."""

from datetime import date

import polars as pl
import pytest

from dag.nps_csv import KOREAN_HEADER, NpsCsvError, _field_count_errors, parse_bytes
from dag.nps_data_processing import cleaning_stats, digest, digest_with_stats, typed
from dag.nps_sample import generate_month

REAL_ROW = (
    "2021-03,우성기전(주),126811,1,12816,경기도 광주시 도척면,경기도 광주시 도척면 도척윗로,"
    "4161033025,4161033025,41,610,330,1,292201,동력식 수지 공구 제조업,1988-01-01,0001-01-01,"
    "0001-01-01,5,792720,0,0"
)
QUOTED_ROW = REAL_ROW.replace("동력식 수지 공구 제조업", '"떡, 빵 및 ""과자"" 제조업"')
HEADER = ",".join(KOREAN_HEADER)


def cp949(*lines: str, eol: str = "\r\n") -> bytes:
    return (eol.join(lines) + eol).encode("cp949")


def test_quoted_commas_and_escaped_quotes_are_one_field() -> None:
    frame = parse_bytes(cp949(HEADER, QUOTED_ROW, REAL_ROW, eol="\n"), "q.csv").frame
    assert frame["industry_name"].to_list() == [
        '떡, 빵 및 "과자" 제조업',
        "동력식 수지 공구 제조업",
    ]
    assert frame["lost_subscribers"].to_list() == ["0", "0"]


@pytest.mark.parametrize(
    ("bad", "fields"),
    [
        (REAL_ROW + ",extra", 23),  # Polars itself refuses the line
        (REAL_ROW.rsplit(",", 1)[0], 21),  # Polars would pad it with ""
        (QUOTED_ROW.rsplit(",", 1)[0], "?"),  # a quoted line one field short
        (REAL_ROW.replace(",", "", 1), 21),  # short in the middle, same length of values
    ],
)
def test_line_without_22_fields_is_named_by_number(bad: str, fields: object) -> None:
    raw = cp949(HEADER, REAL_ROW, QUOTED_ROW, bad, REAL_ROW)
    with pytest.raises(NpsCsvError, match=rf"bad\.csv: 1 data line.*line 4 \({fields}\W* fields"):
        parse_bytes(raw, "bad.csv")


def test_quoted_line_break_is_rejected_as_before() -> None:
    broken = REAL_ROW.replace("동력식 수지 공구 제조업", '"동력식\n수지"')
    with pytest.raises(NpsCsvError, match=r"brk\.csv: 2 data line.*first is line 3"):
        parse_bytes(cp949(HEADER, REAL_ROW, broken), "brk.csv")


def test_lines_of_only_commas_and_blank_lines_are_skipped() -> None:
    frame = parse_bytes(cp949(HEADER, REAL_ROW, "", "," * 21, REAL_ROW), "b.csv").frame
    assert frame["line_number"].to_list() == [2, 5]


def test_sample_month_passes_both_field_checks() -> None:
    raw = generate_month(date(2024, 5, 1), rows=3_000, seed=7)
    parsed = parse_bytes(raw, "s.csv")
    assert parsed.rows == 3_000
    _field_count_errors(raw.decode("cp949", errors="replace").encode(), "s.csv")  # no raise


def test_digest_with_stats_equals_the_separate_calls() -> None:
    raw = generate_month(date(2024, 5, 1), rows=3_000, seed=11)
    bronze = parse_bytes(raw, "s.csv").frame.lazy().with_columns(ym=pl.lit(date(2024, 5, 1)))
    out, stats = digest_with_stats(typed(bronze))
    assert out.equals(digest(typed(bronze)).collect())
    assert stats.equals(cleaning_stats(typed(bronze)))
    assert stats.item(0, "duplicates_removed") > 0
    assert out.height == 3_000 - stats.item(0, "rows_rejected") - stats.item(
        0, "duplicates_removed"
    )
