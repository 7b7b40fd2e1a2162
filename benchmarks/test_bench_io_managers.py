"""Lake IO: DeltaIOManager / ParquetIOManager against the raw libraries (floor) and
dagster-polars (peer); a 30-partition range in one run; a pruned one-partition read.

A peer that cannot run on this stack (polars 2.x) is recorded as skipped with its error, which
the gate table and docs/benchmarks.md show as a finding; nothing is faked in its place.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from benchkit import lake
from benchkit.data import cached_parquet, lake_frame, partition_keys
from benchkit.gates import PeerUnavailable
from benchkit.modes import Sizes
from polars.exceptions import PanicException, PolarsError

FORMATS = ("delta", "parquet")
PEER_ERRORS = (PeerUnavailable,)  # any other peer error fails the gate (benchkit.gates)
_counter = itertools.count()


@pytest.fixture(scope="module")
def one_partition(bench_data: Path, sizes: Sizes) -> Path:
    """io_rows rows, all in the first day's partition."""
    return cached_parquet(
        bench_data, f"lake_one_{sizes.io_rows}", lambda: lake_frame(sizes.io_rows)
    )


@pytest.fixture(scope="module")
def range_source(bench_data: Path, sizes: Sizes) -> Path:
    """io_rows rows spread over range_partitions daily partitions."""
    return cached_parquet(
        bench_data,
        f"lake_range_{sizes.io_rows}_{sizes.range_partitions}",
        lambda: lake_frame(sizes.io_rows, sizes.range_partitions),
    )


def fresh(base: Path) -> Path:
    """A new, empty directory name under `base`; remembered as the latest for checks."""
    path = base / f"run-{next(_counter)}"
    shutil.rmtree(path, ignore_errors=True)
    _latest[base] = path
    return path


_latest: dict[Path, Path] = {}


