"""Range outputs given per partition (`{partition key: frame}`) and the Delta manager's streamed
partition writes: Parquet files written batch by batch, committed in one transaction, with file
statistics that MERGE may skip files by."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path
from typing import Any

import dagster as dg
import hypothesis.strategies as st
import polars as pl
import pytest
from deltalake import CommitProperties, DeltaTable
from deltalake.exceptions import DeltaError
from hypothesis import HealthCheck, Phase, given, settings
from polars.testing import assert_frame_equal

from dag_io.delta_files import WRITE_ID, write_partitions
from tests.io.conftest import Lake

MONTHS = ["2023-05-01", "2023-06-01", "2023-07-01"]


def _month(key: str) -> dt.date:
    return dt.date.fromisoformat(key)


def _data_files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*.parquet")}


@pytest.mark.parametrize("fmt", ["delta", "parquet"])
@pytest.mark.parametrize("kind", ["daily", "monthly", "static", "dynamic", "multi"])
def test_dict_output_is_written_like_one_frame(make_lake: Any, fmt: str, kind: str) -> None:
    by_dict = make_lake(fmt, kind, asset="by_dict")
    by_frame = make_lake(fmt, kind, asset="by_frame")
    # a multi-partition range runs along one dimension: its first and last keys here
    keys = by_dict.keys[::2] if kind == "multi" else by_dict.keys
    parts = {
        key: pl.DataFrame({"i": [n, n + 10], "s": [f"{key}-a", None]}) for n, key in enumerate(keys)
    }
    # the dict's frames need no partition columns: each gets its key's values
    meta = by_dict.write(parts, keys)
    by_frame.write(pl.concat([by_frame.with_partition(f, k) for k, f in parts.items()]), keys)
    assert meta["dagster/row_count"] == 2 * len(keys)
    assert meta["partitions_written"] == len(keys)
    assert_frame_equal(by_dict.read(keys), by_frame.read(keys), check_row_order=False)


@pytest.mark.parametrize("fmt", ["delta", "parquet"])
def test_dict_output_must_hold_exactly_the_run_partitions(make_lake: Any, fmt: str) -> None:
    lake = make_lake(fmt, "monthly")
    lake.write({k: pl.DataFrame({"i": [1]}) for k in MONTHS}, MONTHS)
    before = lake.read(MONTHS)
    short = {k: pl.DataFrame({"i": [2]}) for k in MONTHS[:2]}
    with pytest.raises(ValueError, match=r"missing \['2023-07-01'\], not in the run \[\]"):
        lake.write(short, MONTHS)
    stray = {**{k: pl.DataFrame({"i": [2]}) for k in MONTHS}, "2024-01-01": pl.DataFrame()}
    with pytest.raises(ValueError, match=r"not in the run \['2024-01-01'\]"):
        lake.write(stray, MONTHS)
    assert_frame_equal(lake.read(MONTHS), before)


def test_dict_output_of_an_unpartitioned_asset_is_refused(make_lake: Any) -> None:
    lake = make_lake("delta", "unpartitioned")
    with pytest.raises(TypeError, match="needs a partitioned asset"):
        lake.write({"x": pl.DataFrame({"i": [1]})})


def test_a_part_with_rows_of_another_partition_writes_nothing(
    make_lake: Any, lake_root: str
) -> None:
    lake = make_lake("delta", "monthly")
    lake.write({k: pl.DataFrame({"i": [1]}) for k in MONTHS}, MONTHS)
    table = DeltaTable(f"{lake_root}/t")
    version, files = table.version(), _data_files(Path(lake_root) / "t")
    parts = {k: pl.DataFrame({"i": [2]}) for k in MONTHS}
    parts[MONTHS[1]] = pl.DataFrame({"i": [2], "ym": [_month("2023-09-01")]})
    with pytest.raises(
        ValueError, match=r"outside the partitions being written, e\.g\. ym=2023-09"
    ):
        lake.write(parts, MONTHS)
    assert DeltaTable(f"{lake_root}/t").version() == version
    assert _data_files(Path(lake_root) / "t") == files  # the first part's new file is gone


def test_a_part_failing_mid_stream_commits_nothing_and_leaves_no_file(where: Any) -> None:
    """The second partition's query fails after the first partition's file was written: the
    error propagates, the table keeps its version and no data file of the write remains."""
    lake = Lake(where.manager("delta"), "t", "monthly")
    lake.write({k: pl.DataFrame({"i": [1], "s": ["x"]}) for k in MONTHS}, MONTHS)
    version = where.delta("t").version()
    listed = set(where.delta("t").file_uris())
    bad = pl.LazyFrame({"i": [2], "s": ["not a number"]}).with_columns(
        pl.col("s").cast(pl.Int64, strict=True).cast(pl.String)
    )
    parts = {MONTHS[0]: pl.LazyFrame({"i": [2], "s": ["y"]}), MONTHS[1]: bad, MONTHS[2]: bad}
    with pytest.raises(pl.exceptions.InvalidOperationError, match="not a number"):
        lake.write(parts, MONTHS)
    table = where.delta("t")
    assert table.version() == version
    assert set(table.file_uris()) == listed
    assert_frame_equal(
        lake.read(MONTHS).select("i", "s"), pl.DataFrame({"i": [1] * 3, "s": ["x"] * 3})
    )
    if not where.is_s3:
        on_disk = {f"{where.root}/t/{p}" for p in _data_files(Path(where.root) / "t")}
        assert on_disk == listed  # no orphan file of the failed write


values = st.one_of(st.none(), st.integers(-(2**40), 2**40))
texts = st.one_of(st.none(), st.text(max_size=40))
dates = st.one_of(st.none(), st.dates(dt.date(1900, 1, 1), dt.date(2200, 1, 1)))


@settings(
    max_examples=25,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(st.tuples(st.sampled_from(MONTHS), values, texts, dates), max_size=30))
def test_file_statistics_are_the_files_bounds(make_lake: Any, tmp_path: Path, rows: list) -> None:
    """Every add action's numRecords, nullCount and min/max (integers, dates, string bounds of
    at most 32 characters; none for longer bounds or floats) agree with the rows of its file."""
    root = tmp_path / uuid.uuid4().hex
    lake = make_lake("delta", "monthly", root=str(root))
    frame = pl.DataFrame(
        rows,
        schema={"ym": pl.String, "n": pl.Int64, "s": pl.String, "d": pl.Date},
        orient="row",
    ).with_columns(pl.col("ym").str.to_date(), f=pl.col("n").cast(pl.Float64))
    lake.write({k: frame.filter(pl.col("ym") == _month(k)) for k in MONTHS}, MONTHS)
    actions = pl.DataFrame(DeltaTable(str(root / "t")).get_add_actions(flatten=True))
    assert int(actions["num_records"].sum() or 0) == frame.height
    for action in actions.iter_rows(named=True):
        rows_of_file = frame.filter(pl.col("ym") == action["partition.ym"])
        assert action["num_records"] == rows_of_file.height
        for col in ("n", "s", "d", "f"):
            assert action[f"null_count.{col}"] == rows_of_file[col].null_count()
        for col in ("n", "d"):
            assert action[f"min.{col}"] == rows_of_file[col].min()
            assert action[f"max.{col}"] == rows_of_file[col].max()
        strings = rows_of_file["s"].drop_nulls()
        low, high = (strings.min(), strings.max()) if strings.len() else (None, None)
        if low is not None and max(len(low), len(high)) <= 32:  # type: ignore[arg-type]
            assert (action["min.s"], action["max.s"]) == (low, high)
        else:  # no string, or a bound longer than 32 characters: no bounds recorded
            assert action.get("min.s") is None
        assert action.get("min.f") is None


def test_merge_skips_files_by_the_streamed_statistics(make_lake: Any, lake_root: str) -> None:
    """MERGE prunes target files by the key bounds in the add actions: with correct bounds it
    updates exactly the matching rows of the streamed files and inserts the rest."""
    lake = make_lake("delta", "monthly")
    parts = {
        key: pl.DataFrame({"k": [10 * n + 1, 10 * n + 2], "v": ["old", "old"]})
        for n, key in enumerate(MONTHS)
    }
    lake.write(parts, MONTHS)
    table = DeltaTable(f"{lake_root}/t")
    source = pl.DataFrame(
        {
            "k": [12, 21, 99],
            "v": ["new"] * 3,
            "ym": [_month(k) for k in MONTHS[1:]] + [_month(MONTHS[2])],
        }
    )
    metrics = (
        table.merge(
            source.to_arrow(),
            predicate="t.k = s.k AND t.ym = s.ym",
            source_alias="s",
            target_alias="t",
            streamed_exec=False,
        )
        .when_matched_update_all()
        .when_not_matched_insert_all()
        .execute()
    )
    assert (metrics["num_target_rows_updated"], metrics["num_target_rows_inserted"]) == (2, 1)
    stored = pl.read_delta(f"{lake_root}/t").sort("k")
    assert stored.filter(pl.col("v") == "new")["k"].to_list() == [12, 21, 99]
    assert stored.height == 7


def test_parquet_parts_are_staged_and_a_failing_part_replaces_nothing(
    make_lake: Any, lake_root: str
) -> None:
    """The Parquet manager sinks a dict output part after part into temporary directories and
    moves them in only when every part was written: a failing part leaves the table as it was
    and no temporary directory behind."""
    lake = make_lake("parquet", "monthly")
    lake.write({k: pl.DataFrame({"i": [1], "s": ["x"]}) for k in MONTHS}, MONTHS)
    before = lake.read(MONTHS)
    bad = pl.LazyFrame({"i": [2], "s": ["not a number"]}).with_columns(
        pl.col("s").cast(pl.Int64, strict=True).cast(pl.String)
    )
    parts = {MONTHS[0]: pl.LazyFrame({"i": [2], "s": ["y"]}), MONTHS[1]: bad, MONTHS[2]: bad}
    with pytest.raises(pl.exceptions.InvalidOperationError, match="not a number"):
        lake.write(parts, MONTHS)
    assert_frame_equal(lake.read(MONTHS), before)
    assert not [p for p in (Path(lake_root) / "t").iterdir() if p.name.startswith("_tmp-")]
    meta = lake.write({k: pl.DataFrame({"i": [3, 4], "s": ["z", None]}) for k in MONTHS}, MONTHS)
    assert (meta["dagster/row_count"], meta["files_written"]) == (6, 3)


def test_a_writer_losing_a_race_for_its_partitions_fails_and_leaves_no_file(
    make_lake: Any, lake_root: str
) -> None:
    """Two runs write the same partitions at once: the one whose snapshot is stale when it
    commits gets Delta's conflict error (no retry), its files are deleted, the winner's rows
    stay."""
    lake = make_lake("delta", "monthly")
    lake.write({k: pl.DataFrame({"i": [1]}) for k in MONTHS}, MONTHS)
    uri = f"{lake_root}/t"
    loser_snapshot = DeltaTable(uri)
    lake.write({k: pl.DataFrame({"i": [2]}) for k in MONTHS}, MONTHS)  # the winner commits
    winner = lake.read(MONTHS)
    target = lake.manager.target(dg.AssetKey("t"), lake.partitions_def, lake.metadata, MONTHS, None)
    rows = pl.DataFrame({"i": [3] * 3, "ym": [_month(k) for k in MONTHS]})
    commit = CommitProperties(custom_metadata={WRITE_ID: "loser"})
    with pytest.raises(DeltaError, match=r"(?i)conflict|concurrent"):
        write_partitions(loser_snapshot, [[rows]], target, {}, commit, "loser")
    assert_frame_equal(lake.read(MONTHS), winner)
    # the loser's files (named by its write id) are gone; earlier writes' removed files stay
    # until a vacuum, as Delta keeps them for time travel
    assert [f for f in _data_files(Path(uri)) if "-loser-" in f] == []
    assert len(DeltaTable(uri).file_uris()) == len(MONTHS)
