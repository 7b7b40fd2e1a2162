"""A range of NPS months in one run (issue #20): month by month through spill files.

The range run writes exactly what one run per month writes, with the statistics the whole range
gives, leaves no spill file behind, and a bad month fails the run by name with the lake and the
spill directory as they were. The per-partition contract validation agrees with one validation
of the whole range.
"""

import os
import time
from datetime import date
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

from contracts.checks import validate_frame, validate_partitions
from contracts.nps import DIGEST_KEY, NpsHisDigest
from dag import nps_data_processing as silver
from dag import nps_raw_ingestion as bronze
from dag.nps_csv import parse_bytes
from dag.nps_sample import generate_month, sample_file_name
from dag.nps_source import NpsSource
from dag.spill import STALE_AFTER, Spill, spill_root
from dag_io import DeltaIOManager

MONTHS = (date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1))
ROWS = 400
ASSETS = [
    bronze.nps_his_download,
    silver.nps_his_digest,
    *dg.load_asset_checks_from_modules([bronze, silver]),
]
SORT = {"nps_his_download": ["ym", "line_number"], "nps_his_digest": list(DIGEST_KEY)}


@pytest.fixture
def spills(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The spill files written (partition keys), so a test knows the range went through them."""
    written: list[str] = []
    real = Spill.write

    def spy(self: Spill, frame: pl.DataFrame, partition_key: str) -> None:
        written.append(partition_key)
        real(self, frame, partition_key)

    monkeypatch.setattr(Spill, "write", spy)
    return written


@pytest.fixture
def folder(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The three months delivered as files (small sample files: the size floor lowered)."""
    monkeypatch.setenv("NPS_MIN_FILE_BYTES", "1024")
    path = tmp_path / "delivered"
    path.mkdir()
    for month in MONTHS:
        (path / sample_file_name(month)).write_bytes(generate_month(month, rows=ROWS, seed=5))
    return path


def materialize(folder: Path, lake: Path, first: date, last: date) -> dg.ExecuteInProcessResult:
    """nps_his_download and nps_his_digest with all their checks, `first`..`last` in one run."""
    result = dg.materialize(
        ASSETS,
        resources={
            "delta_io_manager": DeltaIOManager(root_uri=str(lake)),
            "nps_source": NpsSource(mode="files", source_dir=str(folder)),
        },
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert result.success and failed == [], failed
    return result


def table(lake: Path, asset: str) -> pl.DataFrame:
    return pl.read_delta(str(lake / asset)).sort(SORT[asset])


def spilled(data_dir: Path) -> list[Path]:
    root = spill_root()
    assert root.is_relative_to(data_dir)
    return sorted(root.rglob("*")) if root.exists() else []


def plain(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in metadata.items() if k != "execution_time_sec"}


def test_range_run_writes_what_month_runs_write_and_leaves_no_spill(
    folder: Path, data_dir: Path, tmp_path: Path, spills: list[str]
) -> None:
    by_month, ranged = tmp_path / "by_month", tmp_path / "ranged"
    for month in MONTHS:
        materialize(folder, by_month, month, month)
    assert spills == []  # one month: handed over in memory
    result = materialize(folder, ranged, MONTHS[0], MONTHS[-1])
    assert spills == [m.isoformat() for m in MONTHS] * 2  # bronze, then silver

    for asset in SORT:
        assert_frame_equal(table(ranged, asset), table(by_month, asset))
    assert table(ranged, "nps_his_download").height == ROWS * len(MONTHS)
    assert spilled(data_dir) == []

    # The digest's statistics are those of the whole range digested at once.
    bronze_rows = pl.scan_delta(str(ranged / "nps_his_download"))
    _, stats = silver.digest_with_stats(silver.typed(bronze_rows))
    expected = plain(silver._metadata(stats, silver.max_field_chars()))
    events = {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    digest_metadata = plain(events["nps_his_digest"])
    assert {k: digest_metadata[k] for k in expected} == expected
    assert expected["duplicates_removed"] > 0 and len(expected["per_month"]) == len(MONTHS)
    download = plain(events["nps_his_download"])
    assert download["rows_read"] == ROWS * len(MONTHS)
    assert download["rows_by_month"] == {f"{m:%Y-%m}": ROWS for m in MONTHS}


def test_bad_month_in_a_range_fails_by_name_and_changes_nothing(
    folder: Path, data_dir: Path, tmp_path: Path, spills: list[str]
) -> None:
    lake = tmp_path / "lake"
    materialize(folder, lake, MONTHS[0], MONTHS[-1])
    before = {asset: table(lake, asset) for asset in SORT}
    version = {asset: DeltaTable(str(lake / asset)).version() for asset in SORT}
    bad = folder / sample_file_name(MONTHS[1])  # the second month arrives truncated
    raw = bad.read_bytes()
    bad.write_bytes(raw[: len(raw) // 2])

    spills.clear()
    with pytest.raises(bronze.NpsIngestionError) as failure:
        materialize(folder, lake, MONTHS[0], MONTHS[-1])
    assert spills == [MONTHS[0].isoformat()]  # the month before the bad one was spilled
    message = str(failure.value)
    assert message.startswith(f"nps_his_download partition 2024-02-01: {bad.name}: ")
    assert "do not have 22 fields" in message
    for asset in SORT:
        assert DeltaTable(str(lake / asset)).version() == version[asset]
        assert_frame_equal(table(lake, asset), before[asset])
    assert spilled(data_dir) == []


def _digest_rows(month: date) -> pl.DataFrame:
    raw = generate_month(month, rows=ROWS, seed=5)
    frame = parse_bytes(raw, sample_file_name(month)).frame.with_columns(ym=pl.lit(month))
    return silver.digest(silver.typed(frame.lazy())).collect()


def test_per_partition_validation_agrees_with_whole_range() -> None:
    rows = pl.concat([_digest_rows(m) for m in MONTHS])
    first = rows.filter(pl.col("ym") == MONTHS[0])
    broken = pl.concat(
        [
            rows.with_row_index("i")
            .with_columns(  # a negative count in each month, and a bad postcode in the last
                subscriber_count=pl.when(pl.col("i") % ROWS == 7)
                .then(-1)
                .otherwise(pl.col("subscriber_count")),
                zip_code=pl.when(pl.col("i") == rows.height - 1)
                .then(pl.lit("12"))
                .otherwise(pl.col("zip_code")),
            )
            .drop("i"),
            first.head(2),  # two key duplicates, both in the first month
        ]
    )
    whole = validate_frame(broken, NpsHisDigest)
    split = validate_partitions(broken.lazy(), "ym", NpsHisDigest, max_rows=1)
    assert whole[0] is split[0] is False
    wanted = ("rows_checked", "failing_rows", "rules_failed", "failing_rows_by_rule")
    assert plain({k: split[1][k] for k in wanted}) == plain({k: whole[1][k] for k in wanted})
    assert plain(split[1])["rows_checked"] == broken.height
    assert len(plain(split[1])["rules_failed"]) == 3
    # a valid range passes split as well
    assert validate_partitions(rows.lazy(), "ym", NpsHisDigest, max_rows=1)[0] is True


def test_spill_dirs_of_dead_runs_are_swept_after_a_day(data_dir: Path) -> None:
    dead, live = spill_root() / "dead-run" / "nps_his_download", spill_root() / "live-run"
    dead.mkdir(parents=True)
    (dead / "00000_2024-01-01.arrow").write_bytes(b"x")
    live.mkdir()
    old = time.time() - STALE_AFTER - 60
    os.utime(dead.parent, (old, old))
    with dg.build_asset_context() as context, Spill(context) as spill:
        assert not dead.parent.exists() and live.exists()  # a recent run's directory stays
        spill.write(pl.DataFrame({"a": [1]}), "2024-01-01")
        assert spill.scan().collect().item() == 1
    assert spill.folder.exists()  # outside a run no hook removes it: the next sweep will
