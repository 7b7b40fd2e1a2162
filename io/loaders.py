"""Gold loaders, database-neutral part: move a Polars frame into a serving table as Arrow.

A *load* puts one Gold table (a business table such as the pension register or the daily
market summary) into a serving database in one transaction. This module holds what does not
depend on the database: identifier validation and quoting, the table's column DDL derived from a
pandera contract or from the frame's schema, the check that an existing table matches the frame,
batching a LazyFrame into an Arrow `RecordBatchReader`, and the four modes:

- ``replace``: the table's whole contents become the frame: ``DELETE`` of all rows, then ingest,
  in one transaction. Concurrent readers keep seeing the old rows (MVCC on PostgreSQL, the
  database lock on SQLite) until the commit, then the new ones; indexes, grants and views on
  the table are kept. A staging table swapped in by ``DROP`` + ``RENAME`` was tried first and
  rejected: a PostgreSQL reader that queued on the dropped table's lock reads the renamed table
  with its old snapshot and sees it EMPTY (reproduced by the concurrent-reader test).
- ``replace_partitions``: rows whose partition columns equal one of the frame's distinct values
  are deleted (bound parameters), then the frame is ingested.
- ``append``: the frame is ingested.
- ``upsert``: the frame is ingested into a staging table, then merged with
  ``INSERT ... ON CONFLICT (keys) DO UPDATE``.

Everything runs in the connection's single transaction; the caller commits only on success and
otherwise closes the connection, which rolls back: nothing partial is ever visible.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import polars as pl
import pyarrow as pa

Mode = Literal["replace", "replace_partitions", "append", "upsert"]
MODES: tuple[str, ...] = ("replace", "replace_partitions", "append", "upsert")
BATCH_ROWS = 131_072
"""Rows per chunk collected from the LazyFrame while it is streamed into the database."""

_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_MAX_IDENTIFIER_BYTES = 63


class LoadError(ValueError):
    """A load that was refused before (or rolled back after) touching the table."""


@dataclass(frozen=True)
class LoadResult:
    """What one load did: the target table, the rows written and the wall-clock seconds."""

    table: str
    rows: int
    seconds: float

    def metadata(self) -> dict[str, Any]:
        """Materialization metadata for a load asset (`dg.MaterializeResult(metadata=...)`)."""
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        return {"rows_loaded": self.rows, "target_table": self.table,
                "execution_time_sec": round(self.seconds, 3), "rows_per_second": round(rate, 1)}


@dataclass(frozen=True)
class Column:
    """One column of a serving table: name, SQL type (dialect spelling) and nullability."""

    name: str
    sql_type: str
    nullable: bool = True


def validate_identifier(name: str, what: str = "identifier") -> str:
    """`name` unchanged when it is a plain identifier (letters, digits, `_`), else `LoadError`."""
    if (
        not isinstance(name, str)
        or not _IDENTIFIER.fullmatch(name)
        or len(name.encode()) > _MAX_IDENTIFIER_BYTES
    ):
        raise LoadError(
            f"invalid {what} {name!r}: use letters, digits and '_' only, not starting with a "
            f"digit, at most {_MAX_IDENTIFIER_BYTES} bytes"
        )
    return name


def quote(name: str) -> str:
    """A validated identifier in double quotes (valid in PostgreSQL and SQLite)."""
    return '"' + validate_identifier(name) + '"'


@dataclass(frozen=True)
class TableName:
    """A validated `table` or `schema.table` reference."""

    schema: str | None
    name: str

    @classmethod
    def parse(cls, table: str) -> TableName:
        parts = table.split(".") if isinstance(table, str) else [table]
        if len(parts) > 2:
            raise LoadError(f"invalid table name {table!r}: expected 'table' or 'schema.table'")
        schema = validate_identifier(parts[0], "schema name") if len(parts) == 2 else None
        return cls(schema, validate_identifier(parts[-1], "table name"))

    @property
    def sql(self) -> str:
        prefix = f"{quote(self.schema)}." if self.schema else ""
        return prefix + quote(self.name)

    def sibling(self, tag: str) -> TableName:
        """A uniquely named table in the same schema (staging tables)."""
        return TableName(self.schema, f"{self.name[:40]}__{tag}_{uuid.uuid4().hex[:8]}")

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}" if self.schema else self.name


class Cursor(Protocol):
    """The part of an ADBC DB-API cursor the loaders use."""

    def execute(self, operation: str, parameters: Any = None) -> Any: ...
    def executemany(self, operation: str, seq_of_parameters: Any) -> Any: ...
    def fetchall(self) -> list[tuple[Any, ...]]: ...
    def adbc_ingest(self, table_name: str, data: Any, mode: str = ..., **kwargs: Any) -> int: ...


class Dialect(Protocol):
    """What a database must supply for `load_frame`."""

    name: str
    send_batch_bytes: int | None
    """Arrow bytes per batch handed to the driver (None: the collected chunks as they are)."""

    def sql_type(self, dtype: pl.DataType) -> str:
        """SQL spelling of a Polars dtype, exactly as the catalog reports it back."""
        ...

    def polars_type(self, sql_type: str) -> pl.DataType | None:
        """The Polars dtype a table column of `sql_type` is written from (None if unknown)."""
        ...

    def prepare(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """Final encoding before Arrow export (e.g. dates as ISO text on SQLite)."""
        ...

    def placeholder(self, index: int) -> str: ...

    def columns(self, cursor: Cursor, table: TableName) -> list[Column] | None:
        """The existing table's columns in order, or None when the table does not exist."""
        ...

    def ensure_schema(self, cursor: Cursor, table: TableName) -> None: ...

    def staging_like(self, cursor: Cursor, table: TableName) -> TableName:
        """Create an empty staging copy of `table` (same columns) and return its name."""
        ...


