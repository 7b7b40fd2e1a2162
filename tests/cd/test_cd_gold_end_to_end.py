"""CD end to end on real parts: a 5-trading-day range of every exchange, one run per tier, loads
into PostgreSQL and a Turso file; re-running a partition, or the schedule's run of a whole day,
changes nothing anywhere; the schedule asks for the day that closed, all exchanges in one run."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from zoneinfo import ZoneInfo

import dagster as dg
import polars as pl
import pytest

from dag import (
    cd_bppedd_processing,
    cd_display_processing,
    cd_history_bppedds,
    cd_history_marketcaps,
    cd_history_prices,
    cd_marketcap_processing,
    cd_metrics_processing,
    cd_price_processing,
    cd_raw_ingestion,
    cd_security_processing,
    cd_serving_loads,
    jobs,
    schedules,
)
from dag.cd_serving_loads import TABLES
from dag.cd_source import KrxSource
from dag.resources import build_resources
from dag_io import DeltaIOManager, ParquetIOManager, PostgresResource, TursoResource

# 2024-01-02 (Tue) .. 2024-01-08 (Mon): five trading days and a weekend of empty partitions.
RANGE = {
    "dagster/asset_partition_range_start": "2024-01-02|KOSPI",
    "dagster/asset_partition_range_end": "2024-01-08|KONEX",
}
RERUN = "2024-01-04|KOSDAQ"


def _module_defs(*modules: object) -> list:
    return [*dg.load_assets_from_modules(modules), *dg.load_asset_checks_from_modules(modules)]


BRONZE = _module_defs(cd_raw_ingestion)
SILVER = _module_defs(
    cd_security_processing, cd_price_processing, cd_marketcap_processing, cd_bppedd_processing
)
GOLD = _module_defs(cd_metrics_processing, cd_display_processing)
LOADS = dg.load_assets_from_modules([cd_serving_loads])
HISTORY = dg.load_assets_from_modules(
    [cd_history_prices, cd_history_marketcaps, cd_history_bppedds]
)
POSTGRES_LOADS = [a for a in LOADS if a.key.path[-1].endswith("_postgres")]
TURSO_LOADS = [a for a in LOADS if a.key.path[-1].endswith("_turso")]
LOAD_CHECKS = dg.load_asset_checks_from_modules([cd_serving_loads])
PG_CHECKS = [c for c in LOAD_CHECKS if next(iter(c.check_keys)).name.endswith("_postgres_contract")]
TURSO_CHECKS = [c for c in LOAD_CHECKS if next(iter(c.check_keys)).name.endswith("_turso_contract")]
LAKE_TABLES = (
    "cd_stockcode", "cd_prices", "cd_security", "cd_digest_price", "cd_digest_marketcaps",
    "cd_digest_bppedds", "cd_security_metrics", "cd_company_metrics", "cd_security_ranks",
    "cd_search_names",
)  # fmt: skip


def _run(selection: list, resources: dict, tags: dict[str, str], upstream: list) -> None:
    """One run of `selection` (with its checks); `upstream` assets are read, not run."""
    result = dg.materialize(
        [*selection, *upstream], selection=_keys(selection), resources=resources, tags=tags
    )
    assert result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == []


def _keys(defs: list) -> list[dg.AssetKey]:
    return [k for d in defs if isinstance(d, dg.AssetsDefinition) for k in d.keys]


def _lake_counts(lake: Path) -> dict[str, int]:
    return {name: pl.scan_delta(str(lake / name)).select(pl.len()).collect().item()
            for name in LAKE_TABLES}  # fmt: skip


def _db_counts(resource: PostgresResource | TursoResource) -> dict[str, int]:
    return {table: resource.read(table).height for table in TABLES}


@pytest.mark.slow
def test_five_trading_days_all_exchanges_to_postgres_and_turso_idempotently(
    data_dir: Path, postgres_resource: PostgresResource
) -> None:
    lake = data_dir / "lake" / "delta"
    delta = DeltaIOManager(root_uri=str(lake))
    postgres, turso = postgres_resource, TursoResource(url=str(data_dir / "turso.db"))
    resources = {
        "io_manager": delta, "delta_io_manager": delta, "cd_postgres": postgres,
        "parquet_io_manager": ParquetIOManager(root_uri=str(data_dir / "lake" / "parquet")),
        "turso": turso, "krx_source": KrxSource(sample_scale=0.01),
    }  # fmt: skip

    def run_tiers(tags: dict[str, str]) -> None:
        """One run per tier (bronze, silver, gold + PostgreSQL loads, Turso loads)."""
        _run(BRONZE, resources, tags, [])
        _run(SILVER, resources, tags, BRONZE)
        _run([*GOLD, *POSTGRES_LOADS, *PG_CHECKS], resources, tags, [*BRONZE, *SILVER])
        _run([*TURSO_LOADS, *TURSO_CHECKS], resources, tags, [*BRONZE, *SILVER, *GOLD])

    run_tiers(RANGE)
    lake_counts = _lake_counts(lake)
    pg_counts, turso_counts = _db_counts(postgres), _db_counts(turso)
    assert pg_counts == turso_counts
    assert pg_counts["price"] == lake_counts["cd_digest_price"] > 0
    assert pg_counts["security"] == lake_counts["cd_security"]
    prices = pl.read_delta(str(lake / "cd_digest_price"))
    assert prices["date"].unique().sort().to_list() == [
        dt.date(2024, 1, d) for d in (2, 3, 4, 5, 8)
    ]  # the weekend partitions are empty, not missing
    assert set(prices["exchange"]) == {"KOSPI", "KOSDAQ", "KONEX"}
    ranks = pl.read_delta(str(lake / "cd_security_ranks"))
    assert ranks["rank_date"].unique().to_list() == [dt.date(2024, 1, 8)]
    assert ranks["prior_rank"].null_count() < ranks.height  # prior date 2024-01-05 ranked too

    # Re-running one partition with the real jobs (every tier, then both loads) changes nothing.
    defs = dg.Definitions(
        assets=[*BRONZE, *SILVER, *GOLD, *LOADS, *LOAD_CHECKS, *HISTORY],
        jobs=jobs.cd_jobs,
        resources=resources,
    )
    for job in ("cd_daily_update_job", "cd_daily_update_turso_job"):
        result = defs.resolve_job_def(job).execute_in_process(partition_key=RERUN)
        assert result.success
        assert all(e.passed for e in result.get_asset_check_evaluations())
    # The run the daily schedule launches: one day, all three exchanges (as the daemon runs it).
    scheduled = defs.resolve_job_def("cd_daily_update_job").execute_in_process(
        tags=_scheduled_tags(4))
    assert scheduled.success
    days = {str(e.partition) for e in scheduled.asset_materializations_for_node("cd_prices")}
    assert days == {f"2024-01-04|{exchange}" for exchange in ("KOSPI", "KOSDAQ", "KONEX")}
    assert _lake_counts(lake) == lake_counts
    assert _db_counts(postgres) == pg_counts
    assert _db_counts(turso) == turso_counts


def _scheduled_tags(day: int) -> dict[str, str]:
    """The tags of the daily schedule's run request for 2024-01-<day>, 18:30 Seoul."""
    tick = dt.datetime(2024, 1, day, 18, 30, tzinfo=ZoneInfo("Asia/Seoul"))
    [request] = schedules.cd_daily_update_schedule(dg.build_schedule_context(
        scheduled_execution_time=tick))
    return dict(request.tags)


