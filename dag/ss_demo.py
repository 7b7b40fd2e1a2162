"""The demo's SS step: two sample phone-board crawls, the sensor's runs, the daily reports.

The LLM: when OPENAI_BASE_URL is unset the demo runs the LLM step in **sample mode**
(`OPENAI_BASE_URL=sample` semantics, given as run config): the offline rules-based stand-in of
`dag.ss_extraction.sample_answer` answers the same schema. With an endpoint configured, the demo
calls it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from typing import Any

import dagster as dg

from dag.is_demo import sensor_runs
from dag.ss_common import ss_crawl_file_partition, ss_output_dir
from dag.ss_sample import sample_crawl

log = logging.getLogger("dag.demo")

CRAWLS = (dt.datetime(2026, 12, 1, 10, 3, tzinfo=dt.UTC),
          dt.datetime(2026, 12, 2, 10, 3, tzinfo=dt.UTC))
QUIET: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def llm_run_config() -> dict[str, Any]:
    """Sample mode for the LLM step unless an endpoint is configured."""
    if os.environ.get("OPENAI_BASE_URL", "").strip():
        return {}
    return {"resources": {"openai": {"config": {"base_url": "sample", "model": "sample"}}}}


def ingest(defs: dg.Definitions, instance: dg.DagsterInstance, partition_key: str) -> float:
    """One ss_ingest_job run of a crawl file; seconds spent."""
    started = time.perf_counter()
    defs.resolve_job_def("ss_ingest_job").execute_in_process(
        instance=instance, partition_key=partition_key,
        run_config={**QUIET, **llm_run_config()}, raise_on_error=True,
    )
    return time.perf_counter() - started


def reports(defs: dg.Definitions, instance: dg.DagsterInstance) -> float:
    started = time.perf_counter()
    defs.resolve_job_def("ss_reports_job").execute_in_process(
        instance=instance, run_config=QUIET, raise_on_error=True
    )
    return time.perf_counter() - started


def run_ss_demo(defs: dg.Definitions, instance: dg.DagsterInstance) -> float:
    """Crawl twice, ingest what the sensor finds, build the reports; seconds spent in runs."""
    os.environ.setdefault("IS_SENSOR_SETTLE_SECONDS", "0")  # the sensors' shared settle time
    if not llm_run_config():
        log.info("  SS LLM: %s", os.environ.get("OPENAI_BASE_URL"))
    else:
        log.info("  SS LLM: sample mode (no OPENAI_BASE_URL): offline rules-based stand-in")
    total, cursor = 0.0, None
    for crawl, at in enumerate(CRAWLS):
        sample_crawl(ss_output_dir(), crawl, at)
        requests, cursor = sensor_runs(defs, instance, cursor, "ss_output_data_sensor")
        for request in requests:
            assert request.partition_key is not None
            seconds = ingest(defs, instance, request.partition_key)
            total += seconds
            log.info("    ss_ingest_job %s: %.1fs", request.partition_key, seconds)
    total += reports(defs, instance)
    log.info("  SS crawl files ingested: %d",
             len(instance.get_dynamic_partitions(str(ss_crawl_file_partition.name))))
    return total
