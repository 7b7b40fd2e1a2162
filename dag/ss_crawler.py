"""SS crawler runner: `ss_crawler_executor` runs the phone-board crawler through Dagster Pipes.

Reuses the IS runner (`dag.is_crawler`: process group, timeout, output tails, written-file
manifest); only the settings differ: live mode `SS_CRAWLER_COMMAND` (+ `--mode full --hours 48`
as the replaced executor ran it) in `SS_CRAWLER_CWD`, timeout `SS_CRAWLER_TIMEOUT_SECONDS`
(default 1800), sample mode `python -m dag.ss_sample`, output `SS_OUTPUT_DIR`.
"""

import os
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import polars as pl

from contracts import column_schema, contract_check
from contracts.ss import SsCrawlerExecutor
from dag.common import elapsed
from dag.is_crawler import (
    TIMEOUT_ENV,
    CrawlerSettings,
    crawl_manifest,
    json_files,
    run_crawler,
    timeout_seconds,
    written_files,
)
from dag.ss_common import ss_output_dir, ss_tags

LIVE_ARGS = ("--mode", "full", "--hours", "48")
SS_TIMEOUT_ENV = "SS_CRAWLER_TIMEOUT_SECONDS"


def ss_crawler_settings() -> CrawlerSettings:
    """Live when SS_CRAWLER_COMMAND is set, else the sample crawler (crawl = files present)."""
    output = ss_output_dir()
    timeout = timeout_seconds({TIMEOUT_ENV: os.environ.get(SS_TIMEOUT_ENV, "")})
    cwd = os.environ.get("SS_CRAWLER_CWD", "").strip()
    configured = os.environ.get("SS_CRAWLER_COMMAND", "").strip()
    if configured:
        command = (*shlex.split(configured), *LIVE_ARGS)
        return CrawlerSettings(command, True, output, timeout, Path(cwd) if cwd else None)
    crawl = len(list(output.glob("*.json"))) if output.is_dir() else 0
    command = (sys.executable, "-m", "dag.ss_sample", "--output-dir", str(output), "--crawl",
               str(crawl), "--now", datetime.now(UTC).isoformat(), *LIVE_ARGS)
    return CrawlerSettings(command, False, output, timeout, None)


@dg.asset(
    group_name="SS",
    kinds={"python", "json"},
    tags=ss_tags("bronze"),
    metadata={"dagster/column_schema": column_schema(SsCrawlerExecutor),
              "command": "SS_CRAWLER_COMMAND --mode full --hours 48, or python -m dag.ss_sample"},
)
def ss_crawler_executor(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
    """Phone-board crawl files written into SS_OUTPUT_DIR by one crawler run."""
    started = time.perf_counter()
    settings = ss_crawler_settings()
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    before = json_files(settings.output_dir)
    with dg.open_pipes_session(
        context=context.op_execution_context,
        context_injector=dg.PipesTempFileContextInjector(),
        message_reader=dg.PipesTempFileMessageReader(),
    ) as session:
        env = {**os.environ, "SS_OUTPUT_DIR": str(settings.output_dir),
               **session.get_bootstrap_env_vars()}
        run = run_crawler(settings, env, "ss_crawler_executor", SS_TIMEOUT_ENV)
    if run.exit_code != 0:
        raise dg.Failure(
            f"ss_crawler_executor: `{settings.shown}` exited with {run.exit_code} after "
            f"{run.seconds:g} s.\nstderr:\n{run.stderr_tail}\nstdout:\n{run.stdout_tail}"
        )
    written = written_files(before, json_files(settings.output_dir))
    manifest = crawl_manifest([settings.output_dir / name for name in written])
    return dg.MaterializeResult(metadata={
        "files": len(written), "file_names": dg.MetadataValue.json(written),
        "posts_in_files": int(manifest["posts"].sum()),
        "mode": "live" if settings.live else "sample", "command": settings.shown,
        "duration_sec": run.seconds, "dagster/row_count": manifest.height,
        "execution_time_sec": elapsed(started),
    })


def read_manifest(context: dg.AssetCheckExecutionContext) -> pl.DataFrame:
    event = context.instance.get_latest_materialization_event(dg.AssetKey("ss_crawler_executor"))
    names = event.asset_materialization.metadata.get("file_names") if event and \
        event.asset_materialization else None
    return crawl_manifest([ss_output_dir() / n for n in (names.value if names else [])])


ss_crawler_executor_contract = contract_check(
    ss_crawler_executor, SsCrawlerExecutor, read=read_manifest
)