def test_schedule_requests_the_closed_day_for_all_exchanges_in_one_run() -> None:
    tags = _scheduled_tags(5)
    assert tags["dagster/asset_partition_range_start"] == "2024-01-05|KOSPI"
    assert tags["dagster/asset_partition_range_end"] == "2024-01-05|KONEX"
    # A tick before the partitions start is skipped, not an error.
    early = dg.build_schedule_context(
        scheduled_execution_time=dt.datetime(2023, 12, 29, 18, 30, tzinfo=ZoneInfo("Asia/Seoul"))
    )
    assert isinstance(schedules.cd_daily_update_schedule(early), dg.SkipReason)
    assert schedules.cd_daily_update_schedule.cron_schedule == "30 18 * * 1-5"
    assert schedules.cd_daily_update_schedule.execution_timezone == "Asia/Seoul"


def test_jobs_select_every_tier_and_split_the_two_targets(data_dir: Path) -> None:
    defs = dg.Definitions(
        assets=[*BRONZE, *SILVER, *GOLD, *LOADS, *HISTORY],
        jobs=jobs.cd_jobs,
        resources=build_resources(),
    )
    graph = defs.resolve_asset_graph()
    history_job = defs.resolve_job_def("cd_history_job")
    history = {k.path[-1] for k in history_job.asset_layer.executable_asset_keys}
    assert history == {"cd_historical_prices", "cd_historical_marketcaps", "cd_historical_bppedds"}
    daily = {k.path[-1] for k in jobs.cd_daily_targets.resolve(graph)}
    turso = {k.path[-1] for k in jobs.cd_turso_targets.resolve(graph)}
    assert {"cd_stockcode", "cd_prices", "cd_marketcaps", "cd_bppedds"} <= daily
    assert {"cd_security_ranks", "cd_search_names", "cd_price_postgres"} <= daily
    assert not any(name.endswith("_turso") for name in daily)
    assert turso == {f"cd_{table}_turso" for table in TABLES}
