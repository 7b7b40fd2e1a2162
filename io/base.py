"""What the Delta and Parquet IO managers share: reading the Dagster context (asset, partitions,
metadata, input annotation), shaping an output frame to its partitions, and the output metadata.

The business entity here is a *lake table*: one asset's persisted rows at
`<root_uri>/<asset key path>`, split into partitions by the columns named in `partition_by`.
"""

from __future__ import annotations

import dataclasses
import time
import typing
from abc import abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
import polars as pl
import pyarrow.fs as pafs

from dag_io.audit import (
    Refusal,
    clear_refusals,
    partition_dirs,
    record_refusals,
    summary,
)
from dag_io.lake_config import LakeConfig
from dag_io.metadata import preview_markdown, table_schema
from dag_io.partitioning import PartitionLayout, layout_for
from dag_io.storage import delta_storage_options, filesystem, table_uri

PREVIEW_ROWS = 10


@dataclass
class WriteTarget:
    """One output write: the table, its partition layout and the partitions being replaced."""

    asset: str
    uri: str
    layout: PartitionLayout | None
    values: pl.DataFrame | None  # one row per partition being written (None: whole table)
    metadata: Mapping[str, Any]
    keys: list[str] = field(default_factory=list)
    run_id: str | None = None  # the writing run (None outside a run): names kept previous data
    config: LakeConfig = field(default_factory=LakeConfig)

    def only(self, key: str) -> WriteTarget:
        """This write restricted to one of its partitions."""
        assert self.layout is not None
        return dataclasses.replace(self, values=self.layout.values([key]), keys=[key])

    def where(self) -> str:
        """`asset <name> partition(s) <...>` for error messages."""
        if not self.keys:
            return f"asset {self.asset}"
        shown = ", ".join(self.keys[:3]) + (
            f" (+{len(self.keys) - 3} more)" if len(self.keys) > 3 else ""
        )
        return f"asset {self.asset} partition {shown}"


@dataclass
class WriteResult:
    """What a write reports back for the output metadata."""

    rows: int
    files: int
    bytes: int
    schema: pl.Schema
    extra: dict[str, Any] = field(default_factory=dict)
    preview: pl.DataFrame | None = None
    """The first written rows when the writer saw them go by (else `preview_scan` reads them)."""


def asset_name(context: dg.OutputContext | dg.InputContext) -> str:
    return context.asset_key.to_user_string()


def _input_kind(context: dg.InputContext) -> str:
    """`lazy`, `eager` or `dict` from the input's type annotation (unannotated: lazy)."""
    try:
        typ = context.dagster_type.typing_type
    except dg.DagsterInvariantViolationError:  # a context built without a type: lazy
        return "lazy"
    if typ is pl.DataFrame:
        return "eager"
    if typing.get_origin(typ) in (dict, Mapping) or typ in (dict, Mapping):
        return "dict"
    return "lazy"


def _normalise_frame(obj: object, asset: str) -> pl.LazyFrame:
    if isinstance(obj, pl.DataFrame):
        return obj.lazy()
    if isinstance(obj, pl.LazyFrame):
        return obj
    raise TypeError(
        f"asset {asset}: the IO manager persists pl.LazyFrame or pl.DataFrame outputs (or, for a "
        f"partition range, a dict of them by partition key), got {type(obj).__name__}"
    )


def output_parts(obj: object, target: WriteTarget) -> dict[str, pl.LazyFrame] | None:
    """A `{partition key: frame}` output, each frame with its partition columns (added from
    the key), checked to name exactly the partitions written; None for one frame."""
    if not isinstance(obj, Mapping):
        return None
    if target.layout is None or target.values is None:
        raise TypeError(
            f"{target.where()}: a dict output (frames by partition key) needs a partitioned asset"
        )
    given, expected = [str(k) for k in obj], set(target.keys)
    missing, extra = sorted(expected - set(given)), sorted(set(given) - expected)
    if missing or extra:
        raise ValueError(
            f"{target.where()}: the dict output must hold one frame per partition written; "
            f"missing {missing[:5]}, not in the run {extra[:5]}"
        )
    return {
        str(key): shape_partitions(_normalise_frame(value, target.asset), target.only(str(key)))
        for key, value in obj.items()
    }


