"""The CD live path (`KrxSource(mode="live")`) on frames shaped exactly as pykrx returns them.

pykrx talks to KRX over the network, which tests cannot reach; what this project depends on is
the *shape* of what pykrx hands back, so the frames below are typed out as pykrx 1.2's
documentation shows them: pandas frames with Korean column headers, indexed by `티커` (the
6-character code, as a string), int64 prices and float64 ratios; `get_market_ticker_list`
returns a list of codes and `get_market_ticker_name` one name. Only the pykrx module boundary is
replaced; the live-mode code, the bronze assets, the Delta IO manager and the contracts are real.
"""

import datetime as dt
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dagster as dg
import pandas as pd
import polars as pl
import pytest

from dag import cd_raw_ingestion, cd_source
from dag.cd_source import KrxSource
from dag_io import DeltaIOManager

DAY = dt.date(2024, 1, 2)
NAMES = {"005930": "삼성전자", "000660": "SK하이닉스", "035420": "NAVER"}


def _indexed(rows: dict[str, list[Any]], columns: list[str]) -> pd.DataFrame:
    """A pykrx frame: one row per ticker, the ticker code as the index named 티커."""
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    frame.index.name = "티커"
    return frame


# As `stock.get_market_ohlcv("20240102", market="KOSPI")` prints (pykrx README, 2024 prices).
OHLCV = _indexed(
    {
        "005930": [78200, 79800, 78200, 79600, 17142847, 1356958225612, 1.66],
        "000660": [137500, 140000, 136800, 139400, 3006585, 417998815620, 1.38],
        "035420": [231500, 234000, 228500, 230000, 512345, 118207890000, -0.22],
    },
    ["시가", "고가", "저가", "종가", "거래량", "거래대금", "등락률"],
)
MARKET_CAP = _indexed(
    {
        "005930": [79600, 475197863080000, 17142847, 1356958225612, 5969782550],
        "000660": [139400, 101484014007000, 3006585, 417998815620, 728002365],
        "035420": [230000, 37739287930000, 512345, 118207890000, 164085817],
    },
    ["종가", "시가총액", "거래량", "거래대금", "상장주식수"],
)
FUNDAMENTAL = _indexed(
    {
        "005930": [52002, 16.11, 1.53, 4942, 1.82, 1444],
        "000660": [104450, 0.0, 1.33, 0, 0.86, 1200],
        "035420": [167380, 40.72, 1.37, 5648, 0.39, 914],
    },
    ["BPS", "PER", "PBR", "EPS", "DIV", "DPS"],
)


def _fake_stock(calls: list[tuple[str, str, str]]) -> SimpleNamespace:
    def frame(name: str, value: pd.DataFrame) -> Any:
        def call(date: str, market: str = "KOSPI") -> pd.DataFrame:
            calls.append((name, date, market))
            return value.copy() if market == "KOSPI" else value.iloc[0:0].copy()

        return call

    def ticker_list(date: str, market: str = "KOSPI") -> list[str]:
        calls.append(("get_market_ticker_list", date, market))
        return list(NAMES) if market == "KOSPI" else []

    return SimpleNamespace(
        get_market_ticker_list=ticker_list,
        get_market_ticker_name=NAMES.__getitem__,
        get_market_ohlcv=frame("get_market_ohlcv", OHLCV),
        get_market_cap=frame("get_market_cap", MARKET_CAP),
        get_market_fundamental=frame("get_market_fundamental", FUNDAMENTAL),
    )


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, str]]:
    recorded: list[tuple[str, str, str]] = []
    monkeypatch.setattr(cd_source, "_pykrx_stock", lambda: _fake_stock(recorded))
    return recorded


def test_live_frames_become_the_sample_schema(calls: list) -> None:
    source = KrxSource(mode="live", request_delay_sec=0)
    ohlcv = source.ohlcv(DAY, "KOSPI")
    assert ohlcv.schema == cd_source.OHLCV_SCHEMA
    assert ohlcv.row(0, named=True) == {
        "티커": "005930",
        "시가": 78200,
        "고가": 79800,
        "저가": 78200,
        "종가": 79600,
        "거래량": 17142847,
        "거래대금": 1356958225612,
        "등락률": 1.66,
    }
    assert source.market_caps(DAY, "KOSPI").schema == cd_source.MARKET_CAP_SCHEMA
    fundamentals = source.fundamentals(DAY, "KOSPI")
    assert fundamentals.schema == cd_source.FUNDAMENTAL_SCHEMA
    assert fundamentals.filter(pl.col("티커") == "000660").item(0, "PER") == 0.0
    tickers = source.tickers(DAY, "KOSPI")
    assert tickers.rows() == list(NAMES.items())
    # KRX is asked with its own date format and market names, once per call
    assert ("get_market_ohlcv", "20240102", "KOSPI") in calls
    # an exchange with no rows (a holiday, an empty board) gives the empty frame with the schema
    assert source.ohlcv(DAY, "KOSDAQ").schema == cd_source.OHLCV_SCHEMA
    assert source.ohlcv(DAY, "KOSDAQ").is_empty()
    assert source.fundamentals(DAY, "KONEX").is_empty()  # KONEX has no fundamentals: no call
    assert ("get_market_fundamental", "20240102", "KONEX") not in calls


def test_a_changed_pykrx_frame_fails_naming_the_call(monkeypatch: pytest.MonkeyPatch) -> None:
    renamed = OHLCV.rename(columns={"거래대금": "거래 대금"})
    stock = SimpleNamespace(get_market_ohlcv=lambda date, market: renamed)
    monkeypatch.setattr(cd_source, "_pykrx_stock", lambda: stock)
    with pytest.raises(ValueError, match=r"pykrx get_market_ohlcv\(20240102, KOSPI\).*거래대금"):
        KrxSource(mode="live", request_delay_sec=0).ohlcv(DAY, "KOSPI")


def test_live_bronze_assets_pass_their_contracts(calls: list, tmp_path: Path) -> None:
    """The bronze assets on the live path: persisted by the Delta IO manager, contracts pass."""
    assets = [
        cd_raw_ingestion.cd_stockcode,
        cd_raw_ingestion.cd_prices,
        cd_raw_ingestion.cd_marketcaps,
        cd_raw_ingestion.cd_bppedds,
    ]
    checks = [
        cd_raw_ingestion.cd_stockcode_contract,
        cd_raw_ingestion.cd_prices_contract,
        cd_raw_ingestion.cd_marketcaps_contract,
        cd_raw_ingestion.cd_bppedds_contract,
    ]
    result = dg.materialize(
        [*assets, *checks],
        partition_key=dg.MultiPartitionKey({"date": DAY.isoformat(), "exchange": "KOSPI"}),
        resources={
            "krx_source": KrxSource(mode="live", request_delay_sec=0),
            "delta_io_manager": DeltaIOManager(root_uri=str(tmp_path / "lake")),
        },
    )
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 4 and all(e.passed for e in evaluations)
    prices = pl.read_delta(str(tmp_path / "lake" / "cd_prices"))
    assert sorted(prices.get_column("ticker").to_list()) == sorted(NAMES)
    samsung = prices.filter(pl.col("ticker") == "005930").row(0, named=True)
    assert str(samsung["close"]) == "79600"  # bronze keeps values as delivered
