"""Gold loaders, database-neutral part: move a Polars frame into a serving table as Arrow.

A *load* puts one Gold table (a business table such as the pension register or the daily
market summary) into a serving database in one transaction. This module holds what does not
depend on the database: identifier validation and quoting, the table's column DDL derived from a
column spec (a contract's columns) or from the frame's schema, the check that an existing table
matches the frame,
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

Loads of one table serialise: the transaction first takes a lock that only one load of the table
holds at a time (PostgreSQL: a transaction-scoped advisory lock keyed on the table, taken before
the catalog is read, so two first loads cannot both try to create the table, then ``LOCK TABLE
... IN SHARE ROW EXCLUSIVE MODE``, which also keeps other writers out; SQLite: the resource opens
the transaction with ``BEGIN IMMEDIATE``). A second load waits (bounded by the lock or busy
timeout), then runs on the first one's committed result: two loads equal one load after another.

Key values are checked before anything is written: key columns may hold no NULL and no
duplicate, and on PostgreSQL the strings of key and btree-indexed columns must fit an index entry
(`MAX_INDEX_KEY_BYTES`). The `keys` argument is checked by `plan_load` before a connection is
opened; an existing table's own primary key and indexes inside the transaction, after the lock
and before the first write. A refused frame raises `LoadError` naming the table, the column(s), a
row index and the offending value or length. `read_frame` reads a table back (optionally only
some partition values) with bound parameters, typed like the frame that was loaded.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import polars as pl
import pyarrow as pa

Mode = Literal["replace", "replace_partitions", "append", "upsert"]
MODES: tuple[str, ...] = ("replace", "replace_partitions", "append", "upsert")
BATCH_ROWS = 131_072
"""Rows per chunk collected from the LazyFrame while it is streamed into the database."""

MAX_INDEX_KEY_BYTES = 2_000
"""Most UTF-8 bytes (summed over an index's string and binary columns) a row may hold in the
columns of a primary key or btree index on PostgreSQL. A btree entry holds at most ~2,704 bytes
(a third of an 8 kB page, less tuple overhead) and an oversize value fails deep inside COPY or
``CREATE INDEX``; 2,000 leaves room for the other columns and headers of a composite entry.
Upstream silver tiers cap lengths too: this is the last line of defence, checked before writing."""
MAX_READ_VALUES = 30_000
"""Most partition values one `read_frame` binds (SQLite allows 32,766 bound parameters)."""

_IDENTIFIER = re.compile(r"[^\W\d]\w*")
_MAX_IDENTIFIER_BYTES = 63


class LoadError(ValueError):
    """A load (or read) that was refused before (or rolled back after) touching the table."""


class DatabaseConnectError(ConnectionError):
    """A serving database could not be reached (refused, unknown, or silent past the timeout)."""


class DatabaseTimeoutError(TimeoutError):
    """A statement waited longer than the configured statement, lock or busy timeout; its
    transaction was rolled back, so the table is unchanged."""


@dataclass(frozen=True)
class LoadResult:
    """What one load did: the target table, the rows written and the wall-clock seconds."""

    table: str
    rows: int
    seconds: float
    # Nullable columns of the declared spec that the existing table lacked and this load added.
    columns_added: tuple[str, ...] = ()


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
class Index:
    """An index of a table: what to call it in messages ("index x_pkey"), its columns in
    order, and whether it is the primary key."""

    name: str
    columns: tuple[str, ...]
    primary: bool = False


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
    def fetch_arrow_table(self) -> pa.Table: ...
    def adbc_ingest(self, table_name: str, data: Any, mode: str = ..., **kwargs: Any) -> int: ...


class Dialect(Protocol):
    """What a database must supply for `load_frame`."""

    name: str
    send_batch_bytes: int | None
    """Arrow bytes per batch handed to the driver (None: the collected chunks as they are)."""
    max_index_key_bytes: int | None
    """Longest string/binary bytes an index entry may hold (None: no limit to check)."""

    def sql_type(self, dtype: pl.DataType | type[pl.DataType]) -> str:
        """SQL spelling of a Polars dtype (an instance, or a class such as ``pl.String`` as
        a contract may declare it), exactly as the catalog reports it back."""
        ...

    def polars_type(self, sql_type: str) -> pl.DataType | None:
        """The Polars dtype a table column of `sql_type` is written from (None if unknown)."""
        ...

    def prepare(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """Final encoding before Arrow export (e.g. dates as ISO text on SQLite)."""
        ...

    def decode(self, frame: pl.DataFrame, columns: Sequence[Column]) -> pl.DataFrame:
        """A frame read from the table, typed like the frame that was loaded (undo `prepare`)."""
        ...

    def placeholder(self, index: int) -> str: ...

    def lock(self, cursor: Cursor, table: TableName) -> None:
        """Serialise loads of `table` (held to the end of the transaction); before the catalog
        is read, so only one of two concurrent first loads creates the table."""
        ...

    def lock_table(self, cursor: Cursor, table: TableName) -> None:
        """Lock the (existing or just created) table against other writers until commit."""
        ...

    def columns(self, cursor: Cursor, table: TableName) -> list[Column] | None:
        """The existing table's columns in order, or None when the table does not exist."""
        ...

    def indexes(self, cursor: Cursor, table: TableName) -> list[Index]:
        """The existing table's primary key and the indexes whose entries have a size limit."""
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


class ColumnSpec(Protocol):
    """What a load needs to know of a column to create its table: name, Polars dtype and
    nullability (e.g. `contracts.contract_columns(model)`, or any object with these three)."""

    @property
    def name(self) -> str: ...
    @property
    def dtype(self) -> pl.DataType: ...
    @property
    def nullable(self) -> bool: ...


def spec_columns(specs: Sequence[ColumnSpec], dialect: Dialect) -> list[Column]:
    """The table columns of a column spec, in order, in the dialect's types."""
    return [
        Column(validate_identifier(spec.name, "column name"), dialect.sql_type(spec.dtype),
               bool(spec.nullable))
        for spec in specs
    ]


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
        bits: dict[type[pl.DataType], int] = {
            pl.Int8: 8, pl.Int16: 16, pl.Int32: 32, pl.Int64: 64,
            pl.UInt8: 9, pl.UInt16: 17, pl.UInt32: 33,
        }
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


def _row_index_name(schema: pl.Schema) -> str:
    """A column name for the row index that is not a column of the frame."""
    name = "row"
    while name in schema:
        name = "_" + name
    return name


def _entry_bytes(schema: pl.Schema, columns: Sequence[str]) -> pl.Expr | None:
    """Bytes the string and binary values of `columns` put into one index entry (None: none)."""
    sizes = []
    for name in columns:
        dtype = schema[name]
        if dtype == pl.String:
            sizes.append(pl.col(name).str.len_bytes().cast(pl.Int64))
        elif isinstance(dtype, pl.Categorical | pl.Enum):
            sizes.append(pl.col(name).cast(pl.String).str.len_bytes().cast(pl.Int64))
        elif dtype == pl.Binary:
            sizes.append(pl.col(name).bin.size().cast(pl.Int64))
    return pl.sum_horizontal(sizes) if sizes else None


def check_key_values(
    frame: pl.LazyFrame,
    where: str,
    *,
    unique: Sequence[str] = (),
    indexes: Sequence[Index] = (),
    max_index_key_bytes: int | None = None,
) -> None:
    """Refuse, with `LoadError`, a frame whose `unique` columns hold a NULL or a repeated
    combination, or whose `indexes` entries exceed `max_index_key_bytes` string/binary bytes.

    One aggregating pass over the needed columns; the offending rows are located only when one
    of the checks fails. `where` names the table in the message ("postgres table x").
    """
    schema = frame.collect_schema()
    unique = list(unique)
    aggregates = [pl.col(k).is_null().any().alias(f"null_{i}") for i, k in enumerate(unique)]
    if unique:
        aggregates.append(pl.struct(unique).is_duplicated().any().alias("duplicated"))
    sized: list[tuple[Index, pl.Expr]] = []
    if max_index_key_bytes is not None:
        for index in indexes:
            size = _entry_bytes(schema, index.columns)
            if size is not None:
                aggregates.append(size.max().alias(f"bytes_{len(sized)}"))
                sized.append((index, size))
    if not aggregates:
        return
    summary = frame.select(aggregates).collect().row(0, named=True)
    row = _row_index_name(schema)
    numbered = frame.with_row_index(row)
    for i, key in enumerate(unique):
        if summary[f"null_{i}"]:
            example = numbered.filter(pl.col(key).is_null()).select(row, *unique).head(1)
            first = example.collect().row(0, named=True)
            index = first.pop(row)
            raise LoadError(
                f"{where}: key column {key!r} is NULL at row {index} (key {first}); "
                f"key columns {unique} may not be NULL; nothing was loaded"
            )
    if unique and summary["duplicated"]:
        duplicate = (
            numbered.filter(pl.struct(unique).is_duplicated())
            .group_by(unique, maintain_order=True)
            .agg(pl.col(row).head(5).alias("rows"))
            .head(1).collect().row(0, named=True)
        )
        rows = duplicate.pop("rows")
        raise LoadError(
            f"{where}: duplicate key {duplicate} in key columns {unique} at rows {rows}; "
            "each key may appear once; nothing was loaded"
        )
    for j, (index, size) in enumerate(sized):
        largest = summary[f"bytes_{j}"]
        if largest is not None and largest > max_index_key_bytes:
            first = (numbered.select(row, size.alias("bytes"))
                     .filter(pl.col("bytes") > max_index_key_bytes).head(1)
                     .collect().row(0, named=True))
            raise LoadError(
                f"{where}: column(s) {list(index.columns)} of {index.name} hold "
                f"{first['bytes']} UTF-8 bytes at row {first[row]}, more than "
                f"MAX_INDEX_KEY_BYTES={max_index_key_bytes} (a btree index entry holds at most "
                "~2704 bytes); nothing was loaded"
            )


@dataclass(frozen=True)
class LoadPlan:
    """A load checked without a database (`plan_load`), run inside a transaction (`run_load`)."""

    dialect: Dialect
    target: TableName
    frame: pl.LazyFrame
    mode: str
    partition_columns: tuple[str, ...]
    keys: tuple[str, ...]
    columns: Sequence[ColumnSpec] | None = None
    partitions: pl.DataFrame | None = None
    started: float = field(default_factory=time.perf_counter)

    @property
    def where(self) -> str:
        return f"{self.dialect.name} table {self.target}"


def plan_load(
    dialect: Dialect,
    table: str,
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    mode: Mode,
    partition_columns: Sequence[str] = (),
    keys: Sequence[str] = (),
    columns: Sequence[ColumnSpec] | None = None,
    partitions: pl.DataFrame | None = None,
) -> LoadPlan:
    """Check a load before any connection or transaction exists: identifiers, mode arguments,
    and the `keys` values (no NULL, no duplicate, index-sized strings; see `check_key_values`).

    Raises `LoadError` (with a note naming table and mode) when the load is refused.
    """
    started = time.perf_counter()
    target = TableName.parse(table)
    plan = LoadPlan(dialect, target, frame.lazy(), mode, tuple(partition_columns), tuple(keys),
                    columns, partitions, started)
    try:
        _check_arguments(plan.frame.collect_schema(), mode, plan.partition_columns, plan.keys)
        if plan.keys:
            check_key_values(plan.frame, plan.where, unique=plan.keys,
                             indexes=[Index("the key", plan.keys, primary=True)],
                             max_index_key_bytes=dialect.max_index_key_bytes)
    except Exception as exc:  # annotated and re-raised
        exc.add_note(f"while checking the load of {plan.where} (mode={mode}) before "
                     "connecting; nothing was written")
        raise
    return plan


def run_load(cursor: Cursor, plan: LoadPlan) -> LoadResult:
    """Run a checked load inside the cursor's open transaction (the caller commits on success).

    A database error keeps its type and gains a note naming the table, mode and dialect.
    """
    try:
        return _load(cursor, plan)
    except Exception as exc:  # annotated and re-raised: the transaction is never committed
        exc.add_note(f"while loading {plan.where} (mode={plan.mode}); "
                     "the transaction was rolled back, the table is unchanged")
        raise


def load_frame(
    cursor: Cursor,
    dialect: Dialect,
    table: str,
    frame: pl.LazyFrame | pl.DataFrame,
    *,
    mode: Mode,
    partition_columns: Sequence[str] = (),
    keys: Sequence[str] = (),
    columns: Sequence[ColumnSpec] | None = None,
    partitions: pl.DataFrame | None = None,
) -> LoadResult:
    """`plan_load` then `run_load`: one load inside the cursor's open transaction.

    `partitions` (mode replace_partitions): the partition values to replace, when the run's
    partitions may hold no rows any more (an emptied day or month loses its old rows); by default
    the frame's distinct values. A frame row outside them is an error and nothing is loaded.

    The resources call `plan_load` before they connect, so a refused frame opens no transaction.
    """
    plan = plan_load(dialect, table, frame, mode=mode, partition_columns=partition_columns,
                     keys=keys, columns=columns, partitions=partitions)
    return run_load(cursor, plan)


def _load(cursor: Cursor, plan: LoadPlan) -> LoadResult:
    dialect, target, lazy, keys = plan.dialect, plan.target, plan.frame, plan.keys
    schema = lazy.collect_schema()

    dialect.lock(cursor, target)
    existing = dialect.columns(cursor, target)
    added: list[Column] = []
    if existing is not None:
        added = _new_declared_columns(existing, plan.columns, schema, dialect)
        columns = [*existing, *added]
    elif plan.columns is not None:
        columns = spec_columns(plan.columns, dialect)
    else:
        columns = frame_columns(schema, dialect)
    selected = lazy.select(conform(schema, columns, dialect, target))
    prepared = dialect.prepare(selected)
    batches = _CountingBatches(prepared, prepared.collect_schema(), dialect.send_batch_bytes)

    if existing is None:
        dialect.ensure_schema(cursor, target)
        cursor.execute(create_table_sql(target, columns, keys))
        dialect.lock_table(cursor, target)
    else:
        dialect.lock_table(cursor, target)
        for column in added:  # inside the load's transaction: a failed load adds nothing
            cursor.execute(
                f"ALTER TABLE {target.sql} ADD COLUMN {quote(column.name)} {column.sql_type}"
            )
        # Still before any write: the table's own primary key and indexed columns.
        indexes = dialect.indexes(cursor, target)
        pk = next((i.columns for i in indexes if i.primary), ())
        unchecked = [i for i in indexes if set(i.columns) != set(keys)]
        check_key_values(lazy, plan.where, unique=pk if set(pk) != set(keys) else (),
                         indexes=unchecked, max_index_key_bytes=dialect.max_index_key_bytes)
    mode = plan.mode
    if mode == "replace":
        if existing is not None:
            cursor.execute(f"DELETE FROM {target.sql}")
        ingest(cursor, target, batches.reader())
    elif mode == "replace_partitions":
        values = prepared.select(list(plan.partition_columns)).unique().collect()
        if plan.partitions is not None:
            values = _explicit_partitions(plan.partitions, values, columns, dialect, target)
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
    return LoadResult(str(target), batches.rows, time.perf_counter() - plan.started,
                      tuple(c.name for c in added))


def _new_declared_columns(
    existing: Sequence[Column],
    declared: Sequence[ColumnSpec] | None,
    schema: pl.Schema,
    dialect: Dialect,
) -> list[Column]:
    """Nullable columns of the declared spec that the frame has and the table lacks: a newer
    release of the contract added them, so the load adds them (NULL in the existing rows). A
    frame column outside the spec, or a new NOT NULL column, is still refused by `conform`."""
    if declared is None:
        return []
    have = {c.name for c in existing}
    return [
        column
        for column in spec_columns(declared, dialect)
        if column.name not in have and column.name in schema and column.nullable
    ]


def read_frame(
    cursor: Cursor,
    dialect: Dialect,
    table: str,
    partitions: Mapping[str, Sequence[object]] | None = None,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Rows of `table` whose columns hold one of `partitions`' values (all rows when None),
    `columns` only (default all), typed like the frame that was loaded.

    Values are bound as parameters typed like the table's columns (never formatted into SQL);
    a Date column also takes ISO `YYYY-MM-DD` strings (Dagster partition keys); `None` among a
    column's values matches NULL; an empty value list matches nothing.
    """
    target = TableName.parse(table)
    existing = dialect.columns(cursor, target)
    if existing is None:
        raise LoadError(f"{dialect.name} table {target} does not exist")
    by_name = {c.name: c for c in existing}
    wanted = list(by_name) if columns is None else list(columns)
    for name in [*wanted, *(partitions or {})]:
        validate_identifier(name, "column name")
        if name not in by_name:
            raise LoadError(f"{dialect.name} table {target} has no column {name!r}: "
                            f"{list(by_name)}")
    conditions: list[str] = []
    params: list[pl.Series] = []
    for name, values in (partitions or {}).items():
        given = [v for v in values if v is not None]
        if len(params) + len(given) > MAX_READ_VALUES:
            raise LoadError(f"reading {dialect.name} table {target}: more than "
                            f"MAX_READ_VALUES={MAX_READ_VALUES} partition values")
        encoded = _encode_values(dialect, target, by_name[name], given)
        first = len(params)
        marks = [dialect.placeholder(first + i + 1) for i in range(encoded.len())]
        params.extend(encoded.slice(i, 1).alias(f"p{first + i}") for i in range(encoded.len()))
        tests = [f"{quote(name)} IN ({', '.join(marks)})"] if marks else []
        if len(given) < len(values):
            tests.append(f"{quote(name)} IS NULL")
        conditions.append(f"({' OR '.join(tests)})" if tests else "1 = 0")
    sql = f"SELECT {', '.join(quote(c) for c in wanted)} FROM {target.sql}"
    if conditions:
        sql += " WHERE " + " AND ".join(conditions)
    bound = (pl.DataFrame(params).to_arrow(compat_level=pl.CompatLevel.oldest())
             if params else None)
    cursor.execute(sql, bound)
    result = pl.DataFrame(_without_extension_types(cursor.fetch_arrow_table()))
    return dialect.decode(result, [by_name[c] for c in wanted])


def _without_extension_types(table: pa.Table) -> pa.Table:
    """Extension columns as their storage (ADBC returns PostgreSQL NUMERIC as an opaque
    extension over text, which Polars cannot cast), for `Dialect.decode` to type."""
    columns = [
        pa.chunked_array([chunk.storage for chunk in column.chunks], column.type.storage_type)
        if isinstance(column.type, pa.BaseExtensionType) else column
        for column in table.columns
    ]
    return pa.table(columns, names=table.column_names)


def _encode_values(dialect: Dialect, target: TableName, column: Column,
                   values: Sequence[object]) -> pl.Series:
    """`values` as a Series of the column's type, encoded as the table stores it."""
    dtype = dialect.polars_type(column.sql_type)
    try:
        series = _typed_values(column.name, values, dtype)
    except (TypeError, ValueError, pl.exceptions.PolarsError) as exc:
        raise LoadError(f"reading {dialect.name} table {target}: values {list(values)[:5]} do "
                        f"not fit column {column.name!r} ({column.sql_type})") from exc
    return dialect.prepare(series.to_frame().lazy()).collect().to_series()


def _typed_values(name: str, values: Sequence[object], dtype: pl.DataType | None) -> pl.Series:
    """`values` cast to `dtype` only where the kind matches (no integer read as a date)."""
    series = pl.Series(name, values, strict=True)  # mixed kinds raise TypeError
    source = series.dtype
    if dtype is None or source == dtype:
        return series
    if source == pl.Null:
        return series.cast(dtype)
    if dtype == pl.Date and source == pl.String:  # ISO dates as text (Dagster partition keys)
        return series.str.to_date("%Y-%m-%d", strict=True)
    same_kind = (
        (source.is_integer() and dtype.is_integer())
        or (source.is_float() and dtype.is_float())
        or (isinstance(source, pl.Decimal) and isinstance(dtype, pl.Decimal))
        or (isinstance(source, pl.Datetime) and isinstance(dtype, pl.Datetime)
            and (source.time_zone is None) == (dtype.time_zone is None))
        or _safe_cast(source, dtype)
    )
    if not same_kind:
        raise TypeError(f"{source} values for a {dtype} column")
    return series.cast(dtype, strict=True)
