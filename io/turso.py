"""Turso / libSQL serving database: `TursoResource` loads Gold tables into a SQLite file.

`url` a local path or `file:` URL: a SQLite file written with the ADBC SQLite driver (the
embedded default ./data/turso.db), readable by `pyturso` (`import turso`) and any SQLite tool.
`url` `libsql://...` / `https://...`: a remote Turso database reached with pyturso's sync client
(local replica, then push); that path is thin and not exercised offline (see the README).

SQLite has no date, timestamp or decimal storage classes, so values are stored as text with a
fixed, sortable spelling, and the declared column type says how to read them back:

| Polars | declared type | stored as |
| --- | --- | --- |
| Int8..Int64, UInt8..UInt32 | INTEGER | integer |
| Boolean | BOOLEAN | integer 0/1 |
| Float32/Float64 | REAL | real |
| String, Categorical, Enum | TEXT | text |
| Date | DATE | text `YYYY-MM-DD` |
| Datetime (no zone) | TIMESTAMP | text `YYYY-MM-DDTHH:MM:SS.ffffff` |
| Datetime (any zone) | TIMESTAMPTZ | text in UTC `YYYY-MM-DDTHH:MM:SS.ffffff+00:00` |
| Time | TIME | text `HH:MM:SS.ffffff` |
| Decimal(p, s) | DECIMAL_TEXT(p,s) | text with exactly s decimals (TEXT affinity: no rounding) |
| Binary | BLOB | blob |

Key columns are declared NOT NULL (SQLite would otherwise accept NULL in a PRIMARY KEY). A load
runs in one `BEGIN IMMEDIATE` transaction: the file's write lock is taken before the table is
looked at, so concurrent loads (other processes, other connections) run one after the other;
a writer waits at most `busy_timeout_seconds` (`PRAGMA busy_timeout`) for another, then fails
with `DatabaseTimeoutError`. `read` decodes the text encodings back into the Polars types.
`tables()` and `count_rows(table)` list the file's tables and count their rows.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlparse

import adbc_driver_manager
import adbc_driver_sqlite.dbapi as adbc_sqlite
import dagster as dg
import polars as pl
import pyarrow as pa
from pydantic import Field

from dag_io.loaders import (
    Column,
    ColumnSpec,
    Cursor,
    DatabaseTimeoutError,
    Index,
    LoadError,
    LoadPlan,
    LoadResult,
    TableName,
    plan_load,
    read_frame,
    run_load,
)

_SIMPLE_TYPES: dict[Any, str] = {
    pl.Int8: "INTEGER", pl.Int16: "INTEGER", pl.Int32: "INTEGER", pl.Int64: "INTEGER",
    pl.UInt8: "INTEGER", pl.UInt16: "INTEGER", pl.UInt32: "INTEGER", pl.Boolean: "BOOLEAN",
    pl.Float32: "REAL", pl.Float64: "REAL", pl.String: "TEXT", pl.Categorical: "TEXT",
    pl.Enum: "TEXT", pl.Date: "DATE", pl.Time: "TIME", pl.Binary: "BLOB",
}
_REVERSE: dict[str, pl.DataType] = {
    "INTEGER": pl.Int64(), "BOOLEAN": pl.Boolean(), "REAL": pl.Float64(), "TEXT": pl.String(),
    "DATE": pl.Date(), "TIME": pl.Time(), "BLOB": pl.Binary(),
    "TIMESTAMP": pl.Datetime("us"), "TIMESTAMPTZ": pl.Datetime("us", "UTC"),
}
_DECIMAL = re.compile(r"^DECIMAL_TEXT\((\d+),(\d+)\)$")
_REMOTE_SCHEMES = ("libsql://", "https://", "http://", "turso://")
_T = TypeVar("_T")


class SqliteDialect:
    """SQLite spelling of the loader operations (see `dag_io.loaders.Dialect`)."""

    name = "sqlite"
    # In-process driver: no socket to overlap with, and ADBC SQLite pays per batch.
    send_batch_bytes: int | None = None
    # SQLite indexes hold any length (entries overflow to other pages).
    max_index_key_bytes: int | None = None

    def sql_type(self, dtype: pl.DataType | type[pl.DataType]) -> str:
        if isinstance(dtype, pl.Decimal):
            return f"DECIMAL_TEXT({dtype.precision or 38},{dtype.scale})"
        if isinstance(dtype, pl.Datetime):
            return "TIMESTAMPTZ" if dtype.time_zone else "TIMESTAMP"
        found = _SIMPLE_TYPES.get(dtype.base_type())
        if found is None:
            raise LoadError(f"sqlite: no column type for Polars dtype {dtype}")
        return found

    def polars_type(self, sql_type: str) -> pl.DataType | None:
        decimal = _DECIMAL.match(sql_type.upper())
        if decimal:
            return pl.Decimal(int(decimal.group(1)), int(decimal.group(2)))
        return _REVERSE.get(sql_type.upper())

    def prepare(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """Encode dates, timestamps, times and decimals as the text spelled in the table above."""
        exprs = []
        for name, dtype in frame.collect_schema().items():
            col = pl.col(name)
            if isinstance(dtype, pl.Datetime) and dtype.time_zone:
                col = col.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.6f+00:00")
            elif isinstance(dtype, pl.Datetime):
                col = col.dt.strftime("%Y-%m-%dT%H:%M:%S%.6f")
            elif dtype == pl.Date:
                col = col.dt.strftime("%Y-%m-%d")
            elif dtype == pl.Time:
                col = col.dt.strftime("%H:%M:%S%.6f")
            elif isinstance(dtype, pl.Decimal | pl.Categorical | pl.Enum):
                col = col.cast(pl.String)
            else:
                exprs.append(col)
                continue
            exprs.append(col.alias(name))
        return frame.select(exprs)

    def decode(self, frame: pl.DataFrame, columns: Sequence[Column]) -> pl.DataFrame:
        """Parse the text encodings of the table above back into their Polars dtypes."""
        exprs = []
        for column in columns:
            target = self.polars_type(column.sql_type)
            source = frame.schema[column.name]
            col = pl.col(column.name)
            if target is None or source == target:
                exprs.append(col)
                continue
            if source == pl.Null or frame[column.name].null_count() == frame.height:
                # (the driver types an all-NULL or empty column by guess)
                col = pl.repeat(None, frame.height, dtype=target)
            elif source == pl.String and isinstance(target, pl.Datetime) and target.time_zone:
                col = col.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f%:z", time_unit="us",
                                          strict=True).dt.convert_time_zone("UTC")
            elif source == pl.String and isinstance(target, pl.Datetime):
                col = col.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us", strict=True)
            elif source == pl.String and target == pl.Date:
                col = col.str.to_date("%Y-%m-%d", strict=True)
            elif source == pl.String and target == pl.Time:
                col = col.str.to_time("%H:%M:%S%.f", strict=True)
            else:
                col = col.cast(target, strict=True)
            exprs.append(col.alias(column.name))
        return frame.select(exprs)

    def placeholder(self, index: int) -> str:
        return "?"

    def lock(self, cursor: Cursor, table: TableName) -> None:
        """Nothing here: `TursoResource` opens the transaction with BEGIN IMMEDIATE."""

    def lock_table(self, cursor: Cursor, table: TableName) -> None:
        """Nothing here: SQLite's write lock covers the whole file."""

    def columns(self, cursor: Cursor, table: TableName) -> list[Column] | None:
        if table.schema:
            cursor.execute('SELECT name, type, "notnull" FROM pragma_table_info(?, ?) '
                           "ORDER BY cid", (table.name, table.schema))
        else:  # one argument: Turso's engine does not take the schema argument yet
            cursor.execute('SELECT name, type, "notnull" FROM pragma_table_info(?) ORDER BY cid',
                           (table.name,))
        rows = cursor.fetchall()
        # Spellings vary by engine ("DECIMAL_TEXT (14, 2)"; Turso's own catalog drops "(14,2)").
        return [Column(n, re.sub(r"\s+", "", t.upper()), not notnull)
                for n, t, notnull in rows] if rows else None

    def indexes(self, cursor: Cursor, table: TableName) -> list[Index]:
        """The primary key (SQLite index entries have no size limit to check)."""
        if table.schema:
            cursor.execute("SELECT name FROM pragma_table_info(?, ?) WHERE pk > 0 ORDER BY pk",
                           (table.name, table.schema))
        else:
            cursor.execute("SELECT name FROM pragma_table_info(?) WHERE pk > 0 ORDER BY pk",
                           (table.name,))
        pk = tuple(name for (name,) in cursor.fetchall())
        return [Index("the primary key", pk, primary=True)] if pk else []

    def ensure_schema(self, cursor: Cursor, table: TableName) -> None:
        """SQLite schemas are attached databases: nothing to create."""

    def staging_like(self, cursor: Cursor, table: TableName) -> TableName:
        staging = table.sibling("upsert")
        cursor.execute(f"CREATE TABLE {staging.sql} AS SELECT * FROM {table.sql} WHERE 0")
        return staging