def shape_partitions(frame: pl.LazyFrame, target: WriteTarget) -> pl.LazyFrame:
    """Add missing partition columns from the key (single partition) and cast present ones."""
    if target.layout is None or target.values is None:
        return frame
    schema = frame.collect_schema()
    exprs = []
    for col in target.layout.columns:
        if col.column in schema:
            if schema[col.column] != col.dtype:
                exprs.append(_cast(pl.col(col.column), schema[col.column], col.dtype))
            continue
        if target.values.height != 1:
            raise ValueError(
                f"{target.where()}: output has no partition column {col.column!r}, and a write "
                f"of {target.values.height} partitions cannot tell which row belongs where; "
                "add the column to the output"
            )
        exprs.append(pl.lit(target.values.item(0, col.column), dtype=col.dtype).alias(col.column))
    return frame.with_columns(exprs) if exprs else frame


def _cast(expr: pl.Expr, source: pl.DataType, target: pl.DataType) -> pl.Expr:
    """Strict cast of a partition column (ISO text parsed to Date/Datetime)."""
    if source == pl.String and target == pl.Date:
        return expr.str.to_date("%Y-%m-%d", strict=True)
    if source == pl.String and isinstance(target, pl.Datetime):
        return expr.str.to_datetime(time_unit="us", strict=True)
    return expr.cast(target, strict=True)


def outside_example(batch: pl.DataFrame, target: WriteTarget) -> str | None:
    """A description of the first row of `batch` outside the partitions written, else None."""
    if target.layout is None or target.values is None or batch.height == 0:
        return None
    names = target.layout.names
    bad = batch.select(names).join(target.values, on=names, how="anti").head(1)
    if bad.height == 0:
        return None
    return target.layout.describe(bad.row(0, named=True))


def outside_error(target: WriteTarget, example: str) -> ValueError:
    return ValueError(
        f"{target.where()}: output has rows outside the partitions being written, e.g. "
        f"{example}, table {target.uri}; nothing was written"
    )


def table_layout(
    asset: str, partitions_def: dg.PartitionsDefinition | None, config: LakeConfig
) -> PartitionLayout | None:
    """How the asset's table is split into partitions; None for one unsplit table (unpartitioned
    assets, and keyed merge tables that every partition's run upserts into)."""
    if config.keyed_table:
        return None
    return layout_for(asset, partitions_def, config.partition_by)


def _config(asset: str, metadata: Mapping[str, Any]) -> LakeConfig:
    try:
        return LakeConfig.from_metadata(metadata)
    except (TypeError, ValueError) as error:
        raise ValueError(f"asset {asset}: {error}") from None


def _output_run_id(context: dg.OutputContext) -> str | None:
    try:
        return context.run_id
    except dg.DagsterInvariantViolationError:  # a context built in a test, outside a run
        return None


