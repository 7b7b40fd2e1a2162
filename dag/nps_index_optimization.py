"""NPS serving indexes on `public.pension` and the analysis tables (gold).

- `nps_pension_indexes`: btree on the registration number and on (sigungu, industry), BRIN on
  the month, and a trigram GIN index on `name_norm` only when `pg_trgm` is installed or can be
  created by this login; metadata says which.
- Analysis, computed in the lake with Polars, then loaded to PostgreSQL: monthly statistics per
  industry and per region (workplaces, subscribers, average wage, joins/leaves), monthly
  partitions from the digest; per-company growth (month over month, year over year) from the
  company facts of every month (unpartitioned: it needs the previous month and year, whichever
  order months were processed in).
"""

import time
from dataclasses import dataclass, replace

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check, validate_frame
from contracts.nps import (
    NpsCompanyGrowth,
    NpsCompanyGrowthPostgres,
    NpsIndustryMonthlyStats,
    NpsIndustryMonthlyStatsPostgres,
    NpsPensionIndexes,
    NpsRegionMonthlyStats,
    NpsRegionMonthlyStatsPostgres,
)
from dag.nps_postgres_simple import (
    PENSION_TABLE,
    load_to_postgres,
    postgres_contract_check,
    postgres_frame,
)
from dag.partitions import nps_monthly_partition
from dag_io import PostgresResource, lake
from dag_io.postgres import ExtensionStatus, IndexSpec

TAGS = {"data_tier": "gold", "domain": "pension", "source": "national_pension"}
POSTGRES_TAGS = {**TAGS, "target": "postgres"}
UNKNOWN = "unknown"
TRGM_INDEX = "pension_name_norm_trgm"
TABLES = {
    "nps_industry_monthly_stats": "public.nps_industry_monthly_stats",
    "nps_region_monthly_stats": "public.nps_region_monthly_stats",
    "nps_company_growth": "public.nps_company_growth",
}


# --- analysis rules (pure, tested on literal frames) ------------------------------------------
def _monthly_measures() -> list[pl.Expr]:
    status = pl.col("join_status").cast(pl.String)
    wage_weight = pl.when(pl.col("avg_monthly_wage").is_not_null()).then(pl.col("subscriber_count"))
    return [
        (status == "1").sum().cast(pl.Int64).alias("workplaces"),
        (status == "2").sum().cast(pl.Int64).alias("withdrawn_workplaces"),
        pl.col("subscriber_count").sum().cast(pl.Int64).alias("subscribers"),
        pl.col("monthly_notice_amount").sum().cast(pl.Int64),
        (
            (pl.col("avg_monthly_wage") * pl.col("subscriber_count")).sum()
            / pl.when(wage_weight.sum() > 0).then(wage_weight.sum())
        )
        .round(0)
        .alias("avg_monthly_wage"),
        pl.col("new_subscribers").sum().cast(pl.Int64),
        pl.col("lost_subscribers").sum().cast(pl.Int64),
    ]


def _net_change(frame: pl.LazyFrame) -> pl.LazyFrame:
    return frame.with_columns(net_change=pl.col("new_subscribers") - pl.col("lost_subscribers"))


def industry_monthly_stats(digest: pl.LazyFrame) -> pl.LazyFrame:
    """Per (month, industry): workplaces, subscribers, subscriber-weighted wage, joins, leaves."""
    return (
        digest.with_columns(industry_code=pl.col("industry_code").fill_null(UNKNOWN))
        .group_by("ym", "industry_code")
        .agg(
            pl.col("industry_name").drop_nulls().mode().sort().first().alias("industry_name"),
            *_monthly_measures(),
        )
        .pipe(_net_change)
        .sort("ym", "industry_code")
    )


def region_monthly_stats(digest: pl.LazyFrame) -> pl.LazyFrame:
    """Per (month, 시도, 시군구): workplaces, subscribers, weighted wage, joins, leaves."""
    return (
        digest.with_columns(
            addr_sido_code=pl.col("addr_sido_code").fill_null(UNKNOWN),
            addr_sigungu_code=pl.col("addr_sigungu_code").fill_null(UNKNOWN),
        )
        .group_by("ym", "addr_sido_code", "addr_sigungu_code")
        .agg(_monthly_measures())
        .pipe(_net_change)
        .sort("ym", "addr_sido_code", "addr_sigungu_code")
    )


