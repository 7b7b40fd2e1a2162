"""What every group's asset modules share: their tags and the execution-time metadata.

Tags say which product and source an asset belongs to; the tier lives only in `data_tier`
(guideline decision: no tier kinds, no tier-like tag keys).
"""

from __future__ import annotations

import time
from typing import Literal

Tier = Literal["bronze", "silver", "gold"]

CD_TAGS = {"domain": "stock", "source": "krx"}
NPS_TAGS = {"domain": "pension", "source": "national_pension"}
IS_TAGS = {"domain": "community", "source": "community_crawler"}

# Concurrency pools (instance templates' `concurrency.pools`: limit 1 each). Steps that rewrite
# the same unpartitioned tables take turns across runs however the run was launched: a job, an
# asset selection (UI, `dagster asset materialize`), a sensor or a backfill. Jobs also carry the
# `dag/serial` run tag with the same value (dag/jobs.py), which queues their whole runs.
CD_GOLD_POOL = "cd_gold"
NPS_GOLD_POOL = "nps_gold"


def logos_pool(prefix: str) -> str:
    """The pool of one logo pipeline's assets (its manifest, bucket and serving table)."""
    return f"{prefix}_logos"


def tags(tier: Tier, group_tags: dict[str, str], **extra: str) -> dict[str, str]:
    """An asset's tags: its group's tags, its tier and any extra ones (e.g. `target`)."""
    return {"data_tier": tier, **group_tags, **extra}


def elapsed(started: float) -> float:
    """Seconds since `started` (a `time.perf_counter()` reading): `execution_time_sec`."""
    return round(time.perf_counter() - started, 3)
