"""PostgreSQL serving database: `PostgresResource` loads Gold tables with ADBC binary COPY.

With `host` empty the resource starts an embedded PostgreSQL (pgserver) under `embedded_dir`
on first use and creates `database` in it, so the project runs with no configuration. Type
mapping (Polars -> PostgreSQL): Int8/Int16/UInt8 -> smallint, Int32/UInt16 -> integer,
Int64/UInt32 -> bigint, Float32 -> real, Float64 -> double precision, Boolean -> boolean,
String/Categorical/Enum -> text, Date -> date, Datetime -> timestamp (timestamptz when the dtype
has a time zone; stored in microseconds), Time -> time, Decimal(p, s) -> numeric(p, s),
Binary -> bytea. NUMERIC is written through ADBC's decimal128 COPY path into a column declared
`numeric(p, s)` (checked value- and scale-exact by the tests); ADBC reads NUMERIC back as text
(`read` casts it back to Decimal).

Every connection carries timeouts, never retries: libpq `connect_timeout` (a server that accepts
the TCP connection but never answers fails after `connect_timeout_seconds` with
`DatabaseConnectError` naming host:port), and `statement_timeout` / `lock_timeout` as startup
options (`options=-c statement_timeout=...`), so a load stuck behind another transaction's lock
fails with `DatabaseTimeoutError` instead of waiting forever. 0 disables a timeout.

Catalog API (so that no asset writes SQL to look at a serving database): `tables()`,
`count_rows(table)`, `indexes(table)`, `extension_status(name)`, and `ensure_indexes(table,
specs)`, which creates the missing indexes of a list of `IndexSpec`s in one transaction (an index
that needs an extension is created only when the extension is installed or this login may create
it, and is otherwise reported as skipped with the reason).
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote as url_quote
from urllib.parse import urlencode

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc_pg
import dagster as dg
import polars as pl
from pydantic import Field

from dag_io.loaders import (
    MAX_INDEX_KEY_BYTES,
    Column,
    ColumnSpec,
    Cursor,
    DatabaseConnectError,
    DatabaseTimeoutError,
    Index,
    LoadError,
    LoadResult,
    TableName,
    plan_load,
    quote,
    read_frame,
    run_load,
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
IndexMethod = Literal["btree", "gin", "brin", "gist", "hash"]
INDEX_METHODS: tuple[str, ...] = ("btree", "gin", "brin", "gist", "hash")


class PostgresDialect:
    """PostgreSQL spelling of the loader operations (see `dag_io.loaders.Dialect`)."""

    name = "postgres"
    # ADBC encodes a batch, then blocks until the server has taken it all: batches that fit the
    # socket buffer let the server parse one while the client encodes the next (1,000,000 gold
    # rows over a unix socket: 1.2 s vs 1.9 s with 131,072-row batches). Slicing is zero-copy.
    send_batch_bytes: int | None = 32 * 1024
    max_index_key_bytes: int | None = MAX_INDEX_KEY_BYTES

    def sql_type(self, dtype: pl.DataType | type[pl.DataType]) -> str:
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

    def decode(self, frame: pl.DataFrame, columns: Sequence[Column]) -> pl.DataFrame:
        """Cast what ADBC returns in another type (NUMERIC as text) to the column's dtype."""
        casts = []
        for column in columns:
            target = self.polars_type(column.sql_type)
            if target is not None and frame.schema[column.name] != target:
                casts.append(pl.col(column.name).cast(target, strict=True))
        return frame.with_columns(casts) if casts else frame

    def placeholder(self, index: int) -> str:
        return f"${index}"

    def lock(self, cursor: Cursor, table: TableName) -> None:
        """Transaction-scoped advisory lock on the table's name (waits up to lock_timeout)."""
        cursor.execute("SELECT count(*) FROM (SELECT pg_advisory_xact_lock("
                       "hashtextextended($1, 0))) AS locked", (_lock_key("load", table),))
        cursor.fetchall()  # a SELECT's error surfaces on fetch

    def lock_table(self, cursor: Cursor, table: TableName) -> None:
        """Self-exclusive, readers pass: other writers (and CREATE INDEX) wait for the commit."""
        cursor.execute(f"LOCK TABLE {table.sql} IN SHARE ROW EXCLUSIVE MODE")

    def columns(self, cursor: Cursor, table: TableName) -> list[Column] | None:
        cursor.execute(
            "SELECT a.attname, format_type(a.atttypid, a.atttypmod), NOT a.attnotnull "
            "FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 "
            "AND NOT a.attisdropped ORDER BY a.attnum",
            (table.sql,),
        )
        rows = cursor.fetchall()
        return [Column(n, t, bool(nullable)) for n, t, nullable in rows] if rows else None

    def indexes(self, cursor: Cursor, table: TableName) -> list[Index]:
        """The btree indexes (primary key included): their entries are size-limited."""
        cursor.execute(
            "SELECT c.relname, i.indisprimary, a.attname FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
            "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
            "WHERE i.indrelid = to_regclass($1) AND am.amname = 'btree' "
            "ORDER BY c.relname, array_position(i.indkey::int2[], a.attnum)",
            (table.sql,),
        )
        grouped: dict[tuple[str, bool], list[str]] = {}
        for name, primary, column in cursor.fetchall():  # catalog rows, a handful
            grouped.setdefault((name, bool(primary)), []).append(column)
        return [Index(f"index {name}", tuple(cols), primary)
                for (name, primary), cols in grouped.items()]

    def ensure_schema(self, cursor: Cursor, table: TableName) -> None:
        """CREATE SCHEMA IF NOT EXISTS, serialised: two concurrent ones can both fail to see
        the other's and collide on the catalog's unique index."""
        if table.schema:
            cursor.execute("SELECT count(*) FROM (SELECT pg_advisory_xact_lock("
                           "hashtextextended($1, 0))) AS locked",
                           (f"dag_io.schema:{table.schema}",))
            cursor.fetchall()
            cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(table.schema)}")

    def staging_like(self, cursor: Cursor, table: TableName) -> TableName:
        staging = table.sibling("upsert")
        cursor.execute(f"CREATE UNLOGGED TABLE {staging.sql} (LIKE {table.sql})")
        return staging


