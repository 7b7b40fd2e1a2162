"""End to end: the NPS group job `nps_history_job` for one sample month, through Dagster against
the same asset and check functions called directly. The ratio is the orchestration + persistence
overhead of one run of a whole group.

Through Dagster: the real job of `dag.definitions.defs`, resolved in a copy of the code location
whose resources for this job are the benchmark's (sample `NpsSource`, `DeltaIOManager` on a
temporary lake as `delta_io_manager` and `io_manager`, `nps_postgres` on the benchmark server),
executed in process for one monthly partition on the shared ephemeral instance: every asset
(bronze to the PostgreSQL loads and the company layer) and every asset check of the job (pandera
contracts, file integrity, freshness), with run and step bookkeeping, the event log, Delta writes
and the IO manager reads of every downstream input and lake contract.

Directly: the job's assets, taken from its own selection in topological order, called with
`dg.build_asset_context`; an upstream output is handed over in memory (lazy for a `pl.LazyFrame`
input, collected for a `pl.DataFrame` one), the loads write to the same PostgreSQL. After each
asset its checks are called the same way: lake contracts get the in-memory output the IO manager
would have re-read, PostgreSQL contracts read the loaded tables back. Left out, because they are
Dagster's own bookkeeping: the freshness checks (`dag.sensors`), which read the instance's record
of the last materialization, and the direct path records none.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import psycopg
from psycopg import sql

from benchkit.data import NPS_MONTH
from benchkit.lake import instance
from benchkit.loaders import postgres_resource
from dag.definitions import defs
from dag.nps_source import NpsSource
from dag.sensors import freshness_checks
from dag_io import DeltaIOManager

JOB = "nps_history_job"
KEY = f"{NPS_MONTH:%Y-%m-%d}"
SILVER = dg.AssetKey("nps_his_digest")
FRESHNESS = {key for checks in freshness_checks for key in checks.check_keys}


@dataclass(frozen=True)
class Plan:
    """The job resolved with the benchmark's resources and the work it does, for both paths."""

    job: dg.JobDefinition
    lake: Path
    services: dict[str, Any]  # the job's non-IO resources, shared by both paths
    assets: list[dg.AssetsDefinition]  # unbound definitions, topological order
    checks: dict[dg.AssetKey, list[dg.AssetChecksDefinition]]  # per asset, freshness left out
    tables: list[str]  # PostgreSQL tables the job's loads write (asset metadata target_table)


def plan(lake: Path, pg_url: str, rows: int) -> Plan:
    """Resolve the real job with the benchmark's resources and derive the direct path from it."""
    services = {
        "nps_source": NpsSource(mode="sample", sample_rows=rows, seed=7),
        "nps_postgres": postgres_resource(pg_url),
    }
    delta = DeltaIOManager(root_uri=str(lake))
    bench = {**services, "delta_io_manager": delta, "io_manager": delta}
    # Definitions.merge refuses a second value for a bound key, and a bound job refuses
    # execute_in_process(resources=...): so rebuild the code location from defs' own parts with
    # the keys this job uses replaced (every asset must resolve, hence defs' other resources).
    location = dg.Definitions(
        assets=defs.assets,
        asset_checks=defs.asset_checks,
        jobs=defs.jobs,
        resources={**(defs.resources or {}), **bench},
        executor=defs.executor,
        loggers=defs.loggers,
    )
    job = location.resolve_job_def(JOB)
    unset = job.required_resource_keys - bench.keys()
    if unset:
        # defs' defaults were bound at import, before the benchmark set DAG_DATA_DIR: unusable.
        raise RuntimeError(f"{JOB} needs resources the benchmark does not build: {sorted(unset)}")
    graph = job.asset_layer.asset_graph
    selected = job.asset_layer.selected_asset_keys
    unbound = {key: a for a in location.assets or [] for key in a.keys}
    unbound_checks = {key: c for c in location.asset_checks or [] for key in c.check_keys}
    order = [key for key in graph.toposorted_asset_keys if key in selected]
    checks: dict[dg.AssetKey, list[dg.AssetChecksDefinition]] = {key: [] for key in order}
    for check_key in sorted(graph.asset_check_keys - FRESHNESS, key=str):
        checks[check_key.asset_key].append(unbound_checks[check_key])
    assets = [unbound[key] for key in order]
    tables = {a.metadata_by_key[a.key].get("target_table") for a in assets}
    return Plan(job, lake, services, assets, checks, sorted(t for t in tables if t))


