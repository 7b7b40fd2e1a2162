"""`is_output_data_sensor`: one run per new or changed crawl file, never a half-written one."""

import os
import time
from pathlib import Path

import dagster as dg
import pytest

from dag.partitions import is_crawl_file_partition
from dag.sensors import is_output_data_sensor

BODY = b'[{"meta": {"site": "clien", "board": "park"}, "posts": []}]'


@pytest.fixture
def output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "output"
    folder.mkdir()
    monkeypatch.setenv("IS_OUTPUT_DIR", str(folder))
    monkeypatch.setenv("IS_SENSOR_SETTLE_SECONDS", "5")
    monkeypatch.setenv("IS_SENSOR_PARSE_GRACE_SECONDS", "60")
    return folder


def write(folder: Path, name: str, body: bytes = BODY, age: float = 30.0) -> Path:
    path = folder / name
    path.write_bytes(body)
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


def tick(
    instance: dg.DagsterInstance, cursor: str | None
) -> tuple[list[dg.RunRequest], str | None, list[str]]:
    with dg.build_sensor_context(instance=instance, cursor=cursor) as context:
        result = is_output_data_sensor(context)
    assert isinstance(result, dg.SensorResult)
    added = [
        key
        for request in result.dynamic_partitions_requests or []
        if isinstance(request, dg.AddDynamicPartitionsRequest)
        for key in request.partition_keys
    ]
    instance.add_dynamic_partitions(is_crawl_file_partition.name, added)
    return list(result.run_requests or []), result.cursor, added


def test_new_touched_unchanged_and_still_written_files(output_dir: Path) -> None:
    first = write(output_dir, "clien_park_2026-12-06_10-00-00.json")
    write(output_dir, "ppomppu_hot_2026-12-06_10-00-00.json")
    write(output_dir, "notes.json")  # not a crawl file name: ignored
    write(output_dir, "fmkorea_best_2026-12-06_10-10-00.json.tmp")  # a writer's temp name
    with dg.instance_for_test() as instance:
        requests, cursor, added = tick(instance, None)
        assert [r.partition_key for r in requests] == [
            "clien_park_2026-12-06_10-00-00",
            "ppomppu_hot_2026-12-06_10-00-00",
        ]
        assert added == [r.partition_key for r in requests]
        assert requests[0].tags == {"site": "clien", "board": "park"}
        # unchanged: nothing
        assert tick(instance, cursor)[0] == []
        # touched (re-delivered): one run, a new run key, no new partition
        stamp = time.time() - 20
        os.utime(first, (stamp, stamp))
        requests, cursor, added = tick(instance, cursor)
        assert [r.partition_key for r in requests] == [first.stem]
        assert requests[0].run_key == f"{first.name}:{first.stat().st_mtime_ns}"
        assert added == []
        # still being written: a fresh mtime, or settled but not JSON yet
        fresh = write(output_dir, "damoang_free_2026-12-06_10-20-00.json", age=1)
        half = write(output_dir, "fmkorea_best_2026-12-06_10-20-00.json", BODY[:20], age=10)
        requests, cursor, _ = tick(instance, cursor)
        assert requests == []
        # once complete and settled, both are picked up
        write(output_dir, fresh.name, age=10)
        write(output_dir, half.name, age=10)
        requests, cursor, _ = tick(instance, cursor)
        assert sorted(r.partition_key for r in requests) == sorted([fresh.stem, half.stem])


def test_a_settled_file_that_never_parses_gets_its_run(
    output_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A broken file is not ignored forever: after the grace period its run starts (and fails,
    naming the error)."""
    write(output_dir, "clien_park_2026-12-06_10-00-00.json", b"[{", age=120)
    with dg.instance_for_test() as instance:
        requests, _, _ = tick(instance, None)
    assert [r.partition_key for r in requests] == ["clien_park_2026-12-06_10-00-00"]


def test_missing_output_dir_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IS_OUTPUT_DIR", str(tmp_path / "absent"))
    with dg.instance_for_test() as instance:
        assert tick(instance, None)[0] == []


def test_trends_schedule_asks_for_the_window_that_just_ended() -> None:
    import datetime as dt

    from dag.schedules import is_trends_schedule_10min

    tick = dt.datetime(2026, 12, 6, 19, 14, tzinfo=dt.timezone(dt.timedelta(hours=9)))
    with dg.instance_for_test() as instance, dg.build_schedule_context(
        instance=instance, scheduled_execution_time=tick
    ) as context:
        request = is_trends_schedule_10min(context)
    assert isinstance(request, dg.RunRequest)
    assert request.run_key == "2026-12-06T10:10:00+00:00"
    config = request.run_config["ops"]["is_post_trends"]["config"]
    assert config == {"window_end": "2026-12-06T10:10:00+00:00"}
