"""Jobs: each selects by group or by an asset and its downstream (guideline 7). No retries.

Partitioning is inferred from the selected assets (Dagster 1.13 deprecates `partitions_def`).
"""

from typing import Any

import dagster as dg

from dag.common import CD_GOLD_POOL, NPS_GOLD_POOL, logos_pool

# Turso load assets carry tags {"target": "turso"}; they run in their own job, after the update.
CD_TURSO_LOADS = dg.AssetSelection.tag("target", "turso")
CD_HISTORY = dg.AssetSelection.assets(
    "cd_historical_prices", "cd_historical_marketcaps", "cd_historical_bppedds"
)

# Runs default to the in-process executor: a multiprocess run starts one process per step, and each
# re-imports the code location (one NPS month: ~5 min vs ~20 s on 2 cores). The launchpad or
# `--config-json '{"execution": {"config": {"multiprocess": {}}}}'` picks multiprocess instead.
IN_PROCESS: dict[str, Any] = {"execution": {"config": {"in_process": {}}}}

# Run monitoring (dag/dagster.yaml, README "Run monitoring"): the daemon fails a run that is still
# in progress after its job's `dagster/max_runtime` (seconds; job tags become run tags, and a
# launch's `--tags '{"dagster/max_runtime": "..."}'` overrides them). With the local run launcher
# this is also what fails a run whose worker was killed (SIGKILL, OOM) together with its server.
MAX_RUNTIME_TAG = "dagster/max_runtime"
HOUR = 3600


def max_runtime(hours: int) -> dict[str, str]:
    """The run tag that bounds a job's runs to `hours` (range runs included)."""
    return {MAX_RUNTIME_TAG: str(hours * HOUR)}


# Queued runs (dag/dagster.yaml `concurrency.runs`): at most one in-progress run per value of this
# tag. Jobs whose runs rewrite the same unpartitioned gold tables (CD's security/company layer,
# NPS's company layer) share a value, so two runs for different partitions take turns instead of
# failing one of them on a Delta commit conflict. The CD month-end history writes only its own
# monthly partitions and carries none: its chunked backfill runs side by side. The value is the
# name of the concurrency pool those tables' assets are in (dag.common): a run launched by asset
# selection carries no job tag, and its steps take turns in the pool instead.
SERIAL_TAG = "dag/serial"


def serial(group: str) -> dict[str, str]:
    """The run tag that queues a job's runs behind every other run of `group`."""
    return {SERIAL_TAG: group}


nps_targets = dg.AssetSelection.groups("NPS")
# All four bronze series are roots (cd_prices is not downstream of cd_stockcode): select the group.
cd_daily_targets = dg.AssetSelection.groups("CD") - CD_TURSO_LOADS - CD_HISTORY
cd_turso_targets = dg.AssetSelection.groups("CD") & CD_TURSO_LOADS

nps_history_job = dg.define_asset_job(
    name="nps_history_job",
    selection=nps_targets,
    config=IN_PROCESS,
    description="NPS end to end per month: raw CSV to PostgreSQL and the company layer",
    # A month takes minutes; a single-run range over years of months takes hours.
    tags={
        "domain": "pension", "data_tier": "mixed", **serial(NPS_GOLD_POOL), **max_runtime(hours=6)
    },
)

cd_daily_update_job = dg.define_asset_job(
    name="cd_daily_update_job",
    selection=cd_daily_targets,
    config=IN_PROCESS,
    description="KRX daily update per (date, exchange): bronze to gold and the PostgreSQL loads",
    tags={
        "domain": "stock", "data_tier": "mixed", "type": "daily_update", **serial(CD_GOLD_POOL),
        **max_runtime(hours=2),
    },
)

cd_daily_update_turso_job = dg.define_asset_job(
    name="cd_daily_update_turso_job",
    selection=cd_turso_targets,
    config=IN_PROCESS,
    description="Load CD's gold serving tables into Turso (same tables and loader as PostgreSQL)",
    # Turso Cloud loads go row batch by row batch through a local replica: slower than PostgreSQL.
    # It reads the gold tables the daily update rewrites: the two never run at once.
    tags={
        "domain": "stock", "data_tier": "gold", "target": "turso", **serial(CD_GOLD_POOL),
        **max_runtime(hours=2),
    },
)

cd_history_job = dg.define_asset_job(
    name="cd_history_job",
    selection=CD_HISTORY,
    config=IN_PROCESS,
    description="CD month-end history (20 years) through the daily update's source and digest",
    tags={"domain": "stock", "data_tier": "silver", "type": "history", **max_runtime(hours=6)},
)

cd_jobs = [cd_daily_update_job, cd_daily_update_turso_job, cd_history_job]

