"""Timeouts, never retries: a PostgreSQL server that accepts but never answers fails the connect
within `connect_timeout_seconds`, naming host:port; a load queued behind another transaction's
lock fails after the lock (or statement) timeout; a SQLite load behind another writer fails after
the busy timeout. Each failure leaves the table unchanged. The elapsed-time bounds below only
bound the waiting (a hang would otherwise block the suite); they are not performance gates."""

from __future__ import annotations

import time
from pathlib import Path

import adbc_driver_postgresql.dbapi as adbc_pg
import adbc_driver_sqlite.dbapi as adbc_sqlite
import polars as pl
import pytest

from dag_io import PostgresResource, TursoResource
from dag_io.loaders import DatabaseConnectError, DatabaseTimeoutError, TableName
from dag_io.postgres import DIALECT as POSTGRES
from dag_io.turso import database_file

FRAME = pl.DataFrame({"id": [1, 2, 3], "grp": ["a", "a", "b"], "score": [1.0, 2.0, 3.0]})
WRONG = "-".join(["not", "a", "real", "password"])
WAIT_BOUND = 30.0  # seconds: generous, only catches a wait that did not end


def test_silent_server_fails_within_connect_timeout(silent_server: tuple[str, int]) -> None:
    host, port = silent_server
    # the password is never sent (no server answers) and must not show in the error
    pg = PostgresResource(
        host=host, port=port, database="gold", password=WRONG, connect_timeout_seconds=2
    )
    calls = {
        "get_connection": pg.get_connection,
        "load": lambda: pg.load("scores", FRAME, mode="replace"),
        "read": lambda: pg.read("scores"),
        "execute": lambda: pg.execute("SELECT 1"),
    }
    for name, call in calls.items():
        started = time.monotonic()
        with pytest.raises(DatabaseConnectError, match=rf"{host}:{port}.*timeout") as failure:
            call()
        elapsed = time.monotonic() - started
        assert 1.0 <= elapsed < WAIT_BOUND, f"{name}: gave up after {elapsed:.1f} s"
        assert "connect_timeout_seconds=2" in str(failure.value)
        assert WRONG not in str(failure.value)


@pytest.mark.postgres
def test_timeouts_are_session_settings(pg: PostgresResource, fetch) -> None:
    assert fetch(pg, "SELECT current_setting('statement_timeout'), "
                     "current_setting('lock_timeout')") == [("10min", "5min")]
    custom = pg.model_copy(update={"statement_timeout_seconds": 7, "lock_timeout_seconds": 0})
    assert fetch(custom, "SELECT current_setting('statement_timeout'), "
                         "current_setting('lock_timeout')") == [("7s", "0")]


def hold_table_lock(cur) -> None:
    """What a foreign writer or DDL holds: an exclusive lock on the table."""
    cur.execute("LOCK TABLE scores IN ACCESS EXCLUSIVE MODE")


def hold_load_lock(cur) -> None:
    """What another load of the table holds while it runs: the loaders' advisory lock."""
    POSTGRES.lock(cur, TableName.parse("scores"))


@pytest.mark.postgres
@pytest.mark.parametrize("holder", [hold_table_lock, hold_load_lock])
@pytest.mark.parametrize("mode", ["replace", "replace_partitions", "append", "upsert"])
def test_load_behind_a_held_lock_fails_after_lock_timeout(pg, fetch, holder, mode) -> None:
    pg.load("scores", FRAME, mode="replace", keys=["id"])
    quick = pg.model_copy(update={"lock_timeout_seconds": 1})
    options = {"partition_columns": ["grp"]} if mode == "replace_partitions" else {}
    with adbc_pg.connect(pg.uri()) as other, other.cursor() as cur:
        holder(cur)  # held until `other` closes (its transaction is never committed)
        started = time.monotonic()
        with pytest.raises(DatabaseTimeoutError,
                           match=r"postgres table scores.*lock_timeout_seconds=1 expired"):
            quick.load("scores", FRAME.with_columns(score=pl.lit(9.0)), mode=mode,
                       keys=["id"] if mode == "upsert" else [], **options)
        elapsed = time.monotonic() - started
    assert 0.5 <= elapsed < WAIT_BOUND
    assert fetch(pg, "SELECT id, grp, score FROM scores ORDER BY id") == FRAME.rows()


@pytest.mark.postgres
def test_load_behind_a_held_lock_fails_after_statement_timeout(pg, fetch) -> None:
    pg.load("scores", FRAME, mode="replace")
    quick = pg.model_copy(update={"statement_timeout_seconds": 1, "lock_timeout_seconds": 0})
    with adbc_pg.connect(pg.uri()) as other, other.cursor() as cur:
        hold_table_lock(cur)
        started = time.monotonic()
        with pytest.raises(DatabaseTimeoutError, match="statement_timeout_seconds=1 expired"):
            quick.load("scores", FRAME, mode="append")
        assert time.monotonic() - started < WAIT_BOUND
    assert fetch(pg, "SELECT count(*) FROM scores") == [(3,)]


def test_sqlite_busy_timeout_is_set_and_bounds_a_load_behind_another_writer(
    turso_file: TursoResource, fetch
) -> None:
    turso_file.load("scores", FRAME, mode="replace", keys=["id"])
    assert fetch(turso_file, "PRAGMA busy_timeout") == [(30_000,)]
    quick = turso_file.model_copy(update={"busy_timeout_seconds": 1})
    other = adbc_sqlite.connect(str(database_file(turso_file.url)), autocommit=True)
    try:
        with other.cursor() as cur:
            cur.execute("BEGIN IMMEDIATE")  # another writer holds the file's write lock
            started = time.monotonic()
            with pytest.raises(DatabaseTimeoutError,
                               match=r"sqlite table scores.*busy_timeout_seconds=1 expired"):
                quick.load("scores", FRAME.with_columns(score=pl.lit(9.0)), mode="replace")
            elapsed = time.monotonic() - started
            cur.execute("ROLLBACK")
    finally:
        other.close()
    assert 0.5 <= elapsed < WAIT_BOUND
    assert fetch(turso_file, "SELECT id, grp, score FROM scores ORDER BY id") == FRAME.rows()


def test_turso_settings_reach_a_new_file(tmp_path: Path) -> None:
    resource = TursoResource(url=str(tmp_path / "t.db"), busy_timeout_seconds=0)
    with resource.get_connection() as conn, conn.cursor() as cur:
        cur.execute("PRAGMA busy_timeout")
        assert cur.fetchall() == [(0,)]
