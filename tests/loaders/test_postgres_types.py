"""Exact type round-trips into PostgreSQL: Korean text, dates, timestamptz, int64, float64,
booleans, NULLs and NUMERIC with its scale (ADBC has had silent NUMERIC scaling bugs)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dag_io import PostgresResource

pytestmark = pytest.mark.postgres

SEOUL = ZoneInfo("Asia/Seoul")
COLUMNS = "name, day, at_kst, at_local, n, x, flag, amount::text, rate::text, big::text"


def typed_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={
            "name": pl.String, "day": pl.Date, "at_kst": pl.Datetime("us", "Asia/Seoul"),
            "at_local": pl.Datetime("us"), "n": pl.Int64, "x": pl.Float64, "flag": pl.Boolean,
            "amount": pl.Decimal(20, 2), "rate": pl.Decimal(12, 6), "big": pl.Decimal(38, 0),
        },
        orient="row",
    )


def expected(frame: pl.DataFrame) -> list[tuple]:
    """Python values as PostgreSQL returns them (numerics as text with the column's scale)."""
    return [
        (*row[:7], *(None if v is None else str(v) for v in row[7:])) for row in frame.rows()
    ]


def test_round_trip_is_exact_and_types_are_declared(pg: PostgresResource, fetch) -> None:
    frame = typed_frame([
        ("국민연금공단 (주)한글 テスト", dt.date(2024, 2, 29),
         dt.datetime(2024, 1, 1, 9, 0, 0, 123456, tzinfo=SEOUL), dt.datetime(1999, 12, 31, 23, 59),
         2**63 - 1, 0.1, True, Decimal("-12345678901234567.89"), Decimal("0.000001"),
         Decimal("99999999999999999999999999999999999999")),
        ("", dt.date(1, 1, 1), dt.datetime(1970, 1, 1, tzinfo=SEOUL), dt.datetime(2262, 1, 1),
         -(2**63), -1.5e300, False, Decimal("0.10"), Decimal("-123456.100000"), Decimal("-1")),
        (None, None, None, None, None, None, None, None, None, None),
    ])
    pg.load("typed", frame, mode="replace")
    got = fetch(pg, f"SELECT {COLUMNS} FROM typed ORDER BY n NULLS LAST")
    assert got == expected(frame.sort("n", nulls_last=True))
    korean = got[1]  # n = 2**63 - 1 sorts after n = -(2**63)
    assert korean[2].utcoffset() == dt.timedelta(0)  # timestamptz comes back in UTC
    assert korean[2] == dt.datetime(2024, 1, 1, 0, 0, 0, 123456, tzinfo=dt.UTC)
    assert korean[7:] == ("-12345678901234567.89", "0.000001", "9" * 38)
    types = fetch(pg, "SELECT column_name, data_type, numeric_precision, numeric_scale FROM "
                      "information_schema.columns WHERE table_name = 'typed' ORDER BY 1")
    assert types == [
        ("amount", "numeric", 20, 2), ("at_kst", "timestamp with time zone", None, None),
        ("at_local", "timestamp without time zone", None, None), ("big", "numeric", 38, 0),
        ("day", "date", None, None), ("flag", "boolean", None, None),
        ("n", "bigint", 64, 0), ("name", "text", None, None),
        ("rate", "numeric", 12, 6), ("x", "double precision", 53, None),
    ]


def test_nanosecond_timestamps_and_categoricals_are_written(pg: PostgresResource, fetch) -> None:
    frame = pl.DataFrame({
        "code": pl.Series(["KOSPI", "KOSDAQ"], dtype=pl.Categorical),
        "at": pl.Series([dt.datetime(2024, 5, 1, 15, 30)] * 2).cast(pl.Datetime("ns", "UTC")),
    })
    pg.load("events", frame, mode="replace")
    assert fetch(pg, "SELECT code, at FROM events ORDER BY code") == [
        ("KOSDAQ", dt.datetime(2024, 5, 1, 15, 30, tzinfo=dt.UTC)),
        ("KOSPI", dt.datetime(2024, 5, 1, 15, 30, tzinfo=dt.UTC)),
    ]


_text = st.text(st.characters(exclude_characters="\x00", codec="utf-8"), max_size=20)
_row = st.tuples(
    st.one_of(st.none(), _text | st.sampled_from(["삼성전자", "국민연금", "가나다 라마"])),
    st.one_of(st.none(), st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))),
    st.one_of(st.none(), st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1))),
    st.one_of(st.none(), st.datetimes(dt.datetime(1900, 1, 1), dt.datetime(2200, 1, 1))),
    st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    st.one_of(st.none(), st.floats(allow_nan=False, width=64)),
    st.one_of(st.none(), st.booleans()),
    st.one_of(st.none(), st.decimals(-(10**18) + 1, 10**18 - 1, places=2)),
    st.one_of(st.none(), st.decimals(-(10**6) + 1, 10**6 - 1, places=6)),
    st.one_of(st.none(), st.integers(-(10**38) + 1, 10**38 - 1).map(Decimal)),
)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(_row, min_size=0, max_size=15))
def test_round_trip_property(pg: PostgresResource, fetch, rows: list[tuple]) -> None:
    # at_kst: generated as UTC instants, shown in Asia/Seoul by Polars (Python's and Polars'
    # readings of historical Seoul offsets differ, which is not what is under test here).
    utc = typed_frame([(r[0], r[1], None, *r[3:]) for r in rows]).with_columns(
        at_kst=pl.Series([r[2] for r in rows], dtype=pl.Datetime("us")).dt.replace_time_zone(
            "UTC"))
    frame = utc.with_columns(pl.col("at_kst").dt.convert_time_zone("Asia/Seoul"))
    pg.load("prop", frame.with_row_index("i"), mode="replace")
    got = fetch(pg, f"SELECT {COLUMNS} FROM prop ORDER BY i")
    assert got == expected(utc)
