"""Peak memory of one case, measured in a fresh Python process.

`tracemalloc` sees only Python allocations; Polars, Arrow, DuckDB, pandas' C parts and the
database drivers allocate natively. So each case runs in its own child process:

1. the child imports the case's module and runs its `prepare` function (imports, reading the
   prepared input from disk), which returns the zero-argument callable to measure;
2. it resets the kernel's peak-RSS counter (`echo 5 > /proc/self/clear_refs`, Linux >= 4.0),
   reads the current RSS (`VmRSS`) as the baseline, runs the callable once, and reads the new
   peak (`VmHWM`);
3. it reports `peak - baseline` (the case's own peak working set, what the gates compare) and
   the whole-process peak.

Counting from a reset high-water mark keeps import costs (dagster, pandas) out of the figure, so
cases with different import footprints compare fairly. Where clear_refs cannot be written the
child falls back to the process-lifetime `VmHWM` and says so in the result.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Peak:
    """Peak resident memory of one run of a case (bytes)."""

    increase: int  # VmHWM after the run minus VmRSS before it
    total: int  # VmHWM after the run
    reset: bool  # False: the high-water mark could not be reset (increase is an upper bound)


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def _reset_peak() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure(target: str, args: dict[str, Any], timeout: float = 900) -> Peak:
    """Run `target` ("module:prepare_function", a benchkit module) with `args` in a child
    process and return its peak memory. A failing child raises with its stderr tail."""
    with tempfile.TemporaryDirectory(prefix="bench-peak-") as tmp:
        out = Path(tmp) / "peak.json"
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), target, json.dumps(args), str(out)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "PYTHONWARNINGS": "ignore"},
            check=False,
        )
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(
                f"peak-memory child for {target} failed (exit {proc.returncode}): "
                f"{proc.stderr[-2000:]}"
            )
        data = json.loads(out.read_text())
    return Peak(increase=data["increase"], total=data["total"], reset=data["reset"])


def _child(target: str, raw_args: str, out: str) -> None:
    sys.path.insert(0, str(BENCH_DIR))
    module_name, _, function = target.partition(":")
    prepare = getattr(importlib.import_module(module_name), function)
    run = prepare(**json.loads(raw_args))
    gc.collect()
    reset = _reset_peak()
    baseline = _status_kb("VmRSS")
    result = run()
    peak = _status_kb("VmHWM")
    del result
    Path(out).write_text(
        json.dumps(
            {"increase": (peak - baseline) * 1024, "total": peak * 1024, "reset": reset}
        )
    )


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3])
