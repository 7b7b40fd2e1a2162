"""Write, audit, publish: the lake's record of partitions a blocking check refused.

An IO manager writes a run's partitions in place (one atomic commit or rename), keeping what
they held before: Delta keeps the previous table version, Parquet keeps the replaced file under
`_dag_audit/previous/`. When a blocking check of the asset fails with ERROR severity, the check
asks the IO manager to *refuse* the run's partitions (`ArrowIOManager.refuse`): exactly the
partitions this run wrote go back to their previous contents (or disappear, when they are new),
so no later step, run or load can read them. The refused data stays inspectable: a Delta table
version, or a Parquet file under `_dag_audit/quarantine/<run id>/`.

Each refused partition also gets a small JSON record under `_dag_audit/refused/`, so a later read
of a partition that is missing because it was refused says which check refused it, in which run,
and where the refused data is. A later successful write of the partition clears its record.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import polars as pl
import pyarrow.fs as pafs

from dag_io.partitioning import PartitionLayout

AUDIT_DIR = "_dag_audit"
WHOLE_TABLE = "_table"  # the record name of an unpartitioned table


@dataclass(frozen=True)
class Refusal:
    """Why a run's partitions were refused, and where the refused data is kept."""

    asset: str
    run_id: str
    check: str
    reason: str
    quarantine: str
    at: str = ""

    def describe(self) -> str:
        return (
            f"refused by check {self.check} in run {self.run_id} ({self.reason}); "
            f"the refused data is kept at {self.quarantine}"
        )


def partition_dirs(layout: PartitionLayout | None, values: pl.DataFrame | None) -> list[str]:
    """The relative directory of each partition (`col=value/...`), or `_table` when whole."""
    if layout is None or values is None:
        return [WHOLE_TABLE]
    return [layout.hive_path(row) for row in values.iter_rows(named=True)]


def _record_path(root: str, rel: str) -> str:
    return f"{root}/{AUDIT_DIR}/refused/{rel}.json"


def record_refusals(fs: pafs.FileSystem, root: str, rels: list[str], refusal: Refusal) -> None:
    """Write one record per refused partition (the last refusal of a partition wins)."""
    stamped = Refusal(**{**asdict(refusal), "at": dt.datetime.now(dt.UTC).isoformat()})
    body = json.dumps(asdict(stamped), ensure_ascii=False).encode()
    for rel in rels:
        path = _record_path(root, rel)
        fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with fs.open_output_stream(path) as out:
            out.write(body)


def clear_refusals(fs: pafs.FileSystem, root: str, rels: list[str]) -> None:
    """Forget the refusals of partitions that were just written again."""
    if fs.get_file_info(f"{root}/{AUDIT_DIR}/refused").type != pafs.FileType.Directory:
        return  # the common case: nothing was ever refused, one stat and done
    paths = [_record_path(root, rel) for rel in rels]
    for path, info in zip(paths, fs.get_file_info(paths), strict=True):
        if info.type == pafs.FileType.File:
            fs.delete_file(path)


def refusals(fs: pafs.FileSystem, root: str, rels: list[str]) -> dict[str, Refusal]:
    """The recorded refusal of each of `rels` that has one."""
    found: dict[str, Refusal] = {}
    if fs.get_file_info(f"{root}/{AUDIT_DIR}/refused").type != pafs.FileType.Directory:
        return found
    paths = [_record_path(root, rel) for rel in rels]
    for rel, path, info in zip(rels, paths, fs.get_file_info(paths), strict=True):
        if info.type == pafs.FileType.File:
            with fs.open_input_stream(path) as handle:
                found[rel] = Refusal(**json.loads(handle.read()))
    return found


def explain_missing(
    fs: pafs.FileSystem, root: str, layout: PartitionLayout, missing: pl.DataFrame
) -> str:
    """`; partition ... was refused by ...` for the missing partitions that were refused."""
    rows = list(missing.head(5).iter_rows(named=True))
    found = refusals(fs, root, [layout.hive_path(r) for r in rows])
    notes = [
        f"{layout.describe(r)} was {found[layout.hive_path(r)].describe()}"
        for r in rows
        if layout.hive_path(r) in found
    ]
    return ("; " + "; ".join(notes)) if notes else ""


def summary(refusal: Refusal, details: Mapping[str, object]) -> dict[str, object]:
    """The check metadata of a refusal: what was refused and where the data went."""
    return {
        "refused": True,
        "refused_by_run": refusal.run_id,
        "quarantine": refusal.quarantine,
        **details,
    }
