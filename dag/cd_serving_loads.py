"""CD serving loads: the Gold tables the stock apps read, loaded into PostgreSQL and Turso.

The lake is the system of record; PostgreSQL (`cd_postgres`) and Turso (`turso`) are two targets
of the same load. One function (`load_serving_table`) does every load for both: the old project
kept a second copy of every module for Turso, here a Turso asset differs from its PostgreSQL twin
only in the resource it passes. Tables (`dag.cd_serving_tables` builds the frames):

| table | from | mode |
| --- | --- | --- |
| security | cd_security + cd_security_metrics | replace (key security_id) |
| company | cd_company + cd_company_metrics | replace (key company_id) |
| price, marketcap, bppedd | cd_digest_* partitions | replace_partitions on (date, exchange) |
| security_rank | cd_security_ranks | upsert on (security_id, metric_type, rank_date) |
| display_name, search_name | cd_search_names | replace |

DDL (types, NOT NULL, primary key) comes from the serving contract; every load asset has a
`<asset>_contract` check that reads back what the target holds for the run's partitions.
"""

import time

import dagster as dg
import pandera.polars as pa
import polars as pl

from contracts import column_schema
from contracts.cd import (
    CdBppeddPostgres,
    CdBppeddTurso,
    CdCompanyPostgres,
    CdCompanyTurso,
    CdDisplayNamePostgres,
    CdDisplayNameTurso,
    CdMarketcapPostgres,
    CdMarketcapTurso,
    CdPricePostgres,
    CdPriceTurso,
    CdSearchNamePostgres,
    CdSearchNameTurso,
    CdSecurityPostgres,
    CdSecurityRankPostgres,
    CdSecurityRankTurso,
    CdSecurityTurso,
)
from dag.cd_common import partition_frame, run_partitions
from dag.cd_serving_tables import (
    SERVING,
    ServingTable,
    company_table,
    display_name_table,
    search_name_table,
    security_table,
    serving_contract_check,
)
from dag.partitions import daily_exchange_category_partition
from dag_io import PostgresResource, TursoResource, lake

PARTITION_BY = {"date": "date", "exchange": "exchange"}


def _tags(target: str) -> dict[str, str]:
    return {"data_tier": "gold", "domain": "stock", "source": "krx", "target": target}


def _partitions(context: dg.AssetExecutionContext) -> str:
    if not context.has_partition_key_range:
        return ""
    key_range = context.partition_key_range
    return key_range.start if key_range.start == key_range.end else f"{key_range}"


def load_serving_table(
    context: dg.AssetExecutionContext,
    target: PostgresResource | TursoResource,
    table: ServingTable,
    frame: pl.LazyFrame,
    contract: type[pa.DataFrameModel],
) -> dg.MaterializeResult:
    """Load `frame` into `table` of `target` (PostgreSQL or Turso) in one transaction."""
    started = time.perf_counter()
    # Daily series replace exactly the run's (date, exchange) partitions, also one that now has
    # no rows (a day re-run as a holiday loses its old rows), in the load's one transaction.
    partitions = (
        partition_frame(run_partitions(context)) if table.mode == "replace_partitions" else None
    )
    result = target.load(
        table.name,
        table.conform(frame, contract),
        mode=table.mode,
        partition_columns=table.partition_columns,
        keys=table.keys(contract),
        contract=contract,
        partitions=partitions,
    )
    return dg.MaterializeResult(
        metadata={
            "execution_time_sec": round(time.perf_counter() - started, 3),
            "dagster/row_count": result.rows,
            "table": result.table,
            "mode": table.mode,
            "load_seconds": round(result.seconds, 3),
            "partitions": _partitions(context),
        }
    )


# --- PostgreSQL ---------------------------------------------------------------------------------


@dg.asset(
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "postgres"},
    tags=_tags("postgres"),
    metadata={"dagster/column_schema": column_schema(CdSecurityPostgres)},
)
def cd_security_postgres(
    context: dg.AssetExecutionContext,
    cd_postgres: PostgresResource,
    cd_security: pl.LazyFrame,
    cd_security_metrics: pl.LazyFrame,
) -> dg.MaterializeResult:
    """PostgreSQL `security`: every security with its latest metrics."""
    frame = security_table(cd_security, cd_security_metrics)
    return load_serving_table(context, cd_postgres, SERVING["security"], frame, CdSecurityPostgres)