def ingest(cursor: Cursor, table: TableName, data: pa.RecordBatchReader) -> None:
    """Arrow bulk insert into an existing table (COPY on PostgreSQL)."""
    cursor.adbc_ingest(table.name, data, mode="append", db_schema_name=table.schema)


def create_table_sql(table: TableName, columns: Sequence[Column], keys: Sequence[str]) -> str:
    """`CREATE TABLE` with NOT NULL for non-nullable columns and PRIMARY KEY(keys)."""
    parts = [
        f"{quote(c.name)} {c.sql_type}{'' if c.nullable and c.name not in keys else ' NOT NULL'}"
        for c in columns
    ]
    if keys:
        parts.append(f"PRIMARY KEY ({', '.join(quote(k) for k in keys)})")
    return f"CREATE TABLE {table.sql} ({', '.join(parts)})"


def contract_columns(contract: Any, dialect: Dialect) -> list[Column]:
    """Columns of a pandera polars `DataFrameModel`: its dtypes and nullability, in order."""
    schema = contract.to_schema()
    out = []
    for name, column in schema.columns.items():
        dtype = getattr(column.dtype, "type", None)
        if not isinstance(dtype, pl.DataType) and not (
            isinstance(dtype, type) and issubclass(dtype, pl.DataType)
        ):
            raise LoadError(
                f"contract {contract.__name__}: column {name!r} has no Polars dtype "
                f"({column.dtype})"
            )
        out.append(Column(validate_identifier(name, "column name"),
                          dialect.sql_type(dtype), bool(column.nullable)))
    return out


def frame_columns(schema: pl.Schema, dialect: Dialect) -> list[Column]:
    """Columns derived from the frame's schema (all nullable; keys become NOT NULL on create)."""
    return [Column(name, dialect.sql_type(dtype)) for name, dtype in schema.items()]


_INTS = (pl.Int8, pl.Int16, pl.Int32, pl.Int64, pl.UInt8, pl.UInt16, pl.UInt32)


def _safe_cast(source: pl.DataType, target: pl.DataType) -> bool:
    """Whether casting `source` to `target` can never lose or change a value."""
    if source == pl.Null:
        return True
    if source in (pl.Categorical, pl.Enum) or isinstance(source, pl.Enum | pl.Categorical):
        return target == pl.String
    if source == pl.Float32:
        return target == pl.Float64
    if source in _INTS and target in _INTS:
        bits = {pl.Int8: 8, pl.Int16: 16, pl.Int32: 32, pl.Int64: 64,
                pl.UInt8: 9, pl.UInt16: 17, pl.UInt32: 33}
        return target.is_signed_integer() and bits[source.base_type()] <= bits[target.base_type()]
    if isinstance(source, pl.Decimal) and isinstance(target, pl.Decimal):
        src_int = (source.precision or 38) - source.scale
        return target.scale >= source.scale and target.precision - target.scale >= src_int
    return False