def _pct(change: pl.Expr, base: pl.Expr) -> pl.Expr:
    return pl.when(base > 0).then((change / base * 100).round(2))


def company_growth(facts: pl.LazyFrame) -> pl.LazyFrame:
    """Per (company, month): subscribers against a month and a year earlier (null if absent).

    Joins on the calendar month, not on the previous row, so a gap month is a missing base.
    """
    base = facts.select("company_id", "ym", "subscriber_count")
    previous = base.select(
        "company_id",
        pl.col("ym").dt.offset_by("1mo"),
        pl.col("subscriber_count").alias("prev_month_subscribers"),
    )
    year_ago = base.select(
        "company_id",
        pl.col("ym").dt.offset_by("1y"),
        pl.col("subscriber_count").alias("prev_year_subscribers"),
    )
    mom = pl.col("subscriber_count") - pl.col("prev_month_subscribers")
    yoy = pl.col("subscriber_count") - pl.col("prev_year_subscribers")
    return (
        base.join(previous, on=["company_id", "ym"], how="left")
        .join(year_ago, on=["company_id", "ym"], how="left")
        .with_columns(mom_change=mom, yoy_change=yoy)
        .with_columns(
            mom_growth_pct=_pct(pl.col("mom_change"), pl.col("prev_month_subscribers")),
            yoy_growth_pct=_pct(pl.col("yoy_change"), pl.col("prev_year_subscribers")),
        )
        .select(
            "company_id",
            "ym",
            "subscriber_count",
            "prev_month_subscribers",
            "mom_change",
            "mom_growth_pct",
            "prev_year_subscribers",
            "yoy_change",
            "yoy_growth_pct",
        )
        .sort("ym", "company_id")
    )


# --- serving indexes ----------------------------------------------------------------------------
SERVING_INDEXES = (
    IndexSpec("pension_business_reg_num_idx", ("business_reg_num",)),
    IndexSpec("pension_sigungu_industry_idx", ("addr_sigungu_code", "industry_code")),
    IndexSpec("pension_ym_brin", ("ym",), method="brin"),
)
TRGM_SPEC = IndexSpec(
    TRGM_INDEX, ("name_norm",), method="gin", opclass="gin_trgm_ops", extension="pg_trgm"
)
INDEXES = {spec.name: spec.using for spec in SERVING_INDEXES}
"""The always-built indexes: name -> `USING method (columns)` clause."""


@dataclass(frozen=True)
class TrigramSupport:
    """What the server says about a trigram extension (pg_trgm)."""

    installed: bool
    available: bool
    creatable: bool

    @classmethod
    def of(cls, status: ExtensionStatus) -> "TrigramSupport":
        return cls(status.installed, status.available, status.creatable)

    @property
    def decision(self) -> str:
        if self.installed:
            return "created (pg_trgm installed)"
        if self.available and self.creatable:
            return "created (pg_trgm created by this run)"
        if self.available:
            return "skipped: pg_trgm available but this login may not create it"
        return "skipped: pg_trgm not available on this server"

    @property
    def use(self) -> bool:
        return self.installed or (self.available and self.creatable)


def trigram_support(postgres: PostgresResource, extension: str = "pg_trgm") -> TrigramSupport:
    """Whether `extension` is installed, available, and creatable by the current login."""
    return TrigramSupport.of(postgres.extension_status(extension))


def index_manifest(postgres: PostgresResource, table: str = PENSION_TABLE) -> pl.DataFrame:
    """The table's indexes but the primary key: name, access method and definition."""
    return postgres.indexes(table)


def ensure_indexes(
    postgres: PostgresResource, table: str = PENSION_TABLE, extension: str = "pg_trgm"
) -> tuple[TrigramSupport, list[str]]:
    """Create the serving indexes that are missing (idempotent); list the statements run.

    The trigram index needs `extension`: it is created only when the extension is installed or
    creatable by this login (the returned support says which).
    """
    specs = [*SERVING_INDEXES, replace(TRGM_SPEC, extension=extension)]
    report = postgres.ensure_indexes(table, specs)
    return TrigramSupport.of(report.extensions[extension]), list(report.statements)


