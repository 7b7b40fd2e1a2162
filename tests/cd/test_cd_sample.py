"""The KRX sample generator: market realism as properties over dates, seeds and exchanges."""

import datetime as dt

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dag import cd_sample
from dag.cd_sample import (
    is_trading_day,
    previous_trading_day,
    sample_fundamentals,
    sample_market_caps,
    sample_ohlcv,
    sample_tickers,
    tick_size,
)
from dag.cd_security_processing import SECURITY_TYPES, security_type_expr

SCALE = 0.05
trading_days = st.dates(dt.date(2023, 1, 3), dt.date(2026, 12, 30)).filter(is_trading_day)
exchanges = st.sampled_from(cd_sample.EXCHANGES)
seeds = st.sampled_from([1, 42])
SETTINGS = settings(max_examples=40, deadline=None)


def _valid_ticks(prices: pl.Series) -> bool:
    values = prices.filter(prices > 0).to_numpy()
    return bool(np.all(values % tick_size(values) == 0))


@SETTINGS
@given(day=trading_days, exchange=exchanges, seed=seeds)
def test_ohlc_is_consistent_on_ticks_and_values_add_up(day, exchange, seed):
    prices = sample_ohlcv(seed, SCALE, day, exchange)
    caps = sample_market_caps(seed, SCALE, day, exchange)
    assert prices.height > 0
    traded = prices.filter(pl.col("고가") > 0)
    assert traded.filter(
        (pl.col("저가") > pl.col("시가"))
        | (pl.col("시가") > pl.col("고가"))
        | (pl.col("저가") > pl.col("종가"))
        | (pl.col("종가") > pl.col("고가"))
    ).is_empty()
    for column in ("시가", "고가", "저가", "종가"):
        assert _valid_ticks(prices.get_column(column)), column
    assert traded.filter(
        (pl.col("거래대금") < pl.col("거래량") * pl.col("저가"))
        | (pl.col("거래대금") > pl.col("거래량") * pl.col("고가"))
    ).is_empty()
    suspended = prices.filter(pl.col("고가") == 0)
    halted = (pl.col("시가") != 0) | (pl.col("저가") != 0) | (pl.col("거래량") != 0)
    assert suspended.filter(halted | (pl.col("종가") <= 0) | (pl.col("등락률") != 0)).is_empty()
    assert caps.filter(pl.col("시가총액") != pl.col("종가") * pl.col("상장주식수")).is_empty()
    assert caps.get_column("티커").to_list() == prices.get_column("티커").to_list()


@SETTINGS
@given(day=trading_days, exchange=exchanges, seed=seeds)
def test_close_stays_within_the_daily_limit_of_the_previous_close(day, exchange, seed):
    today = sample_ohlcv(seed, SCALE, day, exchange)
    before = sample_ohlcv(seed, SCALE, previous_trading_day(day), exchange)
    both = today.join(before.select("티커", prev=pl.col("종가")), on="티커")
    assert both.height > 0
    limit = (pl.col("prev") * 0.3).floor()
    assert both.filter((pl.col("종가") - pl.col("prev")).abs() > limit).is_empty()
    traded = both.filter(pl.col("고가") > 0)
    assert traded.filter((pl.col("고가") - pl.col("prev")).abs() > limit).is_empty()
    assert traded.filter((pl.col("저가") - pl.col("prev")).abs() > limit).is_empty()
    expected_rate = ((pl.col("종가") - pl.col("prev")) / pl.col("prev") * 100).round(2)
    assert both.filter((pl.col("등락률") - expected_rate).abs() > 0.011).is_empty()


@SETTINGS
@given(day=st.dates(dt.date(2023, 1, 1), dt.date(2026, 12, 31)), exchange=exchanges)
def test_weekends_and_holidays_are_empty_and_days_are_deterministic(day, exchange):
    frames = [f(42, SCALE, day, exchange) for f in (sample_tickers, sample_ohlcv)]
    if day.weekday() >= 5 or not is_trading_day(day):
        assert all(frame.is_empty() for frame in frames)
        return
    cd_sample.sample_day.cache_clear()
    again = sample_ohlcv(42, SCALE, day, exchange)
    assert again.equals(frames[1])
    assert frames[0].get_column("티커").str.len_chars().unique().to_list() == [6]


def test_korean_holidays_are_closed():
    closed = (dt.date(2024, 2, 9), dt.date(2024, 9, 17), dt.date(2025, 1, 1), dt.date(2024, 12, 31))
    for day in closed:
        assert not is_trading_day(day)
        assert sample_ohlcv(42, SCALE, day, "KOSPI").is_empty()
    assert is_trading_day(dt.date(2024, 1, 2))
    assert previous_trading_day(dt.date(2024, 2, 13)) == dt.date(2024, 2, 8)


def test_full_scale_counts_names_and_fundamentals():
    day = dt.date(2024, 6, 3)
    counts = {ex: sample_tickers(42, 1.0, day, ex).height for ex in cd_sample.EXCHANGES}
    assert 850 <= counts["KOSPI"] <= 1_000
    assert 1_550 <= counts["KOSDAQ"] <= 1_800
    assert 100 <= counts["KONEX"] <= 130
    names = pl.concat(sample_tickers(42, 1.0, day, ex) for ex in cd_sample.EXCHANGES)
    types = names.select(security_type_expr("종목명", "티커")).to_series()
    assert set(types.unique()) == set(SECURITY_TYPES)
    assert names.get_column("티커").is_unique().all()
    assert sample_fundamentals(42, 1.0, day, "KONEX").is_empty()
    kospi = sample_fundamentals(42, 1.0, day, "KOSPI")
    assert kospi.height == counts["KOSPI"]
    loss = kospi.filter(pl.col("EPS") == 0)
    assert loss.height > 0 and loss.filter(pl.col("PER") != 0).is_empty()
    all_zero = kospi.filter(pl.all_horizontal(pl.col("BPS", "PBR", "EPS", "DIV", "DPS") == 0))
    assert all_zero.height > 0


def test_listings_delistings_and_renames_over_time():
    early, late = dt.date(2023, 1, 3), dt.date(2026, 12, 30)
    before = pl.concat(
        sample_tickers(42, 1.0, early, ex).with_columns(exchange=pl.lit(ex))
        for ex in cd_sample.EXCHANGES
    )
    after = pl.concat(
        sample_tickers(42, 1.0, late, ex).with_columns(exchange=pl.lit(ex))
        for ex in cd_sample.EXCHANGES
    )
    both = before.join(after, on=["티커", "exchange"], suffix="_late")
    assert before.join(after, on=["티커", "exchange"], how="anti").height > 20  # delisted
    assert after.join(before, on=["티커", "exchange"], how="anti").height > 20  # listed
    assert both.filter(pl.col("종목명") != pl.col("종목명_late")).height > 20  # renamed, same code
    moved = before.filter(pl.col("exchange") == "KONEX").join(
        after.filter(pl.col("exchange") == "KOSDAQ"), on=["티커", "종목명"]
    )
    assert moved.height >= 1  # KONEX -> KOSDAQ keeps code and name


@pytest.mark.parametrize(
    ("price", "tick"),
    [(1_999, 1), (2_000, 5), (4_995, 5), (5_000, 10), (20_000, 50), (50_000, 100),
     (200_000, 500), (499_500, 500), (500_000, 1_000)],
)
def test_tick_sizes(price, tick):
    assert tick_size(np.array([price]))[0] == tick
