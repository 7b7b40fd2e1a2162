"""The CLI paths of the README, run as subprocesses from the repository root.

`dagster job launch -j <job>` (the guideline's standard; partitions picked with the
`dagster/partition` tag, code location found through `[tool.dagster]`) and the tier backfills
`dagster asset materialize -m dag.definitions --select '<tier> and <group>' --partition-range A...B`
run against a temporary DAGSTER_HOME and data dir; the written partitions are then read back from
the Delta lake and the run records of the instance.

Runs use the in-process executor (`--config-json`, `IN_PROCESS` below) and a small CD sample: the
default multiprocess executor starts one Python process per step, which on a 2-core CI machine
turns a 20-second NPS month into five minutes. The commands are otherwise the README's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from dag.definitions import defs
from dag.partitions import daily_exchange_category_partition, nps_monthly_partition

RUN_DEADLINE_SEC = 240.0
RUN_CONFIG = {
    "execution": {"config": {"in_process": {}}},
    "resources": {"krx_source": {"config": {"sample_scale": 0.02}}},
}
CONFIG = ["--config-json", json.dumps(RUN_CONFIG)]
SPECS = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
GRAPH = defs.resolve_asset_graph()

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def instance(operating: Any) -> Iterator[dg.DagsterInstance]:
    """The CLI's instance (the temporary DAGSTER_HOME), read from the test process."""
    with dg.DagsterInstance.from_config(str(operating.home)) as opened:
        yield opened