@pytest.mark.parametrize("who", ["ours", "floor", "peer"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_write_one_partition(
    fmt: str,
    who: str,
    benchmark: Any,
    record: Any,
    sizes: Sizes,
    one_partition: Path,
    tmp_path: Path,
    measure_memory: bool,
) -> None:
    case = f"io.{fmt}.write.{who}"
    frame = pl.read_parquet(one_partition)
    writer = lake.WRITERS[who]
    if who == "peer":
        try:
            writer(fmt, fresh(tmp_path), frame, lake.output_context())
        except PEER_ERRORS as error:
            record.skip(case, f"dagster-polars write failed: {type(error).__name__}: {error}")
            pytest.skip(f"{case}: {error}")
    benchmark.group = f"{fmt} write one partition"
    benchmark.pedantic(
        writer,
        setup=lambda: ((fmt, fresh(tmp_path), frame, lake.output_context()), {}),
        rounds=sizes.rounds,
        warmup_rounds=1,
    )
    record.timing(case, benchmark, rows=frame.height)
    assert lake.rows_written(_latest[tmp_path]) == frame.height
    if measure_memory:
        record.peak(
            case,
            "benchkit.lake:prepare_write",
            {"fmt": fmt, "who": who, "source": str(one_partition), "root": str(fresh(tmp_path))},
        )


@pytest.mark.parametrize("who", ["ours", "floor", "peer"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_read_one_partition(
    fmt: str, who: str, benchmark: Any, record: Any, sizes: Sizes, one_partition: Path,
    tmp_path: Path,
) -> None:
    case = f"io.{fmt}.read.{who}"
    frame = pl.read_parquet(one_partition)
    root = tmp_path / "table"
    lake.WRITERS[who](fmt, root, frame, lake.output_context())
    context = lake.input_context()
    read = lake.READERS[who]
    if who == "peer":
        try:
            read(fmt, root, context)
        except PEER_ERRORS as error:
            record.skip(case, f"dagster-polars read failed: {type(error).__name__}: {error}")
            pytest.skip(f"{case}: {error}")
    benchmark.group = f"{fmt} read one partition"
    result = benchmark.pedantic(
        read, args=(fmt, root, context), rounds=sizes.rounds, warmup_rounds=1
    )
    record.timing(case, benchmark, rows=frame.height)
    assert result.height == frame.height
    assert result["close"].sum() == frame["close"].sum()


@pytest.mark.parametrize("fmt", FORMATS)
def test_range_one_run(
    fmt: str, benchmark: Any, record: Any, sizes: Sizes, range_source: Path, tmp_path: Path
) -> None:
    keys = partition_keys(sizes.range_partitions)
    benchmark.group = f"{fmt} {len(keys)}-partition range"
    benchmark.pedantic(
        lake.materialize_range,
        setup=lambda: ((fmt, fresh(tmp_path), range_source, keys), {}),
        rounds=sizes.heavy_rounds,
    )
    record.timing(f"io.{fmt}.range.one_run", benchmark, rows=sizes.io_rows)
    written = lake.read_all(fmt, _latest[tmp_path], lake.range_input_context(len(keys)))
    assert written.height == sizes.io_rows
    assert written["date"].n_unique() == len(keys)


@pytest.mark.parametrize("fmt", FORMATS)
def test_range_single_runs(
    fmt: str, benchmark: Any, record: Any, sizes: Sizes, range_source: Path, tmp_path: Path
) -> None:
    keys = partition_keys(sizes.range_partitions)
    benchmark.group = f"{fmt} {len(keys)}-partition range"
    benchmark.pedantic(
        lake.materialize_singles,
        setup=lambda: ((fmt, fresh(tmp_path), range_source, keys), {}),
        rounds=1,
    )
    record.timing(f"io.{fmt}.range.single_runs", benchmark, rows=sizes.io_rows,
                  note=f"{len(keys)} Dagster runs")
    written = lake.read_all(fmt, _latest[tmp_path], lake.range_input_context(len(keys)))
    assert written.height == sizes.io_rows


@pytest.mark.parametrize("fmt", FORMATS)
def test_range_baseline_one_partition(
    fmt: str, benchmark: Any, record: Any, sizes: Sizes, one_partition: Path, tmp_path: Path
) -> None:
    """The same number of rows in one partition, one Dagster run: the range gates' baseline."""
    keys = partition_keys(1)
    benchmark.group = f"{fmt} {sizes.range_partitions}-partition range"
    benchmark.pedantic(
        lake.materialize_range,
        setup=lambda: ((fmt, fresh(tmp_path), one_partition, keys), {}),
        rounds=sizes.heavy_rounds,
    )
    record.timing(f"io.{fmt}.range.one_partition", benchmark, rows=sizes.io_rows)


@pytest.fixture(scope="module")
def range_tables(range_source: Path, sizes: Sizes, tmp_path_factory: pytest.TempPathFactory
                 ) -> dict[str, Path]:
    """A range_partitions-partition table per format, written through our IO managers."""
    keys = partition_keys(sizes.range_partitions)
    roots = {}
    for fmt in FORMATS:
        roots[fmt] = tmp_path_factory.mktemp(f"range-{fmt}")
        shutil.rmtree(roots[fmt])
        lake.materialize_range(fmt, roots[fmt], range_source, keys)
    return roots


@pytest.mark.parametrize("fmt", FORMATS)
def test_read_one_of_range(
    fmt: str, benchmark: Any, record: Any, sizes: Sizes, range_tables: dict[str, Path],
    tmp_path: Path,
) -> None:
    keys = partition_keys(sizes.range_partitions)
    key = keys[len(keys) // 2]
    expected = sizes.io_rows // sizes.range_partitions
    benchmark.group = f"{fmt} pruned read"
    context = lake.input_context(key)
    result = benchmark.pedantic(
        lake.read_partition, args=(fmt, range_tables[fmt], context), rounds=sizes.rounds,
        warmup_rounds=1,
    )
    record.timing(f"io.{fmt}.read_one.ours", benchmark, rows=result.height)
    assert abs(result.height - expected) <= 1
    assert result["date"].unique().to_list() == [pl.Series([key]).str.to_date().item()]
    # Proof that only the partition's files are opened: poison every other data file.
    inside, poisoned = lake.poisoned_copy(fmt, range_tables[fmt], key, tmp_path / "poisoned")
    assert inside >= 1
    assert poisoned >= len(keys) - 1
    record.fact(f"io.{fmt}.read_one.files_in_partition", inside)
    record.fact(f"io.{fmt}.read_one.files_poisoned", poisoned)
    try:
        again = lake.read_partition(fmt, tmp_path / "poisoned", lake.input_context(key))
    except (PolarsError, OSError, PanicException) as error:  # it opened a poisoned file
        record.fact(f"io.{fmt}.read_one.foreign_files_opened", 1)
        pytest.fail(f"{fmt}: one-partition read opened another partition's file: {error}")
    record.fact(f"io.{fmt}.read_one.foreign_files_opened", 0)
    assert again.height == result.height


@pytest.mark.parametrize("fmt", FORMATS)
def test_read_full_scan(
    fmt: str, benchmark: Any, record: Any, sizes: Sizes, range_tables: dict[str, Path]
) -> None:
    benchmark.group = f"{fmt} pruned read"
    result = benchmark.pedantic(
        lake.read_all,
        args=(fmt, range_tables[fmt], lake.range_input_context(sizes.range_partitions)),
        rounds=sizes.rounds,
        warmup_rounds=1,
    )
    record.timing(f"io.{fmt}.read_all.ours", benchmark, rows=result.height)
    assert result.height == sizes.io_rows
