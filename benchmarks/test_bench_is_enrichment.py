"""IS enrichment throughput against the loopback OpenAI-compatible server (50 ms per call):
at least 0.8 x (concurrency / latency) calls per second (`benchkit/is_enrichment.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from benchkit import is_enrichment as cases
from benchkit.modes import Sizes


@pytest.fixture(scope="module")
def enrichment_sizes(sizes: Sizes) -> cases.EnrichmentSizes:
    return cases.SIZES[sizes.mode]


@pytest.fixture(scope="module")
def server_url(enrichment_sizes: cases.EnrichmentSizes) -> Iterator[str]:
    with cases.served(enrichment_sizes.latency_seconds) as url:
        yield url


def test_enrichment_throughput(
    benchmark: Any, record: Any, server_url: str, enrichment_sizes: cases.EnrichmentSizes
) -> None:
    size = enrichment_sizes
    llm = cases.resource(server_url, size.concurrency)
    work = cases.prompts(size.calls)
    benchmark.group = "is enrichment"
    out = benchmark.pedantic(cases.ours, args=(llm, work), rounds=size.rounds, warmup_rounds=1)
    record.timing("is.enrichment.ours", benchmark, rows=size.calls,
                  note=f"concurrency {size.concurrency}, {size.latency_seconds * 1000:.0f} ms/call")
    assert out.height == size.calls and out["error"].is_null().all()
    assert out["categories"].to_list()[0] == ["IT"]  # the invalid category was dropped
    calls_per_second = size.calls / benchmark.stats.stats.median
    ideal = size.concurrency / size.latency_seconds
    record.fact("is.enrichment.calls_per_second", calls_per_second)
    record.fact("is.enrichment.throughput_vs_ideal", calls_per_second / ideal)