def _lock_key(purpose: str, table: TableName) -> str:
    """Advisory-lock key text of a table (an unqualified name is in schema public)."""
    return f"dag_io.{purpose}:{table.schema or 'public'}.{table.name}"


DIALECT = PostgresDialect()


@dataclass(frozen=True)
class IndexSpec:
    """An index `ensure_indexes` keeps on a table: its name, columns in order, access method,
    an operator class for every column (e.g. `gin_trgm_ops`), and the extension it needs.

    Every name is validated when the spec is built (`LoadError` for anything but a plain
    identifier) and quoted in the statement.
    """

    name: str
    columns: tuple[str, ...]
    method: IndexMethod = "btree"
    opclass: str | None = None
    extension: str | None = None

    def __post_init__(self) -> None:
        validate_identifier(self.name, "index name")
        if isinstance(self.columns, list):  # a list given for the tuple: kept hashable
            object.__setattr__(self, "columns", tuple(self.columns))
        if isinstance(self.columns, str) or not self.columns:
            raise LoadError(f"index {self.name}: columns must be a non-empty tuple of names, "
                            f"not {self.columns!r}")
        for column in self.columns:
            validate_identifier(column, "column name")
        if self.method not in INDEX_METHODS:
            raise LoadError(f"index {self.name}: unknown access method {self.method!r}; "
                            f"expected one of {list(INDEX_METHODS)}")
        if self.opclass is not None:
            validate_identifier(self.opclass, "operator class")
        if self.extension is not None:
            validate_identifier(self.extension, "extension name")

    @property
    def using(self) -> str:
        """The `USING method (columns)` clause, identifiers quoted."""
        opclass = f" {quote(self.opclass)}" if self.opclass else ""
        return f"USING {self.method} ({', '.join(quote(c) + opclass for c in self.columns)})"

    def statement(self, table: str) -> str:
        """`CREATE INDEX IF NOT EXISTS` of this index on `table` (validated, quoted)."""
        return f"CREATE INDEX IF NOT EXISTS {quote(self.name)} ON " \
               f"{TableName.parse(table).sql} {self.using}"


@dataclass(frozen=True)
class ExtensionStatus:
    """What the server says about an extension: installed in the database, available to
    install, and creatable by the current login (superuser, or a trusted extension and CREATE
    on the database)."""

    name: str
    installed: bool
    available: bool
    creatable: bool

    @property
    def usable(self) -> bool:
        """Installed, or installable by this login."""
        return self.installed or (self.available and self.creatable)

    @property
    def reason(self) -> str | None:
        """Why an index needing the extension cannot be created (None: it can)."""
        if self.usable:
            return None
        if self.available:
            return f"extension {self.name} is available but this login may not create it"
        return f"extension {self.name} is not available on this server"


