"""End to end: the NPS sample month (bronze + silver) through one Dagster run against the sum
of its asset functions called directly: the orchestration and persistence overhead."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
from benchkit import e2e
from benchkit.modes import Sizes

_runs = itertools.count()


@pytest.mark.parametrize("how", ["dagster", "direct"])
def test_nps_sample_job(
    how: str, benchmark: Any, record: Any, sizes: Sizes, tmp_path: Path
) -> None:
    rows = sizes.nps_e2e_rows
    benchmark.group = "end to end (NPS bronze + silver)"
    if how == "dagster":
        result = benchmark.pedantic(
            e2e.through_dagster,
            setup=lambda: ((tmp_path / f"lake-{next(_runs)}", rows), {}),
            rounds=sizes.rounds,
            warmup_rounds=1,
        )
    else:
        result = benchmark.pedantic(e2e.direct, args=(rows,), rounds=sizes.rounds,
                                    warmup_rounds=1)
    record.timing(f"e2e.{how}", benchmark, rows=rows)
    assert 0 < result < rows  # duplicates removed, rows kept
