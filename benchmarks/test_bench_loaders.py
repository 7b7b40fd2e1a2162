"""Gold-table loads: PostgreSQL and SQLite/Turso, ours vs raw ADBC ingest (floor) and the
row-by-row / CSV ways of the replaced engine and of plain clients.

The row-by-row peers (psycopg executemany, pyturso executemany) run on fewer rows
(`*_slow_rows`); the gates compare time per row. Every case's table is checked for its row
count after the timing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from benchkit import loaders
from benchkit.data import cached_parquet, gold_frame
from benchkit.modes import Sizes

PG_SLOW = {"executemany"}
TURSO_SLOW = {"executemany"}


@pytest.fixture(scope="module")
def gold_path(bench_data: Path, sizes: Sizes) -> Path:
    rows = max(sizes.pg_rows, sizes.turso_rows)
    return cached_parquet(bench_data, f"gold_{rows}", lambda: gold_frame(rows))


@pytest.mark.postgres
@pytest.mark.parametrize("who", list(loaders.PG_CASES))
def test_postgres_load(
    who: str,
    benchmark: Any,
    record: Any,
    sizes: Sizes,
    gold_path: Path,
    postgres_bench_url: str,
    measure_memory: bool,
) -> None:
    rows = sizes.pg_slow_rows if who in PG_SLOW else sizes.pg_rows
    frame = pl.read_parquet(gold_path).head(rows)
    url = postgres_bench_url
    benchmark.group = "postgres load"
    benchmark.pedantic(
        loaders.PG_CASES[who],
        args=(url, frame),
        setup=lambda: loaders.pg_drop(url),
        rounds=sizes.rounds,
        warmup_rounds=1,
    )
    record.timing(f"pg.{who}", benchmark, rows=rows)
    assert loaders.pg_count(url) == rows
    if measure_memory and who not in PG_SLOW:
        record.peak(
            f"pg.{who}",
            "benchkit.loaders:prepare_pg",
            {"who": who, "url": url, "source": str(gold_path), "rows": rows},
        )


@pytest.mark.parametrize("who", list(loaders.TURSO_CASES))
def test_turso_load(
    who: str,
    benchmark: Any,
    record: Any,
    sizes: Sizes,
    gold_path: Path,
    tmp_path: Path,
    measure_memory: bool,
) -> None:
    rows = sizes.turso_slow_rows if who in TURSO_SLOW else sizes.turso_rows
    frame = pl.read_parquet(gold_path).head(rows)
    path = tmp_path / "turso.db"
    benchmark.group = "turso load"
    benchmark.pedantic(
        loaders.TURSO_CASES[who],
        args=(path, frame),
        setup=lambda: loaders.sqlite_reset(path),
        rounds=sizes.rounds,
        warmup_rounds=1,
    )
    record.timing(f"turso.{who}", benchmark, rows=rows)
    assert loaders.sqlite_count(path) == rows
    if measure_memory and who not in TURSO_SLOW:
        record.peak(
            f"turso.{who}",
            "benchkit.loaders:prepare_turso",
            {"who": who, "path": str(tmp_path / "peak.db"), "source": str(gold_path), "rows": rows},
        )