@dg.asset(
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "postgres"},
    tags=_tags("postgres"),
    metadata={"dagster/column_schema": column_schema(CdCompanyPostgres)},
)
def cd_company_postgres(
    context: dg.AssetExecutionContext,
    cd_postgres: PostgresResource,
    cd_company: pl.LazyFrame,
    cd_company_metrics: pl.LazyFrame,
) -> dg.MaterializeResult:
    """PostgreSQL `company`: every company with market cap, rank and prior rank."""
    frame = company_table(cd_company, cd_company_metrics)
    return load_serving_table(context, cd_postgres, SERVING["company"], frame, CdCompanyPostgres)


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "postgres"},
    tags=_tags("postgres"),
    metadata={
        **lake(partition_by=PARTITION_BY),
        "dagster/column_schema": column_schema(CdPricePostgres),
    },
)
def cd_price_postgres(
    context: dg.AssetExecutionContext, cd_postgres: PostgresResource, cd_digest_price: pl.LazyFrame
) -> dg.MaterializeResult:
    """PostgreSQL `price`: daily OHLCV of the run's (date, exchange) partitions."""
    return load_serving_table(
        context, cd_postgres, SERVING["price"], cd_digest_price, CdPricePostgres
    )


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "postgres"},
    tags=_tags("postgres"),
    metadata={
        **lake(partition_by=PARTITION_BY),
        "dagster/column_schema": column_schema(CdMarketcapPostgres),
    },
)
def cd_marketcap_postgres(
    context: dg.AssetExecutionContext,
    cd_postgres: PostgresResource,
    cd_digest_marketcaps: pl.LazyFrame,
) -> dg.MaterializeResult:
    """PostgreSQL `marketcap`: daily market caps of the run's (date, exchange) partitions."""
    return load_serving_table(
        context, cd_postgres, SERVING["marketcap"], cd_digest_marketcaps, CdMarketcapPostgres
    )


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "postgres"},
    tags=_tags("postgres"),
    metadata={
        **lake(partition_by=PARTITION_BY),
        "dagster/column_schema": column_schema(CdBppeddPostgres),
    },
)
def cd_bppedd_postgres(
    context: dg.AssetExecutionContext,
    cd_postgres: PostgresResource,
    cd_digest_bppedds: pl.LazyFrame,
) -> dg.MaterializeResult:
    """PostgreSQL `bppedd`: daily fundamentals of the run's (date, exchange) partitions."""
    return load_serving_table(
        context, cd_postgres, SERVING["bppedd"], cd_digest_bppedds, CdBppeddPostgres
    )


@dg.asset(
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "postgres"},
    tags=_tags("postgres"),
    metadata={"dagster/column_schema": column_schema(CdSecurityRankPostgres)},
)
def cd_security_rank_postgres(
    context: dg.AssetExecutionContext,
    cd_postgres: PostgresResource,
    cd_security_ranks: pl.LazyFrame,
) -> dg.MaterializeResult:
    """PostgreSQL `security_rank`: ranks per metric, accumulated per rank date."""
    return load_serving_table(
        context, cd_postgres, SERVING["security_rank"], cd_security_ranks, CdSecurityRankPostgres
    )


@dg.asset(
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "postgres"},
    tags=_tags("postgres"),
    metadata={"dagster/column_schema": column_schema(CdDisplayNamePostgres)},
)
def cd_display_name_postgres(
    context: dg.AssetExecutionContext, cd_postgres: PostgresResource, cd_search_names: pl.LazyFrame
) -> dg.MaterializeResult:
    """PostgreSQL `display_name`: the name shown for each company."""
    frame = display_name_table(cd_search_names)
    return load_serving_table(
        context, cd_postgres, SERVING["display_name"], frame, CdDisplayNamePostgres
    )


@dg.asset(
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "postgres"},
    tags=_tags("postgres"),
    metadata={"dagster/column_schema": column_schema(CdSearchNamePostgres)},
)
def cd_search_name_postgres(
    context: dg.AssetExecutionContext, cd_postgres: PostgresResource, cd_search_names: pl.LazyFrame
) -> dg.MaterializeResult:
    """PostgreSQL `search_name`: search strings per company, in order."""
    frame = search_name_table(cd_search_names)
    return load_serving_table(
        context, cd_postgres, SERVING["search_name"], frame, CdSearchNamePostgres
    )


# --- Turso (the same loads, the other target) ---------------------------------------------------


@dg.asset(
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sqlite"},
    tags=_tags("turso"),
    metadata={"dagster/column_schema": column_schema(CdSecurityTurso)},
)
def cd_security_turso(
    context: dg.AssetExecutionContext,
    turso: TursoResource,
    cd_security: pl.LazyFrame,
    cd_security_metrics: pl.LazyFrame,
) -> dg.MaterializeResult:
    """Turso `security`: every security with its latest metrics."""
    frame = security_table(cd_security, cd_security_metrics)
    return load_serving_table(context, turso, SERVING["security"], frame, CdSecurityTurso)


