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

from typing import Literal

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
from dag.common import CD_TAGS
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


def cd_serving(
    table: str,
    target: Target,
    contract: type[pa.DataFrameModel],
    mode: LoadMode,
    what: str,
) -> Serving:
    """The spec of `cd_<table>_<target>`; daily series are partitioned like their digests."""
    daily = mode == "replace_partitions"
    return Serving(
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
    )


def price_rows(cd_digest_price: pl.LazyFrame) -> pl.LazyFrame:
    return cd_digest_price


def marketcap_rows(cd_digest_marketcaps: pl.LazyFrame) -> pl.LazyFrame:
    return cd_digest_marketcaps


def bppedd_rows(cd_digest_bppedds: pl.LazyFrame) -> pl.LazyFrame:
    return cd_digest_bppedds


def security_rank_rows(cd_security_ranks: pl.LazyFrame) -> pl.LazyFrame:
    return cd_security_ranks


SECURITY = "every security with its latest metrics (null once delisted)"
COMPANY = "every company with market cap, rank and prior rank"
PRICE = "daily OHLCV of the run's (date, exchange) partitions"
MARKETCAP = "daily market caps of the run's (date, exchange) partitions"
BPPEDD = "daily fundamentals of the run's (date, exchange) partitions"
RANK = "ranks per metric, accumulated per rank date"
DISPLAY = "the name shown for each company"
SEARCH = "search strings per company, in order"

# --- PostgreSQL ---------------------------------------------------------------------------------
cd_security_postgres, cd_security_postgres_contract = serving_asset(
    cd_serving("security", "postgres", CdSecurityServing, "replace", SECURITY), security_table
)
cd_company_postgres, cd_company_postgres_contract = serving_asset(
    cd_serving("company", "postgres", CdCompanyServing, "replace", COMPANY), company_table
)
cd_price_postgres, cd_price_postgres_contract = serving_asset(
    cd_serving("price", "postgres", CdPriceServing, "replace_partitions", PRICE), price_rows
)
cd_marketcap_postgres, cd_marketcap_postgres_contract = serving_asset(
    cd_serving("marketcap", "postgres", CdMarketcapServing, "replace_partitions", MARKETCAP),
    marketcap_rows,
)
cd_bppedd_postgres, cd_bppedd_postgres_contract = serving_asset(
    cd_serving("bppedd", "postgres", CdBppeddServing, "replace_partitions", BPPEDD), bppedd_rows
)
cd_security_rank_postgres, cd_security_rank_postgres_contract = serving_asset(
    cd_serving("security_rank", "postgres", CdSecurityRankServing, "upsert", RANK),
    security_rank_rows,
)
cd_display_name_postgres, cd_display_name_postgres_contract = serving_asset(
    cd_serving("display_name", "postgres", CdDisplayNameServing, "replace", DISPLAY),
    display_name_table,
)
cd_search_name_postgres, cd_search_name_postgres_contract = serving_asset(
    cd_serving("search_name", "postgres", CdSearchNameServing, "replace", SEARCH),
    search_name_table,
)

# --- Turso (the same tables, the other target) --------------------------------------------------
cd_security_turso, cd_security_turso_contract = serving_asset(
    cd_serving("security", "turso", CdSecurityServing, "replace", SECURITY), security_table
)
cd_company_turso, cd_company_turso_contract = serving_asset(
    cd_serving("company", "turso", CdCompanyServing, "replace", COMPANY), company_table
)
cd_price_turso, cd_price_turso_contract = serving_asset(
    cd_serving("price", "turso", CdPriceServing, "replace_partitions", PRICE), price_rows
)
cd_marketcap_turso, cd_marketcap_turso_contract = serving_asset(
    cd_serving("marketcap", "turso", CdMarketcapServing, "replace_partitions", MARKETCAP),
    marketcap_rows,
)
cd_bppedd_turso, cd_bppedd_turso_contract = serving_asset(
    cd_serving("bppedd", "turso", CdBppeddServing, "replace_partitions", BPPEDD), bppedd_rows
)
cd_security_rank_turso, cd_security_rank_turso_contract = serving_asset(
    cd_serving("security_rank", "turso", CdSecurityRankServing, "upsert", RANK),
    security_rank_rows,
)
cd_display_name_turso, cd_display_name_turso_contract = serving_asset(
    cd_serving("display_name", "turso", CdDisplayNameServing, "replace", DISPLAY),
    display_name_table,
)
cd_search_name_turso, cd_search_name_turso_contract = serving_asset(
    cd_serving("search_name", "turso", CdSearchNameServing, "replace", SEARCH),
    search_name_table,
)
