"""Both lake IO managers through `dg.materialize`: range backfills in one run, exact partition
replacement, partition column types, empty and missing partitions, rows outside the partition,
schema evolution, dict inputs and the output metadata. Real files, asserted on disk."""

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from deltalake import write_deltalake
from polars.testing import assert_frame_equal

from dag_io import ParquetIOManager

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-02-01")
STATIC = dg.StaticPartitionsDefinition(["KOSPI", "KOSDAQ", "KONEX"])
MULTI = dg.MultiPartitionsDefinition({"date": DAILY, "exchange": STATIC})
FMTS = ["delta", "parquet"]


def range_tags(start: str, end: str) -> dict[str, str]:
    return {
        "dagster/asset_partition_range_start": start,
        "dagster/asset_partition_range_end": end,
    }


def daily_asset(value: int = 1, *, d_type: type = pl.Date, extra: dict | None = None) -> Any:
    """A daily prices asset: 3 rows per day in the run's window, `v` = value."""

    @dg.asset(
        name="prices",
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"partition_by": "d", **(extra or {})},
    )
    def prices(context: dg.AssetExecutionContext) -> pl.LazyFrame:
        window = context.partition_time_window
        days = pl.date_range(window.start.date(), window.end.date(), closed="left", eager=True)
        frame = pl.DataFrame({"d": days}).join(pl.DataFrame({"n": [1, 2, 3]}), how="cross")
        frame = frame.with_columns(v=pl.lit(value, dtype=pl.Int64))
        if d_type is pl.String:
            frame = frame.with_columns(pl.col("d").cast(pl.String))
        return frame.lazy()

    return prices


@pytest.mark.parametrize("fmt", FMTS)
def test_range_backfill_then_single_rerun(where: Any, fmt: str) -> None:
    res = {"io_manager": where.manager(fmt)}
    result = dg.materialize(
        [daily_asset(1)], resources=res, tags=range_tags("2024-01-03", "2024-01-07")
    )
    mats = result.asset_materializations_for_node("prices")
    assert sorted(m.partition for m in mats) == [f"2024-01-0{i}" for i in range(3, 8)]
    mat = mats[0]
    assert mat.metadata["dagster/row_count"].value == 15
    assert mat.metadata["partitions_written"].value == 5
    if fmt == "delta":
        history = where.delta("prices").history()
        writes = [h for h in history if h["operation"] == "WRITE"]
        assert len(writes) == 1  # the range is one commit (the table's CREATE is the other)
        assert mat.metadata["table_version"].value == history[0]["version"]

    dg.materialize([daily_asset(2)], resources=res, partition_key="2024-01-05")
    table = where.read(fmt, "prices").sort("d", "n")
    assert table.height == 15  # no duplicates
    assert table.filter(pl.col("d") == dt.date(2024, 1, 5))["v"].to_list() == [2, 2, 2]
    assert table.filter(pl.col("d") != dt.date(2024, 1, 5))["v"].unique().to_list() == [1]
    assert table["d"].n_unique() == 5
    # idempotent: the same partition again changes nothing
    dg.materialize([daily_asset(2)], resources=res, partition_key="2024-01-05")
    assert_frame_equal(where.read(fmt, "prices").sort("d", "n"), table)


@pytest.mark.parametrize("fmt", FMTS)
def test_string_partition_column_is_cast_to_date(local: Any, fmt: str) -> None:
    where = local  # local only (the S3 variant adds nothing here)
    res = {"io_manager": where.manager(fmt)}
    for day in ("2024-01-02", "2024-01-03"):  # dagster-polars failed on the second string day
        dg.materialize([daily_asset(1, d_type=pl.String)], resources=res, partition_key=day)
    table = where.read(fmt, "prices")
    assert table.schema["d"] == pl.Date
    assert sorted(table["d"].unique().to_list()) == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]


@pytest.mark.parametrize("fmt", FMTS)
def test_static_string_partitions_and_metadata(local: Any, fmt: str) -> None:
    where = local  # local only (the S3 variant adds nothing here)

    @dg.asset(partitions_def=STATIC, metadata={"partition_by": "exchange"})
    def listings(context: dg.AssetExecutionContext) -> pl.DataFrame:
        return pl.DataFrame({"ticker": ["A", "B"], "px": [1.5, 2.5]})

    res = {"io_manager": where.manager(fmt)}
    result = dg.materialize([listings], resources=res, partition_key="KOSDAQ")
    meta = result.asset_materializations_for_node("listings")[0].metadata
    assert meta["dagster/row_count"].value == 2
    assert meta["dagster/partition_row_count"].value == 2
    assert meta["dagster/uri"].value == where.uri("listings")
    assert meta["files_written"].value == 1
    assert meta["bytes_written"].value > 0
    assert meta["write_seconds"].value >= 0
    cols = {c.name: c.type for c in meta["dagster/column_schema"].schema.columns}
    assert cols == {"ticker": "String", "px": "Float64", "exchange": "String"}
    assert "| A | 1.5 | KOSDAQ |" in meta["preview"].value
    if fmt == "delta":
        assert meta["table_version"].value == 1
    table = where.read(fmt, "listings")
    assert table["exchange"].to_list() == ["KOSDAQ", "KOSDAQ"]


