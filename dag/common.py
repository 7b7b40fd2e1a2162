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


def tags(tier: Tier, group_tags: dict[str, str], **extra: str) -> dict[str, str]:
    """An asset's tags: its group's tags, its tier and any extra ones (e.g. `target`)."""
    return {"data_tier": tier, **group_tags, **extra}


def elapsed(started: float) -> float:
    """Seconds since `started` (a `time.perf_counter()` reading): `execution_time_sec`."""
    return round(time.perf_counter() - started, 3)
