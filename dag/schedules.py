"""Schedules of the code location (guideline section 7).

`cd_daily_update_schedule`: Monday to Friday 18:30 Asia/Seoul, after the 15:30 close and KRX's
evening publication; one run per exchange for that same day (the day that has closed; **Fix**: the
old 02:00 schedule asked for a day that had not traded yet). A holiday run writes empty partitions.
"""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg

from dag.jobs import cd_daily_update_job
from dag.partitions import CD_EXCHANGES, CD_START_DATE, SEOUL


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


all_schedules = [cd_daily_update_schedule]
