"""`DeltaIOManager`: each asset is a Delta table at `<root_uri>/<asset key path>`.

A write replaces exactly the partitions being materialised in one commit through
`write_deltalake`, except a range output given per partition (`{key: frame}`), whose parts are
streamed one after another into per-partition Parquet files committed at once (`delta_files`);
`write_mode: "merge"` upserts on `merge_keys` with a Delta MERGE. Reads are lazy `scan_delta`s
pruned to the requested partitions, at a table version pinned at the first read of the run.
"""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any, Literal

import dagster as dg
import polars as pl
import pyarrow as pa
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import DeltaError, TableNotFoundError
from pydantic import PrivateAttr

from dag_io.audit import WHOLE_TABLE, explain_missing, refusals
from dag_io.base import (
    PREVIEW_ROWS,
    ArrowIOManager,
    WriteResult,
    WriteTarget,
    outside_error,
    outside_example,
)
from dag_io.delta_files import (
    COMMITS_SEARCHED,
    WRITE_ID,
    commit_version,
    streamable,
    write_partitions,
)
from dag_io.delta_schema import (
    arrow_schema,
    changed_types,
    delta_safe,
    describe_changes,
    table_polars_schema,
)
from dag_io.partitioning import PartitionLayout
from dag_io.storage import filesystem

EMPTY_MARKERS = "_dag_io_empty"
BATCH_ROWS = 250_000
RUN_ID = "dag_io.run_id"  # commit metadata: the Dagster run that wrote the version
OPERATION = "dag_io.operation"  # commit metadata: "revert" on a refusal's commit
HISTORY_DEPTH = 500  # commits searched for a run's writes when refusing them


class _Outside(ValueError):
    """A streamed batch held a row outside the partitions being written."""


def _checked(
    frame: pl.LazyFrame,
    target: WriteTarget,
    outside: list[str],
    head: list[pl.DataFrame] | None = None,
) -> Iterator[pl.DataFrame]:
    """The frame's rows in batches, checking each batch's partitions (a row outside them is
    appended to `outside` and aborts the stream, so nothing commits). `head` receives the first
    rows streamed: the output preview, without reading them back."""
    for df in frame.collect_batches(chunk_size=BATCH_ROWS):
        example = outside_example(df, target)
        if example is not None:
            outside.append(example)
            raise _Outside(example)
        if head is not None and not head and df.height:
            head.append(df.head(PREVIEW_ROWS))
        yield df


def _reader(
    frame: pl.LazyFrame,
    schema: pl.Schema,
    target: WriteTarget,
    outside: list[str],
    head: list[pl.DataFrame] | None = None,
) -> pa.RecordBatchReader:
    """`_checked` batches as a stream of Arrow record batches of the Delta schema."""
    arrow = arrow_schema(schema)
    batches = (
        b
        for df in _checked(frame, target, outside, head)
        for b in df.to_arrow().cast(arrow).to_batches()
    )
    return pa.RecordBatchReader.from_batches(arrow, batches)


MERGE_CHANGES = ("rows_inserted", "rows_updated", "rows_deleted")


def _stored_schema(schema: pl.Schema, target: WriteTarget) -> pl.Schema:
    """The table's columns: the output's, without a merge delete flag."""
    flag = target.config.merge_delete_flag
    return pl.Schema({n: t for n, t in schema.items() if n != flag})


def _open(uri: str, options: dict[str, str], version: int | None = None) -> DeltaTable | None:
    if not DeltaTable.is_deltatable(uri, storage_options=options):
        return None
    return DeltaTable(uri, version=version, storage_options=options)


def _files(table: DeltaTable, layout: PartitionLayout | None) -> pl.DataFrame:
    """The table's data files: path, size_bytes, num_records and typed partition columns."""
    actions = pl.DataFrame(table.get_add_actions(flatten=True))
    if layout is None:
        return actions
    if actions.height == 0:
        return pl.DataFrame(
            schema={"path": pl.String, "size_bytes": pl.Int64, "num_records": pl.Int64}
            | dict(layout.schema)
        )
    return actions.with_columns(
        pl.col(f"partition.{c.column}").cast(c.dtype).alias(c.column) for c in layout.columns
    )