@dg.asset(
    group_name="NPS",
    backfill_policy=dg.BackfillPolicy.single_run(),
    deps=["nps_his_postgres_append"],
    kinds={"postgres", "python"},
    tags=POSTGRES_TAGS,
    metadata={
        "target_table": PENSION_TABLE,
        "dagster/column_schema": column_schema(NpsPensionIndexes),
    },
)
def nps_pension_indexes(
    context: dg.AssetExecutionContext, nps_postgres: PostgresResource
) -> dg.MaterializeResult:
    """Serving indexes of `public.pension` (registration number, sigungu+industry, month, name).

    The trigram index on `name_norm` (fuzzy company search) is built only when pg_trgm is
    installed or creatable here; `trigram_index` in the metadata says which branch ran.
    """
    started = time.perf_counter()
    support, statements = ensure_indexes(nps_postgres)
    manifest = index_manifest(nps_postgres)
    passed, checked = validate_frame(manifest, NpsPensionIndexes)
    if not passed:
        raise dg.Failure(
            description=f"asset nps_pension_indexes: {PENSION_TABLE} indexes break "
            f"NpsPensionIndexes: {checked['rules_failed'].data}",
            metadata=checked,
        )
    return dg.MaterializeResult(
        metadata={
            "target_table": PENSION_TABLE,
            "trigram_index": support.decision,
            "pg_trgm_available": support.available,
            "indexes": dg.MetadataValue.json(manifest["index_name"].to_list()),
            "statements": dg.MetadataValue.md(
                "\n".join(f"- `{s}`" for s in statements) or "- none: no index was missing"
            ),
            "execution_time_sec": round(time.perf_counter() - started, 3),
        }
    )


def _read_index_manifest(context: dg.AssetCheckExecutionContext) -> pl.DataFrame:
    """The index manifest of `public.pension`, read back from PostgreSQL."""
    return index_manifest(context.resources.nps_postgres)


nps_pension_indexes_contract = contract_check(
    nps_pension_indexes,
    NpsPensionIndexes,
    read=_read_index_manifest,
    required_resource_keys={"nps_postgres"},
)


# --- analysis assets (lake) -------------------------------------------------------------------
def _stats_metadata(frame: pl.DataFrame, started: float) -> dict[str, object]:
    return {
        "groups": frame.height,
        "workplaces": int(frame["workplaces"].sum()),
        "subscribers": int(frame["subscribers"].sum()),
        "net_change": int(frame["net_change"].sum()),
        "execution_time_sec": round(time.perf_counter() - started, 3),
    }


@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=TAGS,
    metadata={
        **lake(partition_by="ym"),
        "dagster/column_schema": column_schema(NpsIndustryMonthlyStats),
    },
)
def nps_industry_monthly_stats(
    context: dg.AssetExecutionContext, nps_his_digest: pl.LazyFrame
) -> dg.Output[pl.DataFrame]:
    """Monthly statistics per industry: workplaces, subscribers, average wage, joins and leaves."""
    started = time.perf_counter()
    stats = industry_monthly_stats(nps_his_digest).collect()
    return dg.Output(stats, metadata=_stats_metadata(stats, started))


@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=TAGS,
    metadata={
        **lake(partition_by="ym"),
        "dagster/column_schema": column_schema(NpsRegionMonthlyStats),
    },
)
def nps_region_monthly_stats(
    context: dg.AssetExecutionContext, nps_his_digest: pl.LazyFrame
) -> dg.Output[pl.DataFrame]:
    """Monthly statistics per 시군구 region: workplaces, subscribers, wage, joins and leaves."""
    started = time.perf_counter()
    stats = region_monthly_stats(nps_his_digest).collect()
    return dg.Output(stats, metadata=_stats_metadata(stats, started))


