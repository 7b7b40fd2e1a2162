"""Schedules and sensors of the code location evaluate as the daemon would evaluate them.

`build_schedule_context` / `build_sensor_context` against the loaded repository: CD's daily
schedule asks for the trading day that has just closed in Seoul, one run for all exchanges; the
freshness-check sensors request their checks; every other schedule and sensor evaluates cleanly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from dag.definitions import defs
from dag.partitions import CD_EXCHANGES, daily_exchange_category_partition

SEOUL = ZoneInfo("Asia/Seoul")
REPOSITORY = defs.get_repository_def()


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    # a real (temporary) instance: schedules that look at earlier runs need an instance ref
    with dg.instance_for_test() as temporary:
        yield temporary


def evaluate_schedule(
    name: str, when: dt.datetime, instance: dg.DagsterInstance
) -> list[dg.RunRequest]:
    schedule = REPOSITORY.get_schedule_def(name)
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, repository_def=REPOSITORY
    ) as context:
        result = schedule.evaluate_tick(context)
    assert result.skip_message is None, f"{name} skipped at {when}: {result.skip_message}"
    return list(result.run_requests or [])


@pytest.mark.parametrize(
    ("tick", "trading_day"),
    [
        # Monday 18:30 in Seoul: Monday's session has closed.
        (dt.datetime(2025, 11, 3, 18, 30, tzinfo=SEOUL), "2025-11-03"),
        # The same instant given in UTC (09:30Z) still means Seoul's Monday.
        (dt.datetime(2025, 11, 3, 9, 30, tzinfo=dt.UTC), "2025-11-03"),
        # Friday's tick asks for Friday, not for the next (weekend) day.
        (dt.datetime(2025, 11, 7, 18, 30, tzinfo=SEOUL), "2025-11-07"),
    ],
)
def test_cd_daily_schedule_requests_every_exchange_of_the_closed_day_in_one_run(
    tick: dt.datetime, trading_day: str, instance: dg.DagsterInstance
) -> None:
    schedule = REPOSITORY.get_schedule_def("cd_daily_update_schedule")
    assert schedule.execution_timezone == "Asia/Seoul"
    assert schedule.job_name == "cd_daily_update_job"
    [request] = evaluate_schedule("cd_daily_update_schedule", tick, instance)

    assert request.run_key == trading_day and request.partition_key is None
    first = request.tags["dagster/asset_partition_range_start"]
    last = request.tags["dagster/asset_partition_range_end"]
    covered = daily_exchange_category_partition.get_partition_keys_in_range(
        dg.PartitionKeyRange(first, last)
    )
    assert covered == [f"{trading_day}|{exchange}" for exchange in CD_EXCHANGES]


def test_cd_daily_schedule_fires_after_the_close_on_weekdays() -> None:
    schedule = REPOSITORY.get_schedule_def("cd_daily_update_schedule")
    # 18:30 Seoul, Monday to Friday: after the 15:30 close and KRX's evening publication.
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("30 18 * * 1-5", "Asia/Seoul")


@pytest.mark.parametrize("name", sorted(s.name for s in REPOSITORY.schedule_defs))
def test_every_schedule_evaluates(name: str, instance: dg.DagsterInstance) -> None:
    schedule = REPOSITORY.get_schedule_def(name)
    when = dt.datetime(2025, 11, 3, 18, 30, tzinfo=SEOUL)
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, repository_def=REPOSITORY
    ) as context:
        result = schedule.evaluate_tick(context)
    job = REPOSITORY.get_job(schedule.job_name)
    for request in result.run_requests or []:
        if request.partition_key is not None:
            assert job.partitions_def is not None, f"{name}: partition for unpartitioned job"
            assert job.partitions_def.has_partition_key(str(request.partition_key)), (
                f"{name}: {request.partition_key} is not a partition of {job.name}"
            )


@pytest.mark.parametrize("name", sorted(s.name for s in REPOSITORY.sensor_defs))
def test_every_sensor_evaluates(name: str, instance: dg.DagsterInstance) -> None:
    sensor = REPOSITORY.get_sensor_def(name)
    with dg.build_sensor_context(instance=instance, repository_def=REPOSITORY) as context:
        result = sensor.evaluate_tick(context)
    requested_checks = {
        key for request in result.run_requests or [] for key in request.asset_check_keys or []
    }
    freshness = {
        key
        for key in defs.resolve_asset_graph().asset_check_keys
        if key.name.endswith("freshness_check")
    }
    if "freshness" in name:
        # On an empty instance no check has run: the sensor asks for its freshness checks.
        assert requested_checks, f"{name} requested no freshness check on an empty instance"
        assert requested_checks <= freshness


def test_freshness_checks_cover_the_promised_assets() -> None:
    graph = defs.resolve_asset_graph()
    covered = {
        key.asset_key.to_user_string()
        for key in graph.asset_check_keys
        if key.name.endswith("freshness_check")
    }
    assert {
        "cd_security_metrics",
        "cd_company_metrics",
        "cd_security_ranks",
        "cd_search_names",
    } <= covered
    assert any(name.startswith("nps_") for name in covered), (
        f"no NPS monthly table has a freshness check: {sorted(covered)}"
    )