@dg.asset(
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sqlite"},
    tags=_tags("turso"),
    metadata={"dagster/column_schema": column_schema(CdCompanyTurso)},
)
def cd_company_turso(
    context: dg.AssetExecutionContext,
    turso: TursoResource,
    cd_company: pl.LazyFrame,
    cd_company_metrics: pl.LazyFrame,
) -> dg.MaterializeResult:
    """Turso `company`: every company with market cap, rank and prior rank."""
    frame = company_table(cd_company, cd_company_metrics)
    return load_serving_table(context, turso, SERVING["company"], frame, CdCompanyTurso)


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sqlite"},
    tags=_tags("turso"),
    metadata={
        **lake(partition_by=PARTITION_BY),
        "dagster/column_schema": column_schema(CdPriceTurso),
    },
)
def cd_price_turso(
    context: dg.AssetExecutionContext, turso: TursoResource, cd_digest_price: pl.LazyFrame
) -> dg.MaterializeResult:
    """Turso `price`: daily OHLCV of the run's (date, exchange) partitions."""
    return load_serving_table(context, turso, SERVING["price"], cd_digest_price, CdPriceTurso)


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sqlite"},
    tags=_tags("turso"),
    metadata={
        **lake(partition_by=PARTITION_BY),
        "dagster/column_schema": column_schema(CdMarketcapTurso),
    },
)
def cd_marketcap_turso(
    context: dg.AssetExecutionContext, turso: TursoResource, cd_digest_marketcaps: pl.LazyFrame
) -> dg.MaterializeResult:
    """Turso `marketcap`: daily market caps of the run's (date, exchange) partitions."""
    return load_serving_table(
        context, turso, SERVING["marketcap"], cd_digest_marketcaps, CdMarketcapTurso
    )


@dg.asset(
    group_name="CD",
    partitions_def=daily_exchange_category_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sqlite"},
    tags=_tags("turso"),
    metadata={
        **lake(partition_by=PARTITION_BY),
        "dagster/column_schema": column_schema(CdBppeddTurso),
    },
)
def cd_bppedd_turso(
    context: dg.AssetExecutionContext, turso: TursoResource, cd_digest_bppedds: pl.LazyFrame
) -> dg.MaterializeResult:
    """Turso `bppedd`: daily fundamentals of the run's (date, exchange) partitions."""
    return load_serving_table(context, turso, SERVING["bppedd"], cd_digest_bppedds, CdBppeddTurso)


@dg.asset(
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sqlite"},
    tags=_tags("turso"),
    metadata={"dagster/column_schema": column_schema(CdSecurityRankTurso)},
)
def cd_security_rank_turso(
    context: dg.AssetExecutionContext, turso: TursoResource, cd_security_ranks: pl.LazyFrame
) -> dg.MaterializeResult:
    """Turso `security_rank`: ranks per metric, accumulated per rank date."""
    return load_serving_table(
        context, turso, SERVING["security_rank"], cd_security_ranks, CdSecurityRankTurso
    )


@dg.asset(
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sqlite"},
    tags=_tags("turso"),
    metadata={"dagster/column_schema": column_schema(CdDisplayNameTurso)},
)
def cd_display_name_turso(
    context: dg.AssetExecutionContext, turso: TursoResource, cd_search_names: pl.LazyFrame
) -> dg.MaterializeResult:
    """Turso `display_name`: the name shown for each company."""
    frame = display_name_table(cd_search_names)
    return load_serving_table(context, turso, SERVING["display_name"], frame, CdDisplayNameTurso)


@dg.asset(
    group_name="CD",
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "sqlite"},
    tags=_tags("turso"),
    metadata={"dagster/column_schema": column_schema(CdSearchNameTurso)},
)
def cd_search_name_turso(
    context: dg.AssetExecutionContext, turso: TursoResource, cd_search_names: pl.LazyFrame
) -> dg.MaterializeResult:
    """Turso `search_name`: search strings per company, in order."""
    frame = search_name_table(cd_search_names)
    return load_serving_table(context, turso, SERVING["search_name"], frame, CdSearchNameTurso)


# --- contract checks: what the target holds, read back -------------------------------------------

cd_security_postgres_contract = serving_contract_check(cd_security_postgres, CdSecurityPostgres)
cd_company_postgres_contract = serving_contract_check(cd_company_postgres, CdCompanyPostgres)
cd_price_postgres_contract = serving_contract_check(cd_price_postgres, CdPricePostgres)
cd_marketcap_postgres_contract = serving_contract_check(cd_marketcap_postgres, CdMarketcapPostgres)
cd_bppedd_postgres_contract = serving_contract_check(cd_bppedd_postgres, CdBppeddPostgres)
cd_security_rank_postgres_contract = serving_contract_check(
    cd_security_rank_postgres, CdSecurityRankPostgres
)
cd_display_name_postgres_contract = serving_contract_check(
    cd_display_name_postgres, CdDisplayNamePostgres
)
cd_search_name_postgres_contract = serving_contract_check(
    cd_search_name_postgres, CdSearchNamePostgres
)
cd_security_turso_contract = serving_contract_check(cd_security_turso, CdSecurityTurso)
cd_company_turso_contract = serving_contract_check(cd_company_turso, CdCompanyTurso)
cd_price_turso_contract = serving_contract_check(cd_price_turso, CdPriceTurso)
cd_marketcap_turso_contract = serving_contract_check(cd_marketcap_turso, CdMarketcapTurso)
cd_bppedd_turso_contract = serving_contract_check(cd_bppedd_turso, CdBppeddTurso)
cd_security_rank_turso_contract = serving_contract_check(
    cd_security_rank_turso, CdSecurityRankTurso
)
cd_display_name_turso_contract = serving_contract_check(cd_display_name_turso, CdDisplayNameTurso)
cd_search_name_turso_contract = serving_contract_check(cd_search_name_turso, CdSearchNameTurso)
