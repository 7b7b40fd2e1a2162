"""What the SS asset modules share: where phone-board crawl files land, tags, settings, partitions.

SS reads the IS crawler's JSON format (`dag.is_crawl_file`) from its own folder, `SS_OUTPUT_DIR`
(default `<DAG_DATA_DIR>/ss/output`), one dynamic partition per crawl file (its stem).
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from dag.common import Tier, tags
from dag.is_crawl_file import crawl_folder

SS_TAGS = {"domain": "phone_deals", "source": "phone_board_crawler"}
LAKE = "delta_io_manager"
"""The SS lake: the keyed silver and gold tables need Delta (MERGE)."""
POOL = "ss_lake"
"""Runs of different crawl files upsert the same keyed tables: their steps take turns."""
BACKFILL = dg.BackfillPolicy.single_run()

ss_crawl_file_partition = dg.DynamicPartitionsDefinition(name="ss_crawl_files")
"""One partition per phone-board crawl file (its stem), added by `ss_output_data_sensor`."""

CARRIERS = ("SKT", "KT", "LGU+", "MVNO")
"""The carriers a deal may name (the serving table's CHECK); anything else is quarantined."""
UNKNOWN_MODEL = "미상"


def ss_tags(tier: Tier, **extra: str) -> dict[str, str]:
    return tags(tier, SS_TAGS, **extra)


def ss_output_dir() -> Path:
    """The folder the phone-board crawler writes to (`SS_OUTPUT_DIR`, default
    `<DAG_DATA_DIR>/ss/output`)."""
    return crawl_folder("SS_OUTPUT_DIR", "ss/output")


def env_float(name: str, default: float) -> float:
    """A numeric SS setting (`SS_DEAL_GATE_MIN_SCORE`, ...) read when a step runs; a value that
    is not a number fails naming the variable."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw!r}") from None


def advertorial_high() -> float:
    """`SS_ADVERTORIAL_HIGH` (default 0.7): a strong advertorial from this score on."""
    return env_float("SS_ADVERTORIAL_HIGH", 0.7)


def deal_low_score() -> float:
    """`SS_DEAL_LOW_SCORE` (default 0.5): below it an advertorial is blocked before the LLM."""
    return env_float("SS_DEAL_LOW_SCORE", 0.5)


def gate_min_score() -> float:
    """`SS_DEAL_GATE_MIN_SCORE` (default 0): the least deal score sent to the LLM."""
    return env_float("SS_DEAL_GATE_MIN_SCORE", 0.0)
