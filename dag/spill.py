"""Spill files: a range run's per-partition results on local disk, so memory holds one partition.

A single run over many partitions (`BackfillPolicy.single_run()`) computes one partition at a
time, writes each result as an Arrow IPC file (`Spill.write`) and returns `Spill.frames()`, one
lazy scan per partition that the Delta IO manager streams into the lake one after another (or
`Spill.scan()`, one scan of all files, which Polars reads ahead whole when written).

Where the files live: `<DAG_DATA_DIR or ./data>/spill/<run id>/<asset op>/`, one directory per
run step, on the data disk (not the system temp dir, which is often RAM-backed tmpfs and would
hold the range in memory after all).

How they are removed: the IO manager reads the files after the asset function returns, so the
asset cannot delete them itself. An asset that spills declares `hooks=SPILL_HOOKS`: once its
step has finished, output handling included, the success or failure hook removes the step's
directory (and the run's, when empty). A step failing inside the asset also removes its
directory at once (`Spill` is a context manager that removes on an exception). A process killed
mid-run runs no hook: its directory is left behind and the next `Spill` opened on the same data
dir removes spill directories not modified for `STALE_AFTER` (a day, longer than any job's
`dagster/max_runtime`, so never a live run's). Spill files are never part of the lake: a kill
leaves the lake as the IO manager's own write leaves it (Delta: one commit, made only after the
last spill file has been read, so a kill before it commits nothing). An asset called outside a
run (`build_asset_context`) has no hooks: its files stay until that sweep.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
import uuid
from pathlib import Path
from types import TracebackType

import dagster as dg
import polars as pl

SPILL_SUBDIR = "spill"
STALE_AFTER = 24 * 3600  # seconds
log = logging.getLogger(__name__)


def spill_root() -> Path:
    """`<DAG_DATA_DIR or ./data>/spill`: where every run step's spill directory lives."""
    return Path(os.environ.get("DAG_DATA_DIR", "data")).resolve() / SPILL_SUBDIR


def step_dir(run_id: str, op_name: str) -> Path:
    """The spill directory of one run step (the asset's op)."""
    return spill_root() / run_id / op_name


def remove_stale(now: float | None = None) -> list[Path]:
    """Remove run directories not modified for `STALE_AFTER` (left by killed processes)."""
    root = spill_root()
    if not root.is_dir():
        return []
    cutoff = (time.time() if now is None else now) - STALE_AFTER
    stale = [p for p in root.iterdir() if p.is_dir() and p.stat().st_mtime < cutoff]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)  # a concurrent sweep may remove it first
        log.info("removed stale spill directory %s", path)
    return stale


def remove_step(run_id: str, op_name: str) -> None:
    """Remove a step's spill directory, and the run's once no step of it spills any more."""
    folder = step_dir(run_id, op_name)
    shutil.rmtree(folder, ignore_errors=True)  # absent when the step did not spill
    with contextlib.suppress(OSError):  # another step of the run still spills, or none did
        folder.parent.rmdir()


class Spill:
    """One run step's spill files: `write` a partition's frame, `scan` them all lazily."""

    def __init__(self, context: dg.AssetExecutionContext) -> None:
        remove_stale()
        self.run_id, self.op_name = _run_id(context), _op_name(context)
        self.folder = step_dir(self.run_id, self.op_name)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.files: list[Path] = []
        self.keys: list[str] = []

    def write(self, frame: pl.DataFrame, partition_key: str) -> None:
        """Spill one partition's rows (LZ4 IPC: ~4x smaller than uncompressed at little CPU; a
        12-month NPS range would otherwise need a few GB of disk)."""
        path = self.folder / f"{len(self.files):05d}_{partition_key}.arrow"
        frame.write_ipc(path, compression="lz4")
        self.files.append(path)
        self.keys.append(partition_key)

    def scan(self) -> pl.LazyFrame:
        if not self.files:
            raise ValueError(f"spill {self.folder}: no partition was written")
        return pl.scan_ipc(self.files)

    def frames(self) -> dict[str, pl.LazyFrame]:
        """One scan per spilled partition, by partition key: as an asset's output, the Delta IO
        manager streams them one after another (one scan of all files is read ahead whole)."""
        if not self.files:
            raise ValueError(f"spill {self.folder}: no partition was written")
        return {key: pl.scan_ipc(path) for key, path in zip(self.keys, self.files, strict=True)}

    def __enter__(self) -> Spill:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if kind is not None:  # the step fails: nothing will read the files
            remove_step(self.run_id, self.op_name)


def _run_id(context: dg.AssetExecutionContext) -> str:
    try:
        return context.run.run_id
    except dg.DagsterError:  # invoked directly (build_asset_context): no run, no hooks
        return f"direct-{uuid.uuid4().hex}"


def _op_name(context: dg.AssetExecutionContext) -> str:
    try:
        return context.op_execution_context.op_def.name
    except dg.DagsterError:  # a context built for a test, not bound to an asset
        return "direct"


@dg.success_hook(name="spill_cleanup_on_success")
def _cleanup_on_success(context: dg.HookContext) -> None:
    remove_step(context.run_id, context.op.name)


@dg.failure_hook(name="spill_cleanup_on_failure")
def _cleanup_on_failure(context: dg.HookContext) -> None:
    remove_step(context.run_id, context.op.name)


SPILL_HOOKS = {_cleanup_on_success, _cleanup_on_failure}
