"""SS gold: the deals with their TCO (`ss_deals`), the daily price reports
(`ss_aggregates_daily`) and the one destructive asset, `ss_flush`, which needs a typed
confirmation and belongs to no job or schedule.

TCO = upfront + sum(fee x months) over the required plan, the plan after it, the MVNO tail and
the add-ons (addons_monthly x addons_months; `addons_detail` itemises them and is not summed
again) + device finance; net = TCO - support cash. Every deal carries the LLM step's add-on
detail (JSON array text), retention months and contract terms. `deal_hash` = md5 of the
`|`-joined key fields (missing text "", missing numbers 0). A re-extracted post whose key
fields changed gets a new hash: its old deals are deleted (merge delete flag), so a post never
counts twice.
"""

import datetime as dt
import hashlib
import time
from typing import TypeVar

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, contract_columns, key_columns, polars_schema
from contracts.ss import SsAggregatesDaily, SsDeals, SsDealsServing, SsFlush
from dag.common import elapsed
from dag.is_common import stored
from dag.ss_common import BACKFILL, LAKE, POOL, UNKNOWN_MODEL, ss_crawl_file_partition, ss_tags
from dag.ss_dictionary import model_capacities
from dag.ss_extraction import of_file
from dag_io import lake

HASHED = ("post_id", "url", "model", "carrier", "move_type", "contract", "payment", "upfront",
          "plan_high_fee", "plan_high_months", "support_cash", "capacity", "device_finance_total")
NUMERIC = frozenset({"upfront", "plan_high_fee", "plan_high_months", "support_cash",
                     "device_finance_total"})
PAIRS = (("plan_high_fee", "plan_high_months"), ("plan_after_fee", "plan_after_months"),
         ("mvno_tail_fee", "mvno_tail_months"), ("addons_monthly", "addons_months"))
STALE = "_stale"
Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)
WINDOW_DAYS = 7


def tco(frame: Frame) -> Frame:
    """`tco_total` and `tco_net` (unknown amounts count as 0)."""
    def z(name: str) -> pl.Expr:
        return pl.col(name).fill_null(0)

    total = z("upfront") + pl.sum_horizontal(z(f) * z(m) for f, m in PAIRS) + z(
        "device_finance_total")
    return frame.with_columns(tco_total=total.cast(pl.Int64)).with_columns(
        tco_net=(pl.col("tco_total") - z("support_cash")).cast(pl.Int64)
    )


def deal_hashes(frame: pl.DataFrame) -> pl.Series:
    """md5 of the key fields joined by `|` (hashlib: Polars has no md5 expression; one pass
    over the already-joined strings of a file's few deals)."""
    joined = frame.select(pl.concat_str(
        [pl.col(c).cast(pl.String).fill_null("0" if c in NUMERIC else "") for c in HASHED],
        separator="|",
    )).to_series()
    return pl.Series("deal_hash", [hashlib.md5(s.encode()).hexdigest() for s in joined],
                     pl.String)


def deals_of(extracted: pl.DataFrame) -> pl.DataFrame:
    """`SsDeals` rows of extracted scenarios that are not quarantined (deduplicated by hash)."""
    deals = extracted.filter(pl.col("quarantine_reason").is_null())
    return tco(deals.with_columns(deal_hash=deal_hashes(deals))).with_columns(
        advertorial_score="adv_score", parsed_at=pl.lit(None, pl.Datetime("us", "UTC")),
    ).unique("deal_hash", keep="first", maintain_order=True)


@dg.asset(
    group_name="SS",
    partitions_def=ss_crawl_file_partition,
    backfill_policy=BACKFILL,
    io_manager_key=LAKE,
    kinds={"polars", "deltalake"},
    tags=ss_tags("gold"),
    metadata={**lake(write_mode="merge", merge_keys=["deal_hash"], merge_delete_flag=STALE),
              "dagster/column_schema": column_schema(SsDeals)},
    required_resource_keys={LAKE},
    pool=POOL,
)
def ss_deals(
    context: dg.AssetExecutionContext, ss_deals_extracted: pl.LazyFrame,
    ss_crawl_files: pl.LazyFrame,
) -> dg.Output[pl.LazyFrame]:
    """Phone deals: model, capacity, carrier, contract and its terms, money, add-on detail,
    retention months and TCO, one row per deal_hash."""
    started = time.perf_counter()
    bronze = ss_crawl_files.collect()
    crawled = bronze.select(pl.col("crawled_at").max()).item()
    columns = list(polars_schema(SsDeals))
    deals = deals_of(of_file(ss_deals_extracted, bronze.lazy())).with_columns(
        parsed_at=pl.lit(crawled, pl.Datetime("us", "UTC"))
    ).select(columns)
    current = stored(context, ss_deals)
    old = pl.DataFrame(schema=polars_schema(SsDeals)) if current is None else of_file(
        current, bronze.lazy()).select(columns)
    stale = old.join(deals.select("deal_hash"), on="deal_hash", how="anti")
    rows = pl.concat([deals.with_columns(pl.lit(False).alias(STALE)),
                      stale.with_columns(pl.lit(True).alias(STALE))])
    return dg.Output(rows.lazy(), metadata={
        "deals": deals.height, "stale_deals_deleted": stale.height,
        "tco_total_median": float(deals.select(pl.col("tco_total").median()).item() or 0),
        "with_addons_detail": int(deals["addons_detail"].str.starts_with("[{").sum()),
        "with_contract_type": int(deals["contract_type"].is_not_null().sum()),
        "carriers": dg.MetadataValue.json(dict(deals["carrier"].value_counts().iter_rows())),
        "dagster/row_count": deals.height, "execution_time_sec": elapsed(started),
    })


