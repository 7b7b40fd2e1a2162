"""IS crawler runner: `is_crawler_executor` runs the community crawlers through Dagster Pipes.

The crawler is a subprocess that writes `<site>_<board>_<YYYY-MM-DD>_<HH-MM-SS>.json` files into
`IS_OUTPUT_DIR` (default `<DAG_DATA_DIR>/is/output`), where `is_output_data_sensor` picks them up:

- sample mode (the embedded default): `python -m dag.is_sample`, the deterministic crawler of
  the four boards; crawl number = sample files already there / 4, or the run config's `crawl`;
- live mode: `IS_CRAWLER_COMMAND`, e.g. `node dist/main.js --mode incremental` run in
  `IS_CRAWLER_CWD` (the Node/Crawlee crawlers), shlex-split, never through a shell.

The process gets the Pipes bootstrap variables and `IS_OUTPUT_DIR`. Its request statistics
(requests, failures, posts) come from its Pipes materialization when it reports one (the sample
does); the Node crawlers do not speak Pipes, so otherwise they are read from its output as the
replaced executor did (ORIGINAL_IS_SS_DS.md 1.9): Crawlee's `Final request statistics: {json}`
lines (else its `Finished! Total N requests: S succeeded, F failed.` lines), summed over the
crawlers of the run, and one post per `상세 페이지 처리` line. Its output is forwarded line by line
to the step's stdout/stderr (captured by Dagster) and the last lines are kept for messages.

Fail fast: a non-zero exit fails the asset naming the command, the exit code and the output tail
(**Fix** of the replaced rule that let a non-zero exit pass when the statistics looked complete);
a run longer than `IS_CRAWLER_TIMEOUT_SECONDS` (default 1800) kills the process group and fails.
No retries: the next scheduled crawl is the next attempt.
"""

import collections
import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import dagster as dg
import polars as pl
from pydantic import Field

from contracts import column_schema, contract_check
from contracts.is_ import IsCrawlerExecutor
from dag.common import elapsed
from dag.is_common import is_output_dir, is_tags
from dag.is_crawl_file import parse_crawl_name
from dag.is_sample import next_crawl

COMMAND_ENV = "IS_CRAWLER_COMMAND"
CWD_ENV = "IS_CRAWLER_CWD"
TIMEOUT_ENV = "IS_CRAWLER_TIMEOUT_SECONDS"
DEFAULT_TIMEOUT_SECONDS = 1800.0
KILL_WAIT_SECONDS = 10.0  # for the killed process group to be reaped
DRAIN_SECONDS = 10.0  # for the output readers to reach end of file after the exit
TAIL_LINES = 30
DETAIL_LINE = "상세 페이지 처리"  # one post page processed (the Node crawlers' log line)
_FINAL_STATS = "Final request statistics:"
_FINISHED = re.compile(r"Finished! Total (\d+) requests: (\d+) succeeded, (\d+) failed")
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
# Command-line values never shown in metadata or messages: secrets given as options, and the
# user:password part of URLs.
_SECRET_OPTION = re.compile(
    r"^(--?[\w-]*(?:password|passwd|secret|token|api[_-]?key|auth(?![a-z])|cookie|credential)[\w-]*)(=.*)?$",
    re.IGNORECASE,
)
_URL_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")

MANIFEST_SCHEMA: dict[str, pl.DataType] = {
    "file": pl.String(),
    "site": pl.String(),
    "board": pl.String(),
    "crawled_at": pl.Datetime("us", "UTC"),
    "posts": pl.Int64(),
    "bytes": pl.Int64(),
    "parses": pl.Boolean(),
}
"""One row per crawl file a run wrote (`crawl_manifest`)."""


class IsCrawlerConfig(dg.Config):
    """Run config of `is_crawler_executor`."""

    crawl: int | None = Field(
        default=None,
        ge=0,
        description="sample mode: the crawl number to write (default: sample files present / 4)",
    )


# --- settings -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class CrawlerSettings:
    """What one run executes, resolved from the environment when the asset runs."""

    command: tuple[str, ...]
    live: bool
    output_dir: Path
    timeout_seconds: float
    cwd: Path | None = None

    @property
    def shown(self) -> str:
        """The command as metadata and messages show it (secret values masked)."""
        return redact_command(self.command)


