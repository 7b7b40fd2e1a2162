"""Write, audit, publish through real Dagster runs: a partition whose blocking contract failed
is refused by the engine, so a later run (a tier-by-tier `--select` of the downstream asset, or a
load) never reads it; a good partition re-delivered badly keeps its good rows.

Real Delta and Parquet IO managers on a temp dir, one Dagster instance across the runs.
"""

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from contracts import column_schema, contract_check
from dag_io import DeltaIOManager, ParquetIOManager

DAILY = dg.DailyPartitionsDefinition(start_date="2024-03-01", timezone="Asia/Seoul")
GOOD_DAY, NEW_DAY = "2024-03-04", "2024-03-05"


def _assets(quote: Any, make_quotes: Any, bad_days: set[str]) -> tuple[Any, Any, Any]:
    @dg.asset(
        group_name="CD",
        partitions_def=DAILY,
        kinds={"polars"},
        tags={"data_tier": "silver", "domain": "market", "source": "krx"},
        metadata={"partition_by": "date", "dagster/column_schema": column_schema(quote)},
    )
    def cd_quote(context: dg.AssetExecutionContext) -> pl.LazyFrame:
        """Quotes of one trading day; days in `bad_days` deliver a negative low."""
        frame = make_quotes(dt.date.fromisoformat(context.partition_key))
        if context.partition_key in bad_days:
            bad = {"low": pl.lit(-1, dtype=pl.Int64), "high": pl.lit(5_000, dtype=pl.Int64)}
            frame = frame.with_columns(**bad)
        return frame.lazy()

    @dg.asset(
        group_name="CD",
        partitions_def=DAILY,
        kinds={"polars"},
        tags={"data_tier": "gold", "domain": "market", "source": "krx"},
        metadata={"partition_by": "date"},
    )
    def cd_quote_summary(cd_quote: pl.LazyFrame) -> pl.LazyFrame:
        """Highest high per day."""
        return cd_quote.group_by("date").agg(top=pl.col("high").max())

    return cd_quote, contract_check(cd_quote, quote), cd_quote_summary


@pytest.fixture(params=["delta", "parquet"])
def manager(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    cls = DeltaIOManager if request.param == "delta" else ParquetIOManager
    return cls(root_uri=str(tmp_path / "lake"))


def _run(
    assets: list, key: str, manager: Any, instance: dg.DagsterInstance, only: Any = None
) -> Any:
    """One run; `only` selects one asset of `assets` (a tier-by-tier run of the next tier)."""
    return dg.materialize(
        assets,
        selection=[only.key] if only is not None else None,
        partition_key=key,
        resources={"io_manager": manager},
        instance=instance,
        raise_on_error=False,
    )


def _read(manager: Any, key: str, asset: str = "cd_quote") -> pl.DataFrame:
    upstream = dg.build_output_context(definition_metadata={"partition_by": "date"})
    ctx = dg.build_input_context(
        asset_key=[asset],
        upstream_output=upstream,
        partition_key=key,
        asset_partitions_def=DAILY,
    )
    return manager.load_input(ctx).collect()


def test_bad_redelivery_keeps_the_good_partition(quote, make_quotes, manager) -> None:
    instance = dg.DagsterInstance.ephemeral()
    good = _assets(quote, make_quotes, set())
    assert _run(list(good), GOOD_DAY, manager, instance).success
    before = _read(manager, GOOD_DAY)

    bad = _assets(quote, make_quotes, {GOOD_DAY})
    result = _run(list(bad[:2]), GOOD_DAY, manager, instance)
    (evaluation,) = result.get_asset_check_evaluations()
    assert evaluation.passed is False
    assert evaluation.metadata["refused"].value is True
    assert evaluation.metadata["failing_rows"].value == 3
    # the good rows are back, and a tier-by-tier run of the next tier reads them
    assert _read(manager, GOOD_DAY).sort("ticker").equals(before.sort("ticker"))
    later = _run(list(bad), GOOD_DAY, manager, instance, only=bad[2])
    assert later.success
    summary = _read(manager, GOOD_DAY, "cd_quote_summary")
    assert summary.get_column("top").to_list() == [before.get_column("high").max()]


def test_refused_new_partition_is_never_read_later(quote, make_quotes, manager) -> None:
    instance = dg.DagsterInstance.ephemeral()
    cd_quote, check, summary = _assets(quote, make_quotes, {NEW_DAY})
    result = _run([cd_quote, check, summary], NEW_DAY, manager, instance)
    assert not result.success
    materialized = {e.asset_key for e in result.get_asset_materialization_events()}
    assert materialized == {dg.AssetKey("cd_quote")}  # downstream blocked in the same run
    # a later run of the next tier alone refuses the partition, naming check and run
    later = _run([cd_quote, check, summary], NEW_DAY, manager, instance, only=summary)
    assert not later.success
    (failure,) = [e for e in later.all_events if e.is_step_failure]
    message = failure.step_failure_data.error.cause.message  # type: ignore[union-attr]
    assert "refused by check cd_quote_contract" in message
    assert result.run_id in message


class _TornReads(DeltaIOManager):
    """A Delta manager whose reads fail when collected (a torn or unreadable file)."""

    def scan(self, context, uri, layout, values, asset):  # type: ignore[no-untyped-def]
        frame = super().scan(context, uri, layout, values, asset)

        def torn(_: pl.DataFrame) -> pl.DataFrame:
            raise OSError("torn data file")

        return frame.map_batches(torn)


def test_a_check_that_cannot_read_its_data_refuses_it(quote, make_quotes, tmp_path) -> None:
    """Fail closed: data a blocking check could not validate is refused, and the run fails."""
    manager = _TornReads(root_uri=str(tmp_path / "lake"))
    cd_quote, check, _ = _assets(quote, make_quotes, set())
    result = _run([cd_quote, check], GOOD_DAY, manager, dg.DagsterInstance.ephemeral())
    assert not result.success
    plain = DeltaIOManager(root_uri=manager.root_uri)
    with pytest.raises(FileNotFoundError, match="could not be read"):
        _read(plain, GOOD_DAY)
