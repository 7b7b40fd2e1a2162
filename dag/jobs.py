"""Jobs: each selects by group or by an asset and its downstream (guideline 7). No retries."""

import dagster as dg

from dag.partitions import (
    cd_monthly_history_partition,
    daily_exchange_category_partition,
    nps_monthly_partition,
)

TURSO_LOADS = dg.AssetSelection.tag("target", "turso")
CD_HISTORY = dg.AssetSelection.assets(
    "cd_historical_prices", "cd_historical_marketcaps", "cd_historical_bppedds"
)

nps_targets = dg.AssetSelection.groups("NPS")
cd_targets = dg.AssetSelection.assets("cd_stockcode").downstream() - TURSO_LOADS - CD_HISTORY
cd_turso_targets = dg.AssetSelection.groups("CD") & TURSO_LOADS
cd_history_targets = CD_HISTORY

nps_history_job = dg.define_asset_job(
    name="nps_history_job",
    selection=nps_targets,
    partitions_def=nps_monthly_partition,
    description="NPS end to end per month: raw CSV to PostgreSQL and the company layer",
    tags={"domain": "pension", "data_tier": "mixed"},
)

cd_daily_update_job = dg.define_asset_job(
    name="cd_daily_update_job",
    selection=cd_targets,
    partitions_def=daily_exchange_category_partition,
    description="KRX daily update per (date, exchange): bronze to gold and the PostgreSQL loads",
    tags={"domain": "stock_market", "data_tier": "mixed", "type": "daily_update"},
)

cd_daily_update_turso_job = dg.define_asset_job(
    name="cd_daily_update_turso_job",
    selection=cd_turso_targets,
    partitions_def=daily_exchange_category_partition,
    description="Load CD's gold serving tables into Turso (the same tables as PostgreSQL)",
    tags={"domain": "stock_market", "data_tier": "gold", "target": "turso"},
)

cd_history_job = dg.define_asset_job(
    name="cd_history_job",
    selection=cd_history_targets,
    partitions_def=cd_monthly_history_partition,
    description="CD month-end history (20 years) from the daily update's source functions",
    tags={"domain": "stock_market", "data_tier": "mixed", "type": "history"},
)

all_jobs = [nps_history_job, cd_daily_update_job, cd_daily_update_turso_job, cd_history_job]