def wait_for_run(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun:
    """Poll the run storage until the run has finished (bounded by RUN_DEADLINE_SEC)."""
    deadline = time.monotonic() + RUN_DEADLINE_SEC
    while time.monotonic() < deadline:
        run = instance.get_run_by_id(run_id)
        if run is not None and run.is_finished:
            return run
        time.sleep(1.0)
    pytest.fail(f"run {run_id} not finished after {RUN_DEADLINE_SEC}s")


def failure_summary(instance: dg.DagsterInstance, run_id: str) -> str:
    lines = []
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is not None and event.event_type_value in ("STEP_FAILURE", "RUN_FAILURE"):
            lines.append(f"{event.step_key}: {str(event.event_specific_data)[:1500]}")
    return "\n".join(lines)


def assert_success(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    assert run.status == dg.DagsterRunStatus.SUCCESS, (
        f"{run.job_name} {run.run_id} {run.status}:\n{failure_summary(instance, run.run_id)}"
    )


def launch_args(job: str, tags: dict[str, str], run_id: str) -> list[str]:
    """`dagster job launch -j <job> --tags '{"dagster/partition": ...}'` with a known run id."""
    return ["dagster", "job", "launch", "-j", job, "--tags", json.dumps(tags), "--run-id", run_id]


def launch_all(
    operating: Any, instance: dg.DagsterInstance, launches: dict[str, dict[str, str]]
) -> dict[str, dg.DagsterRun]:
    """Launch jobs side by side, then wait for each finished run in the run storage."""
    run_ids = {job: str(uuid.uuid4()) for job in launches}
    started = [
        operating.start(*launch_args(job, tags, run_ids[job]), *CONFIG)
        for job, tags in launches.items()
    ]
    for process, log in started:
        operating.finish(process, log)
    runs = {job: wait_for_run(instance, run_id) for job, run_id in run_ids.items()}
    for run in runs.values():
        assert_success(instance, run)
    return runs


def materialize(
    operating: Any, instance: dg.DagsterInstance, select: str, partition_range: str
) -> dg.DagsterRun:
    """`dagster asset materialize -m dag.definitions --select ... --partition-range A...B`."""
    before = {r.run_id for r in instance.get_runs()}
    operating.run(
        "dagster",
        "asset",
        "materialize",
        "-m",
        "dag.definitions",
        "--select",
        select,
        "--partition-range",
        partition_range,
        *CONFIG,
    )
    new = [r for r in instance.get_runs() if r.run_id not in before]
    # A single-run backfill: the whole range is one run, whatever its length.
    assert len(new) == 1, f"{select} {partition_range}: {len(new)} runs"
    run = new[0]
    assert_success(instance, run)
    start, end = partition_range.split("...")
    assert run.tags["dagster/asset_partition_range_start"] == start
    assert run.tags["dagster/asset_partition_range_end"] == end
    return run


def selected(select: str) -> list[str]:
    keys = dg.AssetSelection.from_string(select).resolve(GRAPH)
    return sorted(key.to_user_string() for key in keys)


def lake_partitions(operating: Any, asset: str) -> set[str]:
    """The partition keys present in an asset's Delta table, from its `partition_by` columns."""
    path = operating.lake / asset
    assert (path / "_delta_log").is_dir(), f"{asset}: no Delta table at {path}"
    partition_by = SPECS[asset].metadata["partition_by"]
    if isinstance(partition_by, str):
        frame = pl.scan_delta(str(path)).select(pl.col(partition_by)).unique().collect()
        return {str(value) for value in frame[partition_by]}
    # Multi-partitions: keys are "<date>|<exchange>" (dimension names in alphabetical order).
    dims = sorted(partition_by)
    frame = pl.scan_delta(str(path)).select([pl.col(partition_by[d]) for d in dims]).unique()
    return {"|".join(str(v) for v in row) for row in frame.collect().iter_rows()}


def written_rows(instance: dg.DagsterInstance, asset: str, partition: str) -> int:
    """`dagster/row_count` of the asset's latest materialization of the partition."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[partition]), limit=1
    ).records
    assert records, f"{asset} {partition}: never materialized"
    return records[0].asset_materialization.metadata["dagster/row_count"].value


def materialized(instance: dg.DagsterInstance, asset: str) -> set[str]:
    return set(instance.get_materialized_partitions(dg.AssetKey(asset)))


def trading(keys: list[str]) -> list[str]:
    """Keys whose date is a weekday outside the sample's KRX holidays (partitions with rows)."""
    from dag.cd_sample import is_trading_day

    return [k for k in keys if is_trading_day(dt.date.fromisoformat(k.split("|")[0]))]


@pytest.mark.parametrize("tier", ["bronze", "silver", "gold"])
def test_nps_tier_backfill_over_months(tier: str, operating: Any, instance: Any) -> None:
    select = f"tag:data_tier={tier} and group:NPS"
    assets = selected(select)
    assert assets, select
    run = materialize(operating, instance, select, "2025-07-01...2025-08-01")
    assert {k.to_user_string() for k in run.asset_selection or ()} == set(assets)
    months = nps_monthly_partition.get_partition_keys_in_range(
        dg.PartitionKeyRange("2025-07-01", "2025-08-01")
    )
    assert months == ["2025-07-01", "2025-08-01"]
    for asset in assets:
        if GRAPH.get(dg.AssetKey(asset)).partitions_def is None:
            continue
        assert set(months) <= materialized(instance, asset), asset
        if "partition_by" in SPECS[asset].metadata and (operating.lake / asset).exists():
            # A month may legitimately hold no rows (e.g. an empty review queue): then the
            # materialization says so; otherwise its rows are in the lake.
            for month in set(months) - lake_partitions(operating, asset):
                assert written_rows(instance, asset, month) == 0, (asset, month)


# Silver leaves out the month-end history (`cd_historical_*`, monthly partitions): one
# `--partition-range` needs one partitions definition across the selection.
CD_TIERS = {
    "bronze": "tag:data_tier=bronze and group:CD",
    "silver": "tag:data_tier=silver and group:CD and not key:cd_historical_*",
    "gold": "tag:data_tier=gold and group:CD",
}
CD_30_DAYS = "2025-10-01|KOSPI...2025-10-30|KOSPI"


@pytest.mark.parametrize("tier", ["bronze", "silver", "gold"])
def test_cd_tier_backfill_30_days_is_one_run(tier: str, operating: Any, instance: Any) -> None:
    select = CD_TIERS[tier]
    assets = selected(select)
    assert assets, select
    run = materialize(operating, instance, select, CD_30_DAYS)
    keys = daily_exchange_category_partition.get_partition_keys_in_range(
        dg.PartitionKeyRange(*CD_30_DAYS.split("..."))
    )
    assert len(keys) == 30 and all(k.endswith("|KOSPI") for k in keys)
    days_with_rows = trading(keys)
    assert 15 <= len(days_with_rows) < 30  # weekends and Chuseok/Hangul Day closures
    partitioned = [a for a in assets if GRAPH.get(dg.AssetKey(a)).partitions_def is not None]
    assert partitioned, f"{select}: no partitioned asset"
    for asset in partitioned:
        assert set(keys) <= materialized(instance, asset), asset
        if (operating.lake / asset).exists():
            assert set(days_with_rows) <= lake_partitions(operating, asset), asset
    assert {k.to_user_string() for k in run.asset_selection or ()} == set(assets)


CD_PARTITION = "2025-11-03|KOSDAQ"


# Queued launches through the daemon: a deployment test (make test-scale-out).
@pytest.mark.scale_out
def test_job_launch_for_each_job(operating_daemon: Any, instance: Any) -> None:
    operating = operating_daemon
    runs = launch_all(
        operating,
        instance,
        {
            "nps_history_job": {"dagster/partition": "2025-10-01"},
            "cd_daily_update_job": {"dagster/partition": CD_PARTITION},
            "cd_history_job": {"dagster/partition": "2025-10-01"},
        },
    )
    assert {job: run.tags["dagster/partition"] for job, run in runs.items()} == {
        "nps_history_job": "2025-10-01",
        "cd_daily_update_job": CD_PARTITION,
        "cd_history_job": "2025-10-01",
    }
    for asset in ("nps_his_download", "nps_his_digest", "nps_fact_pension_monthly"):
        assert "2025-10-01" in lake_partitions(operating, asset), asset
        assert "2025-10-01" in materialized(instance, asset), asset
    digest = pl.scan_delta(str(operating.lake / "nps_his_digest"))
    rows = digest.filter(pl.col("ym") == dt.date(2025, 10, 1)).collect().height
    assert 0 < rows <= int(operating.env["NPS_SAMPLE_ROWS"])

    for asset in ("cd_stockcode", "cd_prices", "cd_digest_price"):
        assert CD_PARTITION in lake_partitions(operating, asset), asset
    for asset in ("cd_security", "cd_security_metrics", "cd_search_names"):
        assert pl.read_delta(str(operating.lake / asset)).height > 0, asset
    # The month-end history is archival hive Parquet: one directory per history month.
    history = operating.data / "lake" / "parquet" / "cd_historical_prices"
    assert list(history.glob("history_month=2025-10-01/*.parquet")), history
    assert "2025-10-01" in materialized(instance, "cd_historical_prices")

    # The Turso loads read the gold tables the daily update has just written.
    launch_all(
        operating, instance, {"cd_daily_update_turso_job": {"dagster/partition": CD_PARTITION}}
    )
    turso = Path(operating.data) / "turso.db"
    with contextlib.closing(sqlite3.connect(turso)) as conn:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        counts = {n: conn.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    assert counts and all(counts.values()), f"{turso}: {counts}"
