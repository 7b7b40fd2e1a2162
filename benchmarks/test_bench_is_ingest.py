"""IS ingest (issue #15): one crawl file of many posts and comments through the sensor's run of
`is_ingest_job` (every asset and check, Delta writes, the PostgreSQL and Turso loads) against
the same asset and check functions called directly; and the silver `is_posts` upsert (asset +
Delta merge) into a small against a big table: its cost must follow the file, not the table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from benchkit import is_ingest as cases
from benchkit.modes import Sizes

# Each path's (comment rows, PostgreSQL rows per table); the second path must match the first.
_outcomes: dict[str, tuple[int, dict[str, int]]] = {}
_silver: dict[str, int] = {}


@pytest.fixture(scope="module")
def ingest_sizes(sizes: Sizes) -> cases.IngestSizes:
    return cases.SIZES[sizes.mode]


@pytest.fixture(scope="module")
def crawl_path(bench_data: Path, ingest_sizes: cases.IngestSizes, record: Any) -> Path:
    """The crawl file, checked to be what the cases claim: its posts, comments and nesting."""
    from dag.is_rules import comment_rows

    folder = bench_data / f"is_output_{ingest_sizes.posts}_{ingest_sizes.comments}"
    path = cases.crawl_file(folder, ingest_sizes.posts, ingest_sizes.comments)
    bronze = cases.bronze_rows(path)
    comments, stats = comment_rows(bronze)
    assert bronze.height == ingest_sizes.posts
    assert comments.height == ingest_sizes.comments
    assert stats.max_depth == cases.MAX_DEPTH and stats.orphans == 0
    record.fact("is.ingest.file_mib", path.stat().st_size / 2**20)
    return path


@pytest.fixture(scope="module")
def job_plan(
    postgres_bench_url: str, crawl_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[cases.JobPlan]:
    # The sensor and the bronze asset find crawl files in IS_OUTPUT_DIR.
    with cases.env("IS_OUTPUT_DIR", str(crawl_path.parent)):
        yield cases.plan(tmp_path_factory.mktemp("is-e2e"), postgres_bench_url, crawl_path.stem)


@pytest.mark.parametrize("how", ["dagster", "direct"])
def test_is_ingest_job(
    how: str,
    benchmark: Any,
    record: Any,
    ingest_sizes: cases.IngestSizes,
    job_plan: cases.JobPlan,
) -> None:
    benchmark.group = "IS ingest (is_ingest_job, one crawl file)"

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        # Untimed: an empty lake, no serving tables, the sensor's tick (it adds the partition).
        cases.reset(job_plan)
        request = cases.sensor_request(job_plan)
        return ((job_plan, request) if how == "dagster" else (job_plan,)), {}

    comments = benchmark.pedantic(
        cases.through_dagster if how == "dagster" else cases.direct,
        setup=setup,
        rounds=ingest_sizes.rounds,
        warmup_rounds=1,
    )
    record.timing(f"is.ingest.{how}", benchmark, rows=ingest_sizes.posts)
    tables = cases.table_rows(job_plan)
    assert comments == ingest_sizes.comments
    assert tables["posts"] == ingest_sizes.posts
    assert tables["post_comments"] == ingest_sizes.comments
    assert tables["post_snapshots"] == ingest_sizes.posts
    _outcomes[how] = (comments, tables)
    other = _outcomes.get("direct" if how == "dagster" else "dagster")
    assert other is None or other == (comments, tables), (how, _outcomes)


@pytest.mark.parametrize("size", ["small", "big"])
def test_is_posts_upsert(
    size: str,
    benchmark: Any,
    record: Any,
    ingest_sizes: cases.IngestSizes,
    crawl_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    rows = ingest_sizes.small_table if size == "small" else ingest_sizes.big_table
    bronze = cases.bronze_rows(crawl_path)
    table = cases.silver_table(tmp_path_factory.mktemp(f"is-silver-{size}"), bronze, rows)
    benchmark.group = "IS silver (is_posts asset + Delta merge, one crawl file)"
    written = benchmark.pedantic(
        cases.silver_step,
        setup=lambda: cases.restore(table),  # the prepared table version again: untimed
        rounds=ingest_sizes.rounds,
        warmup_rounds=1,
    )
    # The same file's posts in both cases (the gate compares whole medians).
    record.timing(
        f"is.silver.{size}", benchmark, rows=ingest_sizes.posts, note=f"is_posts of {rows:,} rows"
    )
    for name, value in cases.merge_files(table).items():
        record.fact(f"is.silver.{size}.{name}", value)
    new = ingest_sizes.posts - int(ingest_sizes.posts * cases.STORED_SHARE)
    assert cases.merged_rows(table) == rows + new
    _silver[size] = written
    other = _silver.get("big" if size == "small" else "small")
    assert other is None or other == written, _silver
    assert written > ingest_sizes.posts * cases.STORED_SHARE  # the stored posts are updated
