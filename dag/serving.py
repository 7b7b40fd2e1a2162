"""The one serving path: every load of a Gold table into PostgreSQL or Turso, in every group.

A load asset is declared by a `Serving` spec (target resource, table, mode, contract, partition
columns) and a function building the table's frame from its upstream lake assets;
`serving_asset` turns the two into the load asset and its blocking `<asset>_contract` check:

1. the frame is shaped as the contract's table (its columns, in order, its dtypes) and validated
   against the contract *before* anything is written, so nothing that breaks it is visible;
2. the loader (`PostgresResource.load` / `TursoResource.load`) writes it in one transaction:
   `replace_partitions` replaces exactly the run's partitions (also ones that now have no rows),
   `replace` the whole table, `upsert` on the contract's key;
3. the check reads back what the target holds for the run's partitions
   (`PostgresResource.read` / `TursoResource.read`, bound parameters) and validates it again.

Every load reports one metadata vocabulary: `dagster/row_count`, `table`, `target`, `mode`,
`partitions`, `load_seconds`, `rows_per_second`. The contract is target-neutral: PostgreSQL and
Turso hold the same table.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import dagster as dg
import pandera.polars as pa
import polars as pl

from contracts import (
    column_schema,
    contract_check,
    contract_columns,
    key_columns,
    polars_schema,
    validate_frame,
)
from dag_io import (
    PartitionBy,
    PartitionLayout,
    PostgresResource,
    TursoResource,
    lake,
    layout_for,
)

LoadMode = Literal["replace", "replace_partitions", "append", "upsert"]
KINDS = {"postgres": "postgres", "turso": "sqlite"}
POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD


@dataclass(frozen=True)
class Scope:
    """The rows one run of a load owns in the target, when that is not a Dagster partition: the
    target rows whose `values` columns match what `values(source)` returns, where `source` is a
    lake asset the load reads (e.g. the post ids of one crawl file, or the latest trend window).
    `replace_partitions` replaces exactly those rows (also ones that now have none); every mode
    reads back only those rows."""

    source: dg.AssetsDefinition
    values: Callable[[pl.LazyFrame], pl.LazyFrame]
    label: str
    """What the scope is, for the UI (e.g. "the posts of the run's crawl file")."""

    @property
    def input_name(self) -> str:
        return self.source.key.path[-1]

    def of(self, frame: pl.LazyFrame) -> pl.DataFrame:
        return self.values(frame).unique().collect()


@dataclass(frozen=True)
class Serving:
    """One load asset: which serving table of which target, loaded how."""

    name: str
    group: str
    table: str
    target: Literal["postgres", "turso"]
    resource_key: str
    contract: type[pa.DataFrameModel]
    mode: LoadMode
    description: str
    tags: Mapping[str, str] = field(default_factory=dict)
    partitions_def: dg.PartitionsDefinition | None = None
    partition_by: PartitionBy = None
    require_rows: bool = False
    """A partitioned load whose run's partitions hold no rows in the target fails its check."""
    scope: Scope | None = None
    lake_resource_key: str = "delta_io_manager"
    """Where the check reads the scope's source from."""
    pool: str | None = None
    """Concurrency pool (dag.common): loads of a table rewritten whole take turns across runs."""

    def layout(self) -> PartitionLayout | None:
        if self.scope is not None:  # the scope, not the Dagster partition, says which rows
            return None
        return layout_for(self.name, self.partitions_def, self.partition_by)


def serving_asset(
    spec: Serving, build: Callable[..., pl.LazyFrame] | str
) -> tuple[dg.AssetsDefinition, dg.AssetChecksDefinition]:
    """The load asset of `spec` and its read-back contract check.

    `build`'s parameters name the upstream lake assets (read as `pl.LazyFrame`s); it returns the
    serving table's rows. A string names one lake asset whose rows are the table's as they are.
    The asset is named `spec.name` (function name == asset name)."""
    upstream = [build] if isinstance(build, str) else list(inspect.signature(build).parameters)
    if spec.scope is not None and spec.scope.input_name not in upstream:
        raise ValueError(
            f"{spec.name}: the scope's source {spec.scope.input_name} must be an input of the load"
        )

    def load(context: dg.AssetExecutionContext, **inputs: pl.LazyFrame) -> dg.MaterializeResult:
        frame = inputs[build] if isinstance(build, str) else build(**inputs)
        scope = spec.scope.of(inputs[spec.scope.input_name]) if spec.scope is not None else None
        return load_serving(context, spec, frame, scope)

    load.__name__ = load.__qualname__ = spec.name
    load.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter("context", POSITIONAL, annotation=dg.AssetExecutionContext),
            *(
                inspect.Parameter(n, POSITIONAL, annotation=pl.LazyFrame) for n in upstream
            ),
        ],
        return_annotation=dg.MaterializeResult,
    )
    load.__annotations__ = {
        "context": dg.AssetExecutionContext,
        **dict.fromkeys(upstream, pl.LazyFrame),
        "return": dg.MaterializeResult,
    }
    asset = dg.asset(
        name=spec.name,
        group_name=spec.group,
        description=spec.description,
        partitions_def=spec.partitions_def,
        backfill_policy=dg.BackfillPolicy.single_run(),
        pool=spec.pool,
        kinds={"polars", KINDS[spec.target]},
        tags={**spec.tags, "data_tier": "gold", "target": spec.target},
        metadata={
            **lake(partition_by=spec.partition_by),
            "target_table": spec.table,
            **({"serving_scope": spec.scope.label} if spec.scope is not None else {}),
            "dagster/column_schema": column_schema(spec.contract),
        },
        required_resource_keys={spec.resource_key},
    )(load)
    check = contract_check(
        asset,
        spec.contract,
        read=lambda context: read_back(context, spec),
        required_resource_keys={spec.resource_key}
        | ({spec.lake_resource_key} if spec.scope is not None else set()),
    )
    return asset, check


