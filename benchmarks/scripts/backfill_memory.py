"""Peak memory and time of single-run range backfills against one month (issue #20).

Usage: `.venv/bin/python benchmarks/scripts/backfill_memory.py [--nps-rows N] [--nps-months M]
[--cd-months A,B] [--only nps|cd] [--json]` (`--json`: one JSON line of the figures instead of
the table; `benchmarks/test_bench_backfill_memory.py` gates its peak ratios).

NPS: generates M sample months of N rows (CP949, real header) in a child process, then
materialises `nps_his_download` and `nps_his_digest` with every check of their modules (as
`nps_history_job` runs them) on the real DeltaIOManager, for 1 month and for M months, each in a
FRESH child process. CD: the `cd_history_job` assets and checks (month-end prices, market caps,
BPS/PER/EPS...) at KRX_SAMPLE_SCALE (default 1.0, as `dag.resources`) for A and B months.
Prints wall time of the materialisation, CPU time and peak RSS (ru_maxrss) of each child process,
and the ratios of the larger run to the smaller.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date

NPS_START = date(2023, 1, 1)
CD_END = date(2024, 12, 1)
GENERATE = (
    "import sys; from datetime import date; from dag.nps_sample import generate_month, "
    "sample_file_name\n"
    "for i in range(int(sys.argv[3])):\n"
    "    m = date(2023 + i // 12, i % 12 + 1, 1)\n"
    "    open(f'{sys.argv[1]}/{sample_file_name(m)}', 'wb').write("
    "generate_month(m, rows=int(sys.argv[2])))"
)


def _months_back(end: date, count: int) -> date:
    index = end.year * 12 + end.month - 1 - (count - 1)
    return date(index // 12, index % 12 + 1, 1)


def _materialise(assets: list, resources: dict, first: date, last: date) -> dict:
    import dagster as dg

    started = time.perf_counter()
    result = dg.materialize(
        assets,
        resources=resources,
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
        raise_on_error=True,
    )
    wall = time.perf_counter() - started
    rows: dict[str, int] = {}
    for event in result.get_asset_materialization_events():  # a range's events carry its total
        name = event.asset_key.path[-1]
        count = event.materialization.metadata["dagster/row_count"].value
        rows[name] = max(rows.get(name, 0), count)
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "peak_mib": usage.ru_maxrss / 1024,
        "rows": rows,
        "failed_checks": sorted(set(failed)),
    }


def child_nps(src: str, data: str, months: int) -> dict:
    import dagster as dg

    from dag import nps_data_processing, nps_raw_ingestion
    from dag.nps_source import NpsSource
    from dag_io import DeltaIOManager

    os.environ["DAG_DATA_DIR"] = data
    modules = [nps_raw_ingestion, nps_data_processing]
    assets = [
        nps_raw_ingestion.nps_his_download,
        nps_data_processing.nps_his_digest,
        *dg.load_asset_checks_from_modules(modules),
    ]
    resources = {
        "delta_io_manager": DeltaIOManager(root_uri=os.path.join(data, "lake")),
        "nps_source": NpsSource(mode="files", source_dir=src),
    }
    last = date(NPS_START.year + (months - 1) // 12, (months - 1) % 12 + 1, 1)
    return _materialise(assets, resources, NPS_START, last)


def child_cd(data: str, months: int) -> dict:
    import dagster as dg

    from dag import cd_history_bppedds, cd_history_marketcaps, cd_history_prices
    from dag.cd_source import KrxSource
    from dag_io import DeltaIOManager, ParquetIOManager

    modules = [cd_history_prices, cd_history_marketcaps, cd_history_bppedds]
    assets = [*dg.load_assets_from_modules(modules), *dg.load_asset_checks_from_modules(modules)]
    lake = os.path.join(data, "lake")
    delta = DeltaIOManager(root_uri=lake)
    resources = {
        "io_manager": delta,
        "delta_io_manager": delta,
        "parquet_io_manager": ParquetIOManager(root_uri=os.path.join(lake, "parquet")),
        "krx_source": KrxSource(sample_scale=float(os.environ.get("KRX_SAMPLE_SCALE", "1.0"))),
    }
    return _materialise(assets, resources, _months_back(CD_END, months), CD_END)


def _run_child(args: list[str], env: dict[str, str] | None = None) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        check=False,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    if out.returncode:
        raise RuntimeError(f"child {args} failed ({out.returncode}): {out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _row(label: str, figures: dict) -> str:
    rows = ", ".join(f"{k} {v}" for k, v in sorted(figures["rows"].items()))
    failed = f"  FAILED {figures['failed_checks']}" if figures["failed_checks"] else ""
    return (
        f"| {label} | {figures['wall']:.1f} | {figures['cpu']:.1f} | {figures['peak_mib']:.0f} "
        f"| {rows}{failed} |"
    )


def _ratio(label: str, small: dict, large: dict) -> str:
    return (
        f"| {label} | {large['wall'] / small['wall']:.2f} | {large['cpu'] / small['cpu']:.2f} "
        f"| {large['peak_mib'] / small['peak_mib']:.2f} | |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nps-rows", type=int, default=150_000)
    parser.add_argument("--nps-months", type=int, default=12)
    parser.add_argument("--cd-months", default="12,240")
    parser.add_argument("--only", choices=("nps", "cd"))
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        figures = (
            child_nps(rest[0], rest[1], int(rest[2]))
            if kind == "nps"
            else child_cd(rest[0], int(rest[1]))
        )
        print(json.dumps(figures))
        return
    tmp = tempfile.mkdtemp(prefix="backfill_memory_")
    try:
        lines, figures = _measure(args, tmp)
        print(json.dumps(figures) if args.json else lines)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)  # generated months and lakes: hundreds of MB


def _measure(args: argparse.Namespace, tmp: str) -> tuple[str, dict]:
    """The table and the figures: {"nps" | "cd": {"small": run, "large": run}}."""
    lines = ["| run | wall s | cpu s | peak RSS MiB | rows |", "| --- | --- | --- | --- | --- |"]
    figures: dict[str, dict] = {}
    if args.only in (None, "nps"):
        src = os.path.join(tmp, "nps_src")
        os.makedirs(src)
        env = {"NPS_MIN_FILE_BYTES": "1024"}
        generate = [sys.executable, "-c", GENERATE, src, str(args.nps_rows), str(args.nps_months)]
        subprocess.run(generate, check=True)
        runs = {}
        for months in (1, args.nps_months):
            data = os.path.join(tmp, f"nps_{months}")
            runs[months] = _run_child(["nps", src, data, str(months)], env)
            lines.append(_row(f"NPS {months} month(s) x {args.nps_rows} rows", runs[months]))
        lines.append(_ratio(f"NPS {args.nps_months}/1", runs[1], runs[args.nps_months]))
        figures["nps"] = {"small": runs[1], "large": runs[args.nps_months]}
    if args.only in (None, "cd"):
        small, large = (int(m) for m in args.cd_months.split(","))
        scale = os.environ.get("KRX_SAMPLE_SCALE", "1.0")
        runs = {}
        for months in (small, large):
            runs[months] = _run_child(["cd", os.path.join(tmp, f"cd_{months}"), str(months)])
            lines.append(_row(f"CD history {months} months, scale {scale}", runs[months]))
        lines.append(_ratio(f"CD {large}/{small}", runs[small], runs[large]))
        figures["cd"] = {"small": runs[small], "large": runs[large]}
    return "\n".join(lines), figures


if __name__ == "__main__":
    main()
