"""The demo's IS story-cluster step: after the IS step (`dag.is_demo`: two sample crawls and the
trends window), build the story clusters and rotate them for that window."""

from __future__ import annotations

import logging
import time

import dagster as dg

from dag.is_demo import QUIET, TRENDS_WINDOW_END

log = logging.getLogger("dag.demo")

# 8 minutes past the trends window, as the ON30 schedule would run (fixed: same on every machine).
CLUSTERS_AT = "2026-12-01T10:38:00+00:00"


def run_is_clusters_demo(defs: dg.Definitions, instance: dg.DagsterInstance) -> float:
    """Build the clusters, then recompute the trends window with cluster trends and rotation;
    seconds spent in runs. Call after `run_is_demo`."""
    started = time.perf_counter()
    defs.resolve_job_def("is_clusters_job").execute_in_process(
        instance=instance,
        run_config={**QUIET, "ops": {"is_cluster_posts": {"config": {"now": CLUSTERS_AT}}}},
        raise_on_error=True,
    )
    built = time.perf_counter() - started
    log.info("  is_clusters_job at %s: %.1fs", CLUSTERS_AT, built)
    started = time.perf_counter()
    defs.resolve_job_def("is_trends_job").execute_in_process(
        instance=instance,
        run_config={
            **QUIET,
            "ops": {"is_post_trends": {"config": {"window_end": TRENDS_WINDOW_END}}},
        },
        raise_on_error=True,
    )
    rotated = time.perf_counter() - started
    log.info("  is_trends_job with cluster trends and rotation: %.1fs", rotated)
    return built + rotated
