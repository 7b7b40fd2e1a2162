"""SS rules step (bronze posts -> deal candidates): ours (Polars expressions) against the replaced
engine's way (a per-row Python loop), re-implemented in `benchkit/ss_rules.py`.

Both start from the same sample crawl; the per-row peer runs on fewer posts (the gate compares
time per post). Outside the timing, both are run on the peer's posts and must return the same
candidate rows (every rule column) and the same dropped-post counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
from benchkit import ss_rules as cases
from benchkit.data import cached_parquet
from benchkit.modes import Sizes


@pytest.fixture(scope="module")
def rules_sizes(sizes: Sizes) -> cases.RulesSizes:
    return cases.SIZES[sizes.mode]


@pytest.fixture(scope="module")
def bronze(bench_data: Path, rules_sizes: cases.RulesSizes) -> pl.DataFrame:
    path = cached_parquet(
        bench_data, f"ss_bronze_{rules_sizes.posts}",
        lambda: cases.bronze_frame(rules_sizes.posts),
    )
    return pl.read_parquet(path)


def test_rules_ours(
    benchmark: Any, record: Any, bronze: pl.DataFrame, rules_sizes: cases.RulesSizes
) -> None:
    benchmark.group = "ss rules"
    out, drops = benchmark.pedantic(
        cases.ours, args=(bronze,), rounds=rules_sizes.rounds, warmup_rounds=1
    )
    record.timing("ss.rules.ours", benchmark, rows=bronze.height)
    assert out.height > 0.5 * bronze.height  # most sample posts are deals (two scenarios some)
    assert sum(drops.values()) > 0


def test_rules_original(
    benchmark: Any, record: Any, bronze: pl.DataFrame, rules_sizes: cases.RulesSizes
) -> None:
    frame = bronze.head(rules_sizes.original_posts)
    rows = cases.rows_of(frame)
    benchmark.group = "ss rules"
    out = benchmark.pedantic(
        cases.original, args=(rows,), rounds=rules_sizes.slow_rounds, warmup_rounds=0
    )
    record.timing("ss.rules.original", benchmark, rows=frame.height, note="per-row Python")
    # The same rules: the same rows, rule columns and drop counts as ours on the same posts.
    compared = cases.compare(cases.ours(frame), out)
    assert compared == len(out[0]) > 0
