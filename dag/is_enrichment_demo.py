"""The demo's IS enrichment step: enrichment only when an LLM and a VLM are configured, then the
keyword trends of the demo's window.

Without OPENAI_BASE_URL/OPENAI_MODEL and VLM_BASE_URL/VLM_MODEL (or `sample`) the enrichment job
is left out and logged as skipped (the default demo needs no LLM); keyword trends then count the
keywords of whatever enrichment the lake already holds (none on a fresh demo).
"""

import logging
import os
import time

import dagster as dg

from dag.is_demo import QUIET, TRENDS_WINDOW_END

log = logging.getLogger("dag.demo")


def missing_llm_variables() -> list[str]:
    """The missing variables of the enrichment job (empty: it can run)."""
    names = ("OPENAI_BASE_URL", "OPENAI_MODEL", "VLM_BASE_URL", "VLM_MODEL")
    missing = [name for name in names if not os.environ.get(name)]
    # `sample` needs no model (the offline stand-ins)
    for prefix in ("OPENAI", "VLM"):
        if os.environ.get(f"{prefix}_BASE_URL", "").strip().lower() == "sample":
            missing = [m for m in missing if m != f"{prefix}_MODEL"]
    return missing


def run_is_enrichment_demo(defs: dg.Definitions, instance: dg.DagsterInstance) -> float:
    """Enrich (when configured) and compute the keyword trends window; seconds spent in runs."""
    total = 0.0
    missing = missing_llm_variables()
    if missing:
        log.info("  is_enrichment_job skipped: no LLM / VLM configured (%s)", ", ".join(missing))
    else:
        started = time.perf_counter()
        defs.resolve_job_def("is_enrichment_job").execute_in_process(
            instance=instance, run_config=QUIET, raise_on_error=True
        )
        total += time.perf_counter() - started
        log.info("  is_enrichment_job: %.1fs", time.perf_counter() - started)
    started = time.perf_counter()
    defs.resolve_job_def("is_keyword_trends_job").execute_in_process(
        instance=instance,
        run_config={
            **QUIET,
            "ops": {"is_keyword_trends": {"config": {"window_end": TRENDS_WINDOW_END}}},
        },
        raise_on_error=True,
    )
    total += time.perf_counter() - started
    log.info("  is_keyword_trends_job window ending %s: %.1fs", TRENDS_WINDOW_END,
             time.perf_counter() - started)
    return total
