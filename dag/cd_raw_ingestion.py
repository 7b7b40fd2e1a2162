"""CD bronze: KRX daily data per (date, exchange) as the source delivered it, renamed to English.

Four series per trading date and exchange: the ticker list with names (`cd_stockcode`), OHLCV
(`cd_prices`), market caps (`cd_marketcaps`) and fundamentals (`cd_bppedds`). Values keep the
source's numbers; only the Korean headers become English column names. A weekend or holiday
gives a zero-row partition (recorded as `holiday`), not an error.
"""

import time
from collections.abc import Callable
from typing import Any

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, polars_schema
from contracts.cd import CdBppedds, CdMarketcaps, CdPrices, CdStockcode
from dag.cd_common import PARTITION_BY, CdPartition, run_partitions
from dag.cd_source import KrxSource
from dag.common import CD_TAGS, elapsed, tags
from dag.partitions import daily_exchange_category_partition
from dag_io import lake

STOCKCODE_COLUMNS = {"티커": "ticker", "종목명": "name"}
PRICE_COLUMNS = {
    "티커": "ticker", "시가": "open", "고가": "high", "저가": "low", "종가": "close",
    "거래량": "volume", "거래대금": "transaction", "등락률": "rate",
}
MARKETCAP_COLUMNS = {
    "티커": "ticker", "종가": "close", "시가총액": "market_cap", "거래량": "volume",
    "거래대금": "transaction", "상장주식수": "shares",
}
BPPEDD_COLUMNS = {
    "티커": "ticker", "BPS": "bps", "PER": "per", "PBR": "pbr", "EPS": "eps", "DIV": "div",
    "DPS": "dps",
}

Fetch = Callable[[KrxSource, CdPartition], pl.DataFrame]


def fetch_series(
    asset: str,
    source: KrxSource,
    partitions: list[CdPartition],
    fetch: Fetch,
    columns: dict[str, str],
    schema: pl.Schema,
    unpublished: tuple[str, ...] = (),
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """One source call per partition, renamed to `columns`, stamped with date and exchange and
    cast to the contract's `schema`; returns the frame and bronze metadata. Exchanges listed in
    `unpublished` never have this series, so their empty partitions are not holidays."""
    started = time.perf_counter()
    frames, rows_by_partition = [], {}
    for partition in partitions:
        raw = fetch(source, partition)
        missing = [name for name in columns if name not in raw.columns]
        if missing:
            raise ValueError(
                f"{asset} {partition.key}: source {source.describe()} returned no column(s) "
                f"{missing}; got {raw.columns}"
            )
        frames.append(
            raw.select(pl.col(k).alias(v) for k, v in columns.items()).with_columns(
                date=pl.lit(partition.date, dtype=pl.Date),
                exchange=pl.lit(partition.exchange, dtype=pl.String),
            )
        )
        rows_by_partition[partition.key] = raw.height
    frame = pl.concat(
        [f.select(pl.col(name).cast(dtype) for name, dtype in schema.items()) for f in frames]
        or [schema.to_frame()],
        how="vertical",
    )
    published = [p.key for p in partitions if p.exchange not in unpublished]
    empty = [key for key in published if rows_by_partition[key] == 0]
    metadata: dict[str, Any] = {
        "source": source.describe(),
        "holiday": bool(published) and len(empty) == len(published),
        "holiday_partitions": dg.MetadataValue.json(empty),
        "rows_by_partition": dg.MetadataValue.json(rows_by_partition),
        "execution_time_sec": elapsed(started),
    }
    return frame, metadata


def _bronze(model: type) -> dict[str, object]:
    return {**lake(partition_by=PARTITION_BY), "dagster/column_schema": column_schema(model)}


_TAGS = tags("bronze", CD_TAGS)


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "python"},
    tags=_TAGS,
    metadata=_bronze(CdStockcode),
)
def cd_stockcode(
    context: dg.AssetExecutionContext, krx_source: KrxSource
) -> dg.Output[pl.LazyFrame]:
    """Tickers and names listed on a date and exchange (KRX ticker list)."""
    frame, metadata = fetch_series(
        "cd_stockcode",
        krx_source,
        run_partitions(context),
        lambda s, p: s.tickers(p.date, p.exchange),
        STOCKCODE_COLUMNS,
        polars_schema(CdStockcode),
    )
    return dg.Output(frame.lazy(), metadata=metadata)


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "python"},
    tags=_TAGS,
    metadata=_bronze(CdPrices),
)
def cd_prices(context: dg.AssetExecutionContext, krx_source: KrxSource) -> dg.Output[pl.LazyFrame]:
    """Daily OHLCV per ticker (시가, 고가, 저가, 종가, 거래량, 거래대금, 등락률) as published."""
    frame, metadata = fetch_series(
        "cd_prices",
        krx_source,
        run_partitions(context),
        lambda s, p: s.ohlcv(p.date, p.exchange),
        PRICE_COLUMNS,
        polars_schema(CdPrices),
    )
    return dg.Output(frame.lazy(), metadata=metadata)


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "python"},
    tags=_TAGS,
    metadata=_bronze(CdMarketcaps),
)
def cd_marketcaps(
    context: dg.AssetExecutionContext, krx_source: KrxSource
) -> dg.Output[pl.LazyFrame]:
    """Daily market cap, volume, value traded and listed shares per ticker."""
    frame, metadata = fetch_series(
        "cd_marketcaps",
        krx_source,
        run_partitions(context),
        lambda s, p: s.market_caps(p.date, p.exchange),
        MARKETCAP_COLUMNS,
        polars_schema(CdMarketcaps),
    )
    return dg.Output(frame.lazy(), metadata=metadata)


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake", "python"},
    tags=_TAGS,
    metadata=_bronze(CdBppedds),
)
def cd_bppedds(
    context: dg.AssetExecutionContext, krx_source: KrxSource
) -> dg.Output[pl.LazyFrame]:
    """Daily fundamentals per ticker (BPS, PER, PBR, EPS, DIV, DPS); KONEX publishes none."""
    frame, metadata = fetch_series(
        "cd_bppedds",
        krx_source,
        run_partitions(context),
        lambda s, p: s.fundamentals(p.date, p.exchange),
        BPPEDD_COLUMNS,
        polars_schema(CdBppedds),
        unpublished=("KONEX",),
    )
    return dg.Output(frame.lazy(), metadata=metadata)


cd_stockcode_contract = contract_check(cd_stockcode, CdStockcode)
cd_prices_contract = contract_check(cd_prices, CdPrices)
cd_marketcaps_contract = contract_check(cd_marketcaps, CdMarketcaps)
cd_bppedds_contract = contract_check(cd_bppedds, CdBppedds)