DIALECT = SqliteDialect()
_TABLES_SQL = ("SELECT name FROM sqlite_master WHERE type = 'table' "
               "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")


def list_tables(cursor: Cursor) -> list[str]:
    """The tables of the main database, sorted (SQLite's own `sqlite_*` tables left out)."""
    cursor.execute(_TABLES_SQL)
    return [name for (name,) in cursor.fetchall()]


def count_table_rows(cursor: Cursor, table: str) -> int:
    """Rows in `table` (`LoadError` for an invalid name or a missing table)."""
    target = TableName.parse(table)
    if DIALECT.columns(cursor, target) is None:
        raise LoadError(f"sqlite table {target} does not exist")
    cursor.execute(f"SELECT count(*) FROM {target.sql}")
    return int(cursor.fetchall()[0][0])


def database_file(url: str) -> Path:
    """The file behind a local path or `file:` URL (`file:data/x.db`, `file:///abs/x.db`)."""
    if url.startswith("file:"):
        parsed = urlparse(url)
        path = parsed.path if parsed.netloc in ("", "localhost") else "//" + parsed.netloc + \
            parsed.path
        return Path(path)
    return Path(url)


def is_remote(url: str) -> bool:
    return url.startswith(_REMOTE_SCHEMES)


class PytursoCursor:
    """Adapter giving a pyturso sync cursor the ADBC calls `load_frame` uses.

    pyturso's replica records changes made through libSQL itself (that is what `push` sends),
    so the rows go through its DB-API `executemany`, one Arrow batch at a time.
    """

    def __init__(self, conn: Any) -> None:
        self._cursor = conn.cursor()

    def execute(self, operation: str, parameters: Any = None) -> Any:
        if isinstance(parameters, pa.Table | pa.RecordBatch):  # one row of bound values
            parameters = [column[0].as_py() for column in parameters.columns]
        return self._cursor.execute(operation, tuple(parameters or ()))

    def executemany(self, operation: str, seq_of_parameters: pa.Table) -> Any:
        columns = [c.to_pylist() for c in seq_of_parameters.columns]
        return self._cursor.executemany(operation, list(zip(*columns, strict=True)))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return list(self._cursor.fetchall())

    def fetch_arrow_table(self) -> pa.Table:
        names = [d[0] for d in self._cursor.description]
        rows = self._cursor.fetchall()
        return pa.table({name: pa.array([row[i] for row in rows])
                         for i, name in enumerate(names)})

    def adbc_ingest(self, table_name: str, data: pa.RecordBatchReader, mode: str = "append",
                    db_schema_name: str | None = None, **_: Any) -> int:
        target = TableName(db_schema_name, table_name)
        marks = ", ".join("?" * len(data.schema.names))
        sql = f"INSERT INTO {target.sql} VALUES ({marks})"
        rows = 0
        for batch in data:
            self.executemany(sql, pa.Table.from_batches([batch]))
            rows += batch.num_rows
        return rows


