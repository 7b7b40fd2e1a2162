"""All-or-nothing loads: failures mid-load and killed connections leave the previous contents,
and a concurrent reader never sees an empty or half-loaded table during `replace`."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc_pg
import pandera.polars as pa
import polars as pl
import pytest

from dag_io import PostgresResource

pytestmark = pytest.mark.postgres


class Scores(pa.DataFrameModel):
    """Contract of the test table: `score` may not be NULL."""

    id: pl.Int64 = pa.Field(description="key")
    grp: pl.Int64 = pa.Field(description="partition: id mod 3")
    score: pl.Float64 = pa.Field(description="value, NOT NULL")


def scores(n: int, offset: float = 0.0) -> pl.LazyFrame:
    """n rows generated lazily (streamed to the database in batches)."""
    return pl.LazyFrame({"id": pl.int_range(n, dtype=pl.Int64, eager=True)}).with_columns(
        grp=pl.col("id") % 3, score=pl.col("id").cast(pl.Float64) + offset
    )


def snapshot(fetch, pg: PostgresResource) -> list[tuple]:
    return fetch(pg, "SELECT count(*), sum(id), sum(grp), sum(score) FROM scores")


@pytest.mark.parametrize(
    ("mode", "options"),
    [("replace", {}), ("replace_partitions", {"partition_columns": ["grp"]}),
     ("append", {}), ("upsert", {"keys": ["id"]})],
)
def test_not_null_violation_in_last_batch_rolls_back(pg, fetch, mode, options) -> None:
    pg.load("scores", scores(1_000), mode="replace", keys=["id"], contract=Scores)
    before = snapshot(fetch, pg)
    # 300k rows: the NULL sits in the third Arrow batch, after two batches were copied.
    bad = scores(300_000, offset=0.5).with_columns(
        score=pl.when(pl.col("id") == 299_999).then(None).otherwise(pl.col("score")))
    with pytest.raises(adbc_driver_manager.Error, match="score"):
        pg.load("scores", bad, mode=mode, **options)
    assert snapshot(fetch, pg) == before


def _kill_when_active(admin_uri: str, database: str, delay: float, killed: list[int]) -> None:
    """From another connection: wait for the loader's statement, then pg_terminate_backend it."""
    with adbc_pg.connect(admin_uri, autocommit=True) as conn, conn.cursor() as cur:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            cur.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND state = 'active' "
                "AND pid <> pg_backend_pid() AND query NOT LIKE '%pg_stat_activity%'",
                (database,),
            )
            pids = [row[0] for row in cur.fetchall()]
            if pids:
                time.sleep(delay)
                for pid in pids:
                    cur.execute("SELECT pg_terminate_backend($1::int)", (pid,))
                    killed.append(pid)
                return


@pytest.mark.slow
def test_connection_killed_mid_load_keeps_previous_contents(pg, fetch) -> None:
    pg.load("scores", scores(500), mode="replace", keys=["id"], contract=Scores)
    before = snapshot(fetch, pg)
    rng = random.Random(5)
    modes = ["replace", "replace_partitions", "append", "upsert"] * 3
    for attempt, mode in enumerate(modes):  # 12 kills, every mode three times
        killed: list[int] = []
        killer = threading.Thread(
            target=_kill_when_active,
            args=(pg.uri(), pg.database, rng.uniform(0.0, 0.05), killed),
        )
        killer.start()
        options = {"partition_columns": ["grp"]} if mode == "replace_partitions" else {}
        with pytest.raises(adbc_driver_manager.Error):
            pg.load("scores", scores(600_000, offset=attempt + 1.0), mode=mode,
                    keys=["id"] if mode == "upsert" else [], **options)
        killer.join()
        assert killed, f"attempt {attempt}: the killer found no active statement"
        assert snapshot(fetch, pg) == before, f"attempt {attempt} ({mode}) changed the table"
    assert fetch(pg, "SELECT count(*) FROM pg_class WHERE relname LIKE 'scores\\_\\_%'") == [(0,)]


@pytest.mark.slow
def test_concurrent_reader_never_sees_empty_or_partial_table(pg) -> None:
    sizes = (20_000, 50_000)
    pg.load("scores", scores(sizes[0]), mode="replace")
    stop = threading.Event()

    def reader() -> list[int]:
        observed = []
        with adbc_pg.connect(pg.uri(), autocommit=True) as conn, conn.cursor() as cur:
            while not stop.is_set():
                cur.execute("SELECT count(*) FROM scores")
                observed.append(cur.fetchall()[0][0])
        return observed

    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(reader)
        try:
            for i in range(12):
                pg.load("scores", scores(sizes[(i + 1) % 2]), mode="replace")
        finally:
            stop.set()
        observed = future.result()
    assert len(observed) > 20
    assert set(observed) <= set(sizes), f"reader saw {sorted(set(observed) - set(sizes))}"
    assert set(observed) == set(sizes)
