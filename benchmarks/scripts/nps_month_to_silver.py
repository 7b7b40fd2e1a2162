"""Time and peak memory of one NPS month from the raw CSV file to silver, through Dagster.

Usage: `.venv/bin/python benchmarks/scripts/nps_month_to_silver.py ROWS [--checks]`

Generates a ROWS-row sample month (CP949, real header) in a separate process, then materialises
`nps_his_download` and `nps_his_digest` (optionally with their checks) in files mode on the real
DeltaIOManager in a temporary directory, and prints wall time, CPU time and peak RSS. For the
issue #20 ratio it also times the decode + parse floor (`benchkit.nps_digest.floor`: read,
CP949 decode, Polars read_csv) on the same file in a fresh child process (so the floor's memory
stays out of this process's peak), and prints Dagster wall / floor wall.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time

import dagster as dg

from dag import nps_data_processing, nps_raw_ingestion
from dag.nps_source import NpsSource
from dag_io import DeltaIOManager

FLOOR = (
    "import sys, time; from pathlib import Path; sys.path.insert(0, sys.argv[2]); "
    "from benchkit.nps_digest import floor; path = Path(sys.argv[1]); floor(path); "
    "started = time.perf_counter(); floor(path); print(time.perf_counter() - started)"
)
BENCH_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GENERATE = (
    "import sys; from datetime import date; from dag.nps_sample import generate_month; "
    "open(sys.argv[1], 'wb').write(generate_month(date(2024, 3, 1), rows=int(sys.argv[2])))"
)


def main() -> None:
    rows = int(sys.argv[1])
    tmp = tempfile.mkdtemp(prefix="nps_month_")
    src = os.path.join(tmp, "src")
    os.makedirs(src)
    raw = os.path.join(src, "nps.csv")
    subprocess.run([sys.executable, "-c", GENERATE, raw, str(rows)], check=True)
    print(f"raw file: {os.path.getsize(raw) / 1e6:.1f} MB, {rows} rows")
    os.environ["DAG_DATA_DIR"] = tmp
    checks = []
    if "--checks" in sys.argv:
        checks = [
            nps_raw_ingestion.nps_his_download_contract,
            nps_raw_ingestion.nps_his_download_file_size,
            nps_raw_ingestion.nps_his_download_header,
            nps_raw_ingestion.nps_his_download_row_count,
            nps_data_processing.nps_his_digest_contract,
        ]
    started, cpu_started = time.perf_counter(), time.process_time()
    result = dg.materialize(
        [nps_raw_ingestion.nps_his_download, nps_data_processing.nps_his_digest, *checks],
        partition_key="2024-03-01",
        resources={
            "delta_io_manager": DeltaIOManager(root_uri=os.path.join(tmp, "lake")),
            "nps_source": NpsSource(mode="files", source_dir=src),
        },
        raise_on_error=True,
    )
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        print(event.asset_key.path[-1], "rows", metadata["dagster/row_count"].value)
    for evaluation in result.get_asset_check_evaluations():
        print("check", evaluation.check_name, "passed" if evaluation.passed else "FAILED")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"raw file -> silver: wall {wall:.2f}s, cpu {cpu:.2f}s, peak RSS {peak:.0f} MiB")
    floor = float(
        subprocess.run(
            [sys.executable, "-c", FLOOR, raw, BENCH_DIR],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()[-1]
    )
    print(f"decode + parse floor (2nd of 2 runs): {floor:.2f}s; Dagster / floor {wall / floor:.2f}")


if __name__ == "__main__":
    main()