def conform(
    schema: pl.Schema, columns: Sequence[Column], dialect: Dialect, table: TableName
) -> list[pl.Expr]:
    """Expressions that select the frame in the table's column order, cast where safe.

    Raises `LoadError` naming every mismatching column when the frame does not fit the table.
    """
    problems = []
    table_names = [c.name for c in columns]
    missing = [n for n in table_names if n not in schema]
    extra = [n for n in schema if n not in table_names]
    if missing:
        problems.append(f"columns missing from the frame: {missing}")
    if extra:
        problems.append(f"frame columns not in the table: {extra}")
    exprs = []
    for column in columns:
        if column.name not in schema:
            continue
        dtype = schema[column.name]
        expr = pl.col(column.name)
        frame_type = dialect.sql_type(dtype)
        # A column declared without modifiers ("numeric") takes any of its kind ("numeric(9,2)").
        if frame_type != column.sql_type and not frame_type.startswith(column.sql_type + "("):
            target = dialect.polars_type(column.sql_type)
            if target is None or not _safe_cast(dtype, target):
                problems.append(
                    f"column {column.name!r}: frame dtype {dtype} ({frame_type}) "
                    f"does not fit table type {column.sql_type}"
                )
                continue
            expr = expr.cast(target, strict=True)
        exprs.append(expr)
    if problems:
        raise LoadError(f"{dialect.name} table {table}: frame does not match: "
                        + "; ".join(problems))
    return exprs


