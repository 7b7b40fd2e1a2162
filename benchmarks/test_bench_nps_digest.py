"""NPS monthly digest: raw CP949 CSV -> typed, de-duplicated silver rows.

Ours (project functions) vs idiomatic pandas vs DuckDB SQL; floor = read + decode + parse.
All four must produce the same rows (checked outside the timing).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from benchkit import nps_digest
from benchkit.data import NPS_MONTH, nps_file
from benchkit.modes import Sizes

CASES = {
    "nps.ours": (lambda p: nps_digest.ours(p, NPS_MONTH), "prepare_ours"),
    "nps.pandas": (lambda p: nps_digest.pandas_digest(p, NPS_MONTH), "prepare_pandas"),
    "nps.duckdb": (lambda p: nps_digest.duckdb_digest(p, NPS_MONTH), "prepare_duckdb"),
    "nps.floor": (nps_digest.floor, "prepare_floor"),
}
MEMORY_GATED = {"nps.ours", "nps.pandas"}


@pytest.fixture(scope="module")
def nps_csv(bench_data: Path, sizes: Sizes) -> Path:
    return nps_file(bench_data, sizes.nps_rows)


@pytest.fixture(scope="module")
def expected_rows(nps_csv: Path) -> int:
    return nps_digest.ours(nps_csv, NPS_MONTH).height


@pytest.mark.parametrize("case", list(CASES))
def test_nps_digest(
    case: str,
    benchmark: Any,
    record: Any,
    nps_csv: Path,
    sizes: Sizes,
    expected_rows: int,
    measure_memory: bool,
) -> None:
    run, prepare = CASES[case]
    benchmark.group = "nps digest"
    result = benchmark.pedantic(run, args=(nps_csv,), rounds=sizes.nps_rounds, warmup_rounds=1)
    record.timing(case, benchmark, rows=sizes.nps_rows)
    if case == "nps.floor":
        assert len(result) == sizes.nps_rows
    else:
        assert len(result) == expected_rows, f"{case} produced {len(result)} silver rows"
        assert expected_rows < sizes.nps_rows  # the sample's duplicates were removed
    if measure_memory or case in MEMORY_GATED:
        measured = record.peak(
            case,
            f"benchkit.nps_digest:{prepare}",
            {"path": str(nps_csv), "month": NPS_MONTH.isoformat()},
        )
        assert measured.increase > 0
