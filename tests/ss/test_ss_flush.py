"""`ss_flush`: refused without the exact typed confirmation (nothing touched), empties the
serving tables deals and aggregates_daily in PostgreSQL and Turso with it, and is in no job."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from contracts import contract_columns, key_columns, polars_schema
from contracts.ss import SsAggregatesDailyServing
from dag.resources import build_resources
from dag.ss_deals import CONFIRMATION, ss_flush, ss_flush_contract

pytestmark = pytest.mark.postgres

TABLE = "aggregates_daily"
ROWS = pl.DataFrame(
    [("갤럭시 S25", "256GB", dt.date(2026, 12, 1), 1.0, 2.0, 3.0, 4.0, 5.0, 3.0, 5),
     ("아이폰 16", "128GB", dt.date(2026, 12, 1), 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1)],
    schema=polars_schema(SsAggregatesDailyServing), orient="row",
)


@pytest.fixture
def targets(data_dir: Path, postgres_resource: Any) -> dict[str, Any]:
    """PostgreSQL and the embedded Turso file, each holding two report rows and an empty deals
    table (as the serving loads leave them)."""
    resources = {"ss_postgres": postgres_resource, "turso": build_resources()["turso"]}
    for target in resources.values():
        target.load(TABLE, ROWS, mode="replace", keys=key_columns(SsAggregatesDailyServing),
                    columns=contract_columns(SsAggregatesDailyServing))
    return resources


def _flush(resources: dict[str, Any], confirm: str | None) -> dg.ExecuteInProcessResult:
    config = {} if confirm is None else {"ops": {"ss_flush": {"config": {"confirm": confirm}}}}
    with dg.instance_for_test() as instance:
        return dg.materialize([ss_flush, ss_flush_contract], resources=resources,
                              run_config=config, instance=instance, raise_on_error=False)


@pytest.mark.parametrize(
    "confirm", [None, "", "yes", CONFIRMATION.upper(), f" {CONFIRMATION}", f"{CONFIRMATION}."]
)
def test_flush_is_refused_without_the_exact_confirmation(
    targets: dict[str, Any], confirm: str | None
) -> None:
    result = _flush(targets, confirm)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert "ss_flush: refused" in message and repr(CONFIRMATION) in message
    for target in targets.values():  # nothing was touched
        assert target.count_rows(TABLE) == 2


def test_flush_with_the_confirmation_empties_both_targets(targets: dict[str, Any]) -> None:
    result = _flush(targets, CONFIRMATION)
    assert result.success
    (event,) = result.asset_materializations_for_node("ss_flush")
    assert sorted(event.metadata["emptied"].value) == sorted(  # type: ignore[arg-type]
        f"{key}:{table}" for key in targets for table in ("deals", "aggregates_daily")
    )
    for target in targets.values():
        assert target.count_rows(TABLE) == 0 and target.count_rows("deals") == 0
    (check,) = result.get_asset_check_evaluations()
    assert check.passed


def test_flush_is_in_no_job_schedule_or_sensor(data_dir: Path) -> None:
    from dag.definitions import defs

    jobs = [job for job in defs.resolve_all_job_defs() if not job.name.startswith("__")]
    assert any(job.name == "ss_reports_job" for job in jobs)
    for job in jobs:  # schedules and sensors only start jobs
        assert dg.AssetKey("ss_flush") not in job.asset_layer.selected_asset_keys, job.name
    assert dg.AssetKey("ss_flush") in {key for a in defs.assets or [] for key in a.keys}
