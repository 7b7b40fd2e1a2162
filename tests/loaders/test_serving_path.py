"""The one serving path end to end (`dag.serving`): a lake asset loaded into PostgreSQL and a
Turso file through `dg.materialize`, with the real Delta IO manager and loaders.

Covers what a bad load must never do: NULL or duplicate keys reach a table (refused before any
write, naming the column), two runs loading the same partition at once double it, and a server
that never answers hangs the run.
"""

import datetime as dt
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import dagster as dg
import pandera.polars as pa
import polars as pl
import pytest

from dag.serving import Serving, serving_asset
from dag_io import DeltaIOManager, PostgresResource, TursoResource, lake

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")
DAY = "2024-01-02"


class CdQuoteServing(pa.DataFrameModel):
    """Serving `quote`: one close per ticker and day."""

    date: dt.date = pa.Field(description="trading day")
    ticker: str = pa.Field(description="KRX code")
    close: pl.Int64 = pa.Field(ge=0, description="close in won")

    class Config:
        unique = ("date", "ticker")


def _definitions(rows: pl.DataFrame) -> list[Any]:
    @dg.asset(
        group_name="CD",
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        tags={"data_tier": "gold"},
        metadata=lake(partition_by="date"),
    )
    def cd_quote(context: dg.AssetExecutionContext) -> pl.DataFrame:
        """Closes of one day."""
        day = dt.date.fromisoformat(context.partition_key)
        return rows.filter(pl.col("date") == day)

    def quote_rows(cd_quote: pl.LazyFrame) -> pl.LazyFrame:
        return cd_quote

    out: list[Any] = [cd_quote]
    for target, key in (("postgres", "cd_postgres"), ("turso", "turso")):
        out.extend(
            serving_asset(
                Serving(
                    name=f"cd_quote_{target}",
                    group="CD",
                    table="quote",
                    target=target,  # type: ignore[arg-type]
                    resource_key=key,
                    contract=CdQuoteServing,
                    mode="replace_partitions",
                    description="closes",
                    partitions_def=DAILY,
                    partition_by="date",
                ),
                quote_rows,
            )
        )
    return out


def _rows(tickers: list[str | None], closes: list[int] | None = None) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": [dt.date(2024, 1, 2)] * len(tickers),
            "ticker": tickers,
            "close": closes or list(range(100, 100 + len(tickers))),
        },
        schema={"date": pl.Date, "ticker": pl.String, "close": pl.Int64},
    )


def _resources(root: Path, postgres: PostgresResource) -> dict[str, Any]:
    return {
        "io_manager": DeltaIOManager(root_uri=str(root / "lake")),
        "cd_postgres": postgres,
        "turso": TursoResource(url=str(root / "turso.db")),
    }


def _materialize(rows: pl.DataFrame, resources: dict[str, Any], **kwargs: Any) -> Any:
    return dg.materialize(_definitions(rows), partition_key=DAY, resources=resources, **kwargs)


def test_loads_both_targets_and_reads_back(tmp_path: Path, postgres_resource) -> None:
    resources = _resources(tmp_path, postgres_resource)
    result = _materialize(_rows(["005930", "000660"]), resources)
    assert result.success
    evaluations = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert evaluations == {"cd_quote_postgres_contract": True, "cd_quote_turso_contract": True}
    metadata = result.asset_materializations_for_node("cd_quote_postgres")[0].metadata
    assert {k: metadata[k].value for k in ("dagster/row_count", "table", "mode", "partitions")} == {
        "dagster/row_count": 2,
        "table": "quote",
        "mode": "replace_partitions",
        "partitions": DAY,
    }
    for target in ("cd_postgres", "turso"):
        assert resources[target].read("quote").sort("ticker")["close"].to_list() == [101, 100]


@pytest.mark.parametrize(
    ("tickers", "problem"), [(["005930", None], "NULL"), (["005930", "005930"], "duplicate")]
)
def test_bad_keys_are_refused_and_the_tables_keep_their_rows(
    tmp_path: Path, postgres_resource, tickers: list, problem: str
) -> None:
    resources = _resources(tmp_path, postgres_resource)
    assert _materialize(_rows(["005930"]), resources).success
    bad = _materialize(_rows(tickers), resources, raise_on_error=False)
    assert not bad.success
    failures = [e for e in bad.all_events if e.is_step_failure]
    messages = " ".join(str(e.step_failure_data.error) for e in failures)  # type: ignore[union-attr]
    assert "ticker" in messages, messages[:2000]
    for target in ("cd_postgres", "turso"):
        assert resources[target].read("quote")["close"].to_list() == [100], (target, problem)


@pytest.mark.slow
def test_concurrent_runs_loading_one_partition_leave_one_copy(
    tmp_path: Path, postgres_resource: PostgresResource
) -> None:
    """Two runs loading the same partition at once (threads, each with its own connections):
    the loads serialise on the table lock and the table holds the partition once."""
    resources = _resources(tmp_path, postgres_resource)
    rows = _rows(["005930", "000660", "035420"])
    assert _materialize(rows, resources).success

    # Definitions are built here, not in the threads: building them emits Dagster's preview
    # warnings, and warning filters are process-global (threads would race on them).
    definitions = _definitions(rows)

    def load() -> bool:
        run = dg.materialize(
            definitions,
            partition_key=DAY,
            resources=_resources(tmp_path, PostgresResource(**postgres_resource.model_dump())),
            raise_on_error=False,
            selection=["cd_quote_postgres", "cd_quote_turso"],
        )
        return run.success

    for _ in range(5):
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = [f.result(timeout=300) for f in [pool.submit(load) for _ in range(2)]]
        assert outcomes == [True, True]
        for target in ("cd_postgres", "turso"):
            assert resources[target].read("quote").height == 3, target


def test_a_server_that_never_answers_fails_the_run_in_time(
    tmp_path: Path, silent_server: tuple[str, int]
) -> None:
    host, port = silent_server
    silent = PostgresResource(host=host, port=port, database="gold", connect_timeout_seconds=2)
    started = time.monotonic()
    result = _materialize(
        _rows(["005930"]), _resources(tmp_path, silent), raise_on_error=False
    )
    assert not result.success
    assert time.monotonic() - started < 60
    failures = [e for e in result.all_events if e.is_step_failure]
    assert any(f"{host}:{port}" in str(e.step_failure_data.error) for e in failures)
