"""Lake IO cases: one partition written/read through our IO managers, the raw libraries (the
floor) and dagster-polars (the peer); a partition range in one Dagster run against single-
partition runs; a pruned read of one partition against a full scan.

Single-partition writes and reads call the IO managers' `handle_output` / `load_input` with
contexts built by `dg.build_output_context` / `dg.build_input_context`, so only the IO manager
is timed (a Dagster run costs the same for every IO manager and would hide the differences).
The range cases go through `dg.materialize`, because "30 runs against one" is about runs.
"""


import shutil
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
from dagster import AssetExecutionContext
from deltalake import write_deltalake

from benchkit.data import IO_START, partition_keys
from benchkit.gates import peer_call
from dag_io import DeltaIOManager, ParquetIOManager

DAILY = dg.DailyPartitionsDefinition(start_date=f"{IO_START:%Y-%m-%d}")
KEY = f"{IO_START:%Y-%m-%d}"
ASSET = dg.AssetKey(["bench_lake"])
METADATA = {"partition_by": "date"}
LAZY = dg.DagsterType(lambda _, value: True, name="PolarsLazyFrame", typing_type=pl.LazyFrame)
_INSTANCE: list[dg.DagsterInstance] = []
PEER = "dagster_polars"  # the peer's import name (gates.peer_call)


def instance() -> dg.DagsterInstance:
    """One ephemeral Dagster instance per process, as a deployment has one instance. (Building
    a context or a run without one creates a fresh instance each time, ~0.1-0.3 s of SQLite
    schema stamping that would swamp the IO being measured.)"""
    if not _INSTANCE:
        _INSTANCE.append(dg.DagsterInstance.ephemeral())
    return _INSTANCE[0]


def output_context(key: str = KEY) -> dg.OutputContext:
    """Built outside the timed section (benchmark setup); one per write."""
    return dg.build_output_context(
        asset_key=ASSET,
        partition_key=key,
        asset_partitions_def=DAILY,
        definition_metadata=METADATA,
        dagster_type=LAZY,
        instance=instance(),
    )


def input_context(key: str = KEY) -> Any:
    return dg.build_input_context(
        asset_key=ASSET,
        partition_key=key,
        asset_partitions_def=DAILY,
        upstream_output=output_context(),
        dagster_type=LAZY,
        instance=instance(),
    )


def ours_manager(fmt: str, root: Path) -> dg.ConfigurableIOManager:
    return (DeltaIOManager if fmt == "delta" else ParquetIOManager)(root_uri=str(root))


def peer_manager(fmt: str, root: Path) -> Any:
    """dagster-polars' manager, set up as Dagster would (explicit overwrite mode for Delta: the
    default-constructed PolarsDeltaIOManager fails with "'str' object has no attribute 'value'",
    dagster-polars 0.27.12)."""
    from dagster_polars import DeltaWriteMode, PolarsDeltaIOManager, PolarsParquetIOManager

    manager = (
        PolarsDeltaIOManager(base_dir=str(root), mode=DeltaWriteMode.overwrite)
        if fmt == "delta"
        else PolarsParquetIOManager(base_dir=str(root))
    )
    manager.setup_for_execution(dg.build_init_resource_context())
    return manager


# --- writes ---------------------------------------------------------------------------------
def write_ours(fmt: str, root: Path, frame: pl.DataFrame, context: dg.OutputContext) -> None:
    ours_manager(fmt, root).handle_output(context, frame.lazy())


def write_floor(fmt: str, root: Path, frame: pl.DataFrame, context: Any = None) -> None:
    table = root / "bench_lake"
    if fmt == "delta":
        write_deltalake(str(table), frame.to_arrow(), partition_by=["date"], mode="overwrite")
    else:
        folder = table / f"date={KEY}"
        folder.mkdir(parents=True, exist_ok=True)
        frame.lazy().sink_parquet(folder / "data.parquet")


def write_peer(fmt: str, root: Path, frame: pl.DataFrame, context: dg.OutputContext) -> None:
    """dagster-polars' write; a missing import or removed API is a skip, any other error is not
    (`gates.peer_call`)."""

    def write() -> None:
        with warnings.catch_warnings():
            # dagster-polars passes deltalake's deprecated `without_files`; not ours to fix.
            warnings.simplefilter("ignore", DeprecationWarning)
            peer_manager(fmt, root).handle_output(context, frame.lazy())

    peer_call(PEER, write)


WRITERS: dict[str, Callable[[str, Path, pl.DataFrame, Any], None]] = {
    "ours": write_ours,
    "floor": write_floor,
    "peer": write_peer,
}


# --- reads ----------------------------------------------------------------------------------
def read_ours(fmt: str, root: Path, context: dg.InputContext) -> pl.DataFrame:
    return ours_manager(fmt, root).load_input(context).collect()


