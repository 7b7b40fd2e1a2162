"""`ss_output_data_sensor`: one ss_ingest_job run per new or changed phone-board crawl file,
never a half-written one."""

from __future__ import annotations

import os
import time
from pathlib import Path

import dagster as dg
import pytest

from dag.sensors import ss_output_data_sensor
from dag.ss_common import ss_crawl_file_partition

BODY = b'[{"meta": {"site": "ppomppu", "board": "phone"}, "posts": []}]'


@pytest.fixture
def output_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "ss-output"
    folder.mkdir()
    monkeypatch.setenv("SS_OUTPUT_DIR", str(folder))
    monkeypatch.setenv("IS_OUTPUT_DIR", str(tmp_path / "is-output-never-read"))
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
        result = ss_output_data_sensor(context)
    assert isinstance(result, dg.SensorResult)
    added = [
        key
        for request in result.dynamic_partitions_requests or []
        if isinstance(request, dg.AddDynamicPartitionsRequest)
        for key in request.partition_keys
    ]
    instance.add_dynamic_partitions(ss_crawl_file_partition.name, added)
    return list(result.run_requests or []), result.cursor, added


def test_new_unchanged_touched_and_still_written_files(output_dir: Path) -> None:
    first = write(output_dir, "ppomppu_phone_2026-12-01_10-00-00.json")
    write(output_dir, "notes.json")  # not a crawl file name: ignored
    write(output_dir, "ppomppu_phone_2026-12-01_10-10-00.json.tmp")  # a writer's temp name
    assert ss_output_data_sensor.job_name == "ss_ingest_job"
    with dg.instance_for_test() as instance:
        requests, cursor, added = tick(instance, None)
        assert [r.partition_key for r in requests] == [first.stem] == added
        assert requests[0].tags == {"site": "ppomppu", "board": "phone"}
        assert instance.get_dynamic_partitions("ss_crawl_files") == [first.stem]
        # unchanged: nothing
        assert tick(instance, cursor)[0] == []
        # touched (re-delivered): one run with a new run key, no new partition
        stamp = time.time() - 20
        os.utime(first, (stamp, stamp))
        requests, cursor, added = tick(instance, cursor)
        assert [r.partition_key for r in requests] == [first.stem] and added == []
        assert requests[0].run_key == f"{first.name}:{first.stat().st_mtime_ns}"
        # still being written: a fresh mtime, or settled but not JSON yet
        fresh = write(output_dir, "ppomppu_phone_2026-12-01_10-20-00.json", age=1)
        half = write(output_dir, "ppomppu_phone_2026-12-01_10-30-00.json", BODY[:20], age=10)
        requests, cursor, _ = tick(instance, cursor)
        assert requests == []
        # once complete and settled, both are picked up
        write(output_dir, fresh.name, age=10)
        write(output_dir, half.name, age=10)
        requests, cursor, _ = tick(instance, cursor)
        assert sorted(r.partition_key for r in requests) == sorted([fresh.stem, half.stem])


def test_missing_output_dir_is_no_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SS_OUTPUT_DIR", str(tmp_path / "absent"))
    with dg.instance_for_test() as instance:
        assert tick(instance, None)[0] == []
