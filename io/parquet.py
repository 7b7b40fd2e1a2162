"""`ParquetIOManager`: each asset is a hive-style directory of Parquet files at
`<root_uri>/<asset key path>`, one `data.parquet` per partition (`col=value/.../data.parquet`,
partition columns kept inside the files so types round-trip exactly) or one `data.parquet` for an
unpartitioned asset. `_schema.parquet` (zero rows) holds the table's merged schema.

A write sinks the LazyFrame (streaming) into a temporary sibling directory `_tmp-<id>/`, checks it,
then renames each partition's file into place. A single partition is sunk as one plain file and
checked from its footer statistics (min, max and null count of each partition column in every
row group), so no data is read back; a range is split by `pl.PartitionBy`, and a range given per
partition (`{key: frame}`) is sunk part after part, each part as a single partition. A local
rename and an S3 object copy both replace one object atomically, so a reader sees the old or the
new partition, never a torn one. A crash leaves only the ignored temporary directory behind.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Mapping
from typing import Any

import dagster as dg
import polars as pl
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from dag_io.audit import AUDIT_DIR, WHOLE_TABLE, explain_missing, refusals
from dag_io.base import ArrowIOManager, WriteResult, WriteTarget, outside_error
from dag_io.delta_schema import changed_types, describe_changes
from dag_io.partitioning import PartitionLayout
from dag_io.storage import filesystem

DATA_FILE = "data.parquet"
SCHEMA_FILE = "_schema.parquet"
TMP_PREFIX = "_tmp-"


def _fs_uri(uri: str, fs: pafs.FileSystem, path: str) -> str:
    """A Polars-readable location for a filesystem path of the table."""
    if isinstance(fs, pafs.LocalFileSystem):
        return path
    return f"s3://{path}"


class ParquetIOManager(ArrowIOManager):
    """Persists Polars frames as hive-partitioned Parquet, one atomically replaced file per
    partition."""

    # -- writing --------------------------------------------------------------------------------
    def write(
        self,
        frame: pl.LazyFrame,
        target: WriteTarget,
        *,
        parts: Mapping[str, pl.LazyFrame] | None = None,
    ) -> WriteResult:
        if target.config.write_mode != "overwrite":
            raise ValueError(
                f"{target.where()}: the Parquet IO manager only replaces partitions; "
                "use the Delta IO manager for write_mode='merge'"
            )
        options = self.options(target.uri)
        fs, root = filesystem(target.uri, options)
        schema = frame.collect_schema()
        merged = self._merged_schema(fs, root, schema, target)
        staging: list[str] = []

        def stage(part: pl.LazyFrame, part_target: WriteTarget) -> None:
            """Sink one frame into a new temporary directory; note its file moves and rows."""
            tmp = f"{root}/{TMP_PREFIX}{uuid.uuid4().hex}"
            fs.create_dir(tmp, recursive=True)
            staging.append(tmp)
            single = self._sink_single(part, part_target, fs, tmp, options)
            pairs, rows = single or (self._sink(part, schema, part_target, fs, tmp, options), None)
            moves.extend(pairs)
            counts.append(
                rows
                if rows is not None
                else sum(pq.read_metadata(src, filesystem=fs).num_rows for src, _ in pairs)
            )

        moves: list[tuple[str, str]] = []
        counts: list[int] = []
        try:
            if parts is not None and len(parts) > 1:
                # part after part: one sink of them all would run the whole query ahead of the
                # writer (Polars' partitioned sink buffers every partition)
                for key, part in parts.items():
                    stage(part, target.only(key))
            else:
                stage(frame, target)
            self._write_schema(fs, root, staging[0], merged, options)
            for src, dst in moves:
                fs.create_dir(dst.rsplit("/", 1)[0], recursive=True)
                if target.run_id:
                    _keep_previous(fs, root, dst, target.run_id)
                fs.move(src, dst)
        finally:
            for tmp in staging:
                fs.delete_dir(tmp)
        sizes = [fs.get_file_info(dst).size or 0 for _, dst in moves]
        return WriteResult(rows=sum(counts), files=len(moves), bytes=sum(sizes), schema=merged)

    def _merged_schema(
        self, fs: pafs.FileSystem, root: str, schema: pl.Schema, target: WriteTarget
    ) -> pl.Schema:
        """The table schema after this write: existing columns plus new ones, types unchanged."""
        existing = _read_schema(fs, root)
        if existing is None:
            return schema
        changes = changed_types(existing, schema)
        if target.layout is not None:
            for col in target.layout.columns:
                if col.column in existing and existing[col.column] != col.dtype:
                    raise ValueError(
                        f"{target.where()}: partition column {col.column!r} of {target.uri} is "
                        f"{existing[col.column]}, the asset's partitions are {col.dtype}; "
                        "refusing to write"
                    )
        if changes and target.config.schema_mode != "overwrite":
            raise ValueError(
                f"{target.where()}: column types differ from {target.uri}: "
                f"{describe_changes(changes)}; set metadata schema_mode='overwrite' to replace "
                "the table's schema"
            )
        if changes and target.layout is not None:
            raise ValueError(
                f"{target.where()}: schema_mode='overwrite' with changed types "
                f"({describe_changes(changes)}) is only supported by the Delta IO manager for "
                f"partitioned assets; {target.uri} keeps other partitions in the old types"
            )
        if changes or target.layout is None:  # an unpartitioned table is replaced whole
            return schema
        return pl.Schema({**dict(existing), **dict(schema)})

    def _sink_single(
        self,
        frame: pl.LazyFrame,
        target: WriteTarget,
        fs: pafs.FileSystem,
        tmp: str,
        options: dict[str, str],
    ) -> tuple[list[tuple[str, str]], int] | None:
        """An unpartitioned table or exactly one partition: one plain sink into `tmp`, checked
        from the file's footer. Returns the (temporary file, final file) pair and the row count,
        or None (nothing left in `tmp`) for a range, or when the footer cannot prove that every
        row belongs to the partition (statistics missing): the caller then splits the rows."""
        layout, values = target.layout, target.values
        single = layout is not None and values is not None and values.height == 1
        if not single and layout is not None and values is not None:
            return None
        root = tmp.rsplit("/", 1)[0]
        staged = f"{tmp}/{DATA_FILE}"
        # No mkdir: `tmp` exists, and when the query fails Polars may still open the file after
        # sink_parquet has raised (seen under load); it must not re-create the directory that
        # the caller's cleanup has just deleted.
        frame.sink_parquet(
            f"{_fs_uri(target.uri, fs, tmp)}/{DATA_FILE}", storage_options=options or None
        )
        meta = pq.read_metadata(staged, filesystem=fs)
        if layout is None or values is None:
            return [(staged, f"{root}/{DATA_FILE}")], meta.num_rows
        expected = values.row(0, named=True)
        proven, outside = _footer_outside(meta, expected)
        if not proven:
            fs.delete_file(staged)
            return None
        if outside is not None:
            name, value = outside
            column = [c for c in layout.columns if c.column == name]
            one = dataclasses.replace(layout, columns=tuple(column))
            raise outside_error(target, one.describe({name: value}))
        return [(staged, f"{root}/{layout.hive_path(expected)}/{DATA_FILE}")], meta.num_rows

    def _sink(
        self,
        frame: pl.LazyFrame,
        schema: pl.Schema,
        target: WriteTarget,
        fs: pafs.FileSystem,
        tmp: str,
        options: dict[str, str],
    ) -> list[tuple[str, str]]:
        """Split the partitions' rows into `tmp`; return (temporary file, final file) pairs."""
        tmp_uri = _fs_uri(target.uri, fs, tmp)
        root = tmp.rsplit("/", 1)[0]
        layout = target.layout
        assert layout is not None and target.values is not None  # else `_sink_single`
        seen: list[pl.DataFrame] = []

        def path_for(args: Any) -> str:
            keys = args.partition_keys
            seen.append(keys)
            suffix = "" if args.index_in_partition == 0 else f".{args.index_in_partition}"
            return f"{layout.hive_path(keys.row(0, named=True))}/{DATA_FILE}{suffix}"

        frame.sink_parquet(
            pl.PartitionBy(
                tmp_uri,
                key=layout.names,
                include_key=True,
                approximate_bytes_per_file=None,
                file_path_provider=path_for,
            ),
            storage_options=options or None,
            mkdir=True,
        )
        written = pl.concat(seen) if seen else pl.DataFrame(schema=layout.schema)
        outside = written.join(target.values, on=layout.names, how="anti")
        if outside.height:
            raise outside_error(target, layout.describe(outside.row(0, named=True)))
        moves = []
        for row in target.values.iter_rows(named=True):
            rel = f"{layout.hive_path(row)}/{DATA_FILE}"
            info = fs.get_file_info(f"{tmp}/{rel}")
            if info.type != pafs.FileType.File:
                pl.DataFrame(schema=schema).write_parquet(
                    f"{tmp_uri}/{rel}", storage_options=options or None, mkdir=True
                )
            moves.append((f"{tmp}/{rel}", f"{root}/{rel}"))
        return moves

    def _write_schema(
        self, fs: pafs.FileSystem, root: str, tmp: str, schema: pl.Schema, options: dict[str, str]
    ) -> None:
        existing = _read_schema(fs, root)
        if existing is not None and list(existing.items()) == list(schema.items()):
            return
        staged = f"{tmp}/{SCHEMA_FILE}"
        pl.DataFrame(schema=schema).write_parquet(
            _fs_uri("", fs, staged), storage_options=options or None
        )
        fs.move(staged, f"{root}/{SCHEMA_FILE}")

    def table_rows(self, fs: Any, path: str) -> int | None:
        if fs.get_file_info(f"{path}/{SCHEMA_FILE}").type != pafs.FileType.File:
            return None
        selector = pafs.FileSelector(path, recursive=True)
        rows = 0
        for info in fs.get_file_info(selector):
            rel = info.path[len(path) + 1 :].split("/")
            if rel[-1] == DATA_FILE and not any(p.startswith(("_", ".")) for p in rel[:-1]):
                rows += pq.read_metadata(info.path, filesystem=fs).num_rows
        return rows

    # -- refusing --------------------------------------------------------------------------------
    def revert(self, target: WriteTarget, run_id: str) -> tuple[str, dict[str, Any]]:
        """Put back the files run `run_id` replaced (kept under `_dag_audit/previous/`) and move
        its files to `_dag_audit/quarantine/<run id>/`; partitions it created disappear."""
        fs, root = filesystem(target.uri, self.options(target.uri))
        if target.layout is None or target.values is None:
            rels = [DATA_FILE]
        else:
            layout, rows = target.layout, target.values.iter_rows(named=True)
            rels = [f"{layout.hive_path(r)}/{DATA_FILE}" for r in rows]
        quarantine = f"{root}/{AUDIT_DIR}/quarantine/{run_id}"
        counts = {"partitions_restored": 0, "partitions_removed": 0, "already_refused": 0}
        for rel in rels:
            folder = _previous_dir(root, rel)
            kept, created = f"{folder}/{run_id}.parquet", f"{folder}/{run_id}.none"
            current, refused = f"{root}/{rel}", f"{quarantine}/{rel}"
            infos = fs.get_file_info([kept, created, refused])
            is_file = [i.type == pafs.FileType.File for i in infos]
            if is_file[2]:
                counts["already_refused"] += 1
                continue
            if not (is_file[0] or is_file[1]):
                continue  # not written by this run
            fs.create_dir(refused.rsplit("/", 1)[0], recursive=True)
            if is_file[0]:
                _link_or_copy(fs, current, refused)
                fs.move(kept, current)  # one atomic replace: readers see old or new, never none
                counts["partitions_restored"] += 1
            else:
                fs.move(current, refused)
                fs.delete_file(created)
                counts["partitions_removed"] += 1
        if not any(counts.values()):
            raise RuntimeError(
                f"{target.where()}: run {run_id} wrote none of these partitions of {target.uri}; "
                "there is nothing of this run to refuse"
            )
        return _fs_uri(target.uri, fs, quarantine), counts

    # -- reading --------------------------------------------------------------------------------
    def scan(
        self,
        context: dg.InputContext | None,
        uri: str,
        layout: PartitionLayout | None,
        values: pl.DataFrame | None,
        asset: str,
    ) -> pl.LazyFrame:
        return self._scan(uri, layout, values, asset)

    def _scan(
        self, uri: str, layout: PartitionLayout | None, values: pl.DataFrame | None, asset: str
    ) -> pl.LazyFrame:
        options = self.options(uri)
        fs, root = filesystem(uri, options)
        schema = _read_schema(fs, root)
        if schema is None:
            raise FileNotFoundError(
                f"asset {asset}: no Parquet table at {uri} (has the asset been materialised?)"
            )
        if layout is None:
            files = [f"{root}/{DATA_FILE}"]
            if fs.get_file_info(files[0]).type != pafs.FileType.File:
                found = refusals(fs, root, [WHOLE_TABLE])
                why = f": its last write was {found[WHOLE_TABLE].describe()}" if found else ""
                raise FileNotFoundError(f"asset {asset}: Parquet table {uri} holds no data{why}")
        elif values is None:
            files = _all_partition_files(fs, root, len(layout.columns))
        else:
            files = [
                f"{root}/{layout.hive_path(r)}/{DATA_FILE}" for r in values.iter_rows(named=True)
            ]
            infos = fs.get_file_info(files)
            missing = [
                layout.describe(r)
                for r, info in zip(values.iter_rows(named=True), infos, strict=True)
                if info.type != pafs.FileType.File
            ]
            if missing:
                absent = values.filter(
                    pl.Series([i.type != pafs.FileType.File for i in infos], dtype=pl.Boolean)
                )
                raise FileNotFoundError(
                    f"asset {asset}: {len(missing)} requested partition(s) missing from {uri}: "
                    + "; ".join(missing[:5])
                    + explain_missing(fs, root, layout, absent)
                )
        if not files:
            return pl.LazyFrame(schema=schema)
        frame = pl.scan_parquet(
            [_fs_uri(uri, fs, f) for f in files],
            schema=schema,
            missing_columns="insert",
            hive_partitioning=False,
            storage_options=options or None,
        )
        if layout is not None and values is not None:
            frame = frame.filter(layout.expr(values))
        return frame

    def preview_scan(self, target: WriteTarget, result: WriteResult) -> pl.LazyFrame:
        """The files just written, unfiltered (each holds only its partition's rows, checked
        at write), so the caller's `head` stops after the first rows."""
        options = self.options(target.uri)
        fs, root = filesystem(target.uri, options)
        if target.layout is None or target.values is None:
            files = [f"{root}/{DATA_FILE}"]
        else:
            layout = target.layout
            files = [
                f"{root}/{layout.hive_path(r)}/{DATA_FILE}"
                for r in target.values.iter_rows(named=True)
            ]
        return pl.scan_parquet(
            [_fs_uri(target.uri, fs, f) for f in files],
            schema=result.schema,
            missing_columns="insert",
            hive_partitioning=False,
            storage_options=options or None,
        )


