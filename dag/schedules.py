"""Schedules of the code location (guideline section 7).

`cd_daily_update_schedule`: Monday to Friday 18:30 Asia/Seoul, after the 15:30 close and KRX's
evening publication, for that same day (the day that has closed; **Fix**: the old 02:00 schedule
asked for a day that had not traded yet). A holiday run writes empty partitions.

One run covers the day's three exchange partitions (a partition range, as a single-run backfill
would): the job also rebuilds unpartitioned gold tables (`cd_security`, ranks, search names), and
three concurrent per-exchange runs would race to overwrite them, the losers failing on the Delta
commit conflict.

`is_crawler_schedule_10min`: the IS crawl at minutes 4, 14, ..., 54 (Asia/Seoul, as the replaced
system), skipped while the previous crawl has not finished. `is_trends_schedule_10min`: at the
same minutes, the trends of the window that ended 4 minutes before (run key = window end).
"""

import datetime as dt
import os
from zoneinfo import ZoneInfo

import dagster as dg

from dag.is_post_trends import window_end
from dag.jobs import (
    cd_daily_update_job,
    is_clusters_job,
    is_crawler_job,
    is_enrichment_job,
    is_keyword_trends_job,
    is_trends_job,
)
from dag.partitions import CD_EXCHANGES, CD_START_DATE, SEOUL


def closed_trading_day(scheduled: dt.datetime) -> dt.date:
    """The Seoul calendar day of the tick: at 18:30 that day's session has closed."""
    return scheduled.astimezone(ZoneInfo(SEOUL)).date()


@dg.schedule(
    job=cd_daily_update_job,
    cron_schedule="30 18 * * 1-5",
    execution_timezone=SEOUL,
    description="After the KRX close: one cd_daily_update_job run for that day, all exchanges",
)
def cd_daily_update_schedule(
    context: dg.ScheduleEvaluationContext,
) -> list[dg.RunRequest] | dg.SkipReason:
    day = closed_trading_day(context.scheduled_execution_time)
    if day < dt.date.fromisoformat(CD_START_DATE):
        return dg.SkipReason(f"{day} is before CD_START_DATE {CD_START_DATE}")
    first, last = (
        dg.MultiPartitionKey({"date": day.isoformat(), "exchange": exchange})
        for exchange in (CD_EXCHANGES[0], CD_EXCHANGES[-1])
    )
    return [
        dg.RunRequest(
            run_key=day.isoformat(),
            tags={
                "dagster/asset_partition_range_start": str(first),
                "dagster/asset_partition_range_end": str(last),
                "cd/trading_day": day.isoformat(),
            },
        )
    ]


# Runs of the crawler that have not finished (queued ones included).
UNFINISHED = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


@dg.schedule(
    job=is_crawler_job,
    cron_schedule="4,14,24,34,44,54 * * * *",
    execution_timezone=SEOUL,
    description="IS crawl every 10 minutes (4 past the ten), skipped while a crawl still runs",
)
def is_crawler_schedule_10min(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    # A crawl may take up to IS_CRAWLER_TIMEOUT_SECONDS (30 min): two at once would crawl the
    # same pages twice (and the sample would write the same crawl number twice).
    running = context.instance.get_run_records(
        dg.RunsFilter(job_name=is_crawler_job.name, statuses=UNFINISHED), limit=1
    )
    if running:
        return dg.SkipReason(f"crawl run {running[0].dagster_run.run_id} has not finished yet")
    return dg.RunRequest(run_key=context.scheduled_execution_time.isoformat())


@dg.schedule(
    job=is_trends_job,
    cron_schedule="4,14,24,34,44,54 * * * *",
    execution_timezone=SEOUL,
    description="IS hot-post trends of the 10-minute window that just ended (4 minutes past it, "
    "so the crawl files of the window have been ingested)",
)
def is_trends_schedule_10min(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    end = window_end(context.scheduled_execution_time)
    return dg.RunRequest(
        run_key=end.isoformat(),
        run_config={"ops": {"is_post_trends": {"config": {"window_end": end.isoformat()}}}},
        tags={"is/window_end": end.isoformat()},
    )


@dg.schedule(
    job=is_keyword_trends_job,
    cron_schedule="4,14,24,34,44,54 * * * *",
    execution_timezone=SEOUL,
    description="IS keyword trends of the 10-minute window that just ended (with post trends)",
)
def is_keyword_trends_schedule_10min(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    end = window_end(context.scheduled_execution_time)
    return dg.RunRequest(
        run_key=end.isoformat(),
        run_config={"ops": {"is_keyword_trends": {"config": {"window_end": end.isoformat()}}}},
        tags={"is/window_end": end.isoformat()},
    )


@dg.schedule(
    job=is_enrichment_job,
    cron_schedule="1-59/2 * * * *",
    execution_timezone=SEOUL,
    description="IS enrichment every 2 minutes (one bounded batch per run), skipped while the "
    "previous batch runs or when no LLM / VLM is configured",
)
def is_enrichment_schedule(
    context: dg.ScheduleEvaluationContext,
) -> dg.RunRequest | dg.SkipReason:
    missing = [name for name in ("OPENAI_BASE_URL", "OPENAI_MODEL", "VLM_BASE_URL", "VLM_MODEL")
               if not os.environ.get(name)]
    if missing:
        return dg.SkipReason(f"no LLM / VLM configured: set {', '.join(missing)}")
    running = context.instance.get_run_records(
        dg.RunsFilter(job_name=is_enrichment_job.name, statuses=UNFINISHED), limit=1
    )
    if running:
        return dg.SkipReason(f"enrichment run {running[0].dagster_run.run_id} has not finished")
    return dg.RunRequest(run_key=context.scheduled_execution_time.isoformat())


@dg.schedule(
    job=is_clusters_job,
    cron_schedule="8,38 * * * *",
    execution_timezone=SEOUL,
    description="IS story clusters every 30 minutes (ON30: 8 and 38 past the hour) over the "
    "72 hours before the tick (run key = tick time)",
)
def is_clusters_schedule_30min(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
    now = context.scheduled_execution_time.astimezone(dt.UTC)
    return dg.RunRequest(
        run_key=now.isoformat(),
        run_config={"ops": {"is_cluster_posts": {"config": {"now": now.isoformat()}}}},
        tags={"is/clusters_at": now.isoformat()},
    )


all_schedules = [cd_daily_update_schedule, is_crawler_schedule_10min, is_trends_schedule_10min,
                 is_keyword_trends_schedule_10min, is_enrichment_schedule,
                 is_clusters_schedule_30min]
