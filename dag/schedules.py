"""Schedules of the code location (guideline section 7)."""

from dag.cd_automation import cd_daily_update_schedule

all_schedules = [cd_daily_update_schedule]
