"""PostgreSQL serving database: `PostgresResource` loads Gold tables with ADBC binary COPY.

With `host` empty the resource starts an embedded PostgreSQL (pgserver) under `embedded_dir`
on first use and creates `database` in it, so the project runs with no configuration. Type
mapping (Polars -> PostgreSQL): Int8/Int16/UInt8 -> smallint, Int32/UInt16 -> integer,
Int64/UInt32 -> bigint, Float32 -> real, Float64 -> double precision, Boolean -> boolean,
String/Categorical/Enum -> text, Date -> date, Datetime -> timestamp (timestamptz when the dtype
has a time zone; stored in microseconds), Time -> time, Decimal(p, s) -> numeric(p, s),
Binary -> bytea. NUMERIC is written through ADBC's decimal128 COPY path into a column declared
`numeric(p, s)` (checked value- and scale-exact by the tests); ADBC reads NUMERIC back as text.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote as url_quote
from urllib.parse import urlencode

import adbc_driver_postgresql.dbapi as adbc_pg
import dagster as dg
import polars as pl
from pydantic import Field

from dag_io.loaders import (
    Column,
    Cursor,
    LoadError,
    LoadResult,
    TableName,
    load_frame,
    quote,
    validate_identifier,
)

with warnings.catch_warnings():
    # platformdirs warns at import when XDG_RUNTIME_DIR is unset; pgserver then uses /tmp.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pgserver

_SIMPLE_TYPES: dict[Any, str] = {
    pl.Int8: "smallint", pl.Int16: "smallint", pl.UInt8: "smallint",
    pl.Int32: "integer", pl.UInt16: "integer", pl.Int64: "bigint", pl.UInt32: "bigint",
    pl.Float32: "real", pl.Float64: "double precision", pl.Boolean: "boolean",
    pl.String: "text", pl.Categorical: "text", pl.Enum: "text", pl.Date: "date",
    pl.Time: "time without time zone", pl.Binary: "bytea",
}
_REVERSE: dict[str, pl.DataType] = {
    "smallint": pl.Int16(), "integer": pl.Int32(), "bigint": pl.Int64(), "real": pl.Float32(),
    "double precision": pl.Float64(), "boolean": pl.Boolean(), "text": pl.String(),
    "character varying": pl.String(), "date": pl.Date(), "time without time zone": pl.Time(),
    "bytea": pl.Binary(), "timestamp without time zone": pl.Datetime("us"),
    "timestamp with time zone": pl.Datetime("us", "UTC"),
}
_NUMERIC = re.compile(r"^numeric\((\d+),(\d+)\)$")


class PostgresDialect:
    """PostgreSQL spelling of the loader operations (see `dag_io.loaders.Dialect`)."""

    name = "postgres"
    # ADBC encodes a batch, then blocks until the server has taken it all: batches that fit the
    # socket buffer let the server parse one while the client encodes the next (1,000,000 gold
    # rows over a unix socket: 1.2 s vs 1.9 s with 131,072-row batches). Slicing is zero-copy.
    send_batch_bytes = 32 * 1024

    def sql_type(self, dtype: pl.DataType) -> str:
        if isinstance(dtype, pl.Decimal):
            return f"numeric({dtype.precision or 38},{dtype.scale})"
        if isinstance(dtype, pl.Datetime):
            zone = "with" if dtype.time_zone else "without"
            return f"timestamp {zone} time zone"
        found = _SIMPLE_TYPES.get(dtype.base_type())
        if found is None:
            raise LoadError(f"postgres: no column type for Polars dtype {dtype}")
        return found

    def polars_type(self, sql_type: str) -> pl.DataType | None:
        numeric = _NUMERIC.match(sql_type)
        if numeric:
            return pl.Decimal(int(numeric.group(1)), int(numeric.group(2)))
        base = sql_type.split("(")[0]
        return _REVERSE.get(base)

    def prepare(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        schema = frame.collect_schema()
        casts = []
        for name, dtype in schema.items():
            if isinstance(dtype, pl.Datetime) and dtype.time_unit != "us":
                casts.append(pl.col(name).cast(pl.Datetime("us", dtype.time_zone)))
            elif isinstance(dtype, pl.Categorical | pl.Enum):
                casts.append(pl.col(name).cast(pl.String))
        return frame.with_columns(casts) if casts else frame

    def placeholder(self, index: int) -> str:
        return f"${index}"

    def columns(self, cursor: Cursor, table: TableName) -> list[Column] | None:
        cursor.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull "
            "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum",
            (table.sql,),
        )
        rows = cursor.fetchall()
        return [Column(n, t, bool(nullable)) for n, t, nullable in rows] if rows else None

    def ensure_schema(self, cursor: Cursor, table: TableName) -> None:
        if table.schema:
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(table.schema)}")

    def staging_like(self, cursor: Cursor, table: TableName) -> TableName:
        staging = table.sibling("upsert")
        cursor.execute(f"CREATE UNLOGGED TABLE {staging.sql} (LIKE {table.sql})")
        return staging


DIALECT = PostgresDialect()
_EMBEDDED_LOCK = threading.Lock()
_EMBEDDED_URIS: dict[tuple[Path, str], str] = {}


def embedded_uri(directory: str | Path, database: str) -> str:
    """URI of `database` on the pgserver under `directory`, started and created if needed.

    Thread-safe within a process (pgserver's own lock is a file lock, which does not exclude
    threads of one process); across processes pgserver's lock and a PostgreSQL advisory lock
    around CREATE DATABASE keep concurrent starts safe.
    """
    path = Path(directory).expanduser().resolve()
    validate_identifier(database, "database name")
    with _EMBEDDED_LOCK:
        key = (path, database)
        if key not in _EMBEDDED_URIS:
            path.parent.mkdir(parents=True, exist_ok=True)
            server = pgserver.get_server(path, cleanup_mode="stop")
            with adbc_pg.connect(server.get_uri("postgres"), autocommit=True) as conn, \
                    conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_lock(hashtext('dag_io.create_database'))")
                cur.execute("SELECT 1 FROM pg_database WHERE datname = $1", (database,))
                if not cur.fetchall():
                    cur.execute(f"CREATE DATABASE {quote(database)}")
                cur.execute("SELECT pg_advisory_unlock(hashtext('dag_io.create_database'))")
            _EMBEDDED_URIS[key] = server.get_uri(database)
        return _EMBEDDED_URIS[key]


def default_embedded_dir() -> Path:
    """./data/postgres (DAG_DATA_DIR moves ./data)."""
    return Path(os.environ.get("DAG_DATA_DIR", "data")) / "postgres"


class PostgresResource(dg.ConfigurableResource):
    """A PostgreSQL serving database for Gold tables (one database per project).

    `host` empty means the embedded server: pgserver under `embedded_dir` (default
    ./data/postgres), started on demand, with `database` created in it.
    """

    host: str = Field(default="", description="Server host; empty = embedded pgserver.")
    port: int = Field(default=5432, description="Server port.")
    user: str = Field(default="postgres", description="Login role.")
    password: str = Field(default="", description="Password (bind with dg.EnvVar).")
    database: str = Field(description="Database name (created when embedded).")
    embedded_dir: str = Field(default="", description="pgserver data dir when host is empty.")

    def uri(self) -> str:
        """libpq URI of the database (contains the password: never log it)."""
        if not self.host:
            return embedded_uri(self.embedded_dir or default_embedded_dir(), self.database)
        auth = url_quote(self.user, safe="")
        if self.password:
            auth += ":" + url_quote(self.password, safe="")
        # host in the query string: works for names, addresses and unix-socket directories.
        query = urlencode({"host": self.host, "port": self.port})
        return f"postgresql://{auth}@/{url_quote(self.database, safe='')}?{query}"

    def get_connection(self) -> adbc_pg.Connection:
        """An ADBC DB-API connection (autocommit off); the caller closes it."""
        return adbc_pg.connect(self.uri())

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement (DDL such as CREATE INDEX) in its own transaction."""
        with self.get_connection() as conn, conn.cursor() as cur:
            cur.execute(sql, tuple(params) or None)
            conn.commit()

    def load(
        self,
        table: str,
        frame: pl.LazyFrame | pl.DataFrame,
        *,
        mode: Literal["replace", "replace_partitions", "append", "upsert"],
        partition_columns: Sequence[str] = (),
        keys: Sequence[str] = (),
        contract: Any = None,
        partitions: pl.DataFrame | None = None,
    ) -> LoadResult:
        """Load `frame` into `table` in one transaction (see `dag_io.loaders` for the modes).

        On any error the connection is closed without commit: the table keeps its contents.
        """
        with self.get_connection() as conn, conn.cursor() as cur:
            result = load_frame(cur, DIALECT, table, frame, mode=mode,
                                partition_columns=partition_columns, keys=keys,
                                contract=contract, partitions=partitions)
            conn.commit()
        return result
