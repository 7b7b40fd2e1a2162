"""The demo's DS step: the logo chain on the embedded defaults (no service needed).

The DS `company` table is the DS application's; in the embedded database it does not exist, so
the demo first upserts sample companies (ids 1-12) into it. `ds_logos_job` then runs the sample
crawler (through Pipes) into the local source bucket folder, converts the logos and publishes them
to the local target folder, and upserts `company_thumbnail`. It runs twice: the second run finds
nothing changed and transfers no image.
"""

import logging
import time

import dagster as dg
import polars as pl

log = logging.getLogger("dag.demo")
SAMPLE_COMPANIES = pl.DataFrame(
    {"id": [str(i) for i in range(1, 13)], "name": [f"샘플회사 {i}" for i in range(1, 13)]},
    schema={"id": pl.String, "name": pl.String},
)
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def run_ds_demo(defs: dg.Definitions, instance: dg.DagsterInstance) -> float:
    """Seed the sample companies, run `ds_logos_job` twice; seconds spent in runs."""
    postgres = (defs.resources or {})["ds_postgres"]
    postgres.load("company", SAMPLE_COMPANIES, mode="upsert", keys=["id"])
    job = defs.resolve_job_def("ds_logos_job")
    total = 0.0
    for attempt in ("first", "unchanged"):
        started = time.perf_counter()
        result = job.execute_in_process(instance=instance, run_config=QUIET, raise_on_error=True)
        total += time.perf_counter() - started
        files = result.asset_materializations_for_node("ds_logo_files")[0].metadata
        log.info("  ds_logos_job (%s run): %s converted, %s invalid, %s unknown company, "
                 "%s downloaded, %.1fs", attempt, files["converted"].value,
                 files["invalid_image"].value, files["unknown_company"].value,
                 files["downloaded"].value, time.perf_counter() - started)
    return total
