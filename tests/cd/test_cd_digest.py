"""Silver digests: holidays, partial-zero failures, fundamentals drops, KONEX, padding, joins."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from contracts.cd import CdDigestBppedds, CdDigestMarketcaps, CdDigestPrice
from dag.cd_bppedd_processing import cd_digest_bppedds
from dag.cd_marketcap_processing import cd_digest_marketcaps
from dag.cd_price_processing import cd_digest_price
from dag.cd_security_processing import security_id

DAY = dt.date(2024, 1, 2)
TICKERS = ["005930", "000660", "035420"]


def _context(start: str, end: str | None = None) -> dg.AssetExecutionContext:
    return dg.build_asset_context(partition_key_range=dg.PartitionKeyRange(start, end or start))


def _securities(exchange: str = "KOSPI") -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "ticker": TICKERS,
            "exchange": [exchange] * 3,
            "security_id": [security_id(t, exchange) for t in TICKERS],
        }
    )


def _prices(rows: list[tuple], day: dt.date = DAY, exchange: str = "KOSPI") -> pl.LazyFrame:
    columns = ["ticker", "open", "high", "low", "close", "volume", "transaction", "rate"]
    frame = pl.DataFrame(rows, schema=columns, orient="row").with_columns(
        pl.col("open", "high", "low", "close", "volume", "transaction").cast(pl.Int64),
        pl.col("rate").cast(pl.Float64),
        date=pl.lit(day),
        exchange=pl.lit(exchange),
    )
    return frame.lazy()


REAL = [
    ("5930", 70_000, 71_000, 69_500, 70_500, 100, 7_000_000, 0.71),
    ("000660", 130_000, 131_000, 129_000, 130_500, 10, 1_300_000, -0.38),
    ("035420", 0, 0, 0, 200_000, 0, 0, 0.0),  # suspended: only a close, not a zero row
]


def test_trading_day_keeps_rows_pads_tickers_and_joins_securities():
    out = cd_digest_price(_context("2024-01-02|KOSPI"), cd_prices=_prices(REAL),
                          cd_security=_securities())
    frame = out.value.collect()
    CdDigestPrice.validate(frame)
    assert frame.get_column("ticker").to_list() == TICKERS
    assert frame.get_column("security_id").to_list() == [security_id(t, "KOSPI") for t in TICKERS]
    assert frame.select("year", "month").unique().rows() == [(2024, 1)]
    assert out.metadata["holiday"].value is False


def test_empty_partition_is_a_holiday():
    out = cd_digest_price(_context("2024-01-06|KOSPI"), cd_prices=_prices([], dt.date(2024, 1, 6)),
                          cd_security=_securities())
    frame = out.value.collect()
    assert frame.is_empty() and frame.columns == list(CdDigestPrice.to_schema().columns)
    assert out.metadata["holiday"].value is True
    assert out.metadata["holiday_partitions"].value == ["2024-01-06|KOSPI"]


def test_all_zero_partition_is_a_holiday_within_a_range():
    zero = [(t, 0, 0, 0, 0, 0, 0, 0.0) for t in TICKERS]
    series = pl.concat([_prices(REAL), _prices(zero, dt.date(2024, 1, 3))])
    out = cd_digest_price(_context("2024-01-02|KOSPI", "2024-01-03|KOSPI"), cd_prices=series,
                          cd_security=_securities())
    frame = out.value.collect()
    assert frame.get_column("date").unique().to_list() == [DAY]
    assert out.metadata["holiday"].value is False
    assert out.metadata["holiday_partitions"].value == ["2024-01-03|KOSPI"]
    assert out.metadata["zero_rows_dropped"].value == 3


def test_some_zero_rows_among_real_ones_fail_naming_the_tickers():
    rows = [*REAL[:2], ("035420", 0, 0, 0, 0, 0, 0, 0.0)]
    with pytest.raises(ValueError, match=r"cd_digest_price.*2024-01-02\|KOSPI.*035420"):
        cd_digest_price(_context("2024-01-02|KOSPI"), cd_prices=_prices(rows),
                        cd_security=_securities())


def test_unknown_ticker_fails_naming_it():
    rows = [*REAL, ("999990", 1, 1, 1, 1, 1, 1, 0.0)]
    with pytest.raises(ValueError, match=r"not in cd_security.*999990"):
        cd_digest_price(_context("2024-01-02|KOSPI"), cd_prices=_prices(rows),
                        cd_security=_securities())


def test_marketcaps_partial_zero_fails_and_holiday_is_empty():
    def caps(rows: list[tuple], day: dt.date = DAY) -> pl.LazyFrame:
        columns = ["ticker", "close", "market_cap", "volume", "transaction", "shares"]
        return pl.LazyFrame(rows, schema=columns, orient="row").with_columns(
            pl.exclude("ticker").cast(pl.Int64), date=pl.lit(day), exchange=pl.lit("KOSPI")
        )

    good = [("005930", 10, 1_000, 5, 50, 100), ("000660", 20, 2_000, 0, 0, 100)]
    out = cd_digest_marketcaps(_context("2024-01-02|KOSPI"), cd_marketcaps=caps(good),
                               cd_security=_securities())
    CdDigestMarketcaps.validate(out.value.collect())
    assert out.value.collect().height == 2
    bad = [*good, ("035420", 0, 0, 0, 0, 100)]
    with pytest.raises(ValueError, match="035420"):
        cd_digest_marketcaps(_context("2024-01-02|KOSPI"), cd_marketcaps=caps(bad),
                             cd_security=_securities())
    all_zero = [("005930", 0, 0, 0, 0, 0)]
    out = cd_digest_marketcaps(_context("2024-01-02|KOSPI"), cd_marketcaps=caps(all_zero),
                               cd_security=_securities())
    assert out.value.collect().is_empty() and out.metadata["holiday"].value is True


def _fundamentals(rows: list[tuple], exchange: str = "KOSPI") -> pl.LazyFrame:
    columns = ["ticker", "bps", "per", "pbr", "eps", "div", "dps"]
    return pl.LazyFrame(rows, schema=columns, orient="row").with_columns(
        pl.col("bps", "eps", "dps").cast(pl.Int64),
        pl.col("per", "pbr", "div").cast(pl.Float64),
        date=pl.lit(DAY),
        exchange=pl.lit(exchange),
    )


def test_fundamentals_drop_all_zero_rows_ignoring_per():
    rows = [
        ("005930", 50_000, 12.5, 1.4, 5_600, 2.1, 1_444),
        ("000660", 80_000, 0.0, 1.6, 0, 0.0, 0),  # loss maker: PER 0, EPS 0, still has BPS
        ("035420", 0, 7.7, 0.0, 0, 0.0, 0),  # all zero but PER: dropped
    ]
    out = cd_digest_bppedds(_context("2024-01-02|KOSPI"), cd_bppedds=_fundamentals(rows),
                            cd_security=_securities())
    frame = out.value.collect()
    CdDigestBppedds.validate(frame)
    assert frame.get_column("ticker").to_list() == ["005930", "000660"]
    assert out.metadata["zero_rows_dropped"].value == 1
    assert out.metadata["holiday"].value is False


def test_konex_has_no_fundamentals():
    out = cd_digest_bppedds(_context("2024-01-02|KONEX"), cd_bppedds=_fundamentals([], "KONEX"),
                            cd_security=_securities("KONEX"))
    assert out.value.collect().is_empty()
    assert out.metadata["konex_partitions"].value == ["2024-01-02|KONEX"]
    assert out.metadata["holiday_partitions"].value == []
    assert out.metadata["holiday"].value is False  # KONEX publishes no fundamentals at all
    stray = [("005930", 1, 1.0, 1.0, 1, 1.0, 1)]
    out = cd_digest_bppedds(_context("2024-01-02|KONEX"),
                            cd_bppedds=_fundamentals(stray, "KONEX"),
                            cd_security=_securities("KONEX"))
    assert out.value.collect().is_empty()
    assert out.metadata["konex_rows_dropped"].value == 1
