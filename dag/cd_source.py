"""KRX daily market data source: the deterministic sample (default) or pykrx (live).

Every method answers for one (date, exchange) and returns a Polars frame with the columns pykrx
shows (Korean headers, `티커` as the 6-character code). Weekends and holidays give an empty frame
with that schema; KONEX has no fundamentals. Live mode calls pykrx (`pip install -e .[krx]`),
imported lazily, once per call after a fixed polite delay, with no retries: an error surfaces.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any, Literal

import dagster as dg
import polars as pl
from pydantic import Field

from dag import cd_sample
from dag.cd_sample import FUNDAMENTAL_SCHEMA, MARKET_CAP_SCHEMA, OHLCV_SCHEMA, TICKER_SCHEMA


class KrxSource(dg.ConfigurableResource):
    """Where the CD group reads KRX daily data: `sample` (generator) or `live` (pykrx)."""

    mode: Literal["sample", "live"] = Field(
        default="sample", description="sample: deterministic generator; live: pykrx (KRX)"
    )
    seed: int = Field(default=42, description="sample mode: seed of the generated market")
    sample_scale: float = Field(
        default=1.0,
        gt=0,
        description="sample mode: share of the full ticker counts (950/1,700/120) to generate",
    )
    request_delay_sec: float = Field(
        default=1.0, ge=0, description="live mode: pause before every KRX request (politeness)"
    )

    def describe(self) -> str:
        """The source as recorded in bronze metadata."""
        if self.mode == "sample":
            return f"sample(seed={self.seed}, scale={self.sample_scale})"
        return "pykrx"

    def tickers(self, day: dt.date, exchange: str) -> pl.DataFrame:
        """Tickers listed on the day with their names: 티커, 종목명."""
        if self.mode == "sample":
            return cd_sample.sample_tickers(self.seed, self.sample_scale, day, exchange)
        codes = self._live("get_market_ticker_list", _krx_date(day), market=exchange)
        if not codes:
            return TICKER_SCHEMA.to_frame()
        # pykrx resolves names from the ticker table it loaded with the list: no request each.
        name_of = _pykrx_stock().get_market_ticker_name
        names = [name_of(code) for code in codes]
        return pl.DataFrame({"티커": codes, "종목명": names}, schema=TICKER_SCHEMA)

    def ohlcv(self, day: dt.date, exchange: str) -> pl.DataFrame:
        """Daily OHLCV: 티커, 시가, 고가, 저가, 종가, 거래량, 거래대금, 등락률."""
        if self.mode == "sample":
            return cd_sample.sample_ohlcv(self.seed, self.sample_scale, day, exchange)
        return self._live_frame("get_market_ohlcv", day, exchange, OHLCV_SCHEMA)

    def market_caps(self, day: dt.date, exchange: str) -> pl.DataFrame:
        """Daily market caps: 티커, 종가, 시가총액, 거래량, 거래대금, 상장주식수."""
        if self.mode == "sample":
            return cd_sample.sample_market_caps(self.seed, self.sample_scale, day, exchange)
        return self._live_frame("get_market_cap", day, exchange, MARKET_CAP_SCHEMA)

    def fundamentals(self, day: dt.date, exchange: str) -> pl.DataFrame:
        """Daily fundamentals: 티커, BPS, PER, PBR, EPS, DIV, DPS (empty for KONEX)."""
        if exchange == "KONEX":
            return FUNDAMENTAL_SCHEMA.to_frame()
        if self.mode == "sample":
            return cd_sample.sample_fundamentals(self.seed, self.sample_scale, day, exchange)
        return self._live_frame("get_market_fundamental", day, exchange, FUNDAMENTAL_SCHEMA)

    # -- live (pykrx) ----------------------------------------------------------------------

    def _live(self, function: str, *args: Any, **kwargs: Any) -> Any:
        call: Callable[..., Any] = getattr(_pykrx_stock(), function)
        time.sleep(self.request_delay_sec)
        return call(*args, **kwargs)

    def _live_frame(
        self, function: str, day: dt.date, exchange: str, schema: pl.Schema
    ) -> pl.DataFrame:
        frame = self._live(function, _krx_date(day), market=exchange)
        if frame is None or len(frame) == 0:
            return schema.to_frame()
        table = pl.from_pandas(frame.reset_index())
        table = table.rename({table.columns[0]: "티커"})
        missing = [name for name in schema.names() if name not in table.columns]
        if missing:
            raise ValueError(
                f"pykrx {function}({_krx_date(day)}, {exchange}): columns {missing} missing, "
                f"got {table.columns}"
            )
        return table.select(pl.col(name).cast(dtype) for name, dtype in schema.items())


def _krx_date(day: dt.date) -> str:
    return day.strftime("%Y%m%d")


def _pykrx_stock() -> Any:
    try:
        from pykrx import stock
    except ImportError as error:  # the live extra is optional
        raise RuntimeError(
            "KrxSource(mode='live') needs pykrx: pip install -e .[krx] (or set KRX_SOURCE_MODE="
            "sample)"
        ) from error
    return stock
