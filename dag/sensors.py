"""Freshness checks for the assets with a freshness promise, and the sensor that runs them.

- CD's daily gold tables promise a refresh every trading day: stale after 3 days (a weekend plus
  one day), checked at 20:00 Seoul on weekdays.
- NPS's monthly serving tables follow the monthly publication: stale after 45 days (a month plus
  the publication lag).
"""

import datetime as dt
import warnings

import dagster as dg
from dagster_shared.utils.warnings import SupersessionWarning

from dag.partitions import SEOUL

CD_DAILY_GOLD = (
    "cd_security_metrics",
    "cd_company_metrics",
    "cd_security_ranks",
    "cd_search_names",
)
NPS_MONTHLY_SERVING = (
    "nps_his_postgres_append",
    "nps_fact_pension_monthly_postgres",
    "nps_dim_company_postgres",
)

# The guideline names build_last_update_freshness_checks; Dagster 1.13 marks it superseded by
# FreshnessPolicy (a warning, not a deprecation): silenced here only, for these calls.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", SupersessionWarning)
    cd_freshness_checks = dg.build_last_update_freshness_checks(
        assets=list(CD_DAILY_GOLD),
        lower_bound_delta=dt.timedelta(days=3),
        deadline_cron="0 20 * * 1-5",
        timezone=SEOUL,
    )
    nps_freshness_checks = dg.build_last_update_freshness_checks(
        assets=list(NPS_MONTHLY_SERVING),
        lower_bound_delta=dt.timedelta(days=45),
    )
    freshness_checks = [*cd_freshness_checks, *nps_freshness_checks]
    freshness_checks_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=freshness_checks, name="freshness_checks_sensor"
    )

all_sensors = [freshness_checks_sensor]