def serving_frame(frame: pl.LazyFrame, contract: type[pa.DataFrameModel]) -> pl.LazyFrame:
    """`frame` shaped as the table `contract` describes: its columns, in order, with its dtypes
    (strict casts). The loaders have no array columns: a list column becomes comma-joined text
    ('' when empty) where the contract says String."""
    schema = polars_schema(contract)
    lists = [
        pl.col(name).list.join(",")
        for name, dtype in frame.collect_schema().items()
        if isinstance(dtype, pl.List) and schema.get(name) == pl.String
    ]
    return frame.with_columns(lists).select(
        [pl.col(name).cast(dtype, strict=True) for name, dtype in schema.items()]
    )


def _run_partitions(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
    layout: PartitionLayout | None,
) -> pl.DataFrame | None:
    """The run's partitions as typed partition-column values (None: the whole table)."""
    return None if layout is None else layout.values(list(context.partition_keys))


def _label(context: dg.AssetExecutionContext, spec: Serving) -> str:
    if spec.partitions_def is None:
        return "whole table"
    keys = list(context.partition_keys)
    return keys[0] if len(keys) == 1 else f"{keys[0]}...{keys[-1]}"


def load_serving(
    context: dg.AssetExecutionContext,
    spec: Serving,
    frame: pl.LazyFrame,
    scope: pl.DataFrame | None = None,
) -> dg.MaterializeResult:
    """Validate `frame` against the contract, then load it into the target in one transaction."""
    started = time.perf_counter()
    label = _label(context, spec)
    where = f"asset {spec.name} ({label}), {spec.target} table {spec.table}"
    data = serving_frame(frame, spec.contract).collect()
    passed, failures = validate_frame(data, spec.contract)
    if not passed:
        raise dg.Failure(
            description=(
                f"{where}: the frame breaks contract {spec.contract.__name__}: "
                f"{failures['failing_rows']} failing row(s), rules "
                f"{failures['failing_rows_by_rule'].data}; nothing was loaded"
            ),
            metadata=failures,
        )
    layout = spec.layout()
    partitions = scope if scope is not None else _run_partitions(context, layout)
    columns = tuple(partitions.columns) if partitions is not None else ()
    if scope is not None:
        outside = data.select(columns).join(scope, on=list(columns), how="anti")
        if outside.height:
            raise dg.Failure(
                f"{where}: {outside.height} row(s) lie outside the run's scope, e.g. "
                f"{outside.row(0, named=True)}; nothing was loaded"
            )
    elif partitions is not None and layout is not None:
        outside = data.select(layout.names).join(partitions, on=layout.names, how="anti")
        if outside.height:
            raise dg.Failure(
                f"{where}: {outside.height} row(s) lie outside the run's partitions, e.g. "
                f"{layout.describe(outside.row(0, named=True))}; nothing was loaded"
            )
    target: PostgresResource | TursoResource = getattr(context.resources, spec.resource_key)
    result = target.load(
        spec.table,
        data,
        mode=spec.mode,
        partition_columns=columns,
        keys=key_columns(spec.contract),
        columns=contract_columns(spec.contract),
        partitions=partitions if spec.mode == "replace_partitions" else None,
    )
    seconds = time.perf_counter() - started
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": result.rows,
            "table": result.table,
            "target": spec.target,
            "mode": spec.mode,
            "partitions": label,
            "load_seconds": round(result.seconds, 3),
            "rows_per_second": round(result.rows / result.seconds) if result.seconds else None,
            "execution_time_sec": round(seconds, 3),
            **({"columns_added": list(result.columns_added)} if result.columns_added else {}),
        }
    )


def read_back(context: dg.AssetCheckExecutionContext, spec: Serving) -> pl.DataFrame:
    """What the target holds for the check's partitions (the whole table when unpartitioned),
    in the contract's dtypes (SQLite stores every integer as 64-bit: cast strictly back)."""
    target: PostgresResource | TursoResource = getattr(context.resources, spec.resource_key)
    scope = _scope_of_check(context, spec)
    partitions = scope if scope is not None else _run_partitions(context, spec.layout())
    if partitions is None:
        return _as_contract(target.read(spec.table), spec.contract)
    by_column: dict[str, Any] = {
        c: partitions.get_column(c).unique().to_list() for c in partitions.columns
    }
    data = target.read(spec.table, partitions=by_column)
    if len(partitions.columns) > 1:  # the read is the cross product; keep the exact keys
        data = data.join(partitions, on=partitions.columns, how="semi")
    if spec.require_rows and data.height == 0:
        raise dg.Failure(
            f"{spec.name}_contract: {spec.target} table {spec.table} holds no rows for "
            f"{', '.join(context.partition_keys)}"
        )
    return _as_contract(data, spec.contract)


def _scope_of_check(
    context: dg.AssetCheckExecutionContext, spec: Serving
) -> pl.DataFrame | None:
    """The scope of the load being checked, from its source as the lake holds it now."""
    if spec.scope is None:
        return None
    source = spec.scope.source
    keys = list(context.partition_keys) if source.partitions_def is not None else None
    lake = getattr(context.resources, spec.lake_resource_key)
    frame = lake.read(source.key, source.partitions_def, source.metadata_by_key[source.key], keys)
    return spec.scope.of(frame)


def _as_contract(data: pl.DataFrame, contract: type[pa.DataFrameModel]) -> pl.DataFrame:
    schema = polars_schema(contract)
    return data.with_columns(
        pl.col(name).cast(schema[name], strict=True)
        for name, dtype in data.schema.items()
        if name in schema and dtype != schema[name]
    )
