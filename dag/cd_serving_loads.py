"""CD serving loads: the Gold tables the stock apps read, loaded into PostgreSQL and Turso.

The lake is the system of record; PostgreSQL (`cd_postgres`) and Turso (`turso`) are two targets
of the same tables, loaded through the one serving path (`dag.serving`): a Turso asset differs
from its PostgreSQL twin only in its target. Frames come from `dag.cd_serving_tables`.

| table | from | mode |
| --- | --- | --- |
| security | cd_security + cd_security_metrics | replace (key security_id) |
| company | cd_company + cd_company_metrics | replace (key company_id) |
| price, marketcap, bppedd | cd_digest_* partitions | replace_partitions on (date, exchange) |
| security_rank | cd_security_ranks | upsert on (security_id, metric_type, rank_date) |
| display_name, search_name | cd_search_names | replace |
"""

from collections.abc import Callable
from typing import Literal

import dagster as dg
import pandera.polars as pa
import polars as pl

from contracts.cd import (
    CdBppeddServing,
    CdCompanyServing,
    CdDisplayNameServing,
    CdMarketcapServing,
    CdPriceServing,
    CdSearchNameServing,
    CdSecurityRankServing,
    CdSecurityServing,
)
from dag.cd_common import PARTITION_BY
from dag.cd_serving_tables import (
    company_table,
    display_name_table,
    search_name_table,
    security_table,
)
from dag.common import CD_GOLD_POOL, CD_TAGS
from dag.partitions import daily_exchange_category_partition
from dag.serving import LoadMode, Serving, serving_asset

Target = Literal["postgres", "turso"]
TABLES = (
    "security",
    "company",
    "price",
    "marketcap",
    "bppedd",
    "security_rank",
    "display_name",
    "search_name",
)
RESOURCES: dict[Target, str] = {"postgres": "cd_postgres", "turso": "turso"}
TARGET_NAMES: dict[Target, str] = {"postgres": "PostgreSQL", "turso": "Turso"}


def cd_serving_pair(
    table: str,
    contract: type[pa.DataFrameModel],
    mode: LoadMode,
    what: str,
    build: Callable[..., pl.LazyFrame] | str,
) -> tuple[
    dg.AssetsDefinition, dg.AssetChecksDefinition, dg.AssetsDefinition, dg.AssetChecksDefinition
]:
    """`cd_<table>_postgres` and `cd_<table>_turso` with their checks: the same table, loaded
    the same way into both targets; daily series are partitioned like their digests."""
    daily = mode == "replace_partitions"
    pair: list[tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]] = []
    for target in ("postgres", "turso"):
        spec = Serving(
            name=f"cd_{table}_{target}",
            group="CD",
            table=table,
            target=target,
            resource_key=RESOURCES[target],
            contract=contract,
            mode=mode,
            description=f"{TARGET_NAMES[target]} `{table}`: {what}.",
            tags=CD_TAGS,
            partitions_def=daily_exchange_category_partition if daily else None,
            partition_by=PARTITION_BY if daily else None,
            pool=None if daily else CD_GOLD_POOL,  # whole-table loads take turns across runs
        )
        pair.append(serving_asset(spec, build))
    (postgres, postgres_check), (turso, turso_check) = pair
    return postgres, postgres_check, turso, turso_check


(
    cd_security_postgres,
    cd_security_postgres_contract,
    cd_security_turso,
    cd_security_turso_contract,
) = cd_serving_pair(
    "security",
    CdSecurityServing,
    "replace",
    "every security with its latest metrics (null once delisted)",
    security_table,
)
(
    cd_company_postgres,
    cd_company_postgres_contract,
    cd_company_turso,
    cd_company_turso_contract,
) = cd_serving_pair(
    "company",
    CdCompanyServing,
    "replace",
    "every company with market cap, rank and prior rank",
    company_table,
)
(
    cd_price_postgres,
    cd_price_postgres_contract,
    cd_price_turso,
    cd_price_turso_contract,
) = cd_serving_pair(
    "price",
    CdPriceServing,
    "replace_partitions",
    "daily OHLCV of the run's (date, exchange) partitions",
    "cd_digest_price",
)
(
    cd_marketcap_postgres,
    cd_marketcap_postgres_contract,
    cd_marketcap_turso,
    cd_marketcap_turso_contract,
) = cd_serving_pair(
    "marketcap",
    CdMarketcapServing,
    "replace_partitions",
    "daily market caps of the run's (date, exchange) partitions",
    "cd_digest_marketcaps",
)
(
    cd_bppedd_postgres,
    cd_bppedd_postgres_contract,
    cd_bppedd_turso,
    cd_bppedd_turso_contract,
) = cd_serving_pair(
    "bppedd",
    CdBppeddServing,
    "replace_partitions",
    "daily fundamentals of the run's (date, exchange) partitions",
    "cd_digest_bppedds",
)
(
    cd_security_rank_postgres,
    cd_security_rank_postgres_contract,
    cd_security_rank_turso,
    cd_security_rank_turso_contract,
) = cd_serving_pair(
    "security_rank",
    CdSecurityRankServing,
    "upsert",
    "ranks per metric, accumulated per rank date",
    "cd_security_ranks",
)
(
    cd_display_name_postgres,
    cd_display_name_postgres_contract,
    cd_display_name_turso,
    cd_display_name_turso_contract,
) = cd_serving_pair(
    "display_name",
    CdDisplayNameServing,
    "replace",
    "the name shown for each company",
    display_name_table,
)
(
    cd_search_name_postgres,
    cd_search_name_postgres_contract,
    cd_search_name_turso,
    cd_search_name_turso_contract,
) = cd_serving_pair(
    "search_name",
    CdSearchNameServing,
    "replace",
    "search strings per company, in order",
    search_name_table,
)
