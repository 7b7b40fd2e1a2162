"""is_crawler_executor: the crawler command through Dagster Pipes (fake crawlers written by the
tests, and the embedded sample), its statistics, failures, timeout, job and schedule."""

import json
import os
import shlex
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import dagster as dg
import pandera.polars as pa
import polars as pl
import pytest

from contracts import contract_check
from dag.is_crawler import (
    DEFAULT_TIMEOUT_SECONDS,
    crawl_manifest,
    crawler_settings,
    is_crawler_executor,
    parse_crawlee_log,
    read_crawl_manifest,
    redact_command,
    timeout_seconds,
    written_files,
)
from dag.is_sample import BOARDS, render_crawl, sample_crawl
from dag.jobs import is_crawler_job
from dag.schedules import is_crawler_schedule_10min

STATS_LINE = (
    "INFO  PlaywrightCrawler: Final request statistics: "
    '{{"requestsFinished":{finished},"requestsFailed":{failed},"retryHistogram":[{finished}],'
    '"requestAvgFinishedDurationMillis":1200,"requestsTotal":{total},"crawlerRuntimeMillis":9000}}'
)


@pytest.fixture
def output_dir(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "output"
    monkeypatch.setenv("IS_OUTPUT_DIR", str(path))
    for name in ("IS_CRAWLER_COMMAND", "IS_CRAWLER_CWD", "IS_CRAWLER_TIMEOUT_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    return path


def fake_crawler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, *args: str) -> Path:
    """A crawler script written by the test, set as IS_CRAWLER_COMMAND."""
    script = tmp_path / "fake_crawler.py"
    script.write_text(textwrap.dedent(body), encoding="utf-8")
    monkeypatch.setenv("IS_CRAWLER_COMMAND", shlex.join([sys.executable, str(script), *args]))
    return script


def materialized(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (event,) = result.asset_materializations_for_node("is_crawler_executor")
    return {key: getattr(value, "value", value) for key, value in event.metadata.items()}


# A Node crawler as the replaced system ran it: no Pipes, Crawlee logs on stdout, two crawlers.
CRAWLEE_CRAWLER = """
    import json, os, sys
    from pathlib import Path
    out = Path(os.environ["IS_OUTPUT_DIR"])
    body = [{"meta": {"site": "clien", "board": "park", "crawled_at": "2026-03-02T01:04:00Z"},
             "posts": [{"post_id": str(n)} for n in range(3)]}]
    (out / "clien_park_2026-03-02_10-04-00.json").write_text(json.dumps(body))
    for n in range(3):
        print(f"INFO  ClienCrawler: 상세 페이지 처리: https://www.clien.net/service/board/park/{n}")
    print(FIRST)
    print("INFO  PpomppuCrawler: 상세 페이지 처리: https://www.ppomppu.co.kr/x", flush=True)
    print(SECOND, file=sys.stderr)
    print("INFO  PlaywrightCrawler: Finished! Total 9 requests: 8 succeeded, 1 failed.")
    """.replace("FIRST", repr(STATS_LINE.format(finished=5, failed=0, total=5))).replace(
    "SECOND", repr("\x1b[32mINFO\x1b[39m " + STATS_LINE.format(finished=3, failed=1, total=4))
)


def test_live_crawler_statistics_come_from_the_crawlee_log(
    tmp_path: Path, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_crawler(tmp_path, monkeypatch, CRAWLEE_CRAWLER, "--mode", "incremental", "--token=s3cr3t")
    output_dir.mkdir()
    (output_dir / "old_file_2026-03-01_00-00-00.json").write_text("[]")  # not this run's
    metadata = materialized(dg.materialize([is_crawler_executor]))
    # two crawlers: their statistics JSON lines are summed, the "Finished!" line is not counted
    assert (metadata["requests"], metadata["failures"], metadata["posts"]) == (9, 1, 4)
    assert metadata["stats_source"] == "crawlee_log"
    assert metadata["files"] == 1 and metadata["posts_in_files"] == 3
    assert metadata["file_names"] == ["clien_park_2026-03-02_10-04-00.json"]
    assert metadata["mode"] == "live" and metadata["exit_code"] == 0
    assert "--mode incremental" in metadata["command"]
    assert "s3cr3t" not in metadata["command"] and "--token=***" in metadata["command"]
    assert metadata["duration_sec"] >= 0 and metadata["dagster/row_count"] == 1


PIPES_CRAWLER = """
    import os
    from pathlib import Path
    from dagster_pipes import open_dagster_pipes
    with open_dagster_pipes() as pipes:
        out = Path(os.environ["IS_OUTPUT_DIR"])
        (out / "damoang_free_2026-03-02_10-04-00.json").write_text("[]")
        (out / "damoang_free_2026-03-02_10-04-00.json.part").write_text("x")  # not a crawl file
        pipes.log.info("crawled damoang/free")
        print(CRAWLEE_LINE)  # a Crawlee line too: Pipes statistics win
        pipes.report_asset_materialization(metadata={"requests": 12, "failures": 2, "posts": 9})
    """.replace("CRAWLEE_LINE", repr(STATS_LINE.format(finished=1, failed=0, total=1)))


def test_statistics_reported_through_pipes_win(
    tmp_path: Path, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_crawler(tmp_path, monkeypatch, PIPES_CRAWLER)
    metadata = materialized(dg.materialize([is_crawler_executor]))
    assert (metadata["requests"], metadata["failures"], metadata["posts"]) == (12, 2, 9)
    assert metadata["stats_source"] == "pipes"
    assert metadata["file_names"] == ["damoang_free_2026-03-02_10-04-00.json"]
    assert metadata["posts_in_files"] == 0  # "[]" holds no posts


def test_pipes_log_lines_reach_the_run_log(
    tmp_path: Path, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_crawler(tmp_path, monkeypatch, PIPES_CRAWLER)
    with dg.DagsterInstance.ephemeral() as instance:
        result = dg.materialize([is_crawler_executor], instance=instance)
        messages = [r.user_message for r in instance.all_logs(result.run_id)]
    assert any("crawled damoang/free" in m for m in messages)


def test_non_zero_exit_fails_with_the_command_and_stderr_tail(
    tmp_path: Path, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_crawler(
        tmp_path,
        monkeypatch,
        """
        import sys
        print("INFO  Crawler: starting")
        for n in range(100):
            print(f"noise {n}", file=sys.stderr)
        print("ERROR login to fmkorea failed: HTTP 403", file=sys.stderr)
        sys.exit(3)
        """,
    )
    with pytest.raises(dg.Failure) as failure:
        dg.materialize([is_crawler_executor])
    message = str(failure.value)
    assert "fake_crawler.py" in message and "exited with code 3" in message
    assert "ERROR login to fmkorea failed: HTTP 403" in message
    assert "noise 99" in message and "noise 10\n" not in message  # only the tail
    assert "INFO  Crawler: starting" in message


def test_a_crawler_that_never_ends_is_killed_at_the_timeout(
    tmp_path: Path, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file = tmp_path / "child.pid"
    fake_crawler(
        tmp_path,
        monkeypatch,
        f"""
        import subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        open({str(pid_file)!r}, "w").write(str(child.pid))
        print("INFO  Crawler: waiting for a page that never loads", flush=True)
        time.sleep(600)
        """,
    )
    monkeypatch.setenv("IS_CRAWLER_TIMEOUT_SECONDS", "2")
    started = time.monotonic()
    with pytest.raises(dg.Failure) as failure:
        dg.materialize([is_crawler_executor])
    assert time.monotonic() - started < 15
    message = str(failure.value)
    assert "did not finish within 2 s" in message and "IS_CRAWLER_TIMEOUT_SECONDS" in message
    assert "fake_crawler.py" in message and "never loads" in message
    # the crawler's own children (browsers) die with it: its whole process group was killed
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(child)


def _alive(pid: int) -> bool:
    """Running and not a zombie waiting to be reaped."""
    status = Path(f"/proc/{pid}/status")
    if not status.exists():
        return False
    state = next(line for line in status.read_text().splitlines() if line.startswith("State:"))
    return "Z" not in state.split()[1]


def test_a_command_that_cannot_start_fails_naming_it(
    output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IS_CRAWLER_COMMAND", "/nonexistent/node dist/main.js --mode incremental")
    with pytest.raises(dg.Failure, match=r"cannot start `/nonexistent/node dist/main.js"):
        dg.materialize([is_crawler_executor])


def test_the_sample_default_writes_four_files_per_crawl(output_dir: Path) -> None:
    first = materialized(dg.materialize([is_crawler_executor]))
    assert first["mode"] == "sample" and first["stats_source"] == "pipes"
    assert first["files"] == 4 and len(list(output_dir.glob("*.json"))) == 4
    assert {name.split("_2")[0] for name in first["file_names"]} == {b.key for b in BOARDS}
    assert first["posts"] == first["posts_in_files"] > 0
    assert first["requests"] > first["posts"] and first["failures"] == 0
    assert "-m dag.is_sample" in first["command"] and "--crawl 0" in first["command"]
    # the next run takes the next crawl number (files / 4)
    time.sleep(1.1)  # file names carry the second
    second = materialized(dg.materialize([is_crawler_executor]))
    assert "--crawl 1" in second["command"] and second["files"] == 4
    assert set(second["file_names"]).isdisjoint(first["file_names"])
    assert len(list(output_dir.glob("*.json"))) == 8


def test_run_config_chooses_the_sample_crawl(output_dir: Path) -> None:
    config = {"ops": {"is_crawler_executor": {"config": {"crawl": 5}}}}
    metadata = materialized(dg.materialize([is_crawler_executor], run_config=config))
    assert "--crawl 5" in metadata["command"]
    written = {name: (output_dir / name).read_bytes() for name in metadata["file_names"]}
    meta = json.loads(next(iter(written.values())))[0]["meta"]
    now = datetime.fromisoformat(meta["crawled_at"].replace("Z", "+00:00"))
    assert written == render_crawl(5, now)  # exactly the sample's crawl 5 at that time


# --- pieces -------------------------------------------------------------------------------------
def test_crawlee_log_parsing() -> None:
    two = "\n".join(
        [
            STATS_LINE.format(finished=5, failed=0, total=5),
            "INFO  PlaywrightCrawler: Finished! Total 5 requests: 5 succeeded, 0 failed.",
            STATS_LINE.format(finished=3, failed=1, total=4).replace(',"requestsTotal":4', ""),
            "INFO 상세 페이지 처리 1",
            "INFO 상세 페이지 처리 2",
        ]
    )
    stats = parse_crawlee_log(two)
    assert (stats.requests, stats.failures, stats.posts, stats.source) == (9, 1, 2, "crawlee_log")
    finished_only = "INFO  X: Finished! Total 7 requests: 6 succeeded, 1 failed. {}\n"
    assert parse_crawlee_log(finished_only * 2).requests == 14
    assert parse_crawlee_log(finished_only).failures == 1
    nothing = parse_crawlee_log("hello\nworld")
    assert (nothing.requests, nothing.failures, nothing.posts, nothing.source) == (
        None,
        None,
        None,
        "none",
    )


def test_a_broken_statistics_line_is_reported_not_counted() -> None:
    from dag.is_crawler import CrawleeLog

    log = CrawleeLog()
    log.feed("INFO  X: Final request statistics: {not json")
    log.feed(STATS_LINE.format(finished=2, failed=0, total=2))
    assert log.stats().requests == 2
    assert log.unparsed == ["INFO  X: Final request statistics: {not json"]


def test_redacted_commands_keep_their_shape() -> None:
    command = [
        "node",
        "dist/main.js",
        "--mode",
        "full",
        "--api-key=abc",
        "--password",
        "hunter2",  # secret-scan: test value
        "--proxy",
        "http://user:" + "pw@proxy:8080",  # built: not a literal URL with a password
    ]
    shown = redact_command(command)
    assert "abc" not in shown and "hunter2" not in shown and "pw@" not in shown
    assert shlex.split(shown) == [
        "node",
        "dist/main.js",
        "--mode",
        "full",
        "--api-key=***",
        "--password",
        "***",
        "--proxy",
        "http://***@proxy:8080",
    ]


def test_settings_from_the_environment(output_dir: Path, tmp_path: Path) -> None:
    sample = crawler_settings()
    assert not sample.live and sample.output_dir == output_dir.resolve()
    assert sample.command[1:] == (
        "-m",
        "dag.is_sample",
        "--output-dir",
        str(output_dir),
        "--crawl",
        "0",
    )
    assert sample.timeout_seconds == DEFAULT_TIMEOUT_SECONDS == 1800
    live = crawler_settings(
        env={
            "IS_CRAWLER_COMMAND": "node 'dist/main.js' --mode incremental",
            "IS_CRAWLER_CWD": str(tmp_path),
            "IS_CRAWLER_TIMEOUT_SECONDS": "90",
        }
    )
    assert live.live and live.command == ("node", "dist/main.js", "--mode", "incremental")
    assert live.cwd == tmp_path and live.timeout_seconds == 90
    for bad in ("abc", "0", "-5", "nan"):
        with pytest.raises(ValueError, match="IS_CRAWLER_TIMEOUT_SECONDS must be a positive"):
            timeout_seconds({"IS_CRAWLER_TIMEOUT_SECONDS": bad})


def test_written_files_are_the_new_and_changed_ones() -> None:
    before = {"a.json": (1, 10), "b.json": (1, 10)}
    after = {"a.json": (1, 10), "b.json": (2, 10), "c.json": (3, 5)}
    assert written_files(before, after) == ["b.json", "c.json"]


def test_manifest_of_sample_files(tmp_path: Path) -> None:
    paths = sample_crawl(tmp_path, 2, datetime(2026, 3, 2, 1, 4, tzinfo=UTC))
    broken = tmp_path / "clien_park_2026-03-02_10-05-00.json"
    broken.write_text('[{"meta": {}, "posts": [')
    manifest = crawl_manifest([*paths, broken])
    assert manifest.height == 5
    good = manifest.head(4)
    assert good["parses"].all() and good["posts"].min() >= 15
    assert good["crawled_at"].dt.convert_time_zone("UTC").dt.hour().to_list() == [1, 1, 1, 1]
    assert sorted(good["site"].to_list()) == sorted(b.site for b in BOARDS)
    assert manifest.row(4, named=True)["parses"] is False
    assert manifest.row(4, named=True)["posts"] is None


# --- job and schedule ----------------------------------------------------------------------------
def test_job_selects_the_executor_and_the_schedule_runs_every_ten_minutes() -> None:
    defs = dg.Definitions(
        assets=[is_crawler_executor], jobs=[is_crawler_job], schedules=[is_crawler_schedule_10min]
    )
    job = defs.resolve_job_def("is_crawler_job")
    assert job.asset_layer.selected_asset_keys == {dg.AssetKey("is_crawler_executor")}
    schedule = defs.resolve_schedule_def("is_crawler_schedule_10min")
    assert schedule.cron_schedule == "4,14,24,34,44,54 * * * *"
    assert schedule.execution_timezone == "Asia/Seoul"
    assert schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert schedule.job_name == "is_crawler_job"
    spec = defs.resolve_assets_def("is_crawler_executor")
    assert spec.group_names_by_key[spec.key] == "IS"
    assert spec.tags_by_key[spec.key]["data_tier"] == "bronze"


def test_schedule_skips_while_a_crawl_runs() -> None:
    with dg.instance_for_test() as instance:
        tick = datetime(2026, 3, 2, 10, 14, tzinfo=UTC)
        with dg.build_schedule_context(
            instance=instance, scheduled_execution_time=tick
        ) as context:
            request = is_crawler_schedule_10min(context)
            assert isinstance(request, dg.RunRequest) and request.run_key == tick.isoformat()
            run = instance.create_run_for_job(
                job_def=dg.Definitions(
                    assets=[is_crawler_executor], jobs=[is_crawler_job]
                ).resolve_job_def("is_crawler_job"),
                status=dg.DagsterRunStatus.STARTED,
            )
            skipped = is_crawler_schedule_10min(context)
            assert isinstance(skipped, dg.SkipReason)
            assert run.run_id in (skipped.skip_message or "")
            instance.report_run_failed(run)
            assert isinstance(is_crawler_schedule_10min(context), dg.RunRequest)


def test_sample_output_dir_defaults_under_the_data_dir(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IS_OUTPUT_DIR", raising=False)
    monkeypatch.delenv("IS_CRAWLER_COMMAND", raising=False)
    assert crawler_settings().output_dir == data_dir.resolve() / "is" / "output"
    assert os.environ["DAG_DATA_DIR"] == str(data_dir)


class CrawlManifest(pa.DataFrameModel):
    """The manifest shape a contract of is_crawler_executor validates (MANIFEST_SCHEMA)."""

    file: pl.String = pa.Field(unique=True, str_matches=r"^[a-z]+_[a-z_]+_[\d-]+_[\d-]+\.json$")
    site: pl.String = pa.Field(isin=[b.site for b in BOARDS])
    board: pl.String
    crawled_at: pl.Datetime("us", "UTC")  # type: ignore[valid-type]
    posts: pl.Int64 = pa.Field(ge=15)
    bytes: pl.Int64 = pa.Field(gt=0)
    parses: pl.Boolean

    class Config:
        strict = True


def test_the_manifest_of_the_latest_run_is_read_back_for_a_contract_check(output_dir: Path) -> None:
    check = contract_check(is_crawler_executor, CrawlManifest, read=read_crawl_manifest)
    with dg.instance_for_test() as instance:
        result = dg.materialize([is_crawler_executor, check], instance=instance)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed
    assert evaluation.metadata["rows_checked"].value == 4
