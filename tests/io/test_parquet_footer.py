"""The Parquet IO manager's one-partition write path: a plain sink whose rows are proven to
belong to the partition from the file's footer statistics, and the fallback to splitting the rows
with `pl.PartitionBy` when the footer cannot prove it. Real Parquet files in tmp dirs."""

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal

from dag_io import ParquetIOManager
from dag_io import parquet as parquet_io

DAY = dt.date(2024, 1, 2)


def footer(tmp_path: Path, frame: pl.DataFrame, **sink: Any) -> pq.FileMetaData:
    path = tmp_path / "f.parquet"
    frame.write_parquet(path, **sink)
    return pq.read_metadata(path)


def test_footer_proves_every_row_group(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "d": [DAY] * 6,
            "t": [dt.datetime(2024, 1, 2, 9, 30)] * 6,
            "x": ["A/B c"] * 6,
            "v": range(6),
        }
    )
    expected = {"d": DAY, "t": dt.datetime(2024, 1, 2, 9, 30), "x": "A/B c"}
    meta = footer(tmp_path, frame, row_group_size=2)
    assert meta.num_row_groups == 3
    assert parquet_io._footer_outside(meta, expected) == (True, None)
    # the last row group holds another day; the first two are fine
    bad = frame.with_columns(d=pl.when(pl.col("v") == 5).then(dt.date(2024, 1, 9)).otherwise("d"))
    meta = footer(tmp_path, bad, row_group_size=2)
    assert parquet_io._footer_outside(meta, expected) == (True, ("d", dt.date(2024, 1, 9)))
    # a smaller value shows as the row group's minimum; a null by the null count
    bad = frame.with_columns(x=pl.when(pl.col("v") == 3).then(pl.lit("AAA")).otherwise("x"))
    assert parquet_io._footer_outside(footer(tmp_path, bad), expected) == (True, ("x", "AAA"))
    bad = frame.with_columns(t=pl.when(pl.col("v") == 0).then(None).otherwise("t"))
    assert parquet_io._footer_outside(footer(tmp_path, bad), expected) == (True, ("t", None))


def test_footer_without_statistics_proves_nothing(tmp_path: Path) -> None:
    frame = pl.DataFrame({"d": [DAY] * 3, "v": [1, 2, 3]})
    meta = footer(tmp_path, frame, statistics=False)
    assert parquet_io._footer_outside(meta, {"d": DAY}) == (False, None)
    # no rows: nothing to prove (a legitimate empty partition)
    empty = footer(tmp_path, frame.clear())
    assert parquet_io._footer_outside(empty, {"d": DAY}) == (True, None)


@pytest.fixture
def unproven(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Footers that prove nothing (as with statistics disabled): the write must fall back."""
    calls: list[int] = []

    def nothing(meta: pq.FileMetaData, expected: Any) -> tuple[bool, None]:
        calls.append(meta.num_rows)
        return False, None

    monkeypatch.setattr(parquet_io, "_footer_outside", nothing)
    return calls


def test_unproven_footer_falls_back_to_partition_split(make_lake: Any, unproven: list[int]) -> None:
    lake = make_lake("parquet", "daily")
    key = lake.keys[0]
    good = lake.with_partition(pl.DataFrame({"v": [1, 2, 3]}), key)
    meta = lake.write(good, [key])
    assert meta["dagster/row_count"] == 3 and unproven == [3]
    assert_frame_equal(lake.read([key]), good)
    root = Path(lake.manager.root_uri) / "t"
    assert [p.relative_to(root).as_posix() for p in sorted(root.rglob("*.parquet"))] == [
        "_schema.parquet",
        f"d={key}/data.parquet",
    ]
    stray = pl.concat([good, lake.with_partition(pl.DataFrame({"v": [4]}), lake.keys[1])])
    with pytest.raises(ValueError, match=rf"partition {key}: .*d={lake.keys[1]}"):
        lake.write(stray, [key])
    assert_frame_equal(lake.read([key]), good)
    assert not list(root.glob("_tmp-*"))


@pytest.mark.parametrize("fmt", ["parquet", "delta"])
def test_one_partition_write_reports_rows_and_preview(make_lake: Any, fmt: str) -> None:
    """Parquet reads the preview from the written file; Delta takes it from the stream."""
    lake = make_lake(fmt, "static")
    frame = lake.with_partition(pl.DataFrame({"v": range(25)}), "KOSDAQ")
    meta = lake.write(frame, ["KOSDAQ"])
    assert meta["dagster/row_count"] == 25
    assert meta["files_written"] == 1
    lines = meta["preview"].splitlines()  # header, rule and the first 10 rows
    assert lines[0] == "| v | exchange |" and len(lines) == 12
    assert lines[-1] == "| 9 | KOSDAQ |"
    assert isinstance(lake.manager, ParquetIOManager) == (fmt == "parquet")
    assert_frame_equal(lake.read(["KOSDAQ"]), frame)