def timeout_seconds(env: Mapping[str, str] = os.environ) -> float:
    """`IS_CRAWLER_TIMEOUT_SECONDS` (default 1800): a positive number of seconds."""
    raw = env.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:  # also refuses nan
        raise ValueError(f"{TIMEOUT_ENV} must be a positive number of seconds, got {raw!r}")
    return value


def sample_command(output_dir: Path, crawl: int) -> tuple[str, ...]:
    """The embedded default crawler: this interpreter running `dag.is_sample`."""
    return (
        sys.executable,
        "-m",
        "dag.is_sample",
        "--output-dir",
        str(output_dir),
        "--crawl",
        str(crawl),
    )


def crawler_settings(
    crawl: int | None = None, env: Mapping[str, str] = os.environ
) -> CrawlerSettings:
    """Live mode when `IS_CRAWLER_COMMAND` is set, else the sample crawler (crawl `crawl`, or
    the sample files in the output folder / 4)."""
    output_dir = is_output_dir()
    configured = env.get(COMMAND_ENV, "").strip()
    cwd = Path(env[CWD_ENV]).resolve() if env.get(CWD_ENV, "").strip() else None
    if configured:
        command = tuple(shlex.split(configured))
        return CrawlerSettings(command, True, output_dir, timeout_seconds(env), cwd)
    number = next_crawl(output_dir) if crawl is None else crawl
    return CrawlerSettings(
        sample_command(output_dir, number), False, output_dir, timeout_seconds(env), cwd
    )


def redact_command(command: Sequence[str]) -> str:
    """`command` as one shell-quoted line, with secret option values and URL passwords masked:
    `--token=abc` -> `--token=***`, `--password abc` -> `--password ***`."""
    shown: list[str] = []
    mask_next = False
    for argument in command:
        if mask_next:
            shown.append("***")
            mask_next = False
            continue
        match = _SECRET_OPTION.match(argument)
        if match and match.group(2):
            shown.append(f"{match.group(1)}=***")
        elif match:
            shown.append(argument)
            mask_next = True
        else:
            shown.append(_URL_USERINFO.sub(r"\1***@", argument))
    return shlex.join(shown)


# --- statistics from the crawler's output --------------------------------------------------------
@dataclass(frozen=True)
class RequestStats:
    """Request statistics of one crawler run and where they came from."""

    requests: int | None
    failures: int | None
    posts: int | None
    source: str  # pipes | crawlee_log | none


@dataclass
class CrawleeLog:
    """Statistics read from Crawlee's log lines, fed one line at a time (bounded memory)."""

    final_stats: list[tuple[int, int]] = field(default_factory=list)  # (total, failed)
    finished: list[tuple[int, int]] = field(default_factory=list)  # (total, failed)
    detail_lines: int = 0
    unparsed: list[str] = field(default_factory=list)  # statistics lines that did not parse

    def feed(self, line: str) -> None:
        if DETAIL_LINE in line:
            self.detail_lines += 1
        marker = line.find(_FINAL_STATS)
        if marker >= 0:
            self._final_stats(line, line.find("{", marker))
        finished = _FINISHED.search(line)
        if finished:
            total, _, failed = (int(group) for group in finished.groups())
            self.finished.append((total, failed))

    def _final_stats(self, line: str, start: int) -> None:
        try:
            stats, _ = json.JSONDecoder().raw_decode(line, start) if start >= 0 else (None, 0)
        except json.JSONDecodeError:
            stats = None
        if not isinstance(stats, dict) or not isinstance(stats.get("requestsFinished"), int):
            self.unparsed.append(line.strip()[:200])  # counted in metadata and logged
            return
        finished, failed = stats["requestsFinished"], int(stats.get("requestsFailed") or 0)
        total = stats.get("requestsTotal")
        self.final_stats.append(
            (int(total) if isinstance(total, int) else finished + failed, failed)
        )

    def merge(self, other: "CrawleeLog") -> "CrawleeLog":
        return CrawleeLog(
            self.final_stats + other.final_stats,
            self.finished + other.finished,
            self.detail_lines + other.detail_lines,
            self.unparsed + other.unparsed,
        )

    def stats(self) -> RequestStats:
        """Summed over the crawlers of the run: the statistics JSON lines when there are any,
        else the `Finished!` lines; posts = `상세 페이지 처리` lines."""
        counted = self.final_stats or self.finished
        if not counted:
            posts = self.detail_lines or None
            return RequestStats(None, None, posts, "crawlee_log" if posts else "none")
        return RequestStats(
            requests=sum(total for total, _ in counted),
            failures=sum(failed for _, failed in counted),
            posts=self.detail_lines,
            source="crawlee_log",
        )


