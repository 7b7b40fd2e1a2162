"""Freshness checks for the assets with a freshness promise, and the sensor that runs them.

- CD's daily gold tables promise a refresh every trading day: stale after 3 days (a weekend plus
  one day), checked at 20:00 Seoul on weekdays.
- NPS's monthly serving tables follow the monthly publication: stale after 45 days (a month plus
  the publication lag).
"""

import datetime as dt
import json
import os
import time
import warnings
from pathlib import Path

import dagster as dg
from dagster_shared.utils.warnings import SupersessionWarning

from dag.is_common import is_output_dir
from dag.is_crawl_file import parse_crawl_name
from dag.jobs import is_ingest_job, ss_ingest_job
from dag.partitions import SEOUL, is_crawl_file_partition
from dag.ss_common import ss_crawl_file_partition, ss_output_dir

CD_DAILY_GOLD = (
    "cd_security_metrics",
    "cd_company_metrics",
    "cd_security_ranks",
    "cd_search_names",
)
IS_EVERY_10_MINUTES = ("is_post_trends", "is_cluster_rotation", "is_keyword_trends")
IS_FILES = str(is_crawl_file_partition.name)
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
    is_freshness_checks = dg.build_last_update_freshness_checks(
        assets=list(IS_EVERY_10_MINUTES), lower_bound_delta=dt.timedelta(minutes=10)
    )
    freshness_checks = [*cd_freshness_checks, *nps_freshness_checks, *is_freshness_checks]
    freshness_checks_sensor = dg.build_sensor_for_freshness_checks(
        freshness_checks=freshness_checks, name="freshness_checks_sensor"
    )


def _settle_seconds() -> float:
    """A file modified this recently may still be being written: left for the next tick."""
    return float(os.environ.get("IS_SENSOR_SETTLE_SECONDS", "5"))


def _parse_grace_seconds() -> float:
    """A settled file that is not JSON yet gets this long before its run is started (and fails,
    naming the error): a slow writer is waited for, a broken file is not ignored forever."""
    return float(os.environ.get("IS_SENSOR_PARSE_GRACE_SECONDS", "120"))


MAX_RUNS_PER_TICK = 50


def _parses(path: Path) -> bool:
    try:
        json.loads(path.read_bytes())
    except ValueError:  # JSONDecodeError and UnicodeDecodeError
        return False
    return True


def _ready(path: Path, mtime_ns: int, now: float) -> bool:
    age = now - mtime_ns / 1e9
    if age < _settle_seconds():
        return False
    return age >= _parse_grace_seconds() or _parses(path)


def crawl_folder_result(
    context: dg.SensorEvaluationContext,
    folder: Path,
    partitions_def: dg.DynamicPartitionsDefinition,
) -> dg.SensorResult:
    """One tick of a crawl-folder sensor (IS and SS): a run per new or changed crawl file of
    `folder` (run key: file name and mtime; partition: the file's stem, added to
    `partitions_def` when new); files still being written wait for the next tick."""
    seen: dict[str, int] = json.loads(context.cursor) if context.cursor else {}
    now = time.time()
    requests: list[dg.RunRequest] = []
    new_keys: list[str] = []
    waiting = 0
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        named = parse_crawl_name(path.name)
        mtime_ns = path.stat().st_mtime_ns
        if named is None or seen.get(path.name) == mtime_ns:
            continue
        if not _ready(path, mtime_ns, now):
            waiting += 1
            continue
        if len(requests) == MAX_RUNS_PER_TICK:
            break
        site, board, _ = named
        seen[path.name] = mtime_ns
        key = path.stem
        if not context.instance.has_dynamic_partition(str(partitions_def.name), key):
            new_keys.append(key)
        requests.append(
            dg.RunRequest(
                run_key=f"{path.name}:{mtime_ns}",
                partition_key=key,
                tags={"site": site, "board": board},
            )
        )
    if waiting:
        context.log.info(f"{waiting} file(s) in {folder} still being written; next tick")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[partitions_def.build_add_request(new_keys)]
        if new_keys
        else [],
        cursor=json.dumps(seen, sort_keys=True),
    )


@dg.sensor(
    job=is_ingest_job,
    minimum_interval_seconds=30,
    description="One is_ingest_job run per new or changed crawl file in IS_OUTPUT_DIR (run key: "
    "file name and mtime); files still being written wait for the next tick",
)
def is_output_data_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    return crawl_folder_result(context, is_output_dir(), is_crawl_file_partition)


@dg.sensor(
    job=ss_ingest_job,
    minimum_interval_seconds=30,
    description="One ss_ingest_job run per new or changed phone-board crawl file in "
    "SS_OUTPUT_DIR (run key: file name and mtime); files still being written wait",
)
def ss_output_data_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    return crawl_folder_result(context, ss_output_dir(), ss_crawl_file_partition)


all_sensors = [freshness_checks_sensor, is_output_data_sensor, ss_output_data_sensor]