@dataclass(frozen=True)
class IndexReport:
    """What `ensure_indexes` did: the statements it ran, in order (CREATE EXTENSION first), the
    indexes it created, those already present (left as they are), those skipped with the
    reason, and the status of every extension the specs name, as found before the run."""

    table: str
    statements: tuple[str, ...] = ()
    created: tuple[str, ...] = ()
    existing: tuple[str, ...] = ()
    skipped: Mapping[str, str] = field(default_factory=dict)
    extensions: Mapping[str, ExtensionStatus] = field(default_factory=dict)


_EXTENSION_STATUS_SQL = (
    "SELECT "
    "EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1), "
    "EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1), "
    "COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false) "
    "OR (COALESCE((SELECT bool_or(trusted) FROM pg_available_extension_versions "
    "WHERE name = $1), false) AND has_database_privilege(current_database(), 'CREATE'))"
)


def _extension_status(cursor: Cursor, name: str) -> ExtensionStatus:
    validate_identifier(name, "extension name")
    cursor.execute(_EXTENSION_STATUS_SQL, (name,))
    installed, available, creatable = cursor.fetchall()[0]
    return ExtensionStatus(name, bool(installed), bool(available), bool(creatable))


def _require_table(cursor: Cursor, table: TableName) -> list[Column]:
    """The table's columns; `LoadError` when it does not exist."""
    columns = DIALECT.columns(cursor, table)
    if columns is None:
        raise LoadError(f"postgres table {table} does not exist")
    return columns


def _table_index_names(cursor: Cursor, table: TableName) -> set[str]:
    cursor.execute("SELECT c.relname::text FROM pg_index i JOIN pg_class c "
                   "ON c.oid = i.indexrelid WHERE i.indrelid = to_regclass($1)", (table.sql,))
    return {name for (name,) in cursor.fetchall()}


def _name_taken(cursor: Cursor, table: TableName, name: str) -> bool:
    """Whether another relation of the table's schema is called `name` (index names are
    unique per schema: CREATE INDEX IF NOT EXISTS would silently create nothing)."""
    cursor.execute("SELECT count(*) FROM pg_class c WHERE c.relname = $1 AND c.relnamespace = "
                   "(SELECT t.relnamespace FROM pg_class t WHERE t.oid = to_regclass($2))",
                   (name, table.sql))
    return bool(cursor.fetchall()[0][0])


def _ensure_indexes(cursor: Cursor, target: TableName,
                    specs: Sequence[IndexSpec]) -> IndexReport:
    """`ensure_indexes` inside the cursor's open transaction (the caller commits)."""
    cursor.execute("SELECT count(*) FROM (SELECT pg_advisory_xact_lock("
                   "hashtextextended($1, 0))) AS locked", (_lock_key("indexes", target),))
    cursor.fetchall()
    known = {c.name for c in _require_table(cursor, target)}
    for spec in specs:
        unknown = [c for c in spec.columns if c not in known]
        if unknown:
            raise LoadError(f"index {spec.name}: postgres table {target} has no column(s) "
                            f"{unknown}: {sorted(known)}")
    extensions = {name: _extension_status(cursor, name)
                  for name in dict.fromkeys(s.extension for s in specs if s.extension)}
    present = _table_index_names(cursor, target)
    existing: list[str] = []
    skipped: dict[str, str] = {}
    to_create: list[IndexSpec] = []
    for spec in specs:
        reason = extensions[spec.extension].reason if spec.extension else None
        if spec.name in present:
            existing.append(spec.name)
        elif reason:
            skipped[spec.name] = reason
        elif _name_taken(cursor, target, spec.name):
            raise LoadError(f"index {spec.name}: another relation of the schema of postgres "
                            f"table {target} already has that name; nothing was created")
        else:
            to_create.append(spec)
    needed = dict.fromkeys(s.extension for s in to_create if s.extension)
    statements = [f"CREATE EXTENSION IF NOT EXISTS {quote(name)}"
                  for name in needed if not extensions[name].installed]
    statements += [spec.statement(str(target)) for spec in to_create]
    for statement in statements:
        cursor.execute(statement)
    return IndexReport(str(target), tuple(statements), tuple(s.name for s in to_create),
                       tuple(existing), skipped, extensions)


_TABLES_SQL = (
    "SELECT table_schema || '.' || table_name FROM information_schema.tables "
    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
    "AND table_type = 'BASE TABLE' ORDER BY 1"
)
_INDEXES_SQL = (
    "SELECT c.relname::text AS index_name, am.amname::text AS access_method, "
    "pg_get_indexdef(i.indexrelid) AS definition FROM pg_index i "
    "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam "
    "WHERE i.indrelid = to_regclass($1) AND NOT i.indisprimary ORDER BY c.relname"
)
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


