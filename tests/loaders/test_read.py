"""`read` through the resources: all rows or only some partition values (Date and String
columns, NULL included), some columns, typed like the loaded frame, values bound as parameters
(a value that looks like SQL matches nothing and changes nothing), identifiers validated."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
import turso
from polars.testing import assert_frame_equal

from dag_io import PostgresResource, TursoResource
from dag_io.loaders import LoadError, load_frame, read_frame
from dag_io.turso import DIALECT as SQLITE
from dag_io.turso import PytursoCursor

JAN, FEB, MAR = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)
UTC = dt.UTC

QUOTES = pl.DataFrame(
    [
        (JAN, "KOSPI", "005930", 1, 71_000.5, True, Decimal("1.25"),
         dt.datetime(2024, 1, 1, 6, tzinfo=UTC)),
        (JAN, "KOSDAQ", "035720", 2, 52_000.0, False, Decimal("-0.50"), None),
        (JAN, None, "999999", 3, None, None, None, dt.datetime(2024, 1, 1, 7, tzinfo=UTC)),
        (FEB, "KOSPI", "005930", 4, 72_000.0, True, Decimal("0.00"), None),
        (MAR, "KOSPI", "005930", 5, 73_000.0, None, Decimal("9.99"), None),
    ],
    schema={"day": pl.Date, "exchange": pl.String, "ticker": pl.String, "n": pl.Int64,
            "close": pl.Float64, "up": pl.Boolean, "change": pl.Decimal(14, 2),
            "at": pl.Datetime("us", "UTC")},
    orient="row",
)
DBS = [pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"]


@pytest.fixture(params=DBS)
def target(request, pg, turso_file) -> PostgresResource | TursoResource:
    serving = pg if request.param == "postgres" else turso_file
    serving.load("quotes", QUOTES, mode="replace")
    return serving


def same(got: pl.DataFrame, expected: pl.DataFrame) -> None:
    assert_frame_equal(got.sort("n"), expected.sort("n"))


def test_read_all_rows_typed_like_the_loaded_frame(target) -> None:
    same(target.read("quotes"), QUOTES)


@pytest.mark.parametrize(
    ("partitions", "expected"),
    [
        ({"day": [JAN]}, pl.col("day") == JAN),
        ({"day": [FEB, MAR]}, pl.col("day").is_in([FEB, MAR])),
        ({"exchange": ["KOSPI"]}, pl.col("exchange") == "KOSPI"),
        ({"day": [JAN, FEB], "exchange": ["KOSPI", "KOSDAQ"]},
         pl.col("day").is_in([JAN, FEB]) & pl.col("exchange").is_in(["KOSPI", "KOSDAQ"])),
        ({"exchange": [None]}, pl.col("exchange").is_null()),
        ({"day": [JAN], "exchange": [None, "KOSDAQ"]},
         (pl.col("day") == JAN) & pl.col("exchange").fill_null("KOSDAQ").eq("KOSDAQ")),
        ({"day": []}, pl.lit(False)),
        ({"day": [dt.date(1999, 1, 1)]}, pl.lit(False)),
    ],
    ids=["one-date", "two-dates", "string", "date-and-string", "null", "date-and-null-or-string",
         "empty-list", "absent-date"],
)
def test_read_partitions(target, partitions, expected) -> None:
    same(target.read("quotes", partitions=partitions), QUOTES.filter(expected))


def test_dates_may_be_given_as_iso_partition_keys(target) -> None:
    same(target.read("quotes", partitions={"day": ["2024-02-01", "2024-03-01"]}),
         QUOTES.filter(pl.col("day") >= FEB))


def test_read_some_columns(target) -> None:
    got = target.read("quotes", partitions={"day": [FEB]}, columns=["ticker", "change", "day"])
    assert_frame_equal(got, QUOTES.filter(pl.col("day") == FEB).select("ticker", "change", "day"))


def test_empty_and_all_null_results_keep_their_types(target) -> None:
    got = target.read("quotes", partitions={"day": []}, columns=["day"])
    assert_frame_equal(got, QUOTES.clear().select("day"))
    got = target.read("quotes", partitions={"n": [3]}, columns=["change", "close", "up"])
    assert_frame_equal(got, QUOTES.filter(pl.col("n") == 3).select("change", "close", "up"))


def test_values_are_bound_never_formatted(target) -> None:
    sneaky = ["x' OR '1'='1", "KOSPI'; DELETE FROM quotes; --", 'KOSPI" OR 1=1 --']
    assert target.read("quotes", partitions={"exchange": sneaky}).height == 0
    same(target.read("quotes"), QUOTES)


def test_bad_requests_are_refused(target) -> None:
    with pytest.raises(LoadError, match="quotes_x does not exist"):
        target.read("quotes_x")
    with pytest.raises(LoadError, match="has no column 'price'"):
        target.read("quotes", columns=["price"])
    with pytest.raises(LoadError, match="has no column 'month'"):
        target.read("quotes", partitions={"month": [JAN]})
    with pytest.raises(LoadError, match="invalid"):
        target.read("quotes", columns=['day" FROM quotes; --'])
    with pytest.raises(LoadError, match="invalid"):
        target.read("quotes; DROP TABLE quotes")
    for wrong in (["01/02/2024"], ["2024-02-30"], [20240101], [1.5], [JAN, "x"]):
        with pytest.raises(LoadError, match=r"do not fit column 'day'"):
            target.read("quotes", partitions={"day": wrong})
    with pytest.raises(LoadError, match=r"do not fit column 'n'"):
        target.read("quotes", partitions={"n": ["1"]})
    same(target.read("quotes"), QUOTES)


def test_read_on_tursos_own_engine(tmp_path: Path) -> None:
    """The remote path's cursor adapter (pyturso), minus sync, on a local pyturso database."""
    conn = turso.connect(str(tmp_path / "replica.db"))
    try:
        cursor = PytursoCursor(conn)
        load_frame(cursor, SQLITE, "quotes", QUOTES, mode="replace")
        conn.commit()
        got = read_frame(cursor, SQLITE, "quotes",
                         partitions={"day": [JAN], "exchange": ["KOSPI", None]})
    finally:
        conn.close()
    # Turso's catalog reports DECIMAL_TEXT without its "(14,2)": the decimals stay text.
    expected = QUOTES.filter((pl.col("day") == JAN) & pl.col("exchange").fill_null("").ne("KOSDAQ"))
    same(got, expected.with_columns(pl.col("change").cast(pl.String)))
