"""CD month-end history over a range in one run (issue #20): month by month through spill files.

The range run writes exactly what one run per month writes, with the summed statistics, and
leaves no spill file behind; a month that fails the digest fails the run by name with the lake
and the spill directory as they were.
"""

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dag import cd_history_bppedds, cd_history_marketcaps, cd_history_prices, cd_sample
from dag.cd_source import KrxSource
from dag.spill import Spill, spill_root
from dag_io import DeltaIOManager, ParquetIOManager

MODULES = [cd_history_prices, cd_history_marketcaps, cd_history_bppedds]
HISTORY = [*dg.load_assets_from_modules(MODULES), *dg.load_asset_checks_from_modules(MODULES)]
ASSETS = ("cd_historical_prices", "cd_historical_marketcaps", "cd_historical_bppedds")
MONTHS = (dt.date(2023, 11, 1), dt.date(2023, 12, 1), dt.date(2024, 1, 1))


def materialize(
    lake: Path, first: dt.date, last: dt.date, selection: list[Any] = HISTORY
) -> dg.ExecuteInProcessResult:
    delta = DeltaIOManager(root_uri=str(lake))
    result = dg.materialize(
        selection,
        resources={
            "io_manager": delta,
            "delta_io_manager": delta,
            "parquet_io_manager": ParquetIOManager(root_uri=str(lake / "parquet")),
            "krx_source": KrxSource(sample_scale=0.01),
        },
        tags={
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        },
    )
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert result.success and failed == [], failed
    return result


def history(lake: Path, asset: str) -> pl.DataFrame:
    files = sorted((lake / "parquet" / asset).glob("history_month=*/*.parquet"))
    assert files, f"no Parquet partitions written for {asset}"
    return pl.read_parquet(files).sort("date", "exchange", "ticker")


def plain(metadata: dict[str, Any]) -> dict[str, Any]:
    return {k: getattr(v, "value", v) for k, v in metadata.items() if k != "execution_time_sec"}


@pytest.fixture
def spills(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    written: list[str] = []
    real = Spill.write

    def spy(self: Spill, frame: pl.DataFrame, partition_key: str) -> None:
        written.append(partition_key)
        real(self, frame, partition_key)

    monkeypatch.setattr(Spill, "write", spy)
    return written


def test_range_run_writes_what_month_runs_write_and_leaves_no_spill(
    data_dir: Path, spills: list[str]
) -> None:
    by_month, ranged = data_dir / "by_month", data_dir / "ranged"
    singles = [materialize(by_month, month, month) for month in MONTHS]
    assert spills == []
    result = materialize(ranged, MONTHS[0], MONTHS[-1])
    assert sorted(spills) == sorted([f"{m:%Y-%m-%d}" for m in MONTHS] * len(ASSETS))
    assert not spill_root().exists() or list(spill_root().iterdir()) == []

    for asset in ASSETS:
        assert_frame_equal(history(ranged, asset), history(by_month, asset))
        assert history(ranged, asset).get_column("history_month").n_unique() == len(MONTHS)
        ranged_meta = plain(_metadata(result, asset))
        months_meta = [plain(_metadata(single, asset)) for single in singles]
        for key in ("rows_in", "zero_rows_dropped", "trading_partitions"):
            assert ranged_meta[key] == sum(m[key] for m in months_meta), (asset, key)
        assert ranged_meta["month_end_days"] == [
            day for m in months_meta for day in m["month_end_days"]
        ]


def _metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict[str, Any]:
    """The asset's materialization metadata (a range's partitions all carry the run's)."""
    return next(
        e.materialization.metadata
        for e in result.get_asset_materialization_events()
        if e.asset_key.path[-1] == asset
    )


def test_bad_month_in_a_range_fails_by_name_and_changes_nothing(
    data_dir: Path, spills: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = data_dir / "lake"
    prices = [
        cd_history_prices.cd_historical_prices,
        cd_history_prices.cd_historical_prices_contract,
    ]
    materialize(lake, MONTHS[0], MONTHS[-1], prices)
    before = history(lake, "cd_historical_prices")
    real = cd_sample.sample_ohlcv
    bad_day = dt.date(2023, 12, 28)  # December's last trading day on KOSPI

    def one_zero_row(seed: int, scale: float, day: dt.date, exchange: str) -> pl.DataFrame:
        """The day's OHLCV with its first row all zero (a trading day must have none)."""
        frame = real(seed, scale, day, exchange)
        if (day, exchange) != (bad_day, "KOSPI"):
            return frame
        first = pl.int_range(pl.len()) == 0
        return frame.with_columns(
            pl.when(first).then(0).otherwise(pl.col(c)).cast(frame.schema[c]).alias(c)
            for c in frame.columns[1:]
        )

    monkeypatch.setattr(cd_sample, "sample_ohlcv", one_zero_row)
    spills.clear()
    named = r"cd_historical_prices: all-zero rows .*2023-12-28\|KOSPI: 1 zero rows"
    with pytest.raises(ValueError, match=named):
        materialize(lake, MONTHS[0], MONTHS[-1], prices)
    assert spills == [f"{MONTHS[0]:%Y-%m-%d}"]  # November was spilled before December failed
    assert_frame_equal(history(lake, "cd_historical_prices"), before)
    assert not spill_root().exists() or list(spill_root().iterdir()) == []
