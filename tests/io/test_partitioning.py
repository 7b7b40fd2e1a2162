"""Unit tests of the lake helpers: partition keys as typed columns and predicates, URIs and
environment-resolved storage options, and the Markdown preview / column schema metadata."""

import datetime as dt

import dagster as dg
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dag_io.metadata import preview_markdown, table_schema
from dag_io.partitioning import layout_for
from dag_io.storage import delta_storage_options, join_uri, resolve_storage_options

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", timezone="Asia/Seoul")
HOURLY = dg.HourlyPartitionsDefinition(start_date="2024-01-01-00:00")
MONTHLY = dg.MonthlyPartitionsDefinition(start_date="2015-12-01", timezone="Asia/Seoul")
STATIC = dg.StaticPartitionsDefinition(["KOSPI", "KOSDAQ", "KONEX"])
MULTI = dg.MultiPartitionsDefinition({"date": DAILY, "exchange": STATIC})


def test_time_window_keys_become_dates_and_datetimes() -> None:
    daily = layout_for("a", DAILY, "d")
    assert daily is not None
    values = daily.values(["2024-01-02", "2024-01-03", "2024-01-02"])
    assert values.schema == pl.Schema({"d": pl.Date})
    assert values["d"].to_list() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    assert daily.keys(values) == ["2024-01-02", "2024-01-03"]
    assert daily.sql_predicate(values) == "d IN ('2024-01-02', '2024-01-03')"
    monthly = layout_for("a", MONTHLY, "ym")
    assert monthly is not None
    assert monthly.values(["2016-01-01"])["ym"].to_list() == [dt.date(2016, 1, 1)]
    hourly = layout_for("a", HOURLY, "ts")
    assert hourly is not None
    got = hourly.values(["2024-01-01-05:00"])
    assert got.schema["ts"] == pl.Datetime("us")
    assert got["ts"].to_list() == [dt.datetime(2024, 1, 1, 5)]


def test_multi_partition_values_predicates_and_paths() -> None:
    layout = layout_for("q", MULTI, {"date": "trade_date", "exchange": "ex"})
    assert layout is not None
    cross = layout.values(
        ["2024-01-02|KOSPI", "2024-01-02|KONEX", "2024-01-03|KOSPI", "2024-01-03|KONEX"]
    )
    assert layout.sql_predicate(cross) == (
        "trade_date IN ('2024-01-02', '2024-01-03') AND ex IN ('KOSPI', 'KONEX')"
    )
    ragged = layout.values(["2024-01-02|KOSPI", "2024-01-03|KONEX"])
    assert layout.sql_predicate(ragged) == (
        "(trade_date = '2024-01-02' AND ex = 'KOSPI') OR "
        "(trade_date = '2024-01-03' AND ex = 'KONEX')"
    )
    frame = pl.DataFrame(
        {
            "trade_date": [dt.date(2024, 1, 2), dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
            "ex": ["KOSPI", "KONEX", "KONEX"],
        }
    )
    assert frame.filter(layout.expr(ragged)).rows() == [
        (dt.date(2024, 1, 2), "KOSPI"),
        (dt.date(2024, 1, 3), "KONEX"),
    ]
    row = ragged.row(0, named=True)
    assert layout.hive_path(row) == "trade_date=2024-01-02/ex=KOSPI"
    assert layout.keys(ragged) == ["2024-01-02|KOSPI", "2024-01-03|KONEX"]


def test_string_values_are_quoted_and_escaped() -> None:
    layout = layout_for("a", dg.StaticPartitionsDefinition(["it's", "a/b"]), "k")
    assert layout is not None
    values = layout.values(["it's", "a/b"])
    assert layout.sql_predicate(values) == "k IN ('it''s', 'a/b')"
    assert layout.hive_path({"k": "a/b"}) == "k=a%2Fb"
    assert layout.parse_hive_path("k=a%2Fb") == {"k": "a/b"}


def test_partition_by_must_name_the_columns() -> None:
    with pytest.raises(ValueError, match="asset prices: partitioned assets need metadata"):
        layout_for("prices", DAILY, None)
    with pytest.raises(ValueError, match=r"asset q: multi-partitioned over \['date', 'exchange'\]"):
        layout_for("q", MULTI, {"date": "d"})
    with pytest.raises(ValueError, match="alphanumeric"):
        layout_for("a", DAILY, "d; DROP")
    assert layout_for("a", None, None) is None


def test_storage_uris_and_env_options(monkeypatch: pytest.MonkeyPatch) -> None:
    assert join_uri("s3://bucket/lake/", "delta", "/nps_his/") == "s3://bucket/lake/delta/nps_his"
    assert join_uri("/data/lake", "a", "b") == "/data/lake/a/b"
    monkeypatch.setenv("LAKE_KEY", "k1")
    monkeypatch.delenv("UNSET_VAR", raising=False)
    assert resolve_storage_options(
        {"AWS_ACCESS_KEY_ID": "env:LAKE_KEY", "conditional_put": "env:UNSET_VAR", "x": "y"}
    ) == {"AWS_ACCESS_KEY_ID": "k1", "x": "y"}
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9000")
    opts = delta_storage_options("s3://b/t", {})
    assert opts == {
        "AWS_ALLOW_HTTP": "true",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "conditional_put": "etag",
    }
    assert delta_storage_options("/local/t", {"a": "b"}) == {"a": "b"}


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 40),
    height=st.integers(0, 12),
    text=st.text(min_size=0, max_size=80),
)
def test_preview_markdown_always_renders_inline(width: int, height: int, text: str) -> None:
    """Under the UI's 1,000-character inline limit, whatever the table's shape; a wide table
    keeps at least the first column and says how many it left out; PII stays masked."""
    df = pl.DataFrame({f"col_{i}": [text] * height for i in range(width)}, schema_overrides={
        f"col_{i}": pl.String for i in range(width)
    })
    md = preview_markdown(df, mask=["col_0"])
    lines = md.splitlines()
    assert len(md) < 1_000 or len(lines[0]) >= 1_000 - 2  # only a single huge header can't fit
    assert lines[0].startswith("| col_0 |")
    shown = lines[0].count(" | ") + 1
    if shown < width:
        assert f"(+{width - shown + 1} columns)" in lines[0]
    assert all(line.startswith(("| *** |", "| --- |")) for line in lines[1:])


def test_preview_markdown_masks_and_escapes() -> None:
    df = pl.DataFrame(
        {"name": ["Kim|Lee", "Park"], "rrn": ["900101-1234567", None], "n": [1, None]}
    )
    md = preview_markdown(df, n=1, mask=["rrn"])
    assert md.splitlines() == [
        "| name | rrn | n |",
        "| --- | --- | --- |",
        "| Kim\\|Lee | *** | 1 |",
    ]
    assert "1234567" not in preview_markdown(df, mask=["rrn"])
    schema = table_schema(pl.Schema({"d": pl.Date, "px": pl.Float64}))
    assert [(c.name, c.type) for c in schema.columns] == [("d", "Date"), ("px", "Float64")]
