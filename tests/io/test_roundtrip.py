"""Property tests: arbitrary Polars frames survive a write and a read through both lake IO
managers, for every partitioning kind (contexts built by Dagster, real files on disk)."""

from __future__ import annotations

import uuid
from typing import Any

import hypothesis.strategies as st
import polars as pl
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from polars.testing import assert_frame_equal
from polars.testing.parametric import column, dataframes

# Types both Delta and Parquet store exactly (Delta has no unsigned, time or duration types).
STORABLE = [
    pl.Int8,
    pl.Int16,
    pl.Int32,
    pl.Int64,
    pl.Float32,
    pl.Float64,
    pl.Boolean,
    pl.String,
    pl.Date,
    pl.Datetime("us"),
    pl.Binary,
]

frames = dataframes(
    min_cols=1,
    max_cols=4,
    allowed_dtypes=STORABLE,
    min_size=0,
    max_size=12,
)


@pytest.mark.parametrize("fmt", ["delta", "parquet"])
@pytest.mark.parametrize(
    "kind", ["unpartitioned", "daily", "monthly", "static", "dynamic", "multi"]
)
@settings(
    max_examples=3,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking real IO takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=frames, data=st.data())
def test_roundtrip(
    make_lake: Any, tmp_path: Any, fmt: str, kind: str, first: pl.DataFrame, data: Any
) -> None:
    same_schema = [column(name, dtype=dtype) for name, dtype in first.schema.items()]
    second = data.draw(dataframes(cols=same_schema, min_size=0, max_size=12))
    root = str(tmp_path / uuid.uuid4().hex)
    lake = make_lake(fmt, kind, root=root)
    if kind == "unpartitioned":
        lake.write(first.lazy())
        assert_frame_equal(lake.read(), first, check_row_order=False)
        lake.write(second)
        assert_frame_equal(lake.read(), second, check_row_order=False)
        return
    k1, k2 = lake.keys[0], lake.keys[1]
    lake.write(first.lazy(), [k1])
    lake.write(lake.with_partition(second, k2), [k2])  # partition column present in the output
    got1, got2 = lake.read([k1]), lake.read([k2])
    expected1, expected2 = lake.with_partition(first, k1), lake.with_partition(second, k2)
    assert_frame_equal(got1, expected1.select(got1.columns), check_row_order=False)
    assert_frame_equal(got2, expected2.select(got2.columns), check_row_order=False)
    assert sorted(got1.columns) == sorted(expected1.columns)
    # re-writing k1 with the second frame replaces it exactly, k2 untouched
    lake.write(second, [k1])
    got1 = lake.read([k1])
    assert_frame_equal(
        got1, lake.with_partition(second, k1).select(got1.columns), check_row_order=False
    )
    assert_frame_equal(lake.read([k2]), got2, check_row_order=False)


@pytest.mark.s3
@pytest.mark.parametrize("kind", ["unpartitioned", "daily", "multi"])
@pytest.mark.parametrize("fmt", ["delta", "parquet"])
@settings(
    max_examples=2,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(frame=frames)
def test_roundtrip_s3(
    make_lake: Any, s3_bucket: str, fmt: str, kind: str, frame: pl.DataFrame
) -> None:
    from dag_io.storage import resolve_storage_options

    options = resolve_storage_options(
        {k: f"env:{k}" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
    )
    lake = make_lake(
        fmt, kind, root=f"s3://{s3_bucket}/{uuid.uuid4().hex}", conditional_put="etag", **options
    )
    keys = lake.keys[:2] or [None]
    for key in keys:
        lake.write(frame.lazy(), [key] if key else None)
    for key in keys:
        got = lake.read([key] if key else None)
        expected = lake.with_partition(frame, key) if key else frame
        assert_frame_equal(got, expected.select(got.columns), check_row_order=False)
