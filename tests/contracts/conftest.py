"""Contracts used by the contract-machinery tests: a stock quote series as bronze and silver."""

import datetime as dt

import pandera.polars as pa
import polars as pl
import pytest


class QuoteRaw(pa.DataFrameModel):
    """Bronze: one KRX quote row per ticker and day, values as delivered (text)."""

    date: dt.date = pa.Field(description="trading day (Asia/Seoul); partition column")
    ticker: str = pa.Field(description="6-character KRX code", str_matches=r"^[0-9A-Z]{6}$")
    close: str = pa.Field(description="closing price as delivered", nullable=True)

    class Config:
        strict = True


class Quote(pa.DataFrameModel):
    """Silver: one quote per ticker and day, typed, with the broker contact kept as PII."""

    date: dt.date = pa.Field(description="trading day (Asia/Seoul); partition column")
    exchange: str = pa.Field(description="market", isin=["KOSPI", "KOSDAQ", "KONEX"])
    ticker: str = pa.Field(description="6-character KRX code", str_matches=r"^[0-9A-Z]{6}$")
    high: pl.Int64 = pa.Field(description="day high in won", ge=0)
    low: pl.Int64 = pa.Field(description="day low in won", ge=0)
    rate: pl.Float64 = pa.Field(description="change in percent", ge=-30.0, le=30.0, nullable=True)
    contact: str = pa.Field(
        description="broker contact e-mail", nullable=True, metadata={"pii": True}
    )

    class Config:
        unique = ("date", "exchange", "ticker")
        strict = True

    @pa.dataframe_check(description="the day's high is never below its low")
    @classmethod
    def high_not_below_low(cls, data: pa.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.col("high") >= pl.col("low"))


@pytest.fixture(scope="session")
def quote_raw() -> type[pa.DataFrameModel]:
    return QuoteRaw


@pytest.fixture(scope="session")
def quote() -> type[pa.DataFrameModel]:
    return Quote


def quote_rows(day: dt.date, exchange: str = "KOSPI", n: int = 3) -> pl.DataFrame:
    """``n`` valid quotes for one day and exchange."""
    return pl.DataFrame(
        {
            "date": [day] * n,
            "exchange": [exchange] * n,
            "ticker": [f"{i:06d}" for i in range(1, n + 1)],
            "high": [100 + i for i in range(n)],
            "low": [90 + i for i in range(n)],
            "rate": [0.5] * n,
            "contact": [f"broker{i}@example.com" for i in range(n)],
        },
        schema={
            "date": pl.Date,
            "exchange": pl.String,
            "ticker": pl.String,
            "high": pl.Int64,
            "low": pl.Int64,
            "rate": pl.Float64,
            "contact": pl.String,
        },
    )


@pytest.fixture(scope="session")
def make_quotes():
    return quote_rows
