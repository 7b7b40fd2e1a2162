"""Backfill memory (issue #20): peak RSS of a single-run range backfill against one partition.

Runs `benchmarks/scripts/backfill_memory.py --json` (each materialisation in a fresh child
process, so each peak is that run's own): NPS `nps_his_download` + `nps_his_digest` with their
checks on the real DeltaIOManager, 12 months of 150,000 generated CP949 rows against one month;
CD `cd_history_job`'s assets and checks, 240 months against 12. The same sizes in both modes: at
smaller ones the process's fixed ~450 MiB of imports hides what a range holds. Facts gated:
`nps.backfill.peak_12_vs_1` and `cd.backfill.peak_240_vs_12` (memory flat in the number of
partitions), and the time ratios are recorded (linear in the partitions).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).parent / "scripts" / "backfill_memory.py"
TIMEOUT_S = 900


def _measure() -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=TIMEOUT_S,
    )
    if out.returncode:
        raise RuntimeError(f"{SCRIPT.name} failed ({out.returncode}): {out.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return figures


def test_backfill_memory(benchmark: Any, record: Any) -> None:
    benchmark.group = "backfill memory"
    figures = benchmark.pedantic(_measure, rounds=1, iterations=1)
    rows = sum(
        figures[g]["large"]["rows"].get(a, 0) for g in figures for a in figures[g]["large"]["rows"]
    )
    record.timing("backfill.memory.script", benchmark, rows=rows, note="both groups, 4 processes")
    for group, label in (("nps", "peak_12_vs_1"), ("cd", "peak_240_vs_12")):
        small, large = figures[group]["small"], figures[group]["large"]
        assert not small["failed_checks"] and not large["failed_checks"]
        assert all(large["rows"][a] > small["rows"][a] for a in small["rows"])
        record.fact(f"{group}.backfill.{label}", large["peak_mib"] / small["peak_mib"])
        record.fact(
            f"{group}.backfill.{label.replace('peak', 'wall')}", large["wall"] / small["wall"]
        )
