"""Shared CD helpers: (date, exchange) partition keys of a run and the digest rules of silver.

A CD partition is one trading date on one exchange. A single-run backfill hands an asset a range
of them, so assets iterate `run_partitions(context)` and never assume one key. The digest rules
turn a bronze daily series into silver: zero-padded tickers, holidays (an empty or all-zero
partition) as empty partitions, a failure naming the tickers when some rows of a trading day are
zero, the security id from `cd_security`, and `year`/`month`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg
import pandera.polars as pa
import polars as pl

from dag.partitions import daily_exchange_category_partition

PARTITION_BY = {"date": "date", "exchange": "exchange"}
MAX_NAMED_TICKERS = 20


@dataclass(frozen=True, order=True)
class CdPartition:
    """One (trading date, exchange) partition."""

    date: dt.date
    exchange: str

    @property
    def key(self) -> str:
        return f"{self.date.isoformat()}|{self.exchange}"


def run_partitions(context: dg.AssetExecutionContext) -> list[CdPartition]:
    """Every (date, exchange) partition of the run, sorted (one key or a single-run range)."""
    partitions = []
    for key in context.partition_keys:
        parsed = daily_exchange_category_partition.get_partition_key_from_str(key)
        by_dimension = parsed.keys_by_dimension
        partitions.append(
            CdPartition(dt.date.fromisoformat(by_dimension["date"]), by_dimension["exchange"])
        )
    return sorted(partitions)


def partition_frame(partitions: Sequence[CdPartition]) -> pl.DataFrame:
    """The run's partitions as a frame (date, exchange), for joins and anti-joins."""
    return pl.DataFrame(
        {"date": [p.date for p in partitions], "exchange": [p.exchange for p in partitions]},
        schema={"date": pl.Date, "exchange": pl.String},
    )


def pad_ticker(ticker: pl.Expr) -> pl.Expr:
    """6-character KRX code with leading zeros restored (`5930` -> `005930`)."""
    return ticker.cast(pl.String).str.strip_chars().str.zfill(6)


def all_zero(columns: Sequence[str]) -> pl.Expr:
    """True for a row whose values in `columns` are all 0 (a holiday or no-data row)."""
    return pl.all_horizontal(pl.col(c).fill_null(0) == 0 for c in columns)


@dataclass(frozen=True)
class DigestStats:
    """What the digest of a run's partitions found."""

    holidays: list[str]
    trading: list[str]
    rows_in: int
    rows_dropped: int

    def metadata(self) -> dict[str, Any]:
        return {
            "holiday": bool(self.holidays) and not self.trading,
            "holiday_partitions": dg.MetadataValue.json(self.holidays),
            "trading_partitions": len(self.trading),
            "rows_in": self.rows_in,
            "zero_rows_dropped": self.rows_dropped,
        }


def digest_zero_rows(
    asset: str,
    series: pl.LazyFrame,
    value_columns: Sequence[str],
    partitions: Sequence[CdPartition],
    *,
    partial_zero_fails: bool,
) -> tuple[pl.LazyFrame, DigestStats]:
    """Drop zero rows; a partition with no non-zero row is a holiday (it becomes empty).

    With `partial_zero_fails` (prices, market caps) a trading partition holding some zero rows
    raises naming the asset, the partition and the tickers; otherwise (fundamentals) such rows are
    dropped and counted.
    """
    zero = all_zero(value_columns)
    stats = (
        series.group_by("date", "exchange")
        .agg(
            rows=pl.len(),
            zero_rows=zero.sum(),
            zero_tickers=pl.col("ticker").filter(zero).sort().head(MAX_NAMED_TICKERS),
        )
        .collect()
    )
    stats = (
        partition_frame(partitions)
        .join(stats, on=["date", "exchange"], how="left")
        .with_columns(pl.col("rows", "zero_rows").fill_null(0).cast(pl.Int64))
    )
    holiday = pl.col("zero_rows") == pl.col("rows")
    if partial_zero_fails:
        partial = stats.filter(~holiday & (pl.col("zero_rows") > 0))
        if partial.height:
            details = "; ".join(
                f"{d}|{e}: {n} zero rows, tickers {', '.join(t)}"
                for d, e, n, t in partial.select(
                    "date", "exchange", "zero_rows", "zero_tickers"
                ).iter_rows()
            )
            raise ValueError(
                f"{asset}: all-zero rows among real rows (a holiday is all zero, a trading day "
                f"has none): {details}"
            )
    keys = stats.select(
        pl.concat_str(pl.col("date").cast(pl.String), pl.lit("|"), "exchange").alias("key"),
        holiday.alias("holiday"),
    )
    result = DigestStats(
        holidays=keys.filter("holiday").get_column("key").to_list(),
        trading=keys.filter(~pl.col("holiday")).get_column("key").to_list(),
        rows_in=int(stats.get_column("rows").sum()),
        rows_dropped=int(stats.get_column("zero_rows").sum()),
    )
    return series.filter(~zero), result


def join_security(asset: str, series: pl.LazyFrame, cd_security: pl.LazyFrame) -> pl.LazyFrame:
    """Attach `security_id` by (ticker, exchange); a ticker unknown to cd_security fails."""
    securities = cd_security.select("ticker", "exchange", "security_id")
    joined = series.join(
        securities, on=["ticker", "exchange"], how="left", maintain_order="left"
    )
    unknown = (
        joined.filter(pl.col("security_id").is_null())
        .select("date", "exchange", "ticker")
        .unique()
        .sort("date", "exchange", "ticker")
        .head(MAX_NAMED_TICKERS)
        .collect()
    )
    if unknown.height:
        named = ", ".join(f"{d}|{e}:{t}" for d, e, t in unknown.iter_rows())
        raise ValueError(
            f"{asset}: tickers not in cd_security (materialize cd_stockcode and cd_security for "
            f"these partitions first): {named}"
        )
    return joined


def add_year_month(series: pl.LazyFrame) -> pl.LazyFrame:
    """`year` and `month` of the trading date (Int32), for the serving tables."""
    return series.with_columns(
        year=pl.col("date").dt.year().cast(pl.Int32),
        month=pl.col("date").dt.month().cast(pl.Int32),
    )


def digest_daily_series(
    asset: str,
    series: pl.LazyFrame,
    values: Sequence[str],
    partitions: Sequence[CdPartition],
    cd_security: pl.LazyFrame,
    model: type[pa.DataFrameModel],
    *,
    partial_zero_fails: bool,
) -> tuple[pl.LazyFrame, dict[str, Any]]:
    """A bronze daily series of `partitions` -> silver rows in `model`'s columns, and the
    cleaning statistics: tickers padded, the zero-row rule on `values`, `security_id` joined
    from cd_security, `year`/`month` added."""
    padded = series.with_columns(ticker=pad_ticker(pl.col("ticker")))
    kept, stats = digest_zero_rows(
        asset, padded, values, partitions, partial_zero_fails=partial_zero_fails
    )
    digest = add_year_month(join_security(asset, kept, cd_security))
    return digest.select(model.to_schema().columns.keys()), stats.metadata()