def _in_partitions(files: pl.DataFrame, target: WriteTarget) -> pl.DataFrame:
    if target.layout is None or target.values is None:
        return files
    return files.join(target.values, on=target.layout.names, how="semi")


class DeltaIOManager(ArrowIOManager):
    """Persists Polars frames as Delta tables, one per asset, replacing partitions atomically."""

    _pins: dict[tuple[str, str], int] = PrivateAttr(default_factory=dict)

    # -- writing --------------------------------------------------------------------------------
    def write(
        self,
        frame: pl.LazyFrame,
        target: WriteTarget,
        *,
        parts: Mapping[str, pl.LazyFrame] | None = None,
    ) -> WriteResult:
        options = self.options(target.uri)
        frame = delta_safe(frame, target.where())
        pieces = [delta_safe(part, target.where()) for part in (parts or {}).values()]
        schema = frame.collect_schema()
        write_mode, schema_mode = target.config.write_mode, target.config.schema_mode
        names = target.layout.names if target.layout else []
        stored = _stored_schema(schema, target)
        table = _open(target.uri, options)
        changes: dict[str, tuple[pl.DataType, pl.DataType]] = {}
        if table is None:
            table = self._create(target, stored, options)
        else:
            self._check_partitioning(table, target)
            changes = changed_types(table_polars_schema(table), stored, exclude=())
            if changes and schema_mode != "overwrite":
                raise ValueError(
                    f"{target.where()}: column types differ from table {target.uri}: "
                    f"{describe_changes(changes)}; set metadata schema_mode='overwrite' to replace "
                    "the table's schema"
                )
        write_id = uuid.uuid4().hex
        commit = CommitProperties(
            custom_metadata={
                WRITE_ID: write_id,
                "dag_io.asset": target.asset,
                "dag_io.partitions": json.dumps(target.keys[:50]),
                **({RUN_ID: target.run_id} if target.run_id else {}),
            }
        )
        extra: dict[str, Any] = {}
        outside: list[str] = []
        head: list[pl.DataFrame] = []
        if write_mode == "merge":
            how = "merge"
        elif changes and target.layout is not None:
            how = "rewrite"
        elif len(pieces) > 1 and not changes and streamable(target, table, schema):
            # only a range given per partition: create_write_transaction conflicts with any
            # concurrent commit that removed files (it reads the whole table), so one-frame
            # writes keep write_deltalake, whose partition predicate lets writers of other
            # partitions commit at the same time
            how = "streamed"
        else:
            how = "plain"
        try:
            if how == "merge":
                extra = self._merge(table, frame, schema, target, commit, outside)
            elif how == "rewrite":
                self._rewrite(table, frame, schema, target, commit, options, outside)
            elif how == "streamed":
                # part after part: Polars runs a frame's whole query ahead of a slow reader, so
                # only one part at a time bounds memory
                streams = (_checked(p, target, outside, head) for p in pieces)
                write_partitions(table, streams, target, options, commit, write_id)
            else:
                predicate = (
                    target.layout.sql_predicate(target.values)
                    if target.layout is not None and target.values is not None
                    else None
                )
                write_deltalake(
                    # the table as opened or created above, so the commit builds on a snapshot
                    # that already holds the table's creation (concurrent first writers)
                    table,
                    _reader(frame, schema, target, outside, head),
                    partition_by=names or None,
                    mode="overwrite",
                    predicate=predicate,
                    schema_mode=_schema_mode(table, schema, target, changes),
                    storage_options=options,
                    commit_properties=commit,
                )
        except (_Outside, DeltaError, OSError):
            if outside:  # the stream was aborted by our partition check: say which row
                raise outside_error(target, outside[0]) from None
            raise
        # write_deltalake commits through `table`, which then stands at our commit's version;
        # the others commit elsewhere, so their version is looked up by the write id.
        plain = how == "plain"
        if plain:
            version = table.version()
        elif how == "merge" and not any(extra[k] for k in MERGE_CHANGES):
            # a merge that changes no row makes no commit (e.g. a crawl of unchanged posts)
            version = DeltaTable(target.uri, storage_options=options).version()
        else:
            version = self._version_of(target.uri, options, write_id)
        self._pins = {k: v for k, v in self._pins.items() if k[1] != target.uri}
        written = (
            table if plain else DeltaTable(target.uri, version=version, storage_options=options)
        )
        files = _in_partitions(_files(written, target.layout), target)
        self._mark_empty(target, files, options)
        return WriteResult(
            rows=int(files.get_column("num_records").sum() or 0),
            files=files.height,
            bytes=int(files.get_column("size_bytes").sum() or 0),
            schema=table_polars_schema(written),
            extra={"table_version": version, **extra},
            # a plain or streamed write's partitions hold exactly the streamed rows
            preview=head[0] if head else None,
        )

    def _create(
        self, target: WriteTarget, schema: pl.Schema, options: dict[str, str]
    ) -> DeltaTable:
        """Create the (empty) table; a concurrent writer creating it first is fine.

        No commit retries for the creation: when two first writers race, delta-rs would otherwise
        re-commit the loser's protocol and metadata as version 1, and every writer holding
        version 0 would then fail with "Metadata changed since last commit". The loser instead
        gets a commit error here and writes to the table the winner created.
        """
        names = target.layout.names if target.layout else None
        try:
            return DeltaTable.create(
                target.uri,
                arrow_schema(schema),
                mode="error",
                partition_by=names,
                storage_options=options,
                commit_properties=CommitProperties(max_commit_retries=0),
            )
        except DeltaError:
            table = _open(target.uri, options)
            if table is None:
                raise
            self._check_partitioning(table, target)
            return table

    def _check_partitioning(self, table: DeltaTable, target: WriteTarget) -> None:
        """The table's partition columns and their types must be the asset's, exactly."""
        existing = list(table.metadata().partition_columns)
        expected = target.layout.names if target.layout else []
        if existing != expected:
            raise ValueError(
                f"{target.where()}: table {target.uri} is partitioned by {existing}, the asset by "
                f"{expected}; refusing to write (other partitions would be overwritten)"
            )
        if target.layout is None:
            return
        table_schema = table_polars_schema(table)
        for col in target.layout.columns:
            if table_schema[col.column] != col.dtype:
                raise ValueError(
                    f"{target.where()}: partition column {col.column!r} of table {target.uri} is "
                    f"{table_schema[col.column]}, the asset's partitions are {col.dtype}; "
                    "refusing to write (other partitions would be overwritten)"
                )

    def _merge(
        self,
        table: DeltaTable,
        frame: pl.LazyFrame,
        schema: pl.Schema,
        target: WriteTarget,
        commit: CommitProperties,
        outside: list[str],
    ) -> dict[str, Any]:
        keys = list(target.config.merge_keys)
        missing = [k for k in keys if k not in schema]
        if missing:
            raise ValueError(
                f"{target.where()}: merge_keys {missing} are not columns of the output"
            )
        names = target.layout.names if target.layout else []
        on = [*keys, *[n for n in names if n not in keys]]
        predicate = " AND ".join(f't."{k}" = s."{k}"' for k in on)
        if target.layout is not None and target.values is not None:
            pruning = target.layout.sql_predicate(target.values)
            for c in names:
                pruning = pruning.replace(f"{c} ", f"t.{c} ")
            predicate = f"({predicate}) AND ({pruning})"
        # The source is materialised and merged with streamed_exec=False: only then does delta-rs
        # derive min/max bounds of the source's key columns and skip target files outside them
        # (a streamed source is read once, so delta-rs scans every target file: a merge would
        # cost what the table holds, not what the run brings). Merge sources are one run's rows.
        merger = table.merge(
            source=_reader(frame, schema, target, outside).read_all(),
            predicate=predicate,
            source_alias="s",
            target_alias="t",
            merge_schema=True,
            streamed_exec=False,
            commit_properties=commit,
        )
        flag = target.config.merge_delete_flag
        if flag is None:
            merger = merger.when_matched_update_all().when_not_matched_insert_all()
        else:
            if schema.get(flag) != pl.Boolean:
                raise ValueError(
                    f"{target.where()}: merge_delete_flag {flag!r} must be a Boolean column of "
                    f"the output, got {schema.get(flag)}"
                )
            # The flag only steers the merge: it is never stored (explicit column lists, so
            # merge_schema does not add it to the table).
            values = {c: f's."{c}"' for c in schema.names() if c != flag}
            keep = f'NOT coalesce(s."{flag}", false)'
            merger = (
                merger.when_matched_delete(predicate=f'coalesce(s."{flag}", false)')
                .when_matched_update(updates=values, predicate=keep)
                .when_not_matched_insert(updates=values, predicate=keep)
            )
        metrics = merger.execute()
        return {
            "rows_inserted": int(metrics.get("num_target_rows_inserted", 0)),
            "rows_updated": int(metrics.get("num_target_rows_updated", 0)),
            "rows_deleted": int(metrics.get("num_target_rows_deleted", 0)),
            "source_rows": int(metrics.get("num_source_rows", 0)),
        }

    def _rewrite(
        self,
        table: DeltaTable,
        frame: pl.LazyFrame,
        schema: pl.Schema,
        target: WriteTarget,
        commit: CommitProperties,
        options: dict[str, str],
        outside: list[str],
    ) -> None:
        """schema_mode='overwrite' on a partitioned table: one commit rewriting every partition,
        the others cast (strictly) to the new types so the whole table keeps one schema."""
        assert target.layout is not None and target.values is not None
        others = (
            pl.scan_delta(table)
            .filter(~target.layout.expr(target.values))
            .with_columns(
                pl.col(c).cast(schema[c], strict=True)
                for c in schema
                if c in table_polars_schema(table)
            )
        )
        combined = pl.concat([frame, others], how="diagonal_relaxed").select(
            [*schema, *[c for c in table_polars_schema(table) if c not in schema]]
        )
        combined_schema = combined.collect_schema()
        write_deltalake(
            target.uri,
            _reader(combined, combined_schema, _whole_table(target), outside),
            partition_by=target.layout.names,
            mode="overwrite",
            schema_mode="overwrite",
            storage_options=options,
            commit_properties=commit,
        )

    def _version_of(self, uri: str, options: dict[str, str], write_id: str) -> int:
        """The table version our commit produced (found by its write id in the history)."""
        for limit in (COMMITS_SEARCHED, None):
            version = commit_version(uri, options, write_id, limit)
            if version is not None:
                return version
        raise RuntimeError(f"table {uri}: commit {write_id} not found in the Delta history")

    def _mark_empty(
        self, target: WriteTarget, files: pl.DataFrame, options: dict[str, str]
    ) -> None:
        """Record partitions written with zero rows, so reading them gives an empty frame."""
        if target.layout is None or target.values is None:
            return
        empty = target.values.join(files, on=target.layout.names, how="anti")
        if empty.height == 0:
            return
        fs, root = filesystem(target.uri, options)
        for row in empty.iter_rows(named=True):
            path = f"{root}/{EMPTY_MARKERS}/{target.layout.hive_path(row)}"
            fs.create_dir(path, recursive=True)
            with fs.open_output_stream(f"{path}/written"):
                pass

    def _empty_markers(
        self, uri: str, layout: PartitionLayout, candidates: pl.DataFrame, options: dict[str, str]
    ) -> pl.DataFrame:
        fs, root = filesystem(uri, options)
        keep = [
            fs.get_file_info(f"{root}/{EMPTY_MARKERS}/{layout.hive_path(row)}/written").type
            == pa.fs.FileType.File
            for row in candidates.iter_rows(named=True)
        ]
        return candidates.filter(pl.Series(keep, dtype=pl.Boolean))

    def table_rows(self, fs: Any, path: str) -> int | None:
        if fs.get_file_info(f"{path}/_delta_log").type != pa.fs.FileType.Directory:
            return None
        uri = path if isinstance(fs, pa.fs.LocalFileSystem) else f"s3://{path}"
        table = DeltaTable(uri, storage_options=self.options(uri))
        return int(pl.DataFrame(table.get_add_actions(flatten=True))["num_records"].sum() or 0)

    # -- refusing --------------------------------------------------------------------------------
    def revert(self, target: WriteTarget, run_id: str) -> tuple[str, dict[str, Any]]:
        """Undo run `run_id`'s commits to the target's partitions.

        When nobody else committed since the run's first write, the table is restored to the
        version before it (a metadata-only commit: exact, schema included). Otherwise exactly
        the run's partitions are overwritten with their rows at that version, so concurrent
        writers of other partitions keep their commits. The refused rows stay readable at the
        run's last version (`pl.scan_delta(uri, version=N)`) until a vacuum.
        """
        options = self.options(target.uri)
        table = _open(target.uri, options)
        history = table.history(HISTORY_DEPTH) if table is not None else []
        ours = [e for e in history if e.get(RUN_ID) == run_id]
        writes = sorted(int(e["version"]) for e in ours if e.get(OPERATION) != "revert")
        if table is None or not writes:
            raise RuntimeError(
                f"{target.where()}: run {run_id} wrote no version of {target.uri} (searched the "
                f"last {HISTORY_DEPTH} commits); there is nothing of this run to refuse"
            )
        first, last = writes[0], writes[-1]
        quarantine = f"{target.uri}@v{last}"
        details: dict[str, Any] = {"refused_version": last, "restored_from_version": first - 1}
        if any(e.get(OPERATION) == "revert" for e in ours):  # another check already refused
            return quarantine, {**details, "already_refused": True}
        commit = CommitProperties(
            custom_metadata={
                RUN_ID: run_id,
                OPERATION: "revert",
                "dag_io.asset": target.asset,
                "dag_io.partitions": json.dumps(target.keys[:50]),
                "dag_io.refused_versions": f"{first}-{last}",
            }
        )
        foreign = [e for e in history if int(e["version"]) >= first and e.get(RUN_ID) != run_id]
        if not foreign:
            table.restore(first - 1, commit_properties=commit)
        elif target.layout is not None and target.values is not None:
            self._restore_partitions(table, target, first - 1, commit, options)
        else:
            raise RuntimeError(
                f"{target.where()}: cannot refuse run {run_id}'s write to {target.uri}: other "
                f"writers committed versions {[int(e['version']) for e in foreign][:5]} since; "
                "restore the table by hand (DeltaTable.restore)"
            )
        self._pins = {k: v for k, v in self._pins.items() if k[1] != target.uri}
        restored = DeltaTable(target.uri, storage_options=options)
        self._unmark_vanished(target, _in_partitions(_files(restored, target.layout), target))
        return quarantine, {**details, "table_version": restored.version()}

    def _restore_partitions(
        self,
        table: DeltaTable,
        target: WriteTarget,
        version: int,
        commit: CommitProperties,
        options: dict[str, str],
    ) -> None:
        """Overwrite the target's partitions with their rows at `version`, in the table's
        current schema (columns added since are null)."""
        assert target.layout is not None and target.values is not None
        schema = table_polars_schema(table)
        before = pl.scan_delta(DeltaTable(target.uri, version=version, storage_options=options))
        present = before.collect_schema()
        rows = before.filter(target.layout.expr(target.values)).select(
            pl.col(c) if c in present else pl.lit(None, dtype=dtype).alias(c)
            for c, dtype in schema.items()
        )
        write_deltalake(
            table,
            _reader(rows, schema, target, []),
            partition_by=target.layout.names,
            mode="overwrite",
            predicate=target.layout.sql_predicate(target.values),
            storage_options=options,
            commit_properties=commit,
        )

    def _unmark_vanished(self, target: WriteTarget, files: pl.DataFrame) -> None:
        """Drop the empty-partition markers of refused partitions that are now absent, so a
        read says they are missing (and why) instead of returning an empty frame."""
        if target.layout is None or target.values is None:
            return
        fs, root = filesystem(target.uri, self.options(target.uri))
        absent = target.values.join(files, on=target.layout.names, how="anti")
        for row in absent.iter_rows(named=True):
            fs.delete_dir_contents(
                f"{root}/{EMPTY_MARKERS}/{target.layout.hive_path(row)}", missing_dir_ok=True
            )

    # -- reading --------------------------------------------------------------------------------
    def _pinned(
        self, context: dg.InputContext | None, uri: str, asset: str, options: dict[str, str]
    ) -> DeltaTable:
        key = (_run_id(context), uri)
        version = self._pins.get(key)
        try:
            table = DeltaTable(uri, version=version, storage_options=options)
        except TableNotFoundError:
            raise FileNotFoundError(
                f"asset {asset}: no Delta table at {uri} (has the asset been materialised?)"
            ) from None
        self._pins[key] = table.version()
        return table

    def scan(
        self,
        context: dg.InputContext | None,
        uri: str,
        layout: PartitionLayout | None,
        values: pl.DataFrame | None,
        asset: str,
    ) -> pl.LazyFrame:
        options = self.options(uri)
        table = self._pinned(context, uri, asset, options)
        frame = pl.scan_delta(table)
        if layout is None:
            self._refuse_refused_table(table, uri, asset, options)
            return frame
        if values is None:
            return frame
        present = _files(table, layout).select(layout.names).unique()
        missing = values.join(present, on=layout.names, how="anti")
        if missing.height:
            missing = missing.join(
                self._empty_markers(uri, layout, missing, options), on=layout.names, how="anti"
            )
        if missing.height:
            shown = "; ".join(layout.describe(r) for r in missing.head(5).iter_rows(named=True))
            fs, root = filesystem(uri, options)
            raise FileNotFoundError(
                f"asset {asset}: {missing.height} requested partition(s) missing from Delta table "
                f"{uri} at version {table.version()}: {shown}"
                + explain_missing(fs, root, layout, missing)
            )
        return frame.filter(layout.expr(values))

    def _refuse_refused_table(
        self, table: DeltaTable, uri: str, asset: str, options: dict[str, str]
    ) -> None:
        """An unpartitioned table emptied by a refusal of its first write is missing, not
        empty (one stat when nothing was ever refused)."""
        fs, root = filesystem(uri, options)
        found = refusals(fs, root, [WHOLE_TABLE])
        if found and not table.file_uris():
            raise FileNotFoundError(
                f"asset {asset}: Delta table {uri} holds no accepted data: its last write was "
                f"{found[WHOLE_TABLE].describe()}"
            )

    def preview_scan(self, target: WriteTarget, result: WriteResult) -> pl.LazyFrame:
        table = DeltaTable(
            target.uri,
            version=result.extra["table_version"],
            storage_options=self.options(target.uri),
        )
        frame = pl.scan_delta(table)
        if target.layout is None or target.values is None:
            return frame
        return frame.filter(target.layout.expr(target.values))


def _run_id(context: dg.InputContext | None) -> str:
    """The run reading (a read outside a run pins nothing: a fresh id per load)."""
    if context is None:
        return uuid.uuid4().hex
    try:
        return context.step_context.run_id
    except dg.DagsterInvariantViolationError:
        return uuid.uuid4().hex


def _whole_table(target: WriteTarget) -> WriteTarget:
    return dataclasses.replace(target, layout=None, values=None)


def _schema_mode(
    table: DeltaTable,
    schema: pl.Schema,
    target: WriteTarget,
    changes: dict[str, tuple[pl.DataType, pl.DataType]],
) -> Literal["merge", "overwrite"] | None:
    """How the write treats the table's schema.

    An unpartitioned table is replaced whole, schema included ("overwrite"). A partitioned write
    asks for "merge" only when it brings new columns: a merge commit carries a metadata action,
    and concurrent writers of other partitions would then fail with "Metadata changed since last
    commit" although nothing about the schema changed.
    """
    if changes or target.layout is None:
        return "overwrite"
    return "merge" if set(schema.names()) - set(table.schema().to_arrow().names) else None