@dg.asset(
    group_name="NPS",
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=TAGS,
    metadata={"dagster/column_schema": column_schema(NpsCompanyGrowth)},
)
def nps_company_growth(nps_fact_pension_monthly: pl.LazyFrame) -> dg.Output[pl.DataFrame]:
    """Per company and month: subscriber growth month over month and year over year."""
    started = time.perf_counter()
    growth = company_growth(nps_fact_pension_monthly).collect()
    latest = growth.filter(pl.col("ym") == pl.col("ym").max())
    return dg.Output(
        growth,
        metadata={
            "rows": growth.height,
            "latest_month": latest["ym"].max().isoformat() if latest.height else None,
            "latest_growing": latest.filter(pl.col("mom_change") > 0).height,
            "latest_shrinking": latest.filter(pl.col("mom_change") < 0).height,
            "execution_time_sec": round(time.perf_counter() - started, 3),
        },
    )


nps_industry_monthly_stats_contract = contract_check(
    nps_industry_monthly_stats, NpsIndustryMonthlyStats
)
nps_region_monthly_stats_contract = contract_check(nps_region_monthly_stats, NpsRegionMonthlyStats)
nps_company_growth_contract = contract_check(nps_company_growth, NpsCompanyGrowth)


# --- analysis loads (PostgreSQL) --------------------------------------------------------------
@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "postgres"},
    tags=POSTGRES_TAGS,
    metadata={
        **lake(partition_by="ym"),
        "target_table": TABLES["nps_industry_monthly_stats"],
        "dagster/column_schema": column_schema(NpsIndustryMonthlyStatsPostgres),
    },
)
def nps_industry_monthly_stats_postgres(
    context: dg.AssetExecutionContext,
    nps_postgres: PostgresResource,
    nps_industry_monthly_stats: pl.LazyFrame,
) -> dg.MaterializeResult:
    """`nps_industry_monthly_stats` in PostgreSQL (the run's months replaced)."""
    return load_to_postgres(
        context,
        nps_postgres,
        postgres_frame(nps_industry_monthly_stats, NpsIndustryMonthlyStatsPostgres),
        table=TABLES["nps_industry_monthly_stats"],
        model=NpsIndustryMonthlyStatsPostgres,
    )


@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "postgres"},
    tags=POSTGRES_TAGS,
    metadata={
        **lake(partition_by="ym"),
        "target_table": TABLES["nps_region_monthly_stats"],
        "dagster/column_schema": column_schema(NpsRegionMonthlyStatsPostgres),
    },
)
def nps_region_monthly_stats_postgres(
    context: dg.AssetExecutionContext,
    nps_postgres: PostgresResource,
    nps_region_monthly_stats: pl.LazyFrame,
) -> dg.MaterializeResult:
    """`nps_region_monthly_stats` in PostgreSQL (the run's months replaced)."""
    return load_to_postgres(
        context,
        nps_postgres,
        postgres_frame(nps_region_monthly_stats, NpsRegionMonthlyStatsPostgres),
        table=TABLES["nps_region_monthly_stats"],
        model=NpsRegionMonthlyStatsPostgres,
    )


@dg.asset(
    group_name="NPS",
    backfill_policy=dg.BackfillPolicy.single_run(),
    kinds={"polars", "postgres"},
    tags=POSTGRES_TAGS,
    metadata={
        "target_table": TABLES["nps_company_growth"],
        "dagster/column_schema": column_schema(NpsCompanyGrowthPostgres),
    },
)
def nps_company_growth_postgres(
    context: dg.AssetExecutionContext,
    nps_postgres: PostgresResource,
    nps_company_growth: pl.LazyFrame,
) -> dg.MaterializeResult:
    """`nps_company_growth` in PostgreSQL (whole table replaced atomically)."""
    return load_to_postgres(
        context,
        nps_postgres,
        postgres_frame(nps_company_growth, NpsCompanyGrowthPostgres),
        table=TABLES["nps_company_growth"],
        model=NpsCompanyGrowthPostgres,
    )


nps_industry_monthly_stats_postgres_contract = postgres_contract_check(
    nps_industry_monthly_stats_postgres,
    NpsIndustryMonthlyStatsPostgres,
    TABLES["nps_industry_monthly_stats"],
)
nps_region_monthly_stats_postgres_contract = postgres_contract_check(
    nps_region_monthly_stats_postgres,
    NpsRegionMonthlyStatsPostgres,
    TABLES["nps_region_monthly_stats"],
)
nps_company_growth_postgres_contract = postgres_contract_check(
    nps_company_growth_postgres, NpsCompanyGrowthPostgres, TABLES["nps_company_growth"]
)
