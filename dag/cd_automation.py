"""CD automation: the daily update, its Turso twin, the month-end history job, the schedule
that runs the day that closed, and freshness checks on the daily gold tables.

Imported by `dag/jobs.py`, `dag/schedules.py` and `dag/sensors.py` (owned by the lead). No retry
options anywhere (decision 1).

- `cd_daily_update_job`: per (date, exchange) partition, bronze through gold and the PostgreSQL
  loads (everything downstream of `cd_stockcode` except the Turso loads).
- `cd_daily_update_turso_job`: the same partitions, the Turso loads only (they read the gold
  tables the daily update wrote, so run it after that job).
- `cd_history_job`: the month-end `cd_historical_*` assets per history month.
- `cd_daily_update_schedule`: Monday to Friday 18:30 Asia/Seoul, after the 15:30 close and KRX's
  evening publication; one run per exchange for that same day (the day that has closed; **Fix**:
  the old 02:00 schedule asked for a day that had not traded yet). A holiday run writes empty
  partitions.
"""

import datetime as dt
import warnings
from zoneinfo import ZoneInfo

import dagster as dg
from dagster_shared.utils.warnings import SupersessionWarning

from dag.partitions import (
    CD_EXCHANGES,
    CD_START_DATE,
    SEOUL,
)

CD_TURSO_LOADS = dg.AssetSelection.tag("target", "turso")
CD_HISTORY = dg.AssetSelection.assets(
    "cd_historical_prices", "cd_historical_marketcaps", "cd_historical_bppedds"
)
CD_DAILY_GOLD = (
    "cd_security_metrics",
    "cd_company_metrics",
    "cd_security_ranks",
    "cd_search_names",
)

# The per-exchange runs of a day all rewrite the unpartitioned gold tables and serving tables:
# with QueuedRunCoordinator `tag_concurrency_limits: [{key: cd/run_queue, limit: 1}]` they queue
# instead of racing (a racing Delta commit fails fast with a conflict, it is never retried).
CD_RUN_QUEUE = {"cd/run_queue": "daily"}

# All four bronze series are roots (cd_prices is not downstream of cd_stockcode): select the group.
cd_daily_targets = dg.AssetSelection.groups("CD") - CD_TURSO_LOADS - CD_HISTORY
cd_turso_targets = dg.AssetSelection.groups("CD") & CD_TURSO_LOADS

cd_daily_update_job = dg.define_asset_job(
    name="cd_daily_update_job",
    selection=cd_daily_targets,
    description="KRX daily update per (date, exchange): bronze to gold and the PostgreSQL loads",
    tags={"domain": "stock", "data_tier": "mixed", "type": "daily_update", **CD_RUN_QUEUE},
)

cd_daily_update_turso_job = dg.define_asset_job(
    name="cd_daily_update_turso_job",
    selection=cd_turso_targets,
    description="Load CD's gold serving tables into Turso (same tables and loader as PostgreSQL)",
    tags={"domain": "stock", "data_tier": "gold", "target": "turso", **CD_RUN_QUEUE},
)

cd_history_job = dg.define_asset_job(
    name="cd_history_job",
    selection=CD_HISTORY,
    description="CD month-end history (20 years) through the daily update's source and digest",
    tags={"domain": "stock", "data_tier": "silver", "type": "history"},
)


def closed_trading_day(scheduled: dt.datetime) -> dt.date:
    """The Seoul calendar day of the tick: at 18:30 that day's session has closed."""
    return scheduled.astimezone(ZoneInfo(SEOUL)).date()


@dg.schedule(
    job=cd_daily_update_job,
    cron_schedule="30 18 * * 1-5",
    execution_timezone=SEOUL,
    description="After the KRX close: one cd_daily_update_job run per exchange for that day",
)
def cd_daily_update_schedule(
    context: dg.ScheduleEvaluationContext,
) -> list[dg.RunRequest] | dg.SkipReason:
    day = closed_trading_day(context.scheduled_execution_time)
    if day < dt.date.fromisoformat(CD_START_DATE):
        return dg.SkipReason(f"{day} is before CD_START_DATE {CD_START_DATE}")
    return [
        dg.RunRequest(
            run_key=f"{day.isoformat()}|{exchange}",
            partition_key=dg.MultiPartitionKey({"date": day.isoformat(), "exchange": exchange}),
            tags={"cd/trading_day": day.isoformat(), "cd/exchange": exchange},
        )
        for exchange in CD_EXCHANGES
    ]


# The daily gold tables promise a refresh every trading day: stale after 3 days (a weekend plus
# one day), checked at 20:00 Seoul on weekdays.
# The guideline names build_last_update_freshness_checks; Dagster 1.13 marks it superseded by
# FreshnessPolicy (a warning, not a deprecation): silenced here only, for these two calls.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", SupersessionWarning)
    cd_freshness_checks = dg.build_last_update_freshness_checks(
        assets=list(CD_DAILY_GOLD),
        lower_bound_delta=dt.timedelta(days=3),
        deadline_cron="0 20 * * 1-5",
        timezone=SEOUL,
    )
    cd_freshness_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=cd_freshness_checks, name="cd_freshness_checks_sensor"
    )

cd_jobs = [cd_daily_update_job, cd_daily_update_turso_job, cd_history_job]
cd_schedules = [cd_daily_update_schedule]
cd_sensors = [cd_freshness_sensor]
