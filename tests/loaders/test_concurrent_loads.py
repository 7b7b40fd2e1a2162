"""Loads of one table serialise: two concurrent `replace_partitions` loads of the same partition
(threads, each with its own connection) end as if one ran after the other, every round, on
PostgreSQL (with and without a primary key) and on a SQLite file; two concurrent first loads
of a new table (in a new schema) both succeed, creating it once."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import polars as pl
import pytest

from dag_io import LoadResult, PostgresResource, TursoResource

ROUNDS = 10
ROWS = 3_000
JAN, FEB = dt.date(2024, 1, 1), dt.date(2024, 2, 1)


def day_frame(day: dt.date, writer: str, rows: int = ROWS) -> pl.DataFrame:
    """One partition (`day`) written by `writer`: ids 0..rows-1."""
    return pl.DataFrame({
        "day": [day] * rows,
        "id": pl.int_range(rows, dtype=pl.Int64, eager=True),
        "writer": [writer] * rows,
    })


def run_together(*loads: Callable[[], LoadResult]) -> list[LoadResult]:
    """Start the loads at the same moment, each on its own thread (and connection)."""
    barrier = threading.Barrier(len(loads))

    def start(load: Callable[[], LoadResult]) -> LoadResult:
        barrier.wait(timeout=30)
        return load()

    with ThreadPoolExecutor(max_workers=len(loads)) as pool:
        return [f.result() for f in [pool.submit(start, load) for load in loads]]


def partition_rows(target: PostgresResource | TursoResource, table: str) -> pl.DataFrame:
    return target.read(table).group_by("day", "writer").len().sort("day", "writer")


def assert_concurrent_rounds(target: PostgresResource | TursoResource,
                             keys: list[str]) -> None:
    target.load("quotes", day_frame(FEB, "other", 100), mode="replace_partitions",
                partition_columns=["day"], keys=keys)
    for round_ in range(ROUNDS):
        a, b = (day_frame(JAN, f"{side}{round_}") for side in "ab")
        results = run_together(
            *(partial(target.load, "quotes", frame, mode="replace_partitions",
                      partition_columns=["day"], keys=keys) for frame in (a, b))
        )
        assert [r.rows for r in results] == [ROWS, ROWS]
        counts = partition_rows(target, "quotes")
        jan = counts.filter(pl.col("day") == JAN)
        # Exactly one load's rows: the one that ran second replaced the first one's.
        assert jan.height == 1 and jan["len"].item() == ROWS, f"round {round_}: {jan.rows()}"
        assert jan["writer"].item() in (f"a{round_}", f"b{round_}")
        assert counts.filter(pl.col("day") == FEB).rows() == [(FEB, "other", 100)]


@pytest.mark.postgres
@pytest.mark.parametrize("keys", [[], ["day", "id"]], ids=["no_key", "primary_key"])
def test_postgres_concurrent_replace_partitions_serialise(pg: PostgresResource, keys) -> None:
    assert_concurrent_rounds(pg, keys)


@pytest.mark.parametrize("keys", [[], ["day", "id"]], ids=["no_key", "primary_key"])
def test_sqlite_concurrent_replace_partitions_serialise(turso_file: TursoResource,
                                                         keys) -> None:
    assert_concurrent_rounds(turso_file, keys)


@pytest.mark.postgres
def test_postgres_concurrent_first_loads_create_table_and_schema_once(
    pg: PostgresResource, fetch
) -> None:
    for round_ in range(ROUNDS):
        table = f"s{round_}.quotes"  # a new schema and a new table every round
        results = run_together(
            *(partial(pg.load, table, day_frame(JAN, side), mode="replace_partitions",
                      partition_columns=["day"], keys=["day", "id"]) for side in "ab")
        )
        assert [r.rows for r in results] == [ROWS, ROWS]
        assert fetch(pg, f"SELECT count(*), count(DISTINCT writer) FROM {table}") == [(ROWS, 1)]


def test_sqlite_concurrent_first_loads_create_table_once(turso_file: TursoResource,
                                                         fetch) -> None:
    for round_ in range(ROUNDS):
        table = f"quotes_{round_}"
        results = run_together(
            *(partial(turso_file.load, table, day_frame(JAN, side), mode="append")
              for side in "ab")
        )
        assert [r.rows for r in results] == [ROWS, ROWS]
        assert fetch(turso_file, f"SELECT count(*) FROM {table}") == [(2 * ROWS,)]
