"""DS logo conversion (issue 18): Pillow in a process pool against one core and against pyvips.

Cases in `benchkit/ds_logos.py`; each converts the same sample logos with the same rule. Checked
outside the timing: on the first 64 logos (palette, transparent and gradient logos) every case's
WebP bytes equal ours, so the cases do the same work; that call also starts our forkserver
(once per process) and pyvips, like a warm-up.

The cases are timed interleaved, not one after the other: each round runs all three back to back
(the order rotating every round) and each case's median over the rounds is recorded. On this
shared 2-core machine other test runs come and go within a minute; measured in separate blocks,
one case could get a quiet minute and the next a busy one (the 2-process speed-up swung from
1.58x to 0.74x between two such runs), while cases measured seconds apart see the same load.

Even interleaved, wall-clock ratios on a loaded 2-core machine mostly measure the load (a second
process needs a free core). So each case's CPU seconds are recorded too (`cpu_seconds`: this
process plus, for ours, the pool workers), and three load-independent facts are gated:
`ds.logos.cpu.ours_vs_one_core` (the pool's extra work), `ds.logos.cpu.in_process_share` (the
share of ours' CPU spent in this process: ~0 when the workers do the encoding) and
`ds.logos.cpu.ours_vs_pyvips` (the same conversion's CPU cost in each library).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from benchkit import ds_logos as cases
from benchkit.gates import PeerUnavailable
from benchkit.modes import Sizes

CASES: dict[str, Callable[[list[bytes]], list[bytes | None]]] = {
    "ours": cases.ours, "one_core": cases.one_core, "pyvips": cases.pyvips_webp}
SAME_OUTPUT_LOGOS = 64  # = MIN_PARALLEL_BATCH: ours' check starts its pool


@pytest.fixture(scope="module")
def logo_sizes(sizes: Sizes) -> cases.LogoSizes:
    return cases.SIZES[sizes.mode]


@pytest.fixture(scope="module")
def pngs(logo_sizes: cases.LogoSizes) -> list[bytes]:
    return cases.logos(logo_sizes.logos)


def test_logos_convert(
    benchmark: Any, record: Any, pngs: list[bytes], logo_sizes: cases.LogoSizes
) -> None:
    runnable: list[str] = []
    unavailable: dict[str, str] = {}
    for who, convert in CASES.items():
        try:
            same = cases.same_output(convert, pngs[:SAME_OUTPUT_LOGOS])
        except PeerUnavailable as error:
            unavailable[who] = f"{who}: {error}"
            record.skip(f"ds.logos.{who}", unavailable[who])
            continue
        assert same, f"ds.logos.{who}: WebP bytes differ from ours: not the same conversion"
        runnable.append(who)
    seconds: dict[str, list[float]] = {who: [] for who in runnable}
    cpu: dict[str, list[float]] = {who: [] for who in runnable}
    in_process: list[float] = []

    def one_round() -> None:
        for who in runnable:
            started, cpu_started = time.perf_counter(), cases.cpu_seconds(who)
            own_started = time.process_time()
            done = CASES[who](pngs)
            seconds[who].append(time.perf_counter() - started)
            cpu[who].append(cases.cpu_seconds(who) - cpu_started)
            if who == "ours":
                in_process.append(time.process_time() - own_started)
            assert len(done) == len(pngs) and all(done), f"ds.logos.{who}: a logo failed"
        runnable.append(runnable.pop(0))  # rotate: every case runs first in some round

    benchmark.group = "ds logos (one round = every case once)"
    benchmark.pedantic(one_round, rounds=logo_sizes.rounds, warmup_rounds=0)
    for who, measured in seconds.items():
        record.results.timing(
            f"ds.logos.{who}", rows=len(pngs), median=statistics.median(measured),
            min=min(measured), max=max(measured), rounds=len(measured))
    median = {who: statistics.median(measured) for who, measured in cpu.items()}
    record.fact("ds.logos.cpu.ours_vs_one_core", median["ours"] / median["one_core"])
    record.fact("ds.logos.cpu.in_process_share", statistics.median(in_process) / median["ours"])
    if "pyvips" in median:
        record.fact("ds.logos.cpu.ours_vs_pyvips", median["ours"] / median["pyvips"])
    else:
        record.skip("ds.logos.cpu.ours_vs_pyvips", unavailable["pyvips"])
    benchmark.extra_info.update({
        **{who: [round(s, 3) for s in measured] for who, measured in seconds.items()},
        **{f"{who}_cpu": [round(s, 3) for s in measured] for who, measured in cpu.items()}})