@pytest.mark.parametrize("fmt", FMTS)
def test_multi_partitions_and_dict_input(where: Any, fmt: str) -> None:
    @dg.asset(
        partitions_def=MULTI, metadata={"partition_by": {"date": "trade_date", "exchange": "ex"}}
    )
    def quotes(context: dg.AssetExecutionContext) -> pl.DataFrame:
        key = context.partition_key.keys_by_dimension
        return pl.DataFrame({"px": [float(len(key["exchange"]))]})

    @dg.asset
    def quote_summary(quotes: dict[str, pl.LazyFrame]) -> pl.DataFrame:
        return pl.DataFrame(
            {"key": list(quotes), "rows": [lf.collect().height for lf in quotes.values()]}
        )

    res = {"io_manager": where.manager(fmt)}
    keys = [("2024-01-02", "KOSPI"), ("2024-01-02", "KONEX"), ("2024-01-03", "KOSPI")]
    for day, ex in keys:
        key = dg.MultiPartitionKey({"date": day, "exchange": ex})
        dg.materialize([quotes], resources=res, partition_key=key)
    table = where.read(fmt, "quotes").sort("trade_date", "ex")
    assert table.schema["trade_date"] == pl.Date and table.schema["ex"] == pl.String
    assert table.select("trade_date", "ex", "px").rows() == [
        (dt.date(2024, 1, 2), "KONEX", 5.0),
        (dt.date(2024, 1, 2), "KOSPI", 5.0),
        (dt.date(2024, 1, 3), "KOSPI", 5.0),
    ]
    result = dg.materialize([quotes, quote_summary], resources=res, selection=[quote_summary])
    summary = result.output_for_node("quote_summary")
    assert sorted(summary["key"].to_list()) == sorted(
        str(dg.MultiPartitionKey({"date": d, "exchange": e})) for d, e in keys
    )
    assert summary["rows"].to_list() == [1, 1, 1]


@pytest.mark.parametrize("fmt", FMTS)
def test_empty_partition_reads_empty_and_missing_partition_fails(where: Any, fmt: str) -> None:
    @dg.asset(partitions_def=DAILY, metadata={"partition_by": "d"})
    def holidays(context: dg.AssetExecutionContext) -> pl.DataFrame:
        if context.partition_key == "2024-01-01":
            return pl.DataFrame(schema={"d": pl.Date, "close": pl.Float64})  # market closed
        return pl.DataFrame({"close": [10.0]})

    @dg.asset(partitions_def=DAILY, metadata={"partition_by": "d"})
    def closes(holidays: pl.DataFrame) -> pl.DataFrame:
        return holidays

    res = {"io_manager": where.manager(fmt)}
    result = dg.materialize([holidays], resources=res, partition_key="2024-01-01")
    assert (
        result.asset_materializations_for_node("holidays")[0]
        .metadata["dagster/partition_row_count"]
        .value
        == 0
    )
    dg.materialize([holidays], resources=res, partition_key="2024-01-02")
    result = dg.materialize(
        [holidays, closes], resources=res, partition_key="2024-01-01", selection=[closes]
    )
    got = result.output_for_node("closes")
    assert got.height == 0 and got.schema == pl.Schema({"d": pl.Date, "close": pl.Float64})
    with pytest.raises(
        FileNotFoundError, match=r"asset holidays: 1 requested partition.*2024-01-09"
    ):
        dg.materialize(
            [holidays, closes], resources=res, partition_key="2024-01-09", selection=[closes]
        )