def parse_crawlee_log(text: str) -> RequestStats:
    """The request statistics in a Crawlee log (see `CrawleeLog.stats`)."""
    log = CrawleeLog()
    for line in text.splitlines():
        log.feed(_ANSI.sub("", line))
    return log.stats()


def pipes_stats(results: Sequence[Any], asset_key: dg.AssetKey) -> RequestStats | None:
    """The statistics the process reported through Pipes (its materialization's metadata)."""
    for result in results:
        if not isinstance(result, dg.MaterializeResult):
            continue
        if result.asset_key not in (None, asset_key):
            continue
        metadata = {k: getattr(v, "value", v) for k, v in (result.metadata or {}).items()}
        if {"requests", "failures", "posts"} & set(metadata):
            return RequestStats(
                _int_or_none(metadata.get("requests")),
                _int_or_none(metadata.get("failures")),
                _int_or_none(metadata.get("posts")),
                "pipes",
            )
    return None


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


# --- the process ------------------------------------------------------------------------------
class _OutputPump(threading.Thread):
    """Copies one output stream of the crawler to ours line by line (Dagster captures it),
    feeding the statistics parser and keeping the last lines for messages."""

    def __init__(self, source: IO[bytes], sink: IO[str]) -> None:
        super().__init__(daemon=True)
        self.source, self.sink = source, sink
        self.log = CrawleeLog()
        self.tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

    def run(self) -> None:
        for raw in iter(self.source.readline, b""):
            line = _ANSI.sub("", raw.decode("utf-8", errors="replace")).rstrip("\r\n")
            self.log.feed(line)
            self.tail.append(line)
            # A sink that cannot encode Korean (an ASCII console) gets "?" rather than an error
            # that would stop this reader and leave the crawler blocked on a full pipe.
            encoding = getattr(self.sink, "encoding", None) or "utf-8"
            self.sink.write(line.encode(encoding, "replace").decode(encoding) + "\n")
        self.sink.flush()

    def tail_text(self) -> str:
        return "\n".join(self.tail)


@dataclass(frozen=True)
class CrawlerRun:
    """How the crawler process ended."""

    exit_code: int
    seconds: float
    log: CrawleeLog
    stdout_tail: str
    stderr_tail: str


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL the process's group (the crawler and its browsers) and reap it."""
    with contextlib.suppress(ProcessLookupError):  # the whole group has already exited
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=KILL_WAIT_SECONDS)


def _describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"was killed by {signal.Signals(-code).name}"
        return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _tails(stdout: str, stderr: str) -> str:
    parts = [f"stderr (last lines):\n{stderr}" if stderr else "stderr: (empty)"]
    if stdout:
        parts.append(f"stdout (last lines):\n{stdout}")
    return "\n".join(parts)