def _is_busy(exc: adbc_driver_manager.Error) -> bool:
    """SQLITE_BUSY: the ADBC SQLite driver reports it only in the message."""
    return "database is locked" in str(exc)


class TursoResource(dg.ConfigurableResource):  # type: ignore[type-arg]  # as PostgresResource
    """The Turso (libSQL) serving database for Gold tables.

    `url`: a local path or `file:` URL (SQLite file, embedded default ./data/turso.db) or a
    remote `libsql://<db>-<org>.turso.io` URL; `auth_token` (remote only) via dg.EnvVar.
    """

    url: str = Field(description="Local path, file: URL, or libsql:// / https:// remote URL.")
    auth_token: str = Field(default="", description="Turso auth token (bind with dg.EnvVar).")
    busy_timeout_seconds: int = Field(
        default=30, ge=0,
        description="PRAGMA busy_timeout: longest wait for another writer of the file "
                    "(0: fail at once).")

    def _replica_path(self) -> Path:
        host = urlparse(self.url).netloc or "turso"
        return Path(os.environ.get("DAG_DATA_DIR", "data")) / "turso_replicas" / f"{host}.db"

    def _connect_local(self, autocommit: bool) -> Any:
        """ADBC connection to the local file with the busy timeout set; caller closes it."""
        path = database_file(self.url)
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = adbc_sqlite.connect(str(path), autocommit=autocommit)
        try:
            with conn.cursor() as cur:
                cur.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_seconds) * 1000}")
                cur.fetchall()
        except BaseException:  # closed, then re-raised
            conn.close()
            raise
        return conn

    def get_connection(self) -> Any:
        """ADBC DB-API connection to the local file (autocommit off, busy timeout set); caller
        closes it.

        For a remote URL: a pyturso sync connection to the local replica (call `push()`).
        """
        if is_remote(self.url):
            import turso.sync

            path = self._replica_path()
            path.parent.mkdir(parents=True, exist_ok=True)
            return turso.sync.connect(str(path), remote_url=self.url,
                                      auth_token=self.auth_token or None)
        return self._connect_local(autocommit=False)

    @contextmanager
    def _timeouts(self, what: str) -> Iterator[None]:
        """Raise `DatabaseTimeoutError` when the busy timeout expired (other errors pass)."""
        try:
            yield
        except adbc_driver_manager.Error as exc:
            if not _is_busy(exc):
                raise
            raise DatabaseTimeoutError(
                f"{what} in {self.url}: busy_timeout_seconds={self.busy_timeout_seconds} "
                "expired waiting for another writer of the file; the transaction was rolled "
                "back, the table is unchanged") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement (DDL such as CREATE INDEX) in its own transaction."""
        if is_remote(self.url):
            self._remote(lambda cur: cur.execute(sql, tuple(params)))
            return
        with self._timeouts("sqlite statement"), self.get_connection() as conn, \
                conn.cursor() as cur:
            cur.execute(sql, tuple(params) or None)
            conn.commit()

    def _remote(self, work: Callable[[Any], _T], write: bool = True) -> _T:
        """Pull, run `work(cursor)` on the replica, commit, push to Turso; close in any case.

        A failure before the commit pushes nothing; a failed push leaves the commit in the
        replica, and the next push sends it. `write=False` (reads): pull and run only.
        """
        conn = self.get_connection()
        try:
            conn.pull()
            result = work(PytursoCursor(conn))
            if write:
                conn.commit()
                conn.push()
        finally:
            conn.close()
        return result

    def load(
        self,
        table: str,
        frame: pl.LazyFrame | pl.DataFrame,
        *,
        mode: Literal["replace", "replace_partitions", "append", "upsert"],
        partition_columns: Sequence[str] = (),
        keys: Sequence[str] = (),
        columns: Sequence[ColumnSpec] | None = None,
        partitions: pl.DataFrame | None = None,
    ) -> LoadResult:
        """Load `frame` into `table` in one transaction (see `dag_io.loaders` for the modes).

        The frame's keys are checked before connecting (`LoadError`: nothing was opened or
        written). The transaction begins IMMEDIATE (loads of the file serialise). On any error
        the connection is closed without commit: the table keeps its contents.
        Remote URLs: the transaction commits into the local replica, then `push()` sends it.
        """
        plan = plan_load(DIALECT, table, frame, mode=mode, partition_columns=partition_columns,
                         keys=keys, columns=columns, partitions=partitions)
        if is_remote(self.url):
            return self._remote(lambda cur: run_load(cur, plan))
        return self._load_local(plan)

    def _load_local(self, plan: LoadPlan) -> LoadResult:
        # autocommit on: the driver's own transaction would begin DEFERRED; this one takes the
        # write lock first (waiting up to the busy timeout), and COMMIT is ours.
        with self._timeouts(f"loading sqlite table {plan.target} (mode={plan.mode})"), \
                self._connect_local(autocommit=True) as conn, conn.cursor() as cur:
            cur.execute("BEGIN IMMEDIATE")
            result = run_load(cur, plan)
            cur.execute("COMMIT")
        return result

    def _query(self, what: str, work: Callable[[Any], _T]) -> _T:
        """`work(cursor)` on the local file (busy timeout applies) or the pulled replica."""
        if is_remote(self.url):
            return self._remote(work, write=False)
        with self._timeouts(what), self.get_connection() as conn, conn.cursor() as cur:
            return work(cur)

    def tables(self) -> list[str]:
        """The file's tables, sorted (SQLite's own `sqlite_*` tables left out). Remote URLs:
        pulls the replica, then reads it."""
        return self._query("listing sqlite tables", list_tables)

    def count_rows(self, table: str) -> int:
        """Rows in `table` (`LoadError` for an invalid name or a missing table). Remote URLs:
        pulls the replica, then reads it."""
        TableName.parse(table)  # refused before connecting
        return self._query(f"counting rows of sqlite table {table}",
                           lambda cur: count_table_rows(cur, table))

    def read(
        self,
        table: str,
        partitions: Mapping[str, Sequence[object]] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Rows of `table` (only those whose columns hold one of `partitions`' values, when
        given), `columns` only (default all), decoded into the loaded frame's dtypes; values are
        bound as parameters, `None` matches NULL. `LoadError` when the table or a column is
        missing. Remote URLs: pulls the replica, then reads it."""
        def work(cur: Any) -> pl.DataFrame:
            return read_frame(cur, DIALECT, table, partitions=partitions, columns=columns)

        if is_remote(self.url):
            return self._remote(work, write=False)
        with self._timeouts(f"reading sqlite table {table}"), self.get_connection() as conn, \
                conn.cursor() as cur:
            return work(cur)