class ArrowIOManager(dg.ConfigurableIOManager):
    """Common configuration and Dagster plumbing of the lake IO managers; the formats (Delta,
    Parquet) implement the abstract methods."""

    root_uri: str
    storage_options: dict[str, str] = {}  # noqa: RUF012 (pydantic copies field defaults)

    # -- implemented by the format -------------------------------------------------------------
    @abstractmethod
    def write(
        self,
        frame: pl.LazyFrame,
        target: WriteTarget,
        *,
        parts: Mapping[str, pl.LazyFrame] | None = None,
    ) -> WriteResult:
        """Replace exactly the target's partitions (or the whole table) with `frame`, in one
        atomic commit; report rows, files and bytes written. `parts`, when given, are `frame`
        by partition key (a dict output): a writer may write them one after another."""

    @abstractmethod
    def scan(
        self,
        context: dg.InputContext | None,
        uri: str,
        layout: PartitionLayout | None,
        values: pl.DataFrame | None,
        asset: str,
    ) -> pl.LazyFrame:
        """A lazy scan of the table, restricted to `values` (None: all partitions); a missing
        requested partition is an error. `context` is None for a read outside an input."""

    @abstractmethod
    def preview_scan(self, target: WriteTarget, result: WriteResult) -> pl.LazyFrame:
        """The rows just written (for the preview, when the writer did not keep them)."""

    @abstractmethod
    def table_rows(self, fs: Any, path: str) -> int | None:
        """Rows of the table at filesystem `path`, or None when `path` is not one of ours."""

    def list_tables(self) -> list[tuple[str, int]]:
        """Every table under the root (its asset key path, `/`-joined) with its accepted rows,
        from table metadata (Delta log, Parquet footers); no data is read."""
        fs, root = filesystem(self.root_uri, self.options(self.root_uri))
        selector = pafs.FileSelector(root, recursive=True, allow_not_found=True)
        found = []
        for info in fs.get_file_info(selector):
            rel = info.path[len(root) + 1 :]
            if info.type != pafs.FileType.Directory or any(
                part.startswith(("_", ".")) or "=" in part for part in rel.split("/")
            ):
                continue
            rows = self.table_rows(fs, info.path)
            if rows is not None:
                found.append((rel, rows))
        return sorted(found)

    @abstractmethod
    def revert(self, target: WriteTarget, run_id: str) -> tuple[str, dict[str, Any]]:
        """Put the partitions of `target` that run `run_id` wrote back to what they held before
        that run (new partitions disappear). Returns where the refused data is kept and details
        for the check's metadata. Calling it again for the same run changes nothing."""

    # -- shared ----------------------------------------------------------------------------------
    def options(self, uri: str) -> dict[str, str]:
        return delta_storage_options(uri, self.storage_options)

    def target_for_output(self, context: dg.OutputContext) -> WriteTarget:
        partitions_def = context.asset_partitions_def if context.has_asset_partitions else None
        return self.target(
            context.asset_key,
            partitions_def,
            context.definition_metadata or {},
            list(context.asset_partition_keys) if partitions_def is not None else [],
            _output_run_id(context),
        )

    def target(
        self,
        asset_key: dg.AssetKey,
        partitions_def: dg.PartitionsDefinition | None,
        definition_metadata: Mapping[str, Any],
        partition_keys: list[str],
        run_id: str | None,
    ) -> WriteTarget:
        """The table and partitions an asset's write (or refusal) touches."""
        asset = asset_key.to_user_string()
        metadata = dict(definition_metadata)
        config = _config(asset, metadata)
        layout = table_layout(asset, partitions_def, config)
        keys = partition_keys if layout is not None else []
        uri = table_uri(self.root_uri, asset_key.path)
        if layout is not None and not keys:
            # e.g. a multi-partition range given in the wrong dimension order selects nothing.
            raise ValueError(
                f"asset {asset}: the run selects no partitions to write to {uri}; check the "
                "partition range (multi-partition ranges follow each dimension's own order)"
            )
        values = layout.values(keys) if layout is not None else None
        return WriteTarget(
            asset, uri, layout, values, metadata, [str(k) for k in keys], run_id, config
        )

    def refuse(
        self,
        asset_key: dg.AssetKey,
        partitions_def: dg.PartitionsDefinition | None,
        definition_metadata: Mapping[str, Any],
        partition_keys: list[str],
        *,
        run_id: str,
        check: str,
        reason: str,
    ) -> dict[str, Any]:
        """Refuse what run `run_id` wrote to these partitions after a blocking check failed:
        the partitions get their previous contents back, the refused data is kept for
        inspection, and later reads of a partition left missing say why. Returns the check's
        metadata (what was refused, where it is kept)."""
        target = self.target(asset_key, partitions_def, definition_metadata, partition_keys, None)
        quarantine, details = self.revert(target, run_id)
        refusal = Refusal(target.asset, run_id, check, reason, quarantine)
        fs, root = filesystem(target.uri, self.options(target.uri))
        record_refusals(fs, root, partition_dirs(target.layout, target.values), refusal)
        return summary(refusal, details)

    def read(
        self,
        asset_key: dg.AssetKey,
        partitions_def: dg.PartitionsDefinition | None,
        definition_metadata: Mapping[str, Any],
        partition_keys: list[str] | None = None,
    ) -> pl.LazyFrame:
        """The accepted rows of an asset's partitions (all of them when None), outside any
        input: for checks that compare a partition with another one, and for listings."""
        asset = asset_key.to_user_string()
        layout = table_layout(asset, partitions_def, _config(asset, definition_metadata))
        values = layout.values(partition_keys) if layout is not None and partition_keys else None
        uri = table_uri(self.root_uri, asset_key.path)
        return self.scan(None, uri, layout, values, asset)

    def forget_refusals(self, target: WriteTarget) -> None:
        """A partition written again is no longer refused."""
        fs, root = filesystem(target.uri, self.options(target.uri))
        clear_refusals(fs, root, partition_dirs(target.layout, target.values))

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        target = self.target_for_output(context)
        parts = output_parts(obj, target)
        if parts is None:
            frame = shape_partitions(_normalise_frame(obj, target.asset), target)
        else:
            frame = pl.concat(parts.values(), how="vertical")
        started = time.perf_counter()
        result = self.write(frame, target, parts=parts)
        self.forget_refusals(target)
        seconds = time.perf_counter() - started
        mask = target.config.mask_columns
        preview = result.preview
        if preview is None:
            preview = self.preview_scan(target, result).head(PREVIEW_ROWS).collect()
        meta: dict[str, Any] = {
            "dagster/row_count": result.rows,
            "dagster/column_schema": table_schema(result.schema),
            "dagster/uri": target.uri,
            "files_written": result.files,
            "bytes_written": result.bytes,
            "write_seconds": round(seconds, 4),
            "preview": dg.MetadataValue.md(preview_markdown(preview, PREVIEW_ROWS, mask)),
            **result.extra,
        }
        if target.layout is not None and len(target.keys) == 1:
            meta["dagster/partition_row_count"] = result.rows
        if target.layout is not None:
            meta["partitions_written"] = len(target.keys)
        context.add_output_metadata(meta)

    def load_input(self, context: dg.InputContext) -> object:
        upstream = context.upstream_output
        asset = asset_name(context)
        metadata = dict((upstream.definition_metadata if upstream else None) or {})
        partitions_def = context.asset_partitions_def if context.has_asset_partitions else None
        layout = table_layout(asset, partitions_def, _config(asset, metadata))
        uri = table_uri(self.root_uri, context.asset_key.path)
        kind = _input_kind(context)
        keys: list[str] = []
        if layout is not None and _consumer_partitioned(context):
            keys = [str(k) for k in context.asset_partition_keys]
        values = layout.values(keys) if layout is not None and keys else None
        if kind == "dict":
            if layout is None:
                raise TypeError(
                    f"asset {asset}: a dict[str, pl.LazyFrame] input needs a partitioned upstream"
                )
            frame = self.scan(context, uri, layout, values, asset)
            if not keys:
                present = frame.select(layout.names).unique().sort(layout.names).collect()
                keys = layout.keys(present)
            return {key: frame.filter(layout.expr(layout.values([key]))) for key in keys}
        frame = self.scan(context, uri, layout, values, asset)
        return frame.collect() if kind == "eager" else frame


def _consumer_partitioned(context: dg.InputContext) -> bool:
    """True when the consuming asset runs for partitions (a key or a range): it then reads the
    upstream partitions the mapping asks for; an unpartitioned consumer reads the whole table."""
    try:
        step = context.step_context
    except dg.DagsterInvariantViolationError:  # a context built in a test: its own partitions
        return context.has_asset_partitions
    return step.has_partitions and step.entity_partitions_def is not None
