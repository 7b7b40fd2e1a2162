"""NPS company layer ("SaaS/KYC"): which company each workplace row is, and the company tables.

Lake assets (Delta, gold); `dag.nps_serving_loads` loads each into its PostgreSQL table:

- `nps_match_audit` (monthly): every digest row of the month with its best candidate company,
  score and decision (accepted / review / rejected), computed by `dag.nps_company_matching`.
- `nps_review_queue` (monthly): the rows in the review band, awaiting a human decision.
- `nps_fact_pension_monthly` (monthly): per company and month, sums over the accepted rows.
- `nps_dim_company`, `nps_company_alias` (unpartitioned): recomputed from the whole audit in the
  lake on every run.

Why this split: a month's matching uses only that month's digest (its registered companies and
their names are the candidate pool), so monthly partitions are independent, idempotent units
that can be (re)run in any order or as one backfill range. The company dimension and the aliases
span all months; computing them from the persisted audit instead of updating them month by month
makes them a pure function of the lake: the same whatever order months were processed in, and
rerunning a month changes nothing. Company ids are deterministic (`<reg num>-<addr_key>`).
"""

import datetime as dt
import time
from typing import cast

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check
from contracts.nps import (
    NpsCompanyAlias,
    NpsDimCompany,
    NpsFactPensionMonthly,
    NpsMatchAudit,
    NpsReviewQueue,
)
from dag.common import NPS_GOLD_POOL, NPS_TAGS, elapsed, tags
from dag.nps_company_matching import (
    company_alias,
    dim_company,
    match_rows,
    monthly_facts,
    review_queue,
)
from dag.nps_data_processing import max_field_chars
from dag.partitions import nps_monthly_partition

TAGS = tags("gold", NPS_TAGS)


@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=TAGS,
    metadata={"partition_by": "ym", "dagster/column_schema": column_schema(NpsMatchAudit)},
)
def nps_match_audit(
    context: dg.AssetExecutionContext, nps_his_digest: pl.LazyFrame
) -> dg.Output[pl.DataFrame]:
    """Matching decisions: each workplace row of the month, its best company and why.

    Candidates: same registration number + addr_key (0.95), else an exact alias (0.92), else
    the 3 most trigram-similar names in the same sigungu; accepted >= 0.90, review 0.75-0.90.
    Trigrams come from the first NPS_MAX_FIELD_CHARS characters of a name (silver's limit, so
    every digest name is whole), and the candidate step's work is linear in the names' length.
    """
    started = time.perf_counter()
    name_chars = max_field_chars()
    audit = match_rows(nps_his_digest, max_name_chars=name_chars).collect()
    decisions = audit.group_by("decision").len()
    methods = audit.group_by("method").len()
    counts = dict(zip(decisions["decision"], decisions["len"], strict=True))
    total = audit.height
    return dg.Output(
        audit,
        metadata={
            "rows_matched": total,
            "accepted": counts.get("accepted", 0),
            "review": counts.get("review", 0),
            "rejected": counts.get("rejected", 0),
            "accept_rate": round(counts.get("accepted", 0) / total, 4) if total else None,
            "by_method": dg.MetadataValue.json(
                dict(zip(methods["method"], methods["len"], strict=True))
            ),
            "companies_matched": audit.filter(pl.col("decision") == "accepted")[
                "company_id"
            ].n_unique(),
            "trigram_name_chars": name_chars,
            "execution_time_sec": elapsed(started),
        },
    )


@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=TAGS,
    metadata={"partition_by": "ym", "dagster/column_schema": column_schema(NpsReviewQueue)},
)
def nps_review_queue(
    context: dg.AssetExecutionContext, nps_match_audit: pl.LazyFrame
) -> dg.Output[pl.DataFrame]:
    """Workplace rows whose best candidate scored 0.75-0.90: a person decides the company."""
    started = time.perf_counter()
    queue = review_queue(nps_match_audit).collect()
    return dg.Output(
        queue,
        metadata={
            "rows_queued": queue.height,
            "score_min": cast(float | None, queue["score"].min()) if queue.height else None,
            "score_max": cast(float | None, queue["score"].max()) if queue.height else None,
            "execution_time_sec": elapsed(started),
        },
    )


@dg.asset(
    group_name="NPS",
    partitions_def=nps_monthly_partition,
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=TAGS,
    metadata={
        "partition_by": "ym",
        "dagster/column_schema": column_schema(NpsFactPensionMonthly),
    },
)
def nps_fact_pension_monthly(
    context: dg.AssetExecutionContext, nps_match_audit: pl.LazyFrame
) -> dg.Output[pl.DataFrame]:
    """Per company and month: subscribers, notice amount, joins and leaves of its accepted rows."""
    started = time.perf_counter()
    facts = monthly_facts(nps_match_audit).collect()
    return dg.Output(
        facts,
        metadata={
            "companies": facts.height,
            "subscribers": int(facts["subscriber_count"].sum()),
            "new_subscribers": int(facts["new_subscribers"].sum()),
            "lost_subscribers": int(facts["lost_subscribers"].sum()),
            "execution_time_sec": elapsed(started),
        },
    )


@dg.asset(
    pool=NPS_GOLD_POOL,
    group_name="NPS",
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=TAGS,
    metadata={"dagster/column_schema": column_schema(NpsDimCompany)},
)
def nps_dim_company(nps_match_audit: pl.LazyFrame) -> dg.Output[pl.DataFrame]:
    """Companies (registration number + addr_key) over every month in the lake.

    Canonical name, types and industry come from the latest month; valid_from/valid_to are the
    first and last months seen. Recomputed from the whole audit: order-independent.
    """
    started = time.perf_counter()
    dim = dim_company(nps_match_audit).collect()
    return dg.Output(
        dim,
        metadata={
            "companies": dim.height,
            "without_industry": dim["industry_code"].null_count(),
            "months_covered": (
                cast(dt.date, dim["valid_to"].max()).isoformat() if dim.height else None
            ),
            "execution_time_sec": elapsed(started),
        },
    )


@dg.asset(
    pool=NPS_GOLD_POOL,
    group_name="NPS",
    backfill_policy=dg.BackfillPolicy.single_run(),
    io_manager_key="delta_io_manager",
    kinds={"polars", "deltalake"},
    tags=TAGS,
    metadata={"dagster/column_schema": column_schema(NpsCompanyAlias)},
)
def nps_company_alias(nps_match_audit: pl.LazyFrame) -> dg.Output[pl.DataFrame]:
    """Normalised names a company is known by (accepted exact-alias and >= 0.95 matches)."""
    started = time.perf_counter()
    aliases = company_alias(nps_match_audit).collect()
    return dg.Output(
        aliases,
        metadata={
            "aliases": aliases.height,
            "companies": aliases["company_id"].n_unique(),
            "execution_time_sec": elapsed(started),
        },
    )


nps_match_audit_contract = contract_check(nps_match_audit, NpsMatchAudit)
nps_review_queue_contract = contract_check(nps_review_queue, NpsReviewQueue)
nps_fact_pension_monthly_contract = contract_check(nps_fact_pension_monthly, NpsFactPensionMonthly)
nps_dim_company_contract = contract_check(nps_dim_company, NpsDimCompany)
nps_company_alias_contract = contract_check(nps_company_alias, NpsCompanyAlias)
