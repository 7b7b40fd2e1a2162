"""KrxSource: pykrx-shaped frames in sample mode; live mode fails fast without the extra."""

import datetime as dt
import importlib.util

import pytest

from dag.cd_source import KrxSource

DAY = dt.date(2024, 1, 2)


def test_sample_frames_have_pykrx_columns():
    source = KrxSource(sample_scale=0.02)
    assert source.tickers(DAY, "KOSPI").columns == ["티커", "종목명"]
    assert source.ohlcv(DAY, "KOSDAQ").columns == [
        "티커", "시가", "고가", "저가", "종가", "거래량", "거래대금", "등락률"
    ]
    assert source.market_caps(DAY, "KONEX").columns == [
        "티커", "종가", "시가총액", "거래량", "거래대금", "상장주식수"
    ]
    assert source.fundamentals(DAY, "KOSPI").columns == [
        "티커", "BPS", "PER", "PBR", "EPS", "DIV", "DPS"
    ]
    assert source.fundamentals(DAY, "KONEX").is_empty()
    assert source.ohlcv(dt.date(2024, 1, 6), "KOSPI").is_empty()  # Saturday
    assert "005930" in source.tickers(DAY, "KOSPI").get_column("티커").to_list()


def test_seed_changes_the_market_and_is_deterministic():
    a, b = KrxSource(seed=1, sample_scale=0.02), KrxSource(seed=2, sample_scale=0.02)
    assert a.ohlcv(DAY, "KOSPI").equals(KrxSource(seed=1, sample_scale=0.02).ohlcv(DAY, "KOSPI"))
    assert not a.ohlcv(DAY, "KOSPI").equals(b.ohlcv(DAY, "KOSPI"))


def test_unknown_exchange_is_an_error():
    with pytest.raises(ValueError, match="exchange 'NYSE'"):
        KrxSource(sample_scale=0.02).ohlcv(DAY, "NYSE")


@pytest.mark.skipif(importlib.util.find_spec("pykrx") is not None, reason="pykrx installed")
def test_live_mode_without_pykrx_fails_fast():
    with pytest.raises(RuntimeError, match=r"pip install -e \.\[krx\]"):
        KrxSource(mode="live", request_delay_sec=0).ohlcv(DAY, "KOSPI")
