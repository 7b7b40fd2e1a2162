"""The README's main command (`python -m dag.demo`) runs every job and reports what it wrote."""

from tests.conftest import DemoRun


def test_demo_runs_main_jobs_on_embedded_defaults(demo: DemoRun) -> None:
    out = demo.output
    assert demo.returncode == 0, out[-4000:]
    # Quiet: the demo's own first line comes first (no library warnings before it).
    assert out.startswith(f"DAGSTER_HOME={demo.home}"), out[:2000]
    for job in ("nps_history_job", "cd_daily_update_job", "cd_daily_update_turso_job"):
        assert f"  {job} " in out and "steps succeeded" in out
    assert "All runs succeeded" in out
    # The summary names every store with real row counts.
    for line in ("delta    nps_his_digest", "delta    cd_digest_price", "public.pension",
                 "public.price", "nps_postgres: postgres database 'nps'", f"turso: {demo.data}"):
        assert line in out, line
    assert "not local or empty" not in out
    assert (demo.home / "dagster.yaml").exists()
    assert (demo.data / "postgres").is_dir()
    # Dagster recorded the runs in the instance, so `dagster dev` shows them afterwards.
    assert list(demo.home.rglob("runs.db")) or list(demo.home.rglob("*.db"))
