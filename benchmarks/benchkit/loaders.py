"""Gold-table loader cases: PostgreSQL and SQLite/Turso, ours against the raw driver (the floor)
and the ways the replaced engine (pandas + psycopg) or a plain client would load.

Every case loads the same gold rows into a table that does not exist yet (the setup drops it),
creating it as part of the measured work, and commits once.

PostgreSQL: ours = `PostgresResource.load(mode="replace")` (one transaction: lock, catalogue
lookup, CREATE TABLE here since the setup dropped it, else a DELETE of the old rows, then binary
COPY through ADBC in ~32 KiB Arrow batches); floor = ADBC `adbc_ingest(mode="replace")`; psycopg 3
`executemany` (INSERT, pipelined by psycopg); psycopg `COPY ... FROM STDIN` with `write_row`
per row; and a CSV buffer written by Polars and streamed through `COPY ... (FORMAT csv)`.
The row-by-row peers get Python tuples from `DataFrame.iter_rows`/`rows`, inside the timing.
SQLite: ours = `TursoResource.load(mode="replace")` on a local file (ADBC SQLite), floor = ADBC
SQLite `adbc_ingest`, peer = pyturso (`turso.connect`) `executemany`.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import polars as pl

TABLE = "bench_gold"
PG_TYPES = {
    pl.Date: "date",
    pl.String: "text",
    pl.Int64: "bigint",
    pl.Float64: "double precision",
}
SQLITE_TYPES = {pl.Date: "TEXT", pl.String: "TEXT", pl.Int64: "INTEGER", pl.Float64: "REAL"}


def _ddl(frame: pl.DataFrame, types: dict[Any, str]) -> str:
    cols = ", ".join(f'"{name}" {types[type(dtype)]}' for name, dtype in frame.schema.items())
    return f'CREATE TABLE "{TABLE}" ({cols})'


# --- PostgreSQL -----------------------------------------------------------------------------
def postgres_resource(url: str) -> Any:
    """A `PostgresResource` for a libpq URL (host may be a unix-socket dir in the query)."""
    from dag_io import PostgresResource

    parsed = urlparse(url)
    query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
    return PostgresResource(
        host=query.get("host", parsed.hostname or ""),
        port=int(query.get("port", parsed.port or 5432)),
        user=parsed.username or "postgres",
        password=parsed.password or "",
        database=parsed.path.lstrip("/"),
    )


def pg_drop(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'DROP TABLE IF EXISTS "{TABLE}"')


def pg_count(url: str) -> int:
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(f'SELECT count(*) FROM "{TABLE}"').fetchone()[0]  # type: ignore[index]


def pg_ours(url: str, frame: pl.DataFrame) -> None:
    postgres_resource(url).load(TABLE, frame, mode="replace")


def pg_adbc(url: str, frame: pl.DataFrame) -> None:
    import adbc_driver_postgresql.dbapi as adbc_pg

    with adbc_pg.connect(url) as conn, conn.cursor() as cur:
        cur.adbc_ingest(TABLE, frame.to_arrow(), mode="replace")
        conn.commit()


def pg_executemany(url: str, frame: pl.DataFrame) -> None:
    import psycopg

    marks = ", ".join(["%s"] * frame.width)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(_ddl(frame, PG_TYPES))
        cur.executemany(f'INSERT INTO "{TABLE}" VALUES ({marks})', frame.rows())
        conn.commit()


def pg_copy_rows(url: str, frame: pl.DataFrame) -> None:
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(_ddl(frame, PG_TYPES))
        with cur.copy(f'COPY "{TABLE}" FROM STDIN') as copy:
            for row in frame.iter_rows():
                copy.write_row(row)
        conn.commit()


def pg_copy_csv(url: str, frame: pl.DataFrame) -> None:
    import psycopg

    buffer = io.BytesIO()
    frame.write_csv(buffer)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute(_ddl(frame, PG_TYPES))
        with cur.copy(f'COPY "{TABLE}" FROM STDIN (FORMAT csv, HEADER true)') as copy:
            copy.write(buffer.getbuffer())
        conn.commit()


PG_CASES: dict[str, Callable[[str, pl.DataFrame], None]] = {
    "ours": pg_ours,
    "adbc": pg_adbc,
    "executemany": pg_executemany,
    "copy_rows": pg_copy_rows,
    "copy_csv": pg_copy_csv,
}


# --- SQLite / Turso -------------------------------------------------------------------------
def sqlite_reset(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def sqlite_count(path: Path) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        return conn.execute(f'SELECT count(*) FROM "{TABLE}"').fetchone()[0]


def turso_ours(path: Path, frame: pl.DataFrame) -> None:
    from dag_io import TursoResource

    TursoResource(url=str(path)).load(TABLE, frame, mode="replace")


def turso_adbc(path: Path, frame: pl.DataFrame) -> None:
    import adbc_driver_sqlite.dbapi as adbc_sqlite

    with adbc_sqlite.connect(str(path)) as conn, conn.cursor() as cur:
        cur.adbc_ingest(TABLE, frame.to_arrow(), mode="replace")
        conn.commit()


def turso_executemany(path: Path, frame: pl.DataFrame) -> None:
    import turso

    rows = frame.with_columns(pl.col(pl.Date).cast(pl.String)).rows()
    marks = ", ".join(["?"] * frame.width)
    conn = turso.connect(str(path))
    try:
        cur = conn.cursor()
        cur.execute(_ddl(frame, SQLITE_TYPES))
        cur.executemany(f'INSERT INTO "{TABLE}" VALUES ({marks})', rows)
        conn.commit()
    finally:
        conn.close()


TURSO_CASES: dict[str, Callable[[Path, pl.DataFrame], None]] = {
    "ours": turso_ours,
    "adbc": turso_adbc,
    "executemany": turso_executemany,
}


# --- peak-memory entry points ---------------------------------------------------------------
def prepare_pg(who: str, url: str, source: str, rows: int) -> Callable[[], object]:
    frame = pl.read_parquet(source).head(rows)
    pg_drop(url)
    return lambda: PG_CASES[who](url, frame)


def prepare_turso(who: str, path: str, source: str, rows: int) -> Callable[[], object]:
    frame = pl.read_parquet(source).head(rows)
    sqlite_reset(Path(path))
    return lambda: TURSO_CASES[who](Path(path), frame)
