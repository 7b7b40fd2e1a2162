"""IS story clustering over a 72-hour window: ours against the same candidates and confirmation
written with datasketch's MinHashLSH, and ours at n, 2n and 4n posts (near-linear cost), timed
interleaved.

Inputs and cases are described in `benchkit/is_clusters.py`. Outside the timing, both ways must
find exactly the same clusters.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from benchkit import is_clusters as cases
from benchkit.data import cached_parquet
from benchkit.gates import PeerUnavailable
from benchkit.modes import Sizes

PEER_ERRORS = (PeerUnavailable,)  # any other peer error fails the gate (benchkit.gates)


@pytest.fixture(scope="module")
def cluster_sizes(sizes: Sizes) -> cases.ClusterSizes:
    return cases.SIZES[sizes.mode]


def _frame(bench_data: Path, rows: int) -> pl.DataFrame:
    path = cached_parquet(
        bench_data, f"is_cluster_signatures_{rows}", lambda: cases.signatures_frame(rows)
    )
    return pl.read_parquet(path)


@pytest.fixture(scope="module")
def window(bench_data: Path, cluster_sizes: cases.ClusterSizes) -> pl.DataFrame:
    return _frame(bench_data, cluster_sizes.posts)


def test_clusters_ours(
    benchmark: Any, record: Any, window: pl.DataFrame, cluster_sizes: cases.ClusterSizes
) -> None:
    benchmark.group = "is clusters"
    out = benchmark.pedantic(
        cases.ours, args=(window,), rounds=cluster_sizes.rounds, warmup_rounds=1
    )
    record.timing("is.clusters.ours", benchmark, rows=window.height)
    found = cases.components_of(out)
    assert len(found) > 0.02 * window.height  # ~5% near-duplicates, in pairs and chains
    assert all(len(group) >= 2 for group in found)


def test_clusters_datasketch(
    benchmark: Any, record: Any, window: pl.DataFrame, cluster_sizes: cases.ClusterSizes
) -> None:
    case = "is.clusters.datasketch"
    try:
        cases.datasketch_clusters(window.head(50))
    except PEER_ERRORS as error:
        record.skip(case, f"datasketch failed: {type(error).__name__}: {error}")
        pytest.skip(f"{case}: {error}")
    benchmark.group = "is clusters"
    theirs = benchmark.pedantic(
        cases.datasketch_clusters, args=(window,), rounds=cluster_sizes.peer_rounds,
        warmup_rounds=0,
    )
    record.timing(case, benchmark, rows=window.height)
    assert theirs == cases.components_of(cases.ours(window))  # the same clusters


def test_clusters_scaling(
    benchmark: Any, record: Any, bench_data: Path, cluster_sizes: cases.ClusterSizes
) -> None:
    """n, 2n and 4n timed interleaved: each round builds all three back to back (the order
    rotating), so a load change on the shared machine hits every size alike, not one block."""
    frames = {
        label: _frame(bench_data, rows)
        for label, rows in zip(("n", "2n", "4n"), cluster_sizes.scale, strict=True)
    }
    for frame in frames.values():
        cases.ours(frame)  # warm-up: imports, allocator, thread pools
    order = list(frames)
    seconds: dict[str, list[float]] = {label: [] for label in frames}

    def one_round() -> None:
        for label in order:
            started = time.perf_counter()
            cases.ours(frames[label])
            seconds[label].append(time.perf_counter() - started)
        order.append(order.pop(0))

    benchmark.group = "is clusters scaling (one round = n, 2n and 4n once)"
    benchmark.pedantic(one_round, rounds=cluster_sizes.rounds + 2, warmup_rounds=0)
    for label, measured in seconds.items():
        record.results.timing(
            f"is.clusters.scale.{label}", rows=frames[label].height,
            median=statistics.median(measured), min=min(measured), max=max(measured),
            rounds=len(measured),
        )
    benchmark.extra_info.update({k: [round(v, 4) for v in m] for k, m in seconds.items()})