def _previous_dir(root: str, rel: str) -> str:
    """Where the file a run replaced is kept: `_dag_audit/previous/<partition dir>/`."""
    partition = rel.rsplit("/", 1)[0] if "/" in rel else WHOLE_TABLE
    return f"{root}/{AUDIT_DIR}/previous/{partition}"


def _keep_previous(fs: pafs.FileSystem, root: str, dst: str, run_id: str) -> None:
    """Before `dst` is replaced, keep what it holds (or that it did not exist) for run
    `run_id`, so a refused write can be undone. One generation is kept per partition."""
    folder = _previous_dir(root, dst[len(root) + 1 :])
    for info in fs.get_file_info(pafs.FileSelector(folder, allow_not_found=True)):
        fs.delete_file(info.path)
    fs.create_dir(folder, recursive=True)
    if fs.get_file_info(dst).type == pafs.FileType.File:
        _link_or_copy(fs, dst, f"{folder}/{run_id}.parquet")
    else:
        fs.open_output_stream(f"{folder}/{run_id}.none").close()


def _link_or_copy(fs: pafs.FileSystem, src: str, dst: str) -> None:
    """A second name for `src`: a hard link on local disk (no bytes copied), a server-side
    copy on an object store."""
    if isinstance(fs, pafs.LocalFileSystem):
        os.link(src, dst)
    else:
        fs.copy_file(src, dst)


