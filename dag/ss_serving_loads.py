"""SS serving loads: the tables and JSON API views the phone-deal web app reads.

| table | from | mode |
| --- | --- | --- |
| deals (PostgreSQL + Turso) | ss_deals | replace the crawl file's posts' rows |
| aggregates_daily (PostgreSQL + Turso) | ss_aggregates_daily | replace the window's days |
| carriers, phone_models (PostgreSQL) | ss_dictionary | replace |
| api_deals_json, api_reports_daily_json, api_reports_daily_latest_json | views | create/replace |

The view SQL lives in `dag/seed/ss_views.sql` (no SQL in dag modules); `ss_api_views_postgres`
creates the views once their tables exist (idempotent, never drops anything).
"""

import re
import time
from pathlib import Path

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check
from contracts.ss import (
    SsAggregatesDailyServing,
    SsApiViewsPostgres,
    SsCarriersServing,
    SsDealsServing,
    SsPhoneModelsServing,
)
from dag.common import elapsed
from dag.serving import Scope, Serving, serving_asset
from dag.ss_common import SS_TAGS, ss_crawl_file_partition, ss_tags
from dag.ss_crawl_ingestion import ss_crawl_files
from dag.ss_deals import ss_aggregates_daily

VIEWS_SQL = Path(__file__).resolve().parent / "seed" / "ss_views.sql"
VIEWS = ("api_deals_json", "api_reports_daily_json", "api_reports_daily_latest_json")
RESOURCES = {"postgres": "ss_postgres", "turso": "turso"}


def view_statements(path: Path = VIEWS_SQL) -> dict[str, str]:
    """The `-- view: <name>` sections of the seed file: name -> SELECT (comments removed)."""
    sections = re.split(r"^-- view: (\w+)\s*$", path.read_text(encoding="utf-8"), flags=re.M)
    out = {name: re.sub(r"^--.*$", "", body, flags=re.M).strip()
           for name, body in zip(sections[1::2], sections[2::2], strict=True)}
    if tuple(out) != VIEWS:
        raise ValueError(f"{path}: views {list(out)}, expected {list(VIEWS)}")
    return out


def deals_table(ss_deals: pl.LazyFrame, ss_crawl_files: pl.LazyFrame) -> pl.LazyFrame:
    """`deals` rows of the crawl file's posts."""
    return ss_deals.join(ss_crawl_files.select("post_id").unique(), on="post_id", how="semi")


def dictionary_table(kind: str):
    def build(ss_dictionary: pl.LazyFrame) -> pl.LazyFrame:
        rows = ss_dictionary.filter(pl.col("kind") == kind).with_row_index("id", offset=1)
        return rows.with_columns(
            id=pl.col("id").cast(pl.Int32),
            capacities=pl.col("capacities").cast(pl.List(pl.String)),
        )
    return build


FILE_POSTS = Scope(
    ss_crawl_files, lambda bronze: bronze.select("post_id"), "the posts of the run's crawl files"
)
WINDOW_DAYS = Scope(
    ss_aggregates_daily, lambda table: table.select("ts"), "the days of the report window"
)


def _load(table: str, target: str, contract: type, mode: str, what: str, build, scope,
          per_file: bool) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    return serving_asset(
        Serving(
            name=f"ss_{table}_{target}", group="SS", table=table, target=target,  # type: ignore[arg-type]
            resource_key=RESOURCES[target], contract=contract, mode=mode,  # type: ignore[arg-type]
            description=f"{what} ({'PostgreSQL' if target == 'postgres' else 'Turso'} `{table}`)",
            tags=SS_TAGS, partitions_def=ss_crawl_file_partition if per_file else None,
            scope=scope,
        ),
        build,
    )


ss_deals_postgres, ss_deals_postgres_contract = _load(
    "deals", "postgres", SsDealsServing, "replace_partitions", "Phone deals with their TCO",
    deals_table, FILE_POSTS, True)
ss_deals_turso, ss_deals_turso_contract = _load(
    "deals", "turso", SsDealsServing, "replace_partitions", "Phone deals with their TCO",
    deals_table, FILE_POSTS, True)
ss_aggregates_daily_postgres, ss_aggregates_daily_postgres_contract = _load(
    "aggregates_daily", "postgres", SsAggregatesDailyServing, "replace_partitions",
    "Daily phone-price statistics", "ss_aggregates_daily", WINDOW_DAYS, False)
ss_aggregates_daily_turso, ss_aggregates_daily_turso_contract = _load(
    "aggregates_daily", "turso", SsAggregatesDailyServing, "replace_partitions",
    "Daily phone-price statistics", "ss_aggregates_daily", WINDOW_DAYS, False)
ss_carriers_postgres, ss_carriers_postgres_contract = _load(
    "carriers", "postgres", SsCarriersServing, "replace", "Carriers and their aliases",
    dictionary_table("carrier"), None, False)
ss_phone_models_postgres, ss_phone_models_postgres_contract = _load(
    "phone_models", "postgres", SsPhoneModelsServing, "replace", "Phone models and aliases",
    dictionary_table("model"), None, False)


@dg.asset(
    group_name="SS",
    kinds={"postgres", "view"},
    tags=ss_tags("gold", target="postgres"),
    metadata={"dagster/column_schema": column_schema(SsApiViewsPostgres),
              "sql": str(VIEWS_SQL.name)},
    deps=[ss_deals_postgres, ss_aggregates_daily_postgres],
    required_resource_keys={"ss_postgres"},
)
def ss_api_views_postgres(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """The JSON API views api_deals_json (with the monthly TCO over 24 months),
    api_reports_daily_json and api_reports_daily_latest_json, created or replaced."""
    started = time.perf_counter()
    target = context.resources.ss_postgres
    for name, select in view_statements().items():
        target.ensure_view(name, select)
    return dg.MaterializeResult(metadata={
        "views": dg.MetadataValue.json(list(VIEWS)),
        "execution_time_sec": elapsed(started),
    })


def read_views(context: dg.AssetCheckExecutionContext) -> pl.DataFrame:
    target = context.resources.ss_postgres
    return pl.DataFrame({"view": list(VIEWS), "rows": [target.count_rows(v) for v in VIEWS]},
                        schema={"view": pl.String, "rows": pl.Int64})


ss_api_views_postgres_contract = contract_check(
    ss_api_views_postgres, SsApiViewsPostgres, read=read_views,
    required_resource_keys={"ss_postgres"},
)
