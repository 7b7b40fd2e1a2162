"""SS daily price reports over the deals: ours (`dag.ss_deals.daily_aggregates`, Polars) against
DuckDB SQL on the same frame (`benchkit/ss_aggregates.py`).

Outside the timing, both must return the same rows: the same groups and counts, the same
min / p25 / median / p75 / max / mean (floats to 1e-9).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from benchkit import ss_aggregates as cases
from benchkit.data import cached_parquet
from benchkit.gates import PeerUnavailable
from benchkit.modes import Sizes
from polars.testing import assert_frame_equal

PEER_ERRORS = (PeerUnavailable,)  # any other peer error fails the gate (benchkit.gates)


@pytest.fixture(scope="module")
def agg_sizes(sizes: Sizes) -> cases.AggregateSizes:
    return cases.SIZES[sizes.mode]


@pytest.fixture(scope="module")
def deals(bench_data: Path, agg_sizes: cases.AggregateSizes) -> pl.DataFrame:
    path = cached_parquet(
        bench_data, f"ss_deals_{agg_sizes.deals}", lambda: cases.deals_frame(agg_sizes.deals)
    )
    return pl.read_parquet(path)


def test_aggregates_ours(
    benchmark: Any, record: Any, deals: pl.DataFrame, agg_sizes: cases.AggregateSizes
) -> None:
    benchmark.group = "ss aggregates"
    out = benchmark.pedantic(cases.ours, args=(deals,), rounds=agg_sizes.rounds, warmup_rounds=1)
    record.timing("ss.aggregates.ours", benchmark, rows=deals.height)
    in_window = deals.filter(
        pl.col("tco_total") > 0,
        pl.col("source_posted_at") > pl.col("source_posted_at").max() - pl.duration(days=7),
    ).height
    assert int(out["n"].sum()) == in_window


def test_aggregates_duckdb(
    benchmark: Any, record: Any, deals: pl.DataFrame, agg_sizes: cases.AggregateSizes
) -> None:
    case = "ss.aggregates.duckdb"
    try:
        cases.duckdb_sql(deals.head(10))
    except PEER_ERRORS as error:
        record.skip(case, f"duckdb failed: {type(error).__name__}: {error}")
        pytest.skip(f"{case}: {error}")
    benchmark.group = "ss aggregates"
    out = benchmark.pedantic(
        cases.duckdb_sql, args=(deals,), rounds=agg_sizes.rounds, warmup_rounds=1
    )
    record.timing(case, benchmark, rows=deals.height)
    # The same numbers as ours on the same frame.
    assert_frame_equal(out, cases.ours(deals), check_exact=False, rel_tol=1e-9)
