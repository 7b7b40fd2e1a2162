"""Polars schemas as Delta stores them: the casts that make a frame storable in Delta (which has
no unsigned, categorical, nanosecond or time types) and the type comparison behind schema
evolution (new columns merge in; a changed type is an error unless the asset opts in)."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
from deltalake import DeltaTable

_UNSIGNED = {
    pl.UInt8: pl.Int16(),
    pl.UInt16: pl.Int32(),
    pl.UInt32: pl.Int64(),
    pl.UInt64: pl.Int64(),
}


def delta_dtype(dtype: pl.DataType, column: str, where: str) -> pl.DataType:
    """The dtype a column is stored as in Delta (raises for types Delta cannot hold)."""
    base = dtype.base_type()
    if base in _UNSIGNED:
        return _UNSIGNED[base]
    if base in (pl.Categorical, pl.Enum):
        return pl.String()
    if isinstance(dtype, pl.Datetime):
        return pl.Datetime("us", "UTC" if dtype.time_zone else None)
    if base in (pl.Time, pl.Duration, pl.Object, pl.Null):
        raise TypeError(
            f"{where}: column {column!r} has type {dtype}, which Delta cannot store; "
            "cast it (e.g. to String or Int64) in the asset"
        )
    return dtype


def delta_safe(frame: pl.LazyFrame, where: str) -> pl.LazyFrame:
    """Casts so every column has a Delta type (strict: an out-of-range value raises)."""
    schema = frame.collect_schema()
    casts = []
    for name, dtype in schema.items():
        target = delta_dtype(dtype, name, where)
        if target != dtype:
            if isinstance(dtype, pl.Datetime) and dtype.time_zone:
                casts.append(pl.col(name).dt.convert_time_zone("UTC").cast(target))
            else:
                casts.append(pl.col(name).cast(target, strict=True))
    return frame.with_columns(casts) if casts else frame


def arrow_schema(schema: pl.Schema) -> pa.Schema:
    """The Arrow schema Polars produces for a frame of this schema."""
    return pl.DataFrame(schema=schema).to_arrow().schema


def table_polars_schema(table: DeltaTable) -> pl.Schema:
    """The schema a Polars scan of the table yields."""
    return pl.scan_delta(table).collect_schema()


def changed_types(
    old: pl.Schema, new: pl.Schema, exclude: tuple[str, ...] = ()
) -> dict[str, tuple[pl.DataType, pl.DataType]]:
    """Columns present in both schemas whose type differs: {column: (old, new)}."""
    return {
        name: (old[name], dtype)
        for name, dtype in new.items()
        if name in old and name not in exclude and old[name] != dtype
    }


def describe_changes(changes: dict[str, tuple[pl.DataType, pl.DataType]]) -> str:
    return ", ".join(f"{c}: {a} -> {b}" for c, (a, b) in changes.items())
