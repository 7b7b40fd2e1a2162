"""Contract checks end to end: real DeltaIOManager on a temp dir, `dg.materialize` runs.

The check must validate exactly what was persisted for the run's partition(s): one day, one
(date, exchange) cell, or the whole range of a single-run backfill; silver failures block the
downstream asset in the same run, bronze failures only warn.
"""

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from contracts import column_schema, contract_check
from dag_io import DeltaIOManager

DAILY = dg.DailyPartitionsDefinition(start_date="2024-03-01", timezone="Asia/Seoul")
DAILY_EXCHANGE = dg.MultiPartitionsDefinition(
    {"date": DAILY, "exchange": dg.StaticPartitionsDefinition(["KOSPI", "KOSDAQ", "KONEX"])}
)
RANGE_TAGS = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"
Rows = Callable[[dt.date, str], pl.DataFrame]


@pytest.fixture
def resources(tmp_path: Path) -> dict[str, object]:
    return {"io_manager": DeltaIOManager(root_uri=str(tmp_path / "lake"))}


def _daily_quotes(tier: str, rows: Rows, model) -> dg.AssetsDefinition:
    @dg.asset(
        group_name="CD",
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"polars", "deltalake"},
        tags={"data_tier": tier, "domain": "market", "source": "krx"},
        metadata={"partition_by": "date", "dagster/column_schema": column_schema(model)},
    )
    def cd_quote(context: dg.AssetExecutionContext) -> pl.LazyFrame:
        """Quotes per trading day (a range of days in a single-run backfill)."""
        days = [dt.date.fromisoformat(key) for key in context.partition_keys]
        return pl.concat([rows(day, "KOSPI") for day in days]).lazy()

    return cd_quote


def _downstream(upstream: dg.AssetsDefinition) -> dg.AssetsDefinition:
    @dg.asset(
        group_name="CD",
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        kinds={"polars", "deltalake"},
        tags={"data_tier": "gold", "domain": "market", "source": "krx"},
        metadata={"partition_by": "date"},
    )
    def cd_quote_summary(cd_quote: pl.LazyFrame) -> pl.LazyFrame:
        """Quotes per day."""
        return cd_quote.group_by("date").agg(quotes=pl.len())

    return cd_quote_summary


