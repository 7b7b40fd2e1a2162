"""End to end: the NPS group job (`nps_history_job`, every asset and check) for one sample month
through one Dagster run against the sum of its asset and check functions called directly: the
orchestration and persistence overhead."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from benchkit import e2e
from benchkit.modes import Sizes

# Each path's (silver rows, PostgreSQL rows per table); the second path run must match the first.
_outcomes: dict[str, tuple[int, dict[str, int]]] = {}


@pytest.fixture(scope="module")
def job_plan(
    postgres_bench_url: str, sizes: Sizes, tmp_path_factory: pytest.TempPathFactory
) -> e2e.Plan:
    lake = Path(tmp_path_factory.mktemp("e2e")) / "lake"
    return e2e.plan(lake, postgres_bench_url, sizes.nps_e2e_rows)


@pytest.mark.parametrize("how", ["dagster", "direct"])
def test_nps_history_job(
    how: str, benchmark: Any, record: Any, sizes: Sizes, job_plan: e2e.Plan
) -> None:
    rows = sizes.nps_e2e_rows
    benchmark.group = "end to end (nps_history_job, one month)"
    silver = benchmark.pedantic(
        e2e.through_dagster if how == "dagster" else e2e.direct,
        args=(job_plan,),
        setup=lambda: e2e.reset(job_plan),  # empty lake, job tables dropped: untimed
        rounds=sizes.heavy_rounds,
        warmup_rounds=1,
    )
    record.timing(f"e2e.{how}", benchmark, rows=rows)
    tables = e2e.table_rows(job_plan)
    assert 0 < silver < rows  # duplicates removed, rows kept
    assert tables["public.pension"] == silver  # the register load holds every silver row
    assert all(n > 0 for t, n in tables.items() if t != "public.match_review_queue"), tables
    _outcomes[how] = (silver, tables)
    other = _outcomes.get("direct" if how == "dagster" else "dagster")
    assert other is None or other == (silver, tables), (how, _outcomes)
