"""DS logo conversion (issue 18): Pillow in a process pool against one core and against pyvips.

Cases in `benchkit/ds_logos.py`; each converts the same sample logos, checked outside the timing
(every logo converts).
"""

from __future__ import annotations

from typing import Any

import pytest
from benchkit import ds_logos as cases
from benchkit.gates import PeerUnavailable
from benchkit.modes import Sizes

CASES = {"ours": cases.ours, "one_core": cases.one_core, "pyvips": cases.pyvips_webp}


@pytest.fixture(scope="module")
def logo_sizes(sizes: Sizes) -> cases.LogoSizes:
    return cases.SIZES[sizes.mode]


@pytest.fixture(scope="module")
def pngs(logo_sizes: cases.LogoSizes) -> list[bytes]:
    return cases.logos(logo_sizes.logos)


@pytest.mark.parametrize("who", list(CASES))
def test_logos_convert(
    who: str, benchmark: Any, record: Any, pngs: list[bytes], logo_sizes: cases.LogoSizes
) -> None:
    case = f"ds.logos.{who}"
    try:
        CASES[who](pngs[:4])
    except PeerUnavailable as error:
        record.skip(case, f"{who}: {error}")
        pytest.skip(f"{case}: {error}")
    benchmark.group = "ds logos"
    done = benchmark.pedantic(CASES[who], args=(pngs,), rounds=logo_sizes.rounds,
                              warmup_rounds=0)
    record.timing(case, benchmark, rows=len(pngs))
    assert done == len(pngs)
