"""Sensors and freshness checks of the code location (guideline section 6.4)."""

from dag.cd_automation import cd_freshness_checks, cd_freshness_sensor

freshness_checks = [*cd_freshness_checks]
all_sensors = [cd_freshness_sensor]