def run_crawler(
    settings: CrawlerSettings, env: Mapping[str, str], asset: str = "is_crawler_executor",
    timeout_env: str = TIMEOUT_ENV,
) -> CrawlerRun:
    """Run the command in its own process group, wait at most `settings.timeout_seconds`, and
    return how it ended; a timeout kills the group and raises `dg.Failure`. `asset` and
    `timeout_env` name the calling asset and its timeout variable in messages (SS runs its
    crawler through this runner too)."""
    started = time.perf_counter()
    try:
        process = subprocess.Popen(
            settings.command,
            cwd=settings.cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group: a timeout kills browsers too
        )
    except OSError as error:  # not found, not executable, bad working directory
        raise dg.Failure(
            description=f"{asset}: cannot start `{settings.shown}`"
            f"{f' in {settings.cwd}' if settings.cwd else ''}: {error.strerror or error}"
        ) from error
    assert process.stdout is not None and process.stderr is not None
    pumps = (_OutputPump(process.stdout, sys.stdout), _OutputPump(process.stderr, sys.stderr))
    for pump in pumps:
        pump.start()
    try:
        exit_code = process.wait(timeout=settings.timeout_seconds)
    except subprocess.TimeoutExpired:
        _kill_group(process)
        _drain(pumps)
        raise dg.Failure(
            description=f"{asset}: `{settings.shown}` did not finish within "
            f"{settings.timeout_seconds:g} s ({timeout_env}); its process group was killed.\n"
            + _tails(pumps[0].tail_text(), pumps[1].tail_text())
        ) from None
    finally:
        if process.poll() is None:  # interrupted (run canceled) or timed out: leave nothing behind
            _kill_group(process)
    _drain(pumps)
    return CrawlerRun(
        exit_code=exit_code,
        seconds=elapsed(started),
        log=pumps[0].log.merge(pumps[1].log),
        stdout_tail=pumps[0].tail_text(),
        stderr_tail=pumps[1].tail_text(),
    )


def _drain(pumps: Sequence[_OutputPump]) -> None:
    """Let the readers reach end of file and close the pipes; a descendant that escaped the
    process group and keeps a pipe open must not hang the step (its reader is a daemon thread,
    left to end with the descendant)."""
    deadline = time.monotonic() + DRAIN_SECONDS
    for pump in pumps:
        pump.join(timeout=max(0.0, deadline - time.monotonic()))
        if not pump.is_alive():
            pump.source.close()


# --- the files a run wrote ---------------------------------------------------------------------
def json_files(folder: Path) -> dict[str, tuple[int, int]]:
    """`*.json` files of `folder`: name -> (mtime in ns, size)."""
    if not folder.is_dir():
        return {}
    return {
        path.name: (stat.st_mtime_ns, stat.st_size)
        for path in folder.glob("*.json")
        if path.is_file() and (stat := path.stat())
    }


def written_files(
    before: Mapping[str, tuple[int, int]], after: Mapping[str, tuple[int, int]]
) -> list[str]:
    """Files that are new or changed (mtime or size) between two `json_files` listings."""
    return sorted(name for name, signature in after.items() if before.get(name) != signature)


def crawl_manifest(paths: Sequence[Path]) -> pl.DataFrame:
    """One row per crawl file (MANIFEST_SCHEMA): its site and board (from the name), the crawl
    time and post count of its `{meta, posts}` groups, its size, and whether it parses."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        named = parse_crawl_name(path.name)
        groups = _groups(path)
        crawled = [_utc(group["meta"].get("crawled_at")) for group in groups or []]
        rows.append(
            {
                "file": path.name,
                "site": named[0] if named else None,
                "board": named[1] if named else None,
                "crawled_at": min((c for c in crawled if c), default=None),
                "posts": None if groups is None else sum(len(group["posts"]) for group in groups),
                "bytes": path.stat().st_size,
                "parses": groups is not None,
            }
        )
    return pl.DataFrame(rows, schema=MANIFEST_SCHEMA)


def _groups(path: Path) -> list[dict[str, Any]] | None:
    """The `{meta, posts}` groups of a crawl file, None when it is not one (a bare object is a
    group of its own). The file's own reader (`dag.is_crawl_file`) names what is wrong."""
    try:
        body = json.loads(path.read_bytes())
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    groups = [body] if isinstance(body, dict) else body
    if not isinstance(groups, list) or not all(
        isinstance(g, dict) and isinstance(g.get("meta"), dict) and isinstance(g.get("posts"), list)
        for g in groups
    ):
        return None
    return groups


def _utc(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)  # no zone: UTC


