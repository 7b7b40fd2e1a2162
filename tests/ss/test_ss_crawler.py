"""`ss_crawler_executor`: the phone-board crawler through the shared runner, with a fake crawler
command written by the test (live mode), and the sample default."""

from __future__ import annotations

import json
import shlex
import sys
import textwrap
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from dag.ss_crawler import ss_crawler_executor, ss_crawler_settings

ENV = ("SS_CRAWLER_COMMAND", "SS_CRAWLER_CWD", "SS_CRAWLER_TIMEOUT_SECONDS")


@pytest.fixture
def output_dir(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "ss-output"
    monkeypatch.setenv("SS_OUTPUT_DIR", str(path))
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    return path


def fake_crawler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str) -> Path:
    """A crawler script written by the test, set as SS_CRAWLER_COMMAND."""
    script = tmp_path / "fake_ss_crawler.py"
    script.write_text(textwrap.dedent(body), encoding="utf-8")
    monkeypatch.setenv("SS_CRAWLER_COMMAND", shlex.join([sys.executable, str(script)]))
    return script


def materialized(result: dg.ExecuteInProcessResult) -> dict[str, Any]:
    (event,) = result.asset_materializations_for_node("ss_crawler_executor")
    return {key: getattr(value, "value", value) for key, value in event.metadata.items()}


WRITES_ONE_FILE = """
    import json, os, sys
    from pathlib import Path
    out = Path(os.environ["SS_OUTPUT_DIR"])
    body = [{"meta": {"site": "ppomppu", "board": "phone", "crawled_at": "2026-12-01T01:00:00Z"},
             "posts": [{"post_id": str(n)} for n in range(4)]}]
    (out / "ppomppu_phone_2026-12-01_10-00-00.json").write_text(json.dumps(body))
    print("args:", " ".join(sys.argv[1:]))
    """


def test_live_crawler_gets_the_replaced_options_and_its_file_is_listed(
    tmp_path: Path, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_crawler(tmp_path, monkeypatch, WRITES_ONE_FILE)
    output_dir.mkdir()
    (output_dir / "ppomppu_phone_2026-11-30_10-00-00.json").write_text("[]")  # not this run's
    with dg.instance_for_test() as instance:
        metadata = materialized(dg.materialize([ss_crawler_executor], instance=instance))
    assert metadata["mode"] == "live"
    assert metadata["command"].endswith("fake_ss_crawler.py --mode full --hours 48")
    assert metadata["file_names"] == ["ppomppu_phone_2026-12-01_10-00-00.json"]
    assert metadata["files"] == 1 and metadata["posts_in_files"] == 4


def test_non_zero_exit_fails_naming_the_asset_command_and_stderr(
    tmp_path: Path, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_crawler(tmp_path, monkeypatch, """
        import sys
        print("ERROR ppomppu answered HTTP 503", file=sys.stderr)
        sys.exit(4)
        """)
    with dg.instance_for_test() as instance, pytest.raises(dg.Failure) as failure:
        dg.materialize([ss_crawler_executor], instance=instance)
    message = str(failure.value)
    assert message.startswith("ss_crawler_executor: ")
    assert "fake_ss_crawler.py" in message and "exited with 4" in message
    assert "ERROR ppomppu answered HTTP 503" in message


def test_timeout_and_start_failures_name_the_ss_asset_and_variable(
    tmp_path: Path, output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_crawler(tmp_path, monkeypatch, """
        import time
        print("waiting", flush=True)
        time.sleep(600)
        """)
    monkeypatch.setenv("SS_CRAWLER_TIMEOUT_SECONDS", "1")
    with dg.instance_for_test() as instance, pytest.raises(dg.Failure) as failure:
        dg.materialize([ss_crawler_executor], instance=instance)
    message = str(failure.value)
    assert "ss_crawler_executor: " in message and "is_crawler_executor" not in message
    assert "did not finish within 1 s (SS_CRAWLER_TIMEOUT_SECONDS)" in message
    monkeypatch.setenv("SS_CRAWLER_COMMAND", "/nonexistent/node main.js")
    with dg.instance_for_test() as instance, pytest.raises(
        dg.Failure, match=r"ss_crawler_executor: cannot start `/nonexistent/node main.js"
    ):
        dg.materialize([ss_crawler_executor], instance=instance)


def test_sample_default_writes_one_phone_board_file(output_dir: Path) -> None:
    settings = ss_crawler_settings()
    assert not settings.live and settings.timeout_seconds == 1800
    with dg.instance_for_test() as instance:
        metadata = materialized(dg.materialize([ss_crawler_executor], instance=instance))
    assert metadata["mode"] == "sample" and "-m dag.ss_sample" in metadata["command"]
    (name,) = metadata["file_names"]
    assert name.startswith("ppomppu_phone_") and metadata["posts_in_files"] == 40
    body = json.loads((output_dir / name).read_text(encoding="utf-8"))
    assert body[0]["meta"]["crawl_config"] == {"mode": "full", "hours": 48}
