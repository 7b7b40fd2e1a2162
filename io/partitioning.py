"""Dagster partition keys as table columns: which column holds which partition dimension, the
typed value of each key, and the predicates (Delta SQL, Polars) that select a set of partitions.

Time-window dimensions become `pl.Date` columns (`pl.Datetime("us")`, local wall time, for
sub-daily windows); static and dynamic dimensions become `pl.String`. Asset metadata
`partition_by` names the column (a string), or one column per dimension for multi-partitions
(`{"date": "trade_date", "exchange": "exchange"}`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import product
from urllib.parse import quote, unquote

import dagster as dg
import polars as pl


@dataclass(frozen=True)
class PartitionColumn:
    """One partition dimension stored as one column."""

    column: str
    dimension: str | None  # None for a one-dimensional partitions definition
    dtype: pl.DataType
    partitions_def: dg.PartitionsDefinition

    def value(self, key: str) -> dt.date | dt.datetime | str:
        """The typed column value of one partition key of this dimension."""
        if isinstance(self.partitions_def, dg.TimeWindowPartitionsDefinition):
            start = self.partitions_def.time_window_for_partition_key(key).start
            if self.dtype == pl.Date:
                return start.date()
            return start.replace(tzinfo=None)
        return key

    def key(self, value: object) -> str:
        """The partition key of one column value of this dimension."""
        if isinstance(self.partitions_def, dg.TimeWindowPartitionsDefinition):
            assert isinstance(value, dt.date)
            return value.strftime(self.partitions_def.fmt)
        return str(value)


def _time_dtype(partitions_def: dg.TimeWindowPartitionsDefinition) -> pl.DataType:
    sub_daily = any(token in partitions_def.fmt for token in ("%H", "%M", "%I"))
    return pl.Datetime("us") if sub_daily else pl.Date()


def _dtype(partitions_def: dg.PartitionsDefinition) -> pl.DataType:
    if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
        return _time_dtype(partitions_def)
    return pl.String()


@dataclass(frozen=True)
class PartitionLayout:
    """How an asset's partitions map onto its table's partition columns."""

    asset: str
    partitions_def: dg.PartitionsDefinition
    columns: tuple[PartitionColumn, ...]

    @property
    def names(self) -> list[str]:
        return [c.column for c in self.columns]

    @property
    def schema(self) -> pl.Schema:
        return pl.Schema({c.column: c.dtype for c in self.columns})

    def values(self, keys: Sequence[str]) -> pl.DataFrame:
        """One row per partition key: the typed value of each partition column (deduplicated)."""
        if isinstance(self.partitions_def, dg.MultiPartitionsDefinition):
            multi = self.partitions_def
            rows = [
                k if isinstance(k, dg.MultiPartitionKey) else multi.get_partition_key_from_str(k)
                for k in keys
            ]
            data = {
                c.column: [c.value(_dimension_key(r, c.dimension)) for r in rows]
                for c in self.columns
            }
        else:
            (col,) = self.columns
            data = {col.column: [col.value(k) for k in keys]}
        return pl.DataFrame(data, schema=self.schema).unique(maintain_order=True)

    def keys(self, values: pl.DataFrame) -> list[str]:
        """The Dagster partition key of each row of partition values (inverse of `values`)."""
        keys = []
        for row in values.iter_rows(named=True):
            if isinstance(self.partitions_def, dg.MultiPartitionsDefinition):
                parts = {_dimension(c): c.key(row[c.column]) for c in self.columns}
                keys.append(str(dg.MultiPartitionKey(parts)))
            else:
                (col,) = self.columns
                keys.append(col.key(row[col.column]))
        return keys

    def sql_predicate(self, values: pl.DataFrame) -> str:
        """A Delta (DataFusion SQL) predicate selecting exactly these partitions."""
        per_column = {c: values.get_column(c).unique(maintain_order=True) for c in self.names}
        if _is_cross_product(values, per_column):
            return " AND ".join(
                f"{_ident(c)} IN ({', '.join(_literal(v) for v in s.to_list())})"
                for c, s in per_column.items()
            )
        clauses = [
            "(" + " AND ".join(f"{_ident(c)} = {_literal(row[c])}" for c in self.names) + ")"
            for row in values.iter_rows(named=True)
        ]
        return " OR ".join(clauses)

    def expr(self, values: pl.DataFrame) -> pl.Expr:
        """A Polars filter selecting exactly these partitions (pushed down into scans)."""
        per_column = {c: values.get_column(c).unique(maintain_order=True) for c in self.names}
        if _is_cross_product(values, per_column):
            exprs = [pl.col(c).is_in(s.implode()) for c, s in per_column.items()]
            return pl.all_horizontal(exprs)
        clauses = [
            pl.all_horizontal([pl.col(c) == pl.lit(row[c], dtype=values.schema[c]) for c in row])
            for row in values.iter_rows(named=True)
        ]
        return pl.any_horizontal(clauses)

    def hive_path(self, row: Mapping[str, object]) -> str:
        """`col=value/col2=value2` directory of one partition (values percent-encoded)."""
        return "/".join(f"{c}={quote(_text(row[c]), safe=' -_.:')}" for c in self.names)

    def parse_hive_path(self, path: str) -> dict[str, str]:
        """Inverse of `hive_path` (raw string values, for error messages and listings)."""
        parts = dict(p.split("=", 1) for p in path.strip("/").split("/") if "=" in p)
        return {k: unquote(v) for k, v in parts.items()}

    def describe(self, row: Mapping[str, object]) -> str:
        """A partition for humans: `trade_date=2024-01-02, exchange=KOSPI`."""
        return ", ".join(f"{c}={_text(row[c])}" for c in self.names)


def _dimension_key(key: dg.MultiPartitionKey, dimension: str | None) -> str:
    assert dimension is not None
    return key.keys_by_dimension[dimension]


def _dimension(column: PartitionColumn) -> str:
    """The dimension name of a column of a multi-partitions layout (always set there)."""
    assert column.dimension is not None
    return column.dimension


def _is_cross_product(values: pl.DataFrame, per_column: Mapping[str, pl.Series]) -> bool:
    size = 1
    for s in per_column.values():
        size *= len(s)
    if size != values.height:
        return False
    if len(per_column) == 1:
        return True
    combos = set(product(*(s.to_list() for s in per_column.values())))
    return combos == set(values.iter_rows())


def _ident(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"partition column name {name!r} must be alphanumeric/underscore")
    return name


def _text(value: object) -> str:
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _literal(value: object) -> str:
    if value is None:
        raise ValueError("a partition value cannot be null")
    return "'" + _text(value).replace("'", "''") + "'"


def layout_for(
    asset: str,
    partitions_def: dg.PartitionsDefinition | None,
    partition_by: str | Mapping[str, str] | None,
) -> PartitionLayout | None:
    """The partition layout of an asset, or None for an unpartitioned asset.

    Raises when a partitioned asset names no `partition_by` column (or names the wrong
    dimensions), since the table could not say which row belongs to which partition.
    """
    if partitions_def is None:
        return None
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        dims = {d.name: d.partitions_def for d in partitions_def.partitions_defs}
        if not isinstance(partition_by, Mapping) or set(partition_by) != set(dims):
            raise ValueError(
                f"asset {asset}: multi-partitioned over {sorted(dims)}, so metadata partition_by "
                f"must map each dimension to a column, got {partition_by!r}"
            )
        columns = tuple(
            PartitionColumn(partition_by[name], name, _dtype(dims[name]), dims[name])
            for name in partitions_def.partition_dimension_names
        )
    else:
        if not isinstance(partition_by, str) or not partition_by:
            raise ValueError(
                f"asset {asset}: partitioned assets need metadata partition_by=<column name>, "
                f"got {partition_by!r}"
            )
        columns = (PartitionColumn(partition_by, None, _dtype(partitions_def), partitions_def),)
    for c in columns:
        _ident(c.column)
    return PartitionLayout(asset, partitions_def, columns)