# dagster's resource base is generic in the resource's value without a default; subscripting it
# (`ConfigurableResource[PostgresResource]`) would add a pydantic subclass to the MRO at runtime.
class PostgresResource(dg.ConfigurableResource):  # type: ignore[type-arg]
    """A PostgreSQL serving database for Gold tables (one database per project).

    `host` empty means the embedded server: pgserver under `embedded_dir` (default
    ./data/postgres), started on demand, with `database` created in it. Every connection has a
    connect timeout, a statement timeout and a lock timeout (0 disables one); nothing retries.
    """

    host: str = Field(default="", description="Server host; empty = embedded pgserver.")
    port: int = Field(default=5432, description="Server port.")
    user: str = Field(default="postgres", description="Login role.")
    password: str = Field(default="", description="Password (bind with dg.EnvVar).")
    database: str = Field(description="Database name (created when embedded).")
    embedded_dir: str = Field(default="", description="pgserver data dir when host is empty.")
    connect_timeout_seconds: int = Field(
        default=10, ge=0,
        description="libpq connect_timeout: give up on a server that does not answer (0: wait).")
    statement_timeout_seconds: int = Field(
        default=600, ge=0,
        description="statement_timeout of every statement, a load's COPY included (0: none).")
    lock_timeout_seconds: int = Field(
        default=300, ge=0,
        description="lock_timeout: longest wait for a lock, e.g. behind another load of the "
                    "same table (0: none).")

    def _settings(self) -> str:
        """The timeouts as libpq URI query parameters (startup options, not SET statements)."""
        options = (f"-c statement_timeout={self.statement_timeout_seconds * 1000} "
                   f"-c lock_timeout={self.lock_timeout_seconds * 1000}")
        return urlencode({"connect_timeout": self.connect_timeout_seconds, "options": options},
                         quote_via=url_quote)

    def uri(self) -> str:
        """libpq URI of the database with the timeouts (contains the password: never log it)."""
        if not self.host:
            base = embedded_uri(self.embedded_dir or default_embedded_dir(), self.database)
            return base + ("&" if "?" in base else "?") + self._settings()
        auth = url_quote(self.user, safe="")
        if self.password:
            auth += ":" + url_quote(self.password, safe="")
        # host in the query string: works for names, addresses and unix-socket directories.
        query = urlencode({"host": self.host, "port": self.port})
        return f"postgresql://{auth}@/{url_quote(self.database, safe='')}?{query}&" + \
            self._settings()

    def _where(self) -> str:
        """Where the database is, for messages (no credentials)."""
        if not self.host:
            return f"embedded server {self.embedded_dir or default_embedded_dir()}, " \
                   f"database {self.database}"
        return f"{self.host}:{self.port}, database {self.database}"

    def get_connection(self) -> adbc_pg.Connection:
        """An ADBC DB-API connection (autocommit off); the caller closes it.

        Raises `DatabaseConnectError` naming host:port when the server cannot be reached within
        `connect_timeout_seconds` (or refuses the connection).
        """
        uri = self.uri()
        try:
            return adbc_pg.connect(uri)
        except adbc_driver_manager.Error as exc:
            raise DatabaseConnectError(
                f"postgres at {self._where()}: could not connect as {self.user!r} "
                f"(connect_timeout_seconds={self.connect_timeout_seconds}): "
                f"{str(exc).strip()}") from exc

    @contextmanager
    def _timeouts(self, what: str) -> Iterator[None]:
        """Raise `DatabaseTimeoutError` for a statement or lock timeout (other errors pass)."""
        try:
            yield
        except adbc_driver_manager.Error as exc:
            sqlstate = getattr(exc, "sqlstate", None)
            if sqlstate == "55P03":
                reason = (f"lock_timeout_seconds={self.lock_timeout_seconds} expired waiting "
                          "for a lock held by another transaction (another load of the table, "
                          "or a writer)")
            elif sqlstate == "57014" and "statement timeout" in str(exc):
                reason = f"statement_timeout_seconds={self.statement_timeout_seconds} expired"
            else:
                raise
            raise DatabaseTimeoutError(f"{what} at {self._where()}: {reason}; the transaction "
                                       "was rolled back, the table is unchanged") from exc

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        """Run one statement (DDL such as CREATE INDEX) in its own transaction."""
        with self._timeouts("postgres statement"), self.get_connection() as conn, \
                conn.cursor() as cur:
            cur.execute(sql, tuple(params) or None)
            conn.commit()

    def ensure_view(self, name: str, select_sql: str) -> None:
        """`CREATE OR REPLACE VIEW name AS select_sql` in one transaction (idempotent; the view's
        columns may only be extended, as PostgreSQL allows). `select_sql` comes from a reviewed
        file shipped with the code (e.g. dag/seed/*.sql), never from data."""
        target = TableName.parse(name)
        body = select_sql.strip().rstrip(";")
        if ";" in body:
            raise LoadError(f"postgres view {target}: the SELECT holds more than one statement")
        with self._timeouts(f"creating postgres view {target}"), self.get_connection() as conn, \
                conn.cursor() as cur:
            cur.execute(f"CREATE OR REPLACE VIEW {target.sql} AS {body}")
            conn.commit()

    def tables(self) -> list[str]:
        """The base tables as `schema.table`, sorted (pg_catalog and information_schema left
        out; only tables this login may see)."""
        with self._timeouts("listing postgres tables"), self.get_connection() as conn, \
                conn.cursor() as cur:
            cur.execute(_TABLES_SQL)
            return [name for (name,) in cur.fetchall()]

    def count_rows(self, table: str) -> int:
        """Rows in `table` (`LoadError` for an invalid name or a missing table)."""
        target = TableName.parse(table)
        with self._timeouts(f"counting rows of postgres table {target}"), \
                self.get_connection() as conn, conn.cursor() as cur:
            _require_table(cur, target)
            cur.execute(f"SELECT count(*) FROM {target.sql}")
            return int(cur.fetchall()[0][0])

    def indexes(self, table: str) -> pl.DataFrame:
        """The table's indexes but the primary key's, by name: `index_name`, `access_method`
        (btree, gin, brin, ...) and `definition` (as `pg_indexes.indexdef` spells it).
        `LoadError` for an invalid name or a missing table."""
        target = TableName.parse(table)
        with self._timeouts(f"listing indexes of postgres table {target}"), \
                self.get_connection() as conn, conn.cursor() as cur:
            _require_table(cur, target)
            cur.execute(_INDEXES_SQL, (target.sql,))
            rows = cur.fetchall()
        return pl.DataFrame(rows, schema={"index_name": pl.String, "access_method": pl.String,
                                          "definition": pl.String}, orient="row")

    def extension_status(self, name: str) -> ExtensionStatus:
        """Whether extension `name` is installed, available and creatable by this login."""
        validate_identifier(name, "extension name")
        with self._timeouts(f"looking up postgres extension {name}"), \
                self.get_connection() as conn, conn.cursor() as cur:
            return _extension_status(cur, name)

    def ensure_indexes(self, table: str, specs: Iterable[IndexSpec]) -> IndexReport:
        """Create the indexes of `specs` that `table` lacks, in one transaction; idempotent.

        Indexes already on the table (by name) are left as they are. An index that needs an
        extension is created only when the extension is installed or this login may create it
        (then `CREATE EXTENSION IF NOT EXISTS` runs first); otherwise it is skipped and the
        report says why. Concurrent calls for one table serialise on an advisory lock. Raises
        `LoadError`, before anything is created, for a missing table or column, duplicate spec
        names, or a name another relation of the schema already has; on any error nothing is
        created (the transaction rolls back).
        """
        target = TableName.parse(table)
        specs = tuple(specs)
        names = [s.name for s in specs]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise LoadError(f"postgres table {target}: index name(s) {repeated} given twice")
        with self._timeouts(f"ensuring indexes of postgres table {target}"), \
                self.get_connection() as conn, conn.cursor() as cur:
            try:
                report = _ensure_indexes(cur, target, specs)
            except Exception as exc:  # annotated and re-raised: the transaction never commits
                exc.add_note(f"while ensuring indexes {names} of postgres table {target}; "
                             "the transaction was rolled back, no index was created")
                raise
            conn.commit()
        return report

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
        written). Loads of one table serialise on a lock. On any error the connection is closed
        without commit: the table keeps its contents.
        """
        plan = plan_load(DIALECT, table, frame, mode=mode, partition_columns=partition_columns,
                         keys=keys, columns=columns, partitions=partitions)
        with self._timeouts(f"loading postgres table {plan.target} (mode={mode})"), \
                self.get_connection() as conn, conn.cursor() as cur:
            result = run_load(cur, plan)
            conn.commit()
        return result

    def read(
        self,
        table: str,
        partitions: Mapping[str, Sequence[object]] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pl.DataFrame:
        """Rows of `table` (only those whose columns hold one of `partitions`' values, when
        given), `columns` only (default all), typed like the loaded frame; values are bound as
        parameters, `None` matches NULL. `LoadError` when the table or a column is missing."""
        with self._timeouts(f"reading postgres table {table}"), self.get_connection() as conn, \
                conn.cursor() as cur:
            return read_frame(cur, DIALECT, table, partitions=partitions, columns=columns)