class SsAggregatesConfig(dg.Config):
    """Run config of `ss_aggregates_daily`."""

    as_of: str | None = None
    """Last day (YYYY-MM-DD, KST) of the 7-day window; default: the latest day holding deals."""


def daily_aggregates(deals: pl.LazyFrame, as_of: dt.date | None) -> pl.LazyFrame:
    """Per (model, capacity, day) TCO statistics of the deals posted in the 7 days ending
    `as_of` (default: the latest posted day) that have a TCO. Capacity in GB; when unknown the
    model's smallest capacity, else 미상."""
    smallest = pl.DataFrame(
        [(m, f"{min(c)}GB") for m, c in model_capacities().items() if c],
        schema={"model": pl.String, "smallest": pl.String}, orient="row",
    ).lazy()
    end = pl.lit(as_of, pl.Date) if as_of else pl.col("source_posted_at").max()
    window = deals.filter(
        pl.col("tco_total") > 0,
        pl.col("source_posted_at").is_between(end - pl.duration(days=WINDOW_DAYS - 1), end),
    )
    gb = pl.col("capacity").str.replace("1TB", "1024GB", literal=True)
    return (
        window.join(smallest, on="model", how="left")
        .with_columns(capacity=pl.coalesce(gb, "smallest", pl.lit(UNKNOWN_MODEL)),
                      ts=pl.col("source_posted_at"), v=pl.col("tco_total").cast(pl.Float64))
        .group_by("model", "capacity", "ts")
        .agg(
            min=pl.col("v").min(),
            p25=pl.col("v").quantile(0.25, interpolation="linear"),
            median=pl.col("v").median(),
            p75=pl.col("v").quantile(0.75, interpolation="linear"),
            max=pl.col("v").max(),
            avg=pl.col("v").mean(),
            n=pl.len().cast(pl.Int64),
        )
        .sort("ts", "model", "capacity")
        .select(list(polars_schema(SsAggregatesDaily)))
    )


@dg.asset(
    group_name="SS",
    io_manager_key=LAKE,
    kinds={"polars", "deltalake"},
    tags=ss_tags("gold"),
    metadata={"dagster/column_schema": column_schema(SsAggregatesDaily)},
)
def ss_aggregates_daily(
    config: SsAggregatesConfig, ss_deals: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Daily phone-price report: min, p25, median, p75, max, mean and count of TCO per (model,
    capacity, day) over the last 7 days."""
    started = time.perf_counter()
    as_of = dt.date.fromisoformat(config.as_of) if config.as_of else None
    out = daily_aggregates(ss_deals, as_of).collect()
    return dg.Output(out.lazy(), metadata={
        "as_of": str(as_of or out["ts"].max()), "groups": out.height,
        "deals": int(out["n"].sum()), "dagster/row_count": out.height,
        "execution_time_sec": elapsed(started),
    })


# --- the flush ---------------------------------------------------------------------------------
CONFIRMATION = "flush ss serving tables"
FLUSHED = ("deals", "aggregates_daily")


class SsFlushConfig(dg.Config):
    """Run config of `ss_flush`: `confirm` must be exactly "flush ss serving tables"."""

    confirm: str = ""


@dg.asset(
    group_name="SS",
    kinds={"postgres", "sqlite"},
    tags=ss_tags("gold"),
    metadata={"dagster/column_schema": column_schema(SsFlush)},
    required_resource_keys={"ss_postgres", "turso"},
)
def ss_flush(context: dg.AssetExecutionContext, config: SsFlushConfig) -> dg.MaterializeResult:
    """Empties the serving tables deals and aggregates_daily (PostgreSQL and Turso). Destructive:
    runs only with the typed confirmation, is in no job, schedule or sensor."""
    if config.confirm != CONFIRMATION:
        raise dg.Failure(f"ss_flush: refused: set config confirm to {CONFIRMATION!r} to empty "
                         f"{', '.join(FLUSHED)} in PostgreSQL and Turso")
    empty = {"deals": SsDealsServing, "aggregates_daily": SsAggregatesDaily}
    emptied = []
    for key in ("ss_postgres", "turso"):
        target = getattr(context.resources, key)
        for table, contract in empty.items():
            target.load(table, pl.DataFrame(schema=polars_schema(contract)), mode="replace",
                        keys=key_columns(contract), columns=contract_columns(contract))
            emptied.append(f"{key}:{table}")
    return dg.MaterializeResult(metadata={"emptied": dg.MetadataValue.json(emptied)})


def read_flushed(context: dg.AssetCheckExecutionContext) -> pl.DataFrame:
    """What the flushed PostgreSQL tables hold now."""
    target = context.resources.ss_postgres
    return pl.DataFrame({"table": list(FLUSHED),
                         "rows": [target.count_rows(t) for t in FLUSHED]},
                        schema={"table": pl.String, "rows": pl.Int64})


ss_deals_contract = contract_check(ss_deals, SsDeals)
ss_aggregates_daily_contract = contract_check(ss_aggregates_daily, SsAggregatesDaily)
ss_flush_contract = contract_check(
    ss_flush, SsFlush, read=read_flushed, required_resource_keys={"ss_postgres"}
)
