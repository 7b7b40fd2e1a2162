"""The README's main command (`python -m dag.demo`) runs every job and reports what it wrote."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_main_jobs_on_embedded_defaults(tmp_path: Path) -> None:
    data = tmp_path / "data"
    inherited = {
        k: v for k, v in os.environ.items() if not k.endswith(("_POSTGRES_HOST", "DAGSTER_HOME"))
    }
    env = {
        **inherited,
        "DAG_DATA_DIR": str(data),
        "NPS_SAMPLE_ROWS": "400",
        "NPS_MIN_FILE_BYTES": "1024",
        "KRX_SAMPLE_SCALE": "0.03",
    }
    result = subprocess.run(
        [sys.executable, "-m", "dag.demo", "--cd-days", "2025-11-06", "2025-11-07"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-4000:]
    for job in ("nps_history_job", "cd_daily_update_job", "cd_daily_update_turso_job"):
        assert f"  {job} " in out and "steps succeeded" in out
    assert "All runs succeeded" in out
    # The summary names every store with real row counts.
    for line in ("delta    nps_his_digest", "delta    cd_digest_price", "public.pension",
                 "public.price", "nps_postgres: postgres database 'nps'", f"turso: {data}"):
        assert line in out, line
    assert (data / "dagster_home" / "dagster.yaml").exists()
    assert (data / "postgres").is_dir()
    # Dagster recorded the runs in the instance, so `dagster dev` shows them afterwards.
    assert list((data / "dagster_home").rglob("runs.db")) or list(
        (data / "dagster_home").rglob("*.db")
    )
