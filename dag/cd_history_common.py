"""CD month-end history: the daily source and digest functions applied to month-end days.

A history month is one `cd_monthly_history_partition` key; its data is the digested series of
the last trading day of that month on each exchange. Nothing here re-implements a rule: the
source calls and renames are `cd_raw_ingestion.fetch_series`, the cleaning is `cd_common`'s
(ticker padding, holiday / zero-row rule, year and month), and the security id is
`cd_security_processing.security_id` (uuid5 of ticker and exchange, so history rows from before
the daily partitions start still get the id `cd_security` would give them).
"""

import calendar
import datetime as dt
import os
import time
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

import dagster as dg
import polars as pl

from dag.cd_common import (
    CdPartition,
    DigestStats,
    add_year_month,
    digest_zero_rows,
    pad_ticker,
)
from dag.cd_raw_ingestion import Fetch, fetch_series
from dag.cd_security_processing import security_id
from dag.cd_source import KrxSource
from dag.common import CD_TAGS, elapsed, tags
from dag.partitions import CD_EXCHANGES
from dag.spill import Spill

HISTORY_TAGS = tags("silver", CD_TAGS)

# A history backfill is split into runs of at most this many months (issue 19: a 20-year range
# runs as parallel chunks on several workers). Each run replaces exactly its own monthly
# partitions, so a chunk re-run is idempotent. Read once, when the code location loads.
BACKFILL_MAX_PARTITIONS_ENV = "DAG_BACKFILL_MAX_PARTITIONS_PER_RUN"
DEFAULT_BACKFILL_MAX_PARTITIONS = 12


def history_backfill_policy(environ: Mapping[str, str]) -> dg.BackfillPolicy:
    """`BackfillPolicy.multi_run` with DAG_BACKFILL_MAX_PARTITIONS_PER_RUN months per run."""
    value = environ.get(BACKFILL_MAX_PARTITIONS_ENV, "").strip()
    if not value:
        return dg.BackfillPolicy.multi_run(max_partitions_per_run=DEFAULT_BACKFILL_MAX_PARTITIONS)
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{BACKFILL_MAX_PARTITIONS_ENV}={value!r}: expected an integer >= 1")
    return dg.BackfillPolicy.multi_run(max_partitions_per_run=int(value))


HISTORY_BACKFILL = history_backfill_policy(os.environ)


def history_months(context: dg.AssetExecutionContext) -> list[dt.date]:
    """First days of the run's months (one key or a single-run range)."""
    return sorted(dt.date.fromisoformat(key[:10]) for key in context.partition_keys)


def month_end_day(source: KrxSource, month: dt.date, exchange: str) -> dt.date | None:
    """The month's last trading day on `exchange`: the last day the source lists tickers."""
    day = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    while day >= month:
        if source.tickers(day, exchange).height:
            return day
        day -= dt.timedelta(days=1)
    return None


def month_end_partitions(
    source: KrxSource, months: Sequence[dt.date], exchanges: Sequence[str] = CD_EXCHANGES
) -> list[CdPartition]:
    """(month-end trading day, exchange) for every month and exchange that traded that month."""
    partitions = []
    for month in months:
        for exchange in exchanges:
            day = month_end_day(source, month, exchange)
            if day is not None:
                partitions.append(CdPartition(day, exchange))
    return partitions


class _SecurityIds:
    """`security_id` of each (ticker, exchange) met in the run. uuid5 needs SHA-1 (no Polars
    expression): each distinct security is hashed once per run, not once per row or month."""

    def __init__(self) -> None:
        self.known = pl.DataFrame(
            schema={"ticker": pl.String, "exchange": pl.String, "security_id": pl.String}
        )

    def attach(self, series: pl.LazyFrame) -> pl.LazyFrame:
        pairs = series.select("ticker", "exchange").unique().collect()
        new = pairs.join(self.known, on=["ticker", "exchange"], how="anti")
        ids = pl.Series([security_id(t, x) for t, x in new.iter_rows()], dtype=pl.String)
        self.known = pl.concat([self.known, new.with_columns(security_id=ids)])
        return series.join(self.known.lazy(), on=["ticker", "exchange"], how="left")


def _month_end_digest(
    asset: str,
    source: KrxSource,
    months: Sequence[dt.date],
    fetch: Fetch,
    columns: dict[str, str],
    bronze_schema: pl.Schema,
    values: Sequence[str],
    output_columns: Sequence[str],
    partial_zero_fails: bool,
    exchanges: Sequence[str],
    ids: _SecurityIds,
) -> tuple[pl.LazyFrame, list[CdPartition], DigestStats, str]:
    """The digested month-end rows of `months`: (rows, month-end partitions, stats, source)."""
    partitions = month_end_partitions(source, months, exchanges)
    frame, bronze = fetch_series(asset, source, partitions, fetch, columns, bronze_schema)
    series = frame.lazy().with_columns(ticker=pad_ticker(pl.col("ticker")))
    kept, stats = digest_zero_rows(
        asset, series, values, partitions, partial_zero_fails=partial_zero_fails
    )
    digest = add_year_month(ids.attach(kept)).with_columns(
        history_month=pl.col("date").dt.truncate("1mo")
    )
    return digest.select(output_columns), partitions, stats, bronze["source"]


def month_end_series(
    asset: str,
    source: KrxSource,
    context: dg.AssetExecutionContext,
    fetch: Fetch,
    columns: dict[str, str],
    bronze_schema: pl.Schema,
    values: Sequence[str],
    output_columns: Sequence[str],
    *,
    partial_zero_fails: bool,
    exchanges: Sequence[str] = CD_EXCHANGES,
) -> tuple[dict[str, pl.LazyFrame], dict[str, Any]]:
    """Fetch and digest the month-end day of each month of the run; returns the rows by
    partition key and metadata.

    A range is done one month at a time, each month's rows spilled (`dag.spill`) and handed to
    the IO manager per partition, so memory holds one month whatever the range; the statistics
    are summed over the months."""
    started = time.perf_counter()
    months = history_months(context)
    digest = partial(
        _month_end_digest,
        asset,
        source,
        fetch=fetch,
        columns=columns,
        bronze_schema=bronze_schema,
        values=values,
        output_columns=output_columns,
        partial_zero_fails=partial_zero_fails,
        exchanges=exchanges,
        ids=_SecurityIds(),
    )
    keys = {dt.date.fromisoformat(key[:10]): key for key in context.partition_keys}
    if len(months) == 1:  # one month: no spill, the plan is handed over as it is
        rows, partitions, stats, source_name = digest(months)
        output = {keys[months[0]]: rows}
    else:
        partitions, parts = [], []
        with Spill(context) as spill:
            for month in months:
                rows, month_partitions, month_stats, source_name = digest([month])
                spill.write(rows.collect(), keys[month])
                partitions.extend(month_partitions)
                parts.append(month_stats)
            output = spill.frames()
        stats = DigestStats(
            holidays=[key for part in parts for key in part.holidays],
            trading=[key for part in parts for key in part.trading],
            rows_in=sum(part.rows_in for part in parts),
            rows_dropped=sum(part.rows_dropped for part in parts),
        )
    metadata = {
        **stats.metadata(),
        "source": source_name,
        "month_end_days": dg.MetadataValue.json([p.key for p in partitions]),
        "execution_time_sec": elapsed(started),
    }
    return output, metadata
