"""Benchmark modes: `BENCH_MODE=quick` (default, CI) and `BENCH_MODE=full` (the issue's sizes)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    """Rows and rounds of one mode. `*_slow_rows` limit the row-by-row peers (their time per
    row is what the gates compare, so fewer rows keep the run short without favouring us)."""

    mode: str
    nps_rows: int  # rows of one NPS monthly file
    io_rows: int  # rows of one partition written/read through the IO managers
    range_partitions: int  # partitions of the range write and of the pruned-read table
    pg_rows: int  # gold rows loaded into PostgreSQL
    pg_slow_rows: int  # rows for psycopg executemany
    turso_rows: int  # gold rows loaded into SQLite/Turso
    turso_slow_rows: int  # rows for pyturso executemany
    nps_e2e_rows: int  # rows of the sample month in the end-to-end job
    nps_rounds: int  # timing rounds of the NPS digest cases (pandas takes ~10 s a round)
    rounds: int  # timing rounds of the cheap cases
    heavy_rounds: int  # timing rounds of the expensive cases


# Quick mode (CI) keeps the sizes at which the gated ratios are the full mode's: its bounds are
# at most 1.5x the targets (benchkit.gates.QUICK_SLACK), so fixed per-call costs must not
# dominate. It saves time on rounds and on the row-by-row peers, and keeps the
# 2,000-row end-to-end month (that gate bounds Dagster's per-step overhead).
QUICK = Sizes(
    mode="quick",
    nps_rows=500_000,
    io_rows=1_000_000,
    range_partitions=30,
    pg_rows=500_000,
    pg_slow_rows=20_000,
    turso_rows=500_000,
    turso_slow_rows=20_000,
    nps_e2e_rows=2_000,
    nps_rounds=3,
    rounds=5,
    heavy_rounds=3,  # one round of a ~0.3 s Dagster run swung the range ratios from 0.4 to 3.6
)

FULL = Sizes(
    mode="full",
    nps_rows=500_000,
    io_rows=1_000_000,
    range_partitions=30,
    pg_rows=1_000_000,
    pg_slow_rows=50_000,
    turso_rows=1_000_000,
    turso_slow_rows=50_000,
    nps_e2e_rows=20_000,
    nps_rounds=5,
    rounds=5,
    heavy_rounds=3,
)

MODES = {"quick": QUICK, "full": FULL}


def current() -> Sizes:
    """The sizes of the mode named by BENCH_MODE (quick when unset)."""
    name = os.environ.get("BENCH_MODE", "quick").strip().lower() or "quick"
    if name not in MODES:
        raise ValueError(f"BENCH_MODE={name!r}: expected one of {sorted(MODES)}")
    return MODES[name]