def read_floor(fmt: str, root: Path, context: Any = None) -> pl.DataFrame:
    table = root / "bench_lake"
    if fmt == "delta":
        return pl.scan_delta(str(table)).filter(pl.col("date") == IO_START).collect()
    return pl.scan_parquet(table / f"date={KEY}" / "data.parquet").collect()


def read_peer(fmt: str, root: Path, context: dg.InputContext) -> pl.DataFrame:
    """dagster-polars' read, classified as `write_peer`."""

    def read() -> pl.DataFrame:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return peer_manager(fmt, root).load_input(context).collect()

    return peer_call(PEER, read)


READERS: dict[str, Callable[[str, Path, Any], pl.DataFrame]] = {
    "ours": read_ours,
    "floor": read_floor,
    "peer": read_peer,
}


# --- ranges through Dagster ---------------------------------------------------------------
def range_asset(source: Path, io_key: str) -> dg.AssetsDefinition:
    """A daily-partitioned asset reading its partitions' rows from the prepared source file."""

    @dg.asset(
        name="bench_lake",
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key=io_key,
        metadata=METADATA,
    )
    def bench_lake(context: AssetExecutionContext) -> pl.LazyFrame:
        window = context.partition_time_window
        return pl.scan_parquet(source).filter(
            pl.col("date").is_between(window.start.date(), window.end.date(), closed="left")
        )

    return bench_lake


def materialize_range(fmt: str, root: Path, source: Path, keys: list[str]) -> None:
    """One Dagster run writing `keys` (a contiguous range) in one go."""
    asset = range_asset(source, "io")
    tags = (
        {}
        if len(keys) == 1
        else {
            "dagster/asset_partition_range_start": keys[0],
            "dagster/asset_partition_range_end": keys[-1],
        }
    )
    result = dg.materialize(
        [asset],
        partition_key=keys[0] if len(keys) == 1 else None,
        tags=tags,
        resources={"io": ours_manager(fmt, root)},
        instance=instance(),
    )
    assert result.success


def materialize_singles(fmt: str, root: Path, source: Path, keys: list[str]) -> None:
    """One Dagster run per partition."""
    for key in keys:
        materialize_range(fmt, root, source, [key])


# --- pruned reads ---------------------------------------------------------------------------
def read_partition(fmt: str, root: Path, context: dg.InputContext) -> pl.DataFrame:
    """One partition through our IO manager (`context = input_context(key)`)."""
    return ours_manager(fmt, root).load_input(context).collect()


def range_input_context(partitions: int) -> dg.InputContext:
    """The input context of a consumer reading the whole range (a context built without
    partitions would look like an unpartitioned upstream to the IO manager)."""
    keys = partition_keys(partitions)
    return dg.build_input_context(
        asset_key=ASSET,
        asset_partition_key_range=dg.PartitionKeyRange(keys[0], keys[-1]),
        asset_partitions_def=DAILY,
        upstream_output=output_context(),
        dagster_type=LAZY,
        instance=instance(),
    )


def read_all(fmt: str, root: Path, context: dg.InputContext) -> pl.DataFrame:
    """All partitions through our IO manager (`context = range_input_context(n)`)."""
    return ours_manager(fmt, root).load_input(context).collect()


def data_files(table: Path) -> list[Path]:
    """Data files of a lake table (Delta log and the Parquet schema file excluded)."""
    return sorted(
        p
        for p in table.rglob("*.parquet")
        if "_delta_log" not in p.parts and p.name != "_schema.parquet"
        and not any(part.startswith("_tmp-") for part in p.parts)
    )


def rows_written(root: Path) -> int:
    """Rows in all data files under `root` (any writer's layout)."""
    return pl.scan_parquet(data_files(root)).select(pl.len()).collect().item()


def poisoned_copy(fmt: str, root: Path, key: str, target: Path) -> tuple[int, int]:
    """Copy the table to `target` and overwrite every data file outside partition `key` with
    bytes that are not Parquet. Returns (files inside the partition, files poisoned)."""
    shutil.copytree(root, target)
    inside = poisoned = 0
    for path in data_files(target / "bench_lake"):
        if f"date={key}" in path.parts:
            inside += 1
        else:
            path.write_bytes(b"not a parquet file: a pruned read must never open this")
            poisoned += 1
    return inside, poisoned


# --- peak-memory entry points ---------------------------------------------------------------
def prepare_write(fmt: str, who: str, source: str, root: str) -> Callable[[], object]:
    frame = pl.read_parquet(source)
    writer = WRITERS[who]

    context = output_context()

    def run() -> None:
        shutil.rmtree(root, ignore_errors=True)
        writer(fmt, Path(root), frame, context)

    return run
