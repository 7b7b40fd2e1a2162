"""Crash safety and concurrent writers, with real processes.

Writers are forked by `lake_writer.py` (a fork server that imported everything once), so each
of the many repetitions costs milliseconds to start. A writer killed with SIGKILL mid-write must
leave the table readable with exactly its previous contents (or, if the kill came after the
commit, exactly the new ones); four writers of four partitions at once must all land.
"""

import datetime as dt
import json
import random
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from dag_io import DeltaIOManager, ParquetIOManager
from dag_io.partitioning import layout_for
from dag_io.storage import table_uri

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-03-01")
ROWS = 40_000


class ForkServer:
    def __init__(self, tmp: Path) -> None:
        script = Path(__file__).with_name("lake_writer.py")
        self.tmp = tmp
        self.proc = subprocess.Popen(
            [sys.executable, str(script)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def ask(self, **cmd: Any) -> list[str]:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps({**cmd, "tmp": str(self.tmp)}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, "lake_writer fork server died"
        return json.loads(line)

    def close(self) -> None:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        self.proc.stdout.close()


@pytest.fixture(scope="module")
def forkserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ForkServer]:
    server = ForkServer(tmp_path_factory.mktemp("forkserver"))
    yield server
    server.close()


def spec(fmt: str, root: str, key: str, value: int, options: dict | None = None) -> dict:
    return {
        "fmt": fmt,
        "root": root,
        "options": options or {},
        "asset": "ticks",
        "key": key,
        "rows": ROWS,
        "value": value,
    }


def read(fmt: str, root: str, options: dict | None = None) -> pl.DataFrame:
    """The whole table, through the manager's scan (as an unpartitioned consumer reads it)."""
    cls = DeltaIOManager if fmt == "delta" else ParquetIOManager
    manager = cls(root_uri=root, storage_options=options or {})
    ctx = dg.build_input_context(asset_key=["ticks"])
    layout = layout_for("ticks", DAILY, "d")
    return manager.scan(ctx, table_uri(root, ["ticks"]), layout, None, "ticks").collect()


def summary(frame: pl.DataFrame) -> dict[dt.date, tuple[int, tuple[int, ...]]]:
    """Per partition: row count and the distinct `v` written (one value per complete write)."""
    grouped = frame.group_by("d").agg(pl.len(), pl.col("v").unique().sort())
    return {d: (n, tuple(v)) for d, n, v in grouped.iter_rows()}


def crash_rounds(server: ForkServer, fmt: str, root: str, reps: int, options: dict | None) -> None:
    keys = ["2024-01-02", "2024-01-03"]
    for i, key in enumerate(keys):  # the previous contents: two complete partitions
        assert server.ask(op="concurrent", writes=[spec(fmt, root, key, i, options)]) == ["ok"]
    state = summary(read(fmt, root, options))
    rng = random.Random(7)
    killed = 0
    for rep in range(reps):
        key = keys[rep % 2]
        day = dt.date.fromisoformat(key)
        value = 100 + rep
        (result,) = server.ask(
            op="crash",
            write=spec(fmt, root, key, value, options),
            kill_after=rng.uniform(0.0, 0.35),
        )
        assert result in ("killed", "ok"), result
        after = summary(read(fmt, root, options))  # readable, whatever the moment of the kill
        expected_new = {**state, day: (ROWS, (value,))}
        assert after in (state, expected_new), (rep, result, after)
        killed += after == state
        state = after
    assert killed >= reps // 4, f"only {killed} of {reps} kills landed before the commit"


def concurrent_rounds(
    server: ForkServer, fmt: str, root: str, reps: int, options: dict | None
) -> None:
    keys = ["2024-01-05", "2024-01-06", "2024-01-07", "2024-01-08"]
    for rep in range(reps):
        table_root = f"{root}/rep{rep}"  # a new table each time: creation races too
        writes = [spec(fmt, table_root, k, rep * 10 + j, options) for j, k in enumerate(keys)]
        answers = server.ask(op="concurrent", writes=writes)
        assert answers == ["ok"] * 4, "\n".join(answers)
        got = summary(read(fmt, table_root, options))
        assert got == {
            dt.date.fromisoformat(k): (ROWS, (rep * 10 + j,)) for j, k in enumerate(keys)
        }


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["delta", "parquet"])
def test_sigkill_mid_write_leaves_previous_contents(
    forkserver: ForkServer, tmp_path: Path, fmt: str
) -> None:
    crash_rounds(forkserver, fmt, str(tmp_path / uuid.uuid4().hex), reps=20, options=None)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["delta", "parquet"])
def test_four_concurrent_partition_writers(
    forkserver: ForkServer, tmp_path: Path, fmt: str
) -> None:
    concurrent_rounds(forkserver, fmt, str(tmp_path / uuid.uuid4().hex), reps=10, options=None)


@pytest.mark.s3
@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["delta", "parquet"])
def test_s3_crash_and_concurrent_writers(forkserver: ForkServer, s3_bucket: str, fmt: str) -> None:
    """The same on moto's S3 (Delta commits with conditional put), fewer repetitions."""
    from dag_io.storage import delta_storage_options

    root = f"s3://{s3_bucket}/lake"
    options = delta_storage_options(
        root,
        {
            "AWS_ACCESS_KEY_ID": "env:AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY": "env:AWS_SECRET_ACCESS_KEY",
            "AWS_REGION": "env:AWS_REGION",
            "AWS_ENDPOINT_URL": "env:AWS_ENDPOINT_URL",
            "conditional_put": "etag",
        },
    )  # resolved here: the fork server's children do not share this test's environment
    crash_rounds(forkserver, fmt, f"{root}/crash", reps=6, options=options)
    concurrent_rounds(forkserver, fmt, f"{root}/concurrent", reps=3, options=options)
