"""Run the main jobs on the embedded defaults and say what was written where.

`python -m dag.demo` (the README's first command, through `make demo`) prepares DAGSTER_HOME,
runs `nps_history_job` over two sample months and `cd_daily_update_job` plus
`cd_daily_update_turso_job` over a trading week (each as one single-run range, like a backfill),
then the IS step (`dag.is_demo`: two sample crawls, the sensor's per-file runs, trends), the SS
step (`dag.ss_demo`: phone-board crawls to deals and daily reports, LLM in sample mode unless
OPENAI_BASE_URL is set) and the DS step (`dag.ds_demo`: logos through local bucket folders),
records the runs in the instance so `dagster dev` shows them, and ends with a summary of the lake
tables, PostgreSQL tables and the Turso file.
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import dataclass

import dagster as dg

from dag.instance import ensure_dagster_home

log = logging.getLogger("dag.demo")


@dataclass(frozen=True)
class DemoRun:
    job: str
    first: str
    last: str


def demo_runs(nps_months: tuple[str, str], cd_days: tuple[str, str]) -> list[DemoRun]:
    cd_first, cd_last = f"{cd_days[0]}|KOSPI", f"{cd_days[1]}|KONEX"
    return [
        DemoRun("nps_history_job", *nps_months),
        DemoRun("cd_daily_update_job", cd_first, cd_last),
        DemoRun("cd_daily_update_turso_job", cd_first, cd_last),
    ]


def run_job(defs: dg.Definitions, instance: dg.DagsterInstance, run: DemoRun) -> float:
    """Execute one job over a partition range as a single run; raise on failure."""
    started = time.perf_counter()
    result = defs.resolve_job_def(run.job).execute_in_process(
        instance=instance,
        # Dagster's per-event DEBUG lines would bury the progress: show the assets' own INFO logs.
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        tags={
            "dagster/asset_partition_range_start": run.first,
            "dagster/asset_partition_range_end": run.last,
        },
        raise_on_error=True,
    )
    seconds = time.perf_counter() - started
    steps = len(result.get_step_success_events())
    log.info("  %s %s...%s: %d steps succeeded in %.1fs", run.job, run.first, run.last, steps,
             seconds)
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nps-months", nargs=2, default=["2025-09-01", "2025-10-01"],
                        metavar=("FIRST", "LAST"), help="first and last NPS month partition")
    parser.add_argument("--cd-days", nargs=2, default=["2025-11-03", "2025-11-07"],
                        metavar=("FIRST", "LAST"), help="first and last CD trading date")
    args = parser.parse_args(argv)
    # Our progress lines at INFO; libraries (pgserver, alembic) only when something is wrong.
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)

    home = ensure_dagster_home()
    from dag.definitions import defs
    from dag.ds_demo import run_ds_demo
    from dag.is_clusters_demo import run_is_clusters_demo
    from dag.is_demo import run_is_demo
    from dag.is_enrichment_demo import run_is_enrichment_demo
    from dag.ss_demo import run_ss_demo
    from dag.summary import summarize

    log.info("DAGSTER_HOME=%s", home)
    instance = dg.DagsterInstance.get()
    total = 0.0
    for run in demo_runs(tuple(args.nps_months), tuple(args.cd_days)):
        log.info("▶ %s", run.job)
        total += run_job(defs, instance, run)
    log.info("▶ IS: sample crawls, is_output_data_sensor runs, trends")
    total += run_is_demo(defs, instance)
    total += run_is_clusters_demo(defs, instance)
    total += run_is_enrichment_demo(defs, instance)
    log.info("▶ SS: sample phone-board crawls, ss_output_data_sensor runs, deals and reports")
    total += run_ss_demo(defs, instance)
    log.info("▶ DS: sample logos through the local buckets, twice (the second changes nothing)")
    total += run_ds_demo(defs, instance)
    log.info("\nAll runs succeeded in %.1fs. What was written where:", total)
    for line in summarize(defs):
        log.info(line)
    log.info("\nOpen the UI with `make ui` (dagster dev) to see the runs, checks and metadata.")


if __name__ == "__main__":
    main()