IS_TRENDS = dg.AssetSelection.assets("is_post_trends")
# IS enrichment (LLM/VLM) and keyword trends: by tag, so the selection is empty (not an error)
# where their modules are not loaded. Never in the ingest job: it must run without an LLM.
IS_ENRICHMENT = dg.AssetSelection.tag("is_step", "enrichment")
IS_KEYWORD_TRENDS = dg.AssetSelection.tag("is_step", "keyword_trends")
# IS story-cluster build (is_cluster_posts, is_clusters and their loads): every 30 minutes in its
# own job; the cluster trends and rotation stay in the 10-minute trends job.
IS_CLUSTER_BUILD = dg.AssetSelection.tag("is_job", "clusters")
is_ingest_job = dg.define_asset_job(
    name="is_ingest_job",
    selection=dg.AssetSelection.assets("is_crawl_files").downstream() - IS_TRENDS.downstream()
    - IS_ENRICHMENT.downstream() - IS_KEYWORD_TRENDS,
    config=IN_PROCESS,
    description="IS per crawl file: bronze rows, the silver post tables and their PostgreSQL "
    "and Turso loads (one run per file, started by is_output_data_sensor)",
    tags={"source": "IS", "type": "ingest", "dagster/priority": "3", **max_runtime(hours=1)},
)
is_trends_job = dg.define_asset_job(
    name="is_trends_job",
    selection=IS_TRENDS.downstream() - IS_CLUSTER_BUILD,
    config=IN_PROCESS,
    description="IS hot-post trends of one 10-minute window and their loads",
    tags={"source": "IS", "type": "trends", **max_runtime(hours=1)},
)
is_crawler_job = dg.define_asset_job(
    name="is_crawler_job",
    selection=dg.AssetSelection.assets("is_crawler_executor"),
    config=IN_PROCESS,
    description="IS crawl: the community crawlers (sample by default, IS_CRAWLER_COMMAND live) "
    "write one file per board into IS_OUTPUT_DIR, where is_output_data_sensor picks them up",
    # The crawler's own limit is IS_CRAWLER_TIMEOUT_SECONDS (default 30 minutes).
    tags={"source": "IS", "type": "crawl", **max_runtime(hours=1)},
)
is_enrichment_job = dg.define_asset_job(
    name="is_enrichment_job",
    selection=IS_ENRICHMENT,
    config=IN_PROCESS,
    description="IS enrichment: the VLM describes pending images, the LLM categorises pending "
    "posts (front page first), and their PostgreSQL loads; needs OPENAI_* and VLM_*",
    tags={"source": "IS", "type": "enrichment", **max_runtime(hours=1)},
)
is_keyword_trends_job = dg.define_asset_job(
    name="is_keyword_trends_job",
    selection=IS_KEYWORD_TRENDS,
    config=IN_PROCESS,
    description="IS keyword trends of one 10-minute window (3h, 6h, 24h, 1w) and their loads",
    tags={"source": "IS", "type": "trends", **max_runtime(hours=1)},
)
is_clusters_job = dg.define_asset_job(
    name="is_clusters_job",
    selection=IS_CLUSTER_BUILD,
    config=IN_PROCESS,
    description="IS story clusters over the last 72 hours (near-duplicate posts, stable ids, "
    "merges of the last 14 days) and their PostgreSQL and Turso loads",
    tags={"source": "IS", "type": "clusters", **max_runtime(hours=1)},
)
is_jobs = [is_ingest_job, is_trends_job, is_crawler_job, is_enrichment_job,
           is_keyword_trends_job, is_clusters_job]

SS_REPORTS = dg.AssetSelection.assets(
    "ss_dictionary", "ss_carriers_postgres", "ss_phone_models_postgres", "ss_aggregates_daily",
    "ss_aggregates_daily_postgres", "ss_aggregates_daily_turso", "ss_api_views_postgres",
)
# ss_flush (destructive, needs a typed confirmation) is deliberately in no job.
ss_ingest_job = dg.define_asset_job(
    name="ss_ingest_job",
    selection=dg.AssetSelection.assets(
        "ss_crawl_files", "ss_normalized_posts", "ss_deal_candidates", "ss_deals_extracted",
        "ss_quarantine", "ss_deals", "ss_deals_postgres", "ss_deals_turso",
    ),
    config=IN_PROCESS,
    description="SS per crawl file: bronze posts, rules, LLM extraction, deals and their "
    "PostgreSQL and Turso loads (one run per file, started by ss_output_data_sensor)",
    tags={"source": "SS", "type": "ingest", **max_runtime(hours=1)},
)
ss_reports_job = dg.define_asset_job(
    name="ss_reports_job",
    selection=SS_REPORTS,
    config=IN_PROCESS,
    description="SS dictionary and daily price reports (last 7 days) with their loads and the "
    "JSON API views",
    tags={"source": "SS", "type": "reports", **max_runtime(hours=1)},
)
ss_crawler_job = dg.define_asset_job(
    name="ss_crawler_job",
    selection=dg.AssetSelection.assets("ss_crawler_executor"),
    config=IN_PROCESS,
    description="SS crawl of the phone board (sample by default, SS_CRAWLER_COMMAND live) into "
    "SS_OUTPUT_DIR, where ss_output_data_sensor picks the files up",
    tags={"source": "SS", "type": "crawl", **max_runtime(hours=1)},
)
ss_jobs = [ss_ingest_job, ss_reports_job, ss_crawler_job]


# DS / CD logos (issue 18): crawler to company updates. The bucket clean-ups
# (ds_bucket_cleanup, cd_bucket_cleanup) need a typed confirmation and are deliberately in no job.
def _logos_job(prefix: str, updates: str, what: str) -> Any:
    return dg.define_asset_job(
        name=f"{prefix}_logos_job",
        selection=dg.AssetSelection.assets(
            f"{prefix}_logo_crawler", f"{prefix}_logo_sources", f"{prefix}_logo_files",
            f"{prefix}_logo_webp", updates,
        ),
        config=IN_PROCESS,
        description=f"{prefix.upper()} logos: crawl, list the source bucket, convert changed PNGs "
        f"to WebP, publish both to the target bucket and upsert {what}",
        tags={
            "source": prefix.upper(), "type": "logos", **serial(logos_pool(prefix)),
            **max_runtime(hours=2),
        },
    )


ds_logos_job = _logos_job("ds", "ds_company_thumbnails", "company_thumbnail")
cd_logos_job = _logos_job("cd", "cd_company_logos", "company_logo")
ds_jobs = [ds_logos_job, cd_logos_job]

all_jobs = [nps_history_job, *cd_jobs, *is_jobs, *ss_jobs, *ds_jobs]
