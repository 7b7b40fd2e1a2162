"""The demo's IS step: two sample crawls, the sensor's runs, one trends window.

The sample crawler (`dag.is_sample`) writes four files per crawl into IS_OUTPUT_DIR;
`is_output_data_sensor` is evaluated as the daemon would and each run it asks for is executed;
then `is_trends_job` computes the window that ends after the second crawl.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time

import dagster as dg

from dag.is_common import is_output_dir
from dag.is_sample import sample_crawl
from dag.partitions import is_crawl_file_partition

log = logging.getLogger("dag.demo")

# Fixed crawl times, so the trends window and its numbers are the same on every machine.
CRAWLS = (
    dt.datetime(2026, 12, 1, 10, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 12, 1, 10, 21, tzinfo=dt.UTC),
)
TRENDS_WINDOW_END = "2026-12-01T10:30:00+00:00"
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def sensor_runs(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    cursor: str | None,
    sensor_name: str = "is_output_data_sensor",
) -> tuple[list[dg.RunRequest], str | None]:
    """One evaluation of a crawl-folder sensor, its new partitions added as the daemon would."""
    sensor = defs.resolve_sensor_def(sensor_name)
    with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs) as context:
        result = sensor(context)
    assert isinstance(result, dg.SensorResult)
    for request in result.dynamic_partitions_requests or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
    return list(result.run_requests or []), result.cursor


def run_is_demo(defs: dg.Definitions, instance: dg.DagsterInstance) -> float:
    """Crawl twice, ingest what the sensor finds, compute trends; seconds spent in runs."""
    # The demo writes its files right before the sensor looks: nothing is still being written.
    os.environ.setdefault("IS_SENSOR_SETTLE_SECONDS", "0")
    ingest = defs.resolve_job_def("is_ingest_job")
    total, cursor = 0.0, None
    for crawl, at in enumerate(CRAWLS):
        files = sample_crawl(is_output_dir(), crawl, at)
        requests, cursor = sensor_runs(defs, instance, cursor)
        log.info("  crawl %d: %d files, the sensor asks for %d runs", crawl, len(files),
                 len(requests))
        for request in requests:
            started = time.perf_counter()
            ingest.execute_in_process(
                instance=instance,
                partition_key=request.partition_key,
                run_config=QUIET,
                tags=request.tags,
                raise_on_error=True,
            )
            total += time.perf_counter() - started
            log.info("    is_ingest_job %s: %.1fs", request.partition_key,
                     time.perf_counter() - started)
    started = time.perf_counter()
    defs.resolve_job_def("is_trends_job").execute_in_process(
        instance=instance,
        run_config={
            **QUIET,
            "ops": {"is_post_trends": {"config": {"window_end": TRENDS_WINDOW_END}}},
        },
        raise_on_error=True,
    )
    total += time.perf_counter() - started
    log.info("  is_trends_job window ending %s: %.1fs", TRENDS_WINDOW_END,
             time.perf_counter() - started)
    log.info("  crawl files ingested: %d",
             len(instance.get_dynamic_partitions(str(is_crawl_file_partition.name))))
    return total