class _CountingBatches:
    """A RecordBatchReader over a LazyFrame, collected `BATCH_ROWS` rows at a time."""

    def __init__(self, frame: pl.LazyFrame, schema: pl.Schema,
                 send_batch_bytes: int | None) -> None:
        self.rows = 0
        self._frame = frame
        self._send_batch_bytes = send_batch_bytes
        self.schema = pl.DataFrame(schema=schema).to_arrow(
            compat_level=pl.CompatLevel.oldest()).schema

    def _batches(self) -> Iterator[pa.RecordBatch]:
        for chunk in self._frame.collect_batches(chunk_size=BATCH_ROWS):
            table = chunk.to_arrow(compat_level=pl.CompatLevel.oldest()).cast(self.schema)
            rows = None
            if self._send_batch_bytes:
                rows = max(1, self._send_batch_bytes * table.num_rows // max(table.nbytes, 1))
            for batch in table.to_batches(max_chunksize=rows):
                self.rows += batch.num_rows
                yield batch

    def reader(self) -> pa.RecordBatchReader:
        return pa.RecordBatchReader.from_batches(self.schema, self._batches())


def _check_arguments(
    schema: pl.Schema, mode: str, partition_columns: Sequence[str], keys: Sequence[str]
) -> None:
    if mode not in MODES:
        raise LoadError(f"unknown load mode {mode!r}: expected one of {MODES}")
    for name in schema:
        validate_identifier(name, "column name")
    for what, names in (("partition column", partition_columns), ("key column", keys)):
        for name in names:
            validate_identifier(name, what)
            if name not in schema:
                raise LoadError(f"{what} {name!r} is not a column of the frame: {list(schema)}")
    if mode == "replace_partitions" and not partition_columns:
        raise LoadError("mode 'replace_partitions' needs partition_columns")
    if mode == "upsert" and not keys:
        raise LoadError("mode 'upsert' needs keys")


def delete_partitions(
    cursor: Cursor, dialect: Dialect, table: TableName, values: pa.Table
) -> None:
    """DELETE the rows whose partition columns equal one of `values`' rows (bound parameters)."""
    if values.num_rows == 0:
        return
    conditions = []
    for i, name in enumerate(values.column_names):
        op = "IS NOT DISTINCT FROM" if dialect.name == "postgres" else "IS"
        if values.column(name).null_count == 0:
            op = "="
        conditions.append(f"{quote(name)} {op} {dialect.placeholder(i + 1)}")
    cursor.executemany(f"DELETE FROM {table.sql} WHERE {' AND '.join(conditions)}", values)


def upsert_sql(table: TableName, staging: TableName, columns: Sequence[str],
               keys: Sequence[str]) -> str:
    """Merge `staging` into `table` on `keys`: new keys inserted, existing rows updated."""
    cols = ", ".join(quote(c) for c in columns)
    updates = [f"{quote(c)} = excluded.{quote(c)}" for c in columns if c not in keys]
    action = f"DO UPDATE SET {', '.join(updates)}" if updates else "DO NOTHING"
    return (
        f"INSERT INTO {table.sql} ({cols}) SELECT {cols} FROM {staging.sql} WHERE true "
        f"ON CONFLICT ({', '.join(quote(k) for k in keys)}) {action}"
    )


def _explicit_partitions(partitions: pl.DataFrame, in_frame: pl.DataFrame,
                         columns: Sequence[Column], dialect: Dialect,
                         target: TableName) -> pl.DataFrame:
    """The given partition values, typed like the table; every frame value must be among them."""
    names = list(in_frame.columns)
    wanted = [c for c in columns if c.name in names]
    explicit = dialect.prepare(
        partitions.lazy().select(conform(partitions.select(names).schema, wanted, dialect, target))
    ).unique().collect()
    outside = in_frame.join(explicit, on=names, how="anti")
    if outside.height:
        raise LoadError(
            f"{target}: the frame has rows outside the partitions being replaced, e.g. "
            f"{outside.row(0, named=True)}; nothing was loaded"
        )
    return explicit


def load_frame(
    cursor: Cursor,
    dialect: Dialect,
    table: str,
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    mode: Mode,
    partition_columns: Sequence[str] = (),
    keys: Sequence[str] = (),
    contract: Any = None,
    partitions: pl.DataFrame | None = None,
) -> LoadResult:
    """Run one load inside the cursor's open transaction (the caller commits on success).

    `partitions` (mode replace_partitions): the partition values to replace, when the run's
    partitions may hold no rows any more (an emptied day or month loses its old rows); by default
    the frame's distinct values. A frame row outside them is an error and nothing is loaded.

    A database error keeps its type and gains a note naming the table, mode and dialect.
    """
    started = time.perf_counter()
    target = TableName.parse(table)
    try:
        return _load(cursor, dialect, target, frame, mode, tuple(partition_columns),
                     tuple(keys), contract, started, partitions)
    except Exception as exc:  # annotated and re-raised: the transaction is never committed
        exc.add_note(f"while loading {dialect.name} table {target} (mode={mode}); "
                     "the transaction was rolled back, the table is unchanged")
        raise


def _load(cursor: Cursor, dialect: Dialect, target: TableName,
          frame: pl.LazyFrame | pl.DataFrame, mode: str, partition_columns: tuple[str, ...],
          keys: tuple[str, ...], contract: Any, started: float,
          partitions: pl.DataFrame | None = None) -> LoadResult:
    lazy = frame.lazy()
    schema = lazy.collect_schema()
    _check_arguments(schema, mode, partition_columns, keys)

    existing = dialect.columns(cursor, target)
    if existing is not None:
        columns = existing
    elif contract is not None:
        columns = contract_columns(contract, dialect)
    else:
        columns = frame_columns(schema, dialect)
    selected = lazy.select(conform(schema, columns, dialect, target))
    prepared = dialect.prepare(selected)
    batches = _CountingBatches(prepared, prepared.collect_schema(), dialect.send_batch_bytes)

    if existing is None:
        dialect.ensure_schema(cursor, target)
        cursor.execute(create_table_sql(target, columns, keys))
    if mode == "replace":
        if existing is not None:
            cursor.execute(f"DELETE FROM {target.sql}")
        ingest(cursor, target, batches.reader())
    elif mode == "replace_partitions":
        values = prepared.select(list(partition_columns)).unique().collect()
        if partitions is not None:
            values = _explicit_partitions(partitions, values, columns, dialect, target)
        delete_partitions(cursor, dialect, target, values.to_arrow(
            compat_level=pl.CompatLevel.oldest()))
        ingest(cursor, target, batches.reader())
    elif mode == "append":
        ingest(cursor, target, batches.reader())
    else:
        staging = dialect.staging_like(cursor, target)
        ingest(cursor, staging, batches.reader())
        cursor.execute(upsert_sql(target, staging, [c.name for c in columns], keys))
        cursor.execute(f"DROP TABLE {staging.sql}")
    return LoadResult(str(target), batches.rows, time.perf_counter() - started)
