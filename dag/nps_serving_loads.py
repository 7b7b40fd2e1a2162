"""NPS serving loads: the pension register, the company layer and the analysis tables in
PostgreSQL (`nps_postgres`), through the one serving path (`dag.serving`).

Monthly tables replace exactly the run's months (a rerun never duplicates; a month that now has
no rows loses its old ones); the company dimension, aliases and growth replace the whole table.

| table (schema public) | from the lake asset |
| --- | --- |
| pension | nps_his_digest (+ row_key), by `nps_his_postgres_append` |
| match_audit_log, match_review_queue | nps_match_audit, nps_review_queue |
| fact_pension_monthly, dim_company, company_alias | the same-named nps_* assets |
| nps_industry_monthly_stats, nps_region_monthly_stats, nps_company_growth | the same |

Each load asset is `<lake asset>_postgres`, except the register's `nps_his_postgres_append`.
"""

import pandera.polars as pa
import polars as pl

from contracts.nps import (
    NpsCompanyAliasPostgres,
    NpsCompanyGrowthPostgres,
    NpsDimCompanyPostgres,
    NpsFactPensionMonthlyPostgres,
    NpsHisPostgresAppend,
    NpsIndustryMonthlyStatsPostgres,
    NpsMatchAuditPostgres,
    NpsRegionMonthlyStatsPostgres,
    NpsReviewQueuePostgres,
)
from dag.common import NPS_GOLD_POOL, NPS_TAGS
from dag.nps_company_matching import row_key
from dag.partitions import nps_monthly_partition
from dag.serving import Serving, serving_asset

PENSION_TABLE = "public.pension"


def nps_serving(
    name: str,
    table: str,
    contract: type[pa.DataFrameModel],
    what: str,
    *,
    monthly: bool,
    require_rows: bool = True,
) -> Serving:
    """The spec of one NPS load: monthly tables replace the run's months (`ym`), the others the
    whole table; a monthly load whose months end up empty fails its check (`require_rows`)."""
    return Serving(
        name=name,
        group="NPS",
        table=table,
        target="postgres",
        resource_key="nps_postgres",
        contract=contract,
        mode="replace_partitions" if monthly else "replace",
        description=f"PostgreSQL `{table}`: {what}.",
        tags=NPS_TAGS,
        partitions_def=nps_monthly_partition if monthly else None,
        partition_by="ym" if monthly else None,
        require_rows=monthly and require_rows,
        pool=None if monthly else NPS_GOLD_POOL,  # whole-table loads take turns across runs
    )


def pension_rows(nps_his_digest: pl.LazyFrame) -> pl.LazyFrame:
    """The digest as `public.pension` holds it: every column plus `row_key` (the table's key)."""
    return nps_his_digest.with_columns(row_key=row_key())


nps_his_postgres_append, nps_his_postgres_append_contract = serving_asset(
    nps_serving(
        "nps_his_postgres_append",
        PENSION_TABLE,
        NpsHisPostgresAppend,
        "the pension register, one row per digest row and month",
        monthly=True,
    ),
    pension_rows,
)
nps_match_audit_postgres, nps_match_audit_postgres_contract = serving_asset(
    nps_serving(
        "nps_match_audit_postgres",
        "public.match_audit_log",
        NpsMatchAuditPostgres,
        "the month's matching decisions",
        monthly=True,
    ),
    "nps_match_audit",
)
nps_review_queue_postgres, nps_review_queue_postgres_contract = serving_asset(
    nps_serving(
        "nps_review_queue_postgres",
        "public.match_review_queue",
        NpsReviewQueuePostgres,
        "the month's rows awaiting review (often none)",
        monthly=True,
        require_rows=False,
    ),
    "nps_review_queue",
)
nps_fact_pension_monthly_postgres, nps_fact_pension_monthly_postgres_contract = serving_asset(
    nps_serving(
        "nps_fact_pension_monthly_postgres",
        "public.fact_pension_monthly",
        NpsFactPensionMonthlyPostgres,
        "per company and month, sums over the accepted rows",
        monthly=True,
    ),
    "nps_fact_pension_monthly",
)
nps_dim_company_postgres, nps_dim_company_postgres_contract = serving_asset(
    nps_serving(
        "nps_dim_company_postgres",
        "public.dim_company",
        NpsDimCompanyPostgres,
        "every company seen in any month",
        monthly=False,
    ),
    "nps_dim_company",
)
nps_company_alias_postgres, nps_company_alias_postgres_contract = serving_asset(
    nps_serving(
        "nps_company_alias_postgres",
        "public.company_alias",
        NpsCompanyAliasPostgres,
        "every name a company was seen under",
        monthly=False,
    ),
    "nps_company_alias",
)
nps_industry_monthly_stats_postgres, nps_industry_monthly_stats_postgres_contract = serving_asset(
    nps_serving(
        "nps_industry_monthly_stats_postgres",
        "public.nps_industry_monthly_stats",
        NpsIndustryMonthlyStatsPostgres,
        "monthly statistics per industry",
        monthly=True,
    ),
    "nps_industry_monthly_stats",
)
nps_region_monthly_stats_postgres, nps_region_monthly_stats_postgres_contract = serving_asset(
    nps_serving(
        "nps_region_monthly_stats_postgres",
        "public.nps_region_monthly_stats",
        NpsRegionMonthlyStatsPostgres,
        "monthly statistics per 시군구 region",
        monthly=True,
    ),
    "nps_region_monthly_stats",
)
nps_company_growth_postgres, nps_company_growth_postgres_contract = serving_asset(
    nps_serving(
        "nps_company_growth_postgres",
        "public.nps_company_growth",
        NpsCompanyGrowthPostgres,
        "subscriber growth per company and month",
        monthly=False,
    ),
    "nps_company_growth",
)