@pytest.mark.parametrize(
    ("bad", "shown"), [(dt.date(2024, 1, 9), "2024-01-09"), (None, "None")], ids=["other", "null"]
)
@pytest.mark.parametrize("fmt", FMTS)
def test_rows_outside_partition_fail_and_write_nothing(
    where: Any, fmt: str, bad: dt.date | None, shown: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    res = {"io_manager": where.manager(fmt)}
    dg.materialize([daily_asset(1)], resources=res, partition_key="2024-01-02")
    before = where.read(fmt, "prices")
    if fmt == "parquet":  # one partition: proven from the footer, never split by PartitionBy

        def no_split(*args: Any) -> None:
            raise AssertionError("the one-partition write took the PartitionBy path")

        monkeypatch.setattr(ParquetIOManager, "_sink", no_split)

    @dg.asset(name="prices", partitions_def=DAILY, metadata={"partition_by": "d"})
    def bad_prices() -> pl.DataFrame:
        good = pl.DataFrame({"d": [dt.date(2024, 1, 2)] * 5, "n": range(5), "v": [7] * 5})
        stray = pl.DataFrame({"d": [bad], "n": [9], "v": [7]}, schema=good.schema)
        return pl.concat([good, stray])

    with pytest.raises(ValueError, match=rf"asset prices partition 2024-01-02: .*d={shown}\b"):
        dg.materialize([bad_prices], resources=res, partition_key="2024-01-02")
    assert_frame_equal(where.read(fmt, "prices"), before)
    if fmt == "delta":
        assert where.delta("prices").version() == 1
    else:
        assert where.is_s3 or not list(Path(where.uri("prices")).glob("_tmp-*"))


@pytest.mark.parametrize("fmt", FMTS)
def test_schema_new_column_merged_and_type_change_refused(local: Any, fmt: str) -> None:
    where = local  # local only (the S3 variant adds nothing here)
    res = {"io_manager": where.manager(fmt)}
    dg.materialize([daily_asset(1)], resources=res, partition_key="2024-01-02")

    def with_columns(**cols: pl.Expr) -> Any:
        @dg.asset(name="prices", partitions_def=DAILY, metadata={"partition_by": "d"})
        def prices(context: dg.AssetExecutionContext) -> pl.LazyFrame:
            return pl.LazyFrame({"n": [1], "v": [5]}).with_columns(**cols)

        return prices

    dg.materialize([with_columns(note=pl.lit("new"))], resources=res, partition_key="2024-01-03")

    @dg.asset
    def everything(prices: pl.DataFrame) -> pl.DataFrame:
        return prices

    result = dg.materialize([with_columns(), everything], resources=res, selection=[everything])
    table = result.output_for_node("everything").sort("d", "n")
    assert table.schema["note"] == pl.String
    assert table.filter(pl.col("d") == dt.date(2024, 1, 2))["note"].null_count() == 3
    assert table.filter(pl.col("d") == dt.date(2024, 1, 3))["note"].to_list() == ["new"]

    with pytest.raises(
        ValueError,
        match=r"asset prices partition 2024-01-04: column types differ.*v: Int64 -> String",
    ):
        dg.materialize([with_columns(v=pl.lit("five"))], resources=res, partition_key="2024-01-04")
    assert where.read(fmt, "prices").height == 4


def test_delta_schema_overwrite_rewrites_other_partitions(local: Any) -> None:
    where = local  # local only (the S3 variant adds nothing here)
    res = {"io_manager": where.manager("delta")}
    dg.materialize([daily_asset(1)], resources=res, partition_key="2024-01-02")
    changed = daily_asset(1, extra={"schema_mode": "overwrite"})
    original = changed.op.compute_fn.decorated_fn

    @dg.asset(
        name="prices",
        partitions_def=DAILY,
        metadata={"partition_by": "d", "schema_mode": "overwrite"},
    )
    def prices(context: dg.AssetExecutionContext) -> pl.LazyFrame:
        return original(context).with_columns(pl.col("v").cast(pl.Float64) + 0.5)

    dg.materialize([prices], resources=res, partition_key="2024-01-03")
    table = where.read("delta", "prices").sort("d", "n")
    assert table.schema["v"] == pl.Float64
    assert table["v"].to_list() == [1.0, 1.0, 1.0, 1.5, 1.5, 1.5]


@pytest.mark.parametrize("fmt", FMTS)
def test_partition_type_mismatch_never_overwrites(where: Any, fmt: str) -> None:
    """A table partitioned by a *string* `d` written by a daily (Date) asset: refused, intact."""
    if fmt == "delta":
        write_deltalake(
            where.uri("prices"),
            pl.DataFrame({"d": ["x", "y"], "n": [1, 2], "v": [0, 0]}).to_arrow(),
            partition_by=["d"],
            storage_options=where.resolved() or None,
        )
    else:

        @dg.asset(
            name="prices",
            partitions_def=dg.StaticPartitionsDefinition(["x", "y"]),
            metadata={"partition_by": "d"},
        )
        def as_string() -> pl.DataFrame:
            return pl.DataFrame({"n": [1], "v": [0]})

        for key in ("x", "y"):
            dg.materialize(
                [as_string], resources={"io_manager": where.manager(fmt)}, partition_key=key
            )
    before = where.read(fmt, "prices").sort("d")
    with pytest.raises(
        ValueError, match=r"partition column 'd' .* String, the asset's partitions are Date"
    ):
        dg.materialize(
            [daily_asset(1)],
            resources={"io_manager": where.manager(fmt)},
            partition_key="2024-01-02",
        )
    assert_frame_equal(where.read(fmt, "prices").sort("d"), before)


def test_delta_merge_mode_upserts(where: Any) -> None:
    def accounts(rows: dict[str, list]) -> Any:
        @dg.asset(metadata={"write_mode": "merge", "merge_keys": ["id"]})
        def accounts() -> pl.DataFrame:
            return pl.DataFrame(rows)

        return accounts

    res = {"io_manager": where.manager("delta")}
    dg.materialize([accounts({"id": [1, 2], "bal": [10, 20]})], resources=res)
    result = dg.materialize([accounts({"id": [2, 3], "bal": [25, 30]})], resources=res)
    meta = result.asset_materializations_for_node("accounts")[0].metadata
    assert meta["rows_inserted"].value == 1 and meta["rows_updated"].value == 1
    assert meta["dagster/row_count"].value == 3
    # a merge's preview is read back from the merged table, not taken from the incoming rows
    assert "| 1 | 10 |" in meta["preview"].value
    table = where.read("delta", "accounts").sort("id")
    assert table.rows() == [(1, 10), (2, 25), (3, 30)]


def test_delta_version_pinned_for_the_run(local: Any) -> None:
    """A second read in the same run sees the version of the first, despite a commit between."""
    where = local  # local only (the S3 variant adds nothing here)

    @dg.asset
    def snapshot() -> pl.DataFrame:
        return pl.DataFrame({"x": [1]})

    @dg.asset
    def first_reader(snapshot: pl.DataFrame) -> pl.DataFrame:
        write_deltalake(  # a concurrent writer commits after our first read
            where.uri("snapshot"),
            pl.DataFrame({"x": [2]}).to_arrow(),
            mode="append",
            storage_options=where.resolved() or None,
        )
        return snapshot

    @dg.asset(deps=[first_reader])
    def second_reader(snapshot: pl.DataFrame) -> pl.DataFrame:
        return snapshot

    res = {"io_manager": where.manager("delta")}
    dg.materialize([snapshot], resources=res)
    result = dg.materialize(
        [snapshot, first_reader, second_reader],
        resources=res,
        selection=[first_reader, second_reader],
    )
    assert result.output_for_node("second_reader")["x"].to_list() == [1]
    assert sorted(where.read("delta", "snapshot")["x"].to_list()) == [1, 2]


@pytest.mark.parametrize("fmt", FMTS)
def test_daily_downstream_reads_only_its_partition(local: Any, fmt: str) -> None:
    where = local  # local only (the S3 variant adds nothing here)

    @dg.asset(
        partitions_def=DAILY,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"partition_by": "d"},
    )
    def returns(prices: pl.LazyFrame) -> pl.LazyFrame:
        return prices.with_columns(r=pl.col("v") * 10)

    res = {"io_manager": where.manager(fmt)}
    dg.materialize([daily_asset(1)], resources=res, tags=range_tags("2024-01-02", "2024-01-05"))
    result = dg.materialize(
        [daily_asset(1), returns],
        resources=res,
        selection=[returns],
        tags=range_tags("2024-01-03", "2024-01-04"),
    )
    assert (
        result.asset_materializations_for_node("returns")[0].metadata["dagster/row_count"].value
        == 6
    )
    table = where.read(fmt, "returns")
    assert sorted(table["d"].unique().to_list()) == [dt.date(2024, 1, 3), dt.date(2024, 1, 4)]
    lake = where.manager(fmt)
    ctx = dg.build_input_context(
        asset_key=["prices"],
        partition_key="2024-01-03",
        asset_partitions_def=DAILY,
        upstream_output=dg.build_output_context(definition_metadata={"partition_by": "d"}),
    )
    plan = lake.load_input(ctx).explain()
    assert "2024-01-03" in plan and "2024-01-04" not in plan  # only that day's file is scanned


@pytest.mark.parametrize("fmt", FMTS)
def test_range_selecting_no_partitions_fails_and_writes_nothing(local: Any, fmt: str) -> None:
    """A multi-partition range in the wrong dimension order selects nothing: a clear error."""

    @dg.asset(
        name="quotes",
        partitions_def=MULTI,
        backfill_policy=dg.BackfillPolicy.single_run(),
        metadata={"partition_by": {"date": "d", "exchange": "exchange"}},
    )
    def quotes(context: dg.AssetExecutionContext) -> pl.DataFrame:
        return pl.DataFrame({"v": [1]}).clear()

    with pytest.raises(ValueError, match=r"asset quotes: the run selects no partitions"):
        dg.materialize(
            [quotes],
            resources={"io_manager": local.manager(fmt)},
            tags=range_tags("2024-01-02|KONEX", "2024-01-03|KOSPI"),
        )
    assert not Path(local.uri("quotes")).exists()