def _footer_outside(
    meta: pq.FileMetaData, expected: Mapping[str, object]
) -> tuple[bool, tuple[str, object] | None]:
    """Whether the footer statistics prove where the rows of a one-partition file belong:
    (True, None) every row holds the `expected` partition values; (True, (column, value)) some
    row holds another value (or null); (False, None) statistics are missing or not comparable."""
    for g in range(meta.num_row_groups):
        group = meta.row_group(g)
        if group.num_rows == 0:
            continue
        index = {group.column(j).path_in_schema: j for j in range(group.num_columns)}
        for name, value in expected.items():
            if name not in index:
                return False, None
            stats = group.column(index[name]).statistics
            if stats is None or not stats.has_null_count:
                return False, None
            if stats.null_count > 0:
                return True, (name, None)
            if not stats.has_min_max:
                return False, None
            for bound in (stats.min, stats.max):
                if type(bound) is not type(value):
                    return False, None
                if bound != value:
                    return True, (name, bound)
    return True, None


def _read_schema(fs: pafs.FileSystem, root: str) -> pl.Schema | None:
    path = f"{root}/{SCHEMA_FILE}"
    if fs.get_file_info(path).type != pafs.FileType.File:
        return None
    with fs.open_input_file(path) as handle:
        return pl.Schema(pl.read_parquet_schema(handle))  # annotated as a plain dict


def _all_partition_files(fs: pafs.FileSystem, root: str, depth: int) -> list[str]:
    """Every partition's data file (temporary and hidden directories skipped)."""
    selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
    files = []
    for info in fs.get_file_info(selector):
        if info.type != pafs.FileType.File or not info.path.endswith(f"/{DATA_FILE}"):
            continue
        rel = info.path[len(root) + 1 :].split("/")
        if len(rel) == depth + 1 and all(
            "=" in p and not p.startswith(("_", ".")) for p in rel[:-1]
        ):
            files.append(info.path)
    return sorted(files)