def _preview(manifest: pl.DataFrame) -> str:
    header = "| " + " | ".join(manifest.columns) + " |"
    rule = "| " + " | ".join("---" for _ in manifest.columns) + " |"
    lines = [
        "| " + " | ".join("" if v is None else str(v) for v in row) + " |"
        for row in manifest.head(10).iter_rows()
    ]
    return "\n".join([header, rule, *lines])


# --- the asset -----------------------------------------------------------------------------------
@dg.asset(
    group_name="IS",
    kinds={"python", "json"},
    tags=is_tags("bronze"),
    metadata={
        "dagster/column_schema": column_schema(IsCrawlerExecutor),
        "output_dir": "IS_OUTPUT_DIR (default <DAG_DATA_DIR>/is/output)",
        "command": f"{COMMAND_ENV} (live) or python -m dag.is_sample (sample, default)",
    },
)
def is_crawler_executor(
    context: dg.AssetExecutionContext, config: IsCrawlerConfig
) -> dg.MaterializeResult:
    """Community crawl files (clien, ppomppu, fmkorea, damoang hot boards) written into
    IS_OUTPUT_DIR by one crawler run, with the crawl's request statistics."""
    started = time.perf_counter()
    settings = crawler_settings(config.crawl)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    before = json_files(settings.output_dir)
    context.log.info(f"is_crawler_executor: running `{settings.shown}` -> {settings.output_dir}")
    with dg.open_pipes_session(
        # The op context: Dagster 1.13's Pipes reads `run_id`, deprecated on the asset context.
        context=context.op_execution_context,
        context_injector=dg.PipesTempFileContextInjector(),
        message_reader=dg.PipesTempFileMessageReader(),
        extras={"output_dir": str(settings.output_dir)},
    ) as session:
        env = {
            **os.environ,
            "IS_OUTPUT_DIR": str(settings.output_dir),
            **session.get_bootstrap_env_vars(),
        }
        run = run_crawler(settings, env)
    if run.exit_code != 0:
        raise dg.Failure(
            description=f"is_crawler_executor: `{settings.shown}` {_describe_exit(run.exit_code)}"
            f" after {run.seconds:g} s.\n" + _tails(run.stdout_tail, run.stderr_tail),
            metadata={"command": settings.shown, "exit_code": run.exit_code},
        )
    for line in run.log.unparsed:
        context.log.warning(f"is_crawler_executor: unreadable statistics line: {line}")
    stats = pipes_stats(session.get_reported_results(), context.asset_key) or run.log.stats()
    written = written_files(before, json_files(settings.output_dir))
    manifest = crawl_manifest([settings.output_dir / name for name in written])
    return dg.MaterializeResult(
        metadata={
            "requests": stats.requests,
            "failures": stats.failures,
            "posts": stats.posts,
            "stats_source": stats.source,
            "unreadable_stats_lines": len(run.log.unparsed),
            "files": len(written),
            "file_names": dg.MetadataValue.json(written),
            "posts_in_files": int(manifest["posts"].sum()),
            "mode": "live" if settings.live else "sample",
            "command": settings.shown,
            "exit_code": run.exit_code,
            "duration_sec": run.seconds,
            "output_dir": str(settings.output_dir),
            "dagster/row_count": manifest.height,
            "preview": dg.MetadataValue.md(_preview(manifest)),
            "execution_time_sec": elapsed(started),
        }
    )


def _latest_file_names(context: dg.AssetCheckExecutionContext, asset_key: dg.AssetKey) -> list[str]:
    event = context.instance.get_latest_materialization_event(asset_key)
    materialization = event.asset_materialization if event else None
    names = materialization.metadata.get("file_names") if materialization else None
    return list(names.value) if names is not None else []  # type: ignore[arg-type]


def read_crawl_manifest(context: dg.AssetCheckExecutionContext) -> pl.DataFrame:
    """The manifest of the files the latest `is_crawler_executor` run wrote, read back from the
    output folder (for its contract check)."""
    names = _latest_file_names(context, dg.AssetKey("is_crawler_executor"))
    return crawl_manifest([is_output_dir() / name for name in names])


is_crawler_executor_contract = contract_check(
    is_crawler_executor, IsCrawlerExecutor, read=read_crawl_manifest
)