def reset(plan: Plan) -> None:
    """Untimed setup of every round: an empty lake and none of the job's tables, so both paths
    create the same tables and write the same rows."""
    if plan.lake.exists():
        shutil.rmtree(plan.lake)
    names = sql.SQL(", ").join(sql.Identifier(*table.split(".")) for table in plan.tables)
    with psycopg.connect(plan.services["nps_postgres"].uri(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(names))


def table_rows(plan: Plan) -> dict[str, int]:
    """Rows per PostgreSQL table of the job (read after the timed rounds)."""
    with psycopg.connect(plan.services["nps_postgres"].uri()) as conn:
        return {
            table: conn.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(*table.split(".")))
            ).fetchone()[0]  # type: ignore[index]
            for table in plan.tables
        }


def through_dagster(plan: Plan) -> int:
    """One run of the job for the month; returns the silver row count."""
    result = plan.job.execute_in_process(partition_key=KEY, instance=instance())
    assert result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert not failed, f"{JOB} checks failed: {failed}"
    events = result.asset_materializations_for_node(SILVER.path[-1])
    return int(events[0].metadata["dagster/row_count"].value)


def _inputs(node: dg.AssetsDefinition, values: dict[dg.AssetKey, Any]) -> dict[str, Any]:
    """`node`'s data inputs from the upstream outputs in memory, in the form the IO manager would
    hand over for the input's annotation."""
    inputs: dict[str, Any] = {}
    for name, key in node.keys_by_input_name.items():
        dagster_type = node.op.ins[name].dagster_type
        if dagster_type.is_nothing:
            continue  # an order-only dep (deps=[...]): the topological order already honours it
        value = values[key]
        if dagster_type.typing_type is pl.DataFrame:
            inputs[name] = value.collect() if isinstance(value, pl.LazyFrame) else value
        else:
            inputs[name] = value.lazy()
    return inputs


def _as_persisted(value: Any) -> Any:
    """An output as the IO manager would read it back: a range given per partition
    (`{partition key: frame}`, see `dag_io.base.output_parts`) is one frame of all its parts."""
    if isinstance(value, dict):
        return pl.concat([part.lazy() for part in value.values()], how="vertical")
    return value


def _context(node: dg.AssetsDefinition, plan: Plan) -> dg.AssetExecutionContext:
    # Also for checks: Dagster 1.13's build_asset_check_context takes no partition key, and the
    # checks read the run's months from it. The shared instance avoids a new one per context.
    # Blocking checks also hold the lake IO manager (to refuse a failed partition, and to read
    # the previous month): the direct path persists nothing, so its lake stays empty.
    return dg.build_asset_context(
        partition_key=KEY if node.partitions_def else None,
        resources={**plan.services, "delta_io_manager": DeltaIOManager(root_uri=str(plan.lake))},
        instance=instance(),
    )


def direct(plan: Plan) -> int:
    """The job's asset and check functions called in order; returns the silver row count."""
    values: dict[dg.AssetKey, Any] = {}
    failed: list[str] = []
    for asset in plan.assets:
        with _context(asset, plan) as context:
            output = asset(context, **_inputs(asset, values))
        values[asset.key] = _as_persisted(output.value) if isinstance(output, dg.Output) else None
        for check in plan.checks[asset.key]:
            with _context(check, plan) as context:
                result = check(context, **_inputs(check, values))
            if not result.passed:
                failed.extend(key.name for key in check.check_keys)
    assert not failed, f"{JOB} checks failed (direct): {failed}"
    return values[SILVER].collect().height