def _evaluation(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.check_name == "cd_quote_contract"
    return evaluation


def _with_bad_row(make_quotes, bad_day: dt.date) -> Rows:
    """Three valid quotes a day; on ``bad_day`` the second has high < low and exchange NYSE."""

    def rows(day: dt.date, exchange: str) -> pl.DataFrame:
        frame = make_quotes(day, exchange)
        if day != bad_day:
            return frame
        return frame.with_columns(
            low=pl.when(pl.col("ticker") == "000002").then(500).otherwise("low"),
            exchange=pl.when(pl.col("ticker") == "000002")
            .then(pl.lit("NYSE"))
            .otherwise("exchange"),
        )

    return rows


def test_valid_partition_passes(quote, make_quotes, resources) -> None:
    asset = _daily_quotes("silver", make_quotes, quote)
    result = dg.materialize(
        [asset, contract_check(asset, quote)], partition_key="2024-03-04", resources=resources
    )
    assert result.success
    evaluation = _evaluation(result)
    assert evaluation.passed is True
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    assert evaluation.metadata["rows_checked"].value == 3
    assert evaluation.metadata["partitions"].value == "2024-03-04"
    assert evaluation.partition == "2024-03-04"


def test_bad_rows_fail_with_counts_and_masked_examples(quote, make_quotes, resources) -> None:
    asset = _daily_quotes("silver", _with_bad_row(make_quotes, dt.date(2024, 3, 4)), quote)
    result = dg.materialize(
        [asset, contract_check(asset, quote)],
        partition_key="2024-03-04",
        resources=resources,
        raise_on_error=False,
    )
    evaluation = _evaluation(result)
    assert evaluation.passed is False
    assert evaluation.severity == dg.AssetCheckSeverity.ERROR
    metadata = evaluation.metadata
    assert metadata["rows_checked"].value == 3
    assert metadata["failing_rows"].value == 1
    assert metadata["failing_rows_by_rule"].data == {
        "exchange: isin(['KOSPI', 'KOSDAQ', 'KONEX'])": 1,
        "high_not_below_low": 1,
    }
    examples = metadata["failing_examples"].md_str.splitlines()
    assert len(examples) == 3
    assert "| 000002 | 101 | 500 |" in examples[2]
    assert "NYSE" in examples[2] and "***" in examples[2]
    assert "broker1@example.com" not in metadata["failing_examples"].md_str


def test_silver_failure_blocks_downstream_in_the_same_run(quote, make_quotes, resources) -> None:
    asset = _daily_quotes("silver", _with_bad_row(make_quotes, dt.date(2024, 3, 4)), quote)
    downstream = _downstream(asset)
    result = dg.materialize(
        [asset, contract_check(asset, quote), downstream],
        partition_key="2024-03-04",
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    assert _evaluation(result).passed is False
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {dg.AssetKey("cd_quote")}
    assert not (Path(resources["io_manager"].root_uri) / "cd_quote_summary").exists()


def test_bronze_failure_warns_and_does_not_block(quote, make_quotes, resources) -> None:
    asset = _daily_quotes("bronze", _with_bad_row(make_quotes, dt.date(2024, 3, 4)), quote)
    downstream = _downstream(asset)
    result = dg.materialize(
        [asset, contract_check(asset, quote), downstream],
        partition_key="2024-03-04",
        resources=resources,
    )
    assert result.success
    evaluation = _evaluation(result)
    assert (evaluation.passed, evaluation.severity) == (False, dg.AssetCheckSeverity.WARN)
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {dg.AssetKey("cd_quote"), dg.AssetKey("cd_quote_summary")}


def test_daily_check_sees_exactly_its_partition(quote, make_quotes, resources) -> None:
    bad_day = dt.date(2024, 3, 4)
    asset = _daily_quotes("bronze", _with_bad_row(make_quotes, bad_day), quote)
    check = contract_check(asset, quote)
    first = dg.materialize([asset, check], partition_key="2024-03-04", resources=resources)
    assert _evaluation(first).passed is False  # bronze: warned, data kept
    second = dg.materialize([asset, check], partition_key="2024-03-05", resources=resources)
    evaluation = _evaluation(second)
    assert evaluation.passed is True, evaluation.metadata
    assert evaluation.metadata["rows_checked"].value == 3
    # the bad day is still in the table, next to the good one
    lake = pl.read_delta(str(Path(resources["io_manager"].root_uri) / "cd_quote"))
    assert lake.group_by("date").len().sort("date").get_column("len").to_list() == [3, 3]


def test_multi_partition_check_sees_exactly_its_cell(quote, make_quotes, resources) -> None:
    rows = _with_bad_row(make_quotes, dt.date(2024, 3, 4))

    @dg.asset(
        group_name="CD",
        partitions_def=DAILY_EXCHANGE,
        kinds={"polars", "deltalake"},
        tags={"data_tier": "silver", "domain": "market", "source": "krx"},
        metadata={"partition_by": {"date": "date", "exchange": "exchange"}},
    )
    def cd_quote(context: dg.AssetExecutionContext) -> pl.LazyFrame:
        """Quotes per trading day and exchange."""
        key = context.partition_key.keys_by_dimension
        frame = rows(dt.date.fromisoformat(key["date"]), key["exchange"])
        return frame.filter(pl.col("exchange") != "NYSE").lazy()

    check = contract_check(cd_quote, quote)
    kosdaq = dg.MultiPartitionKey({"date": "2024-03-04", "exchange": "KOSDAQ"})
    kospi = dg.MultiPartitionKey({"date": "2024-03-04", "exchange": "KOSPI"})
    assert dg.materialize([cd_quote, check], partition_key=kosdaq, resources=resources).success
    result = dg.materialize([cd_quote, check], partition_key=kospi, resources=resources)
    evaluation = _evaluation(result)
    assert evaluation.passed is True, evaluation.metadata
    assert evaluation.metadata["rows_checked"].value == 2  # the NYSE row was dropped
    assert evaluation.metadata["partitions"].value == "2024-03-04|KOSPI"


def test_range_backfill_check_validates_the_whole_range(quote, make_quotes, resources) -> None:
    asset = _daily_quotes("silver", make_quotes, quote)
    check = contract_check(asset, quote)
    result = dg.materialize(
        [asset, check],
        tags=dict(zip(RANGE_TAGS, ("2024-03-04", "2024-03-07"), strict=True)),
        resources=resources,
    )
    # one evaluation per partition of the range (the UI shows each partition's check as passed)
    evaluations = result.get_asset_check_evaluations()
    assert [e.partition for e in evaluations] == [f"2024-03-0{d}" for d in range(4, 8)]
    for evaluation in evaluations:
        assert evaluation.passed is True
        assert evaluation.target_materialization_data is not None
        assert evaluation.metadata["rows_checked"].value == 4 * 3
        assert evaluation.metadata["partitions"].value == "2024-03-04...2024-03-07"


def test_range_backfill_with_a_bad_day_fails_on_that_day(quote, make_quotes, resources) -> None:
    asset = _daily_quotes("silver", _with_bad_row(make_quotes, dt.date(2024, 3, 6)), quote)
    downstream = _downstream(asset)
    result = dg.materialize(
        [asset, contract_check(asset, quote), downstream],
        tags=dict(zip(RANGE_TAGS, ("2024-03-04", "2024-03-07"), strict=True)),
        resources=resources,
        raise_on_error=False,
    )
    evaluations = result.get_asset_check_evaluations()
    # every partition of the refused range failed, plus the range result that blocks downstream
    assert [e.partition for e in evaluations] == [f"2024-03-0{d}" for d in range(4, 8)] + [None]
    assert not any(e.passed for e in evaluations)
    evaluation = evaluations[-1]
    assert evaluation.metadata["rows_checked"].value == 12
    assert evaluation.metadata["failing_rows"].value == 1
    assert "| 2024-03-06 | NYSE | 000002 |" in evaluation.metadata["failing_examples"].md_str
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert dg.AssetKey("cd_quote_summary") not in materialized


def test_check_reads_through_the_assets_own_io_manager(quote, make_quotes, tmp_path) -> None:
    """The asset uses `delta_io_manager`; the default `io_manager` (Parquet elsewhere) is unused."""
    from dag_io import ParquetIOManager

    @dg.asset(
        group_name="CD",
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key="delta_io_manager",
        kinds={"polars", "deltalake"},
        tags={"data_tier": "gold", "domain": "market", "source": "krx"},
        metadata={"partition_by": "date"},
    )
    def cd_quote(context: dg.AssetExecutionContext) -> pl.LazyFrame:
        """Quotes per trading day."""
        return make_quotes(dt.date.fromisoformat(context.partition_key), "KONEX", 4).lazy()

    resources = {
        "io_manager": ParquetIOManager(root_uri=str(tmp_path / "parquet")),
        "delta_io_manager": DeltaIOManager(root_uri=str(tmp_path / "delta")),
    }
    result = dg.materialize(
        [cd_quote, contract_check(cd_quote, quote)],
        partition_key="2024-03-08",
        resources=resources,
    )
    evaluation = _evaluation(result)
    assert (evaluation.passed, evaluation.metadata["rows_checked"].value) == (True, 4)
    assert (tmp_path / "delta" / "cd_quote" / "_delta_log").is_dir()
    assert not (tmp_path / "parquet" / "cd_quote").exists()


class ServingDir(dg.ConfigurableResource):
    """A serving target outside the lake: one Parquet file per day under ``path``."""

    path: str


def test_read_back_check_for_a_load_asset(quote, make_quotes, tmp_path) -> None:
    """A load asset returns MaterializeResult; its check reads the target back via `read`."""

    @dg.asset(
        group_name="CD",
        partitions_def=DAILY,
        kinds={"polars", "parquet"},
        tags={"data_tier": "gold", "domain": "market", "source": "krx"},
    )
    def cd_quote(context: dg.AssetExecutionContext, serving: ServingDir) -> dg.MaterializeResult:
        """Quotes loaded into the serving directory."""
        day = dt.date.fromisoformat(context.partition_key)
        rows = make_quotes(day, "KOSPI", 3)
        if day == dt.date(2024, 3, 5):
            rows = rows.with_columns(high=pl.lit(-5, dtype=pl.Int64))
        rows.write_parquet(Path(serving.path) / f"{day}.parquet")
        return dg.MaterializeResult(metadata={"rows": rows.height})

    def read_back(context: dg.AssetCheckExecutionContext) -> pl.LazyFrame:
        days = context.partition_keys
        return pl.scan_parquet(
            [Path(context.resources.serving.path) / f"{d}.parquet" for d in days]
        )

    check = contract_check(cd_quote, quote, read=read_back, required_resource_keys={"serving"})
    resources = {"serving": ServingDir(path=str(tmp_path))}
    good = dg.materialize([cd_quote, check], partition_key="2024-03-04", resources=resources)
    assert _evaluation(good).passed is True
    assert _evaluation(good).metadata["rows_checked"].value == 3
    bad = dg.materialize(
        [cd_quote, check], partition_key="2024-03-05", resources=resources, raise_on_error=False
    )
    evaluation = _evaluation(bad)
    assert evaluation.passed is False
    assert evaluation.metadata["failing_rows_by_rule"].data == {
        "high: greater_than_or_equal_to(0)": 3,
        "high_not_below_low": 3,
    }


def test_check_alone_rereads_the_persisted_partition(quote, make_quotes, resources) -> None:
    """Re-running only the check (as from the UI) validates what the lake holds for the day."""
    asset = _daily_quotes("silver", make_quotes, quote)
    check = contract_check(asset, quote)
    dg.materialize([asset, check], partition_key="2024-03-04", resources=resources)
    dg.materialize([asset, check], partition_key="2024-03-05", resources=resources)
    defs = dg.Definitions(assets=[asset], asset_checks=[check], resources=resources)
    only_check = defs.resolve_implicit_global_asset_job_def().get_subset(
        asset_selection=set(), asset_check_selection=set(check.check_keys)
    )
    result = only_check.execute_in_process(partition_key="2024-03-05")
    assert result.get_asset_materialization_events() == []
    evaluation = _evaluation(result)
    assert (evaluation.passed, evaluation.metadata["rows_checked"].value) == (True, 3)
    assert evaluation.partition == "2024-03-05"
