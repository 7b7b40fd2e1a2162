"""Fixtures of the lake IO tests (the moto S3 server itself is in tests/conftest.py)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pyarrow.fs as pafs
import pytest

from dag_io import DeltaIOManager, ParquetIOManager

# --- writing and reading through the managers with Dagster's real contexts ---------------------

DAILY = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-03-01")
MONTHLY = dg.MonthlyPartitionsDefinition(start_date="2023-01-01", end_date="2024-12-01")
STATIC = dg.StaticPartitionsDefinition(["KOSPI", "KOSDAQ", "KONEX"])
DYNAMIC = dg.DynamicPartitionsDefinition(name="tickers")
MULTI = dg.MultiPartitionsDefinition({"date": DAILY, "exchange": STATIC})

# kind -> (partitions_def, partition_by, example keys, column values of those keys)
KINDS: dict[str, tuple[Any, Any, list[str]]] = {
    "unpartitioned": (None, None, []),
    "daily": (DAILY, "d", ["2024-01-02", "2024-01-03", "2024-01-04"]),
    "monthly": (MONTHLY, "ym", ["2023-05-01", "2023-06-01", "2023-07-01"]),
    "static": (STATIC, "exchange", ["KOSPI", "KOSDAQ", "KONEX"]),
    "dynamic": (DYNAMIC, "ticker", ["005930", "000660", "A/B c"]),
    "multi": (
        MULTI,
        {"date": "trade_date", "exchange": "exchange"},
        ["2024-01-02|KOSPI", "2024-01-02|KOSDAQ", "2024-01-03|KOSPI"],
    ),
}


def make_manager(fmt: str, root: str, **options: str) -> Any:
    cls = DeltaIOManager if fmt == "delta" else ParquetIOManager
    return cls(root_uri=root, storage_options=dict(options))


_INSTANCES: list[dg.DagsterInstance] = []


def _instance() -> dg.DagsterInstance:
    """One ephemeral instance for all built contexts (creating one costs ~150 ms)."""
    if not _INSTANCES:
        _INSTANCES.append(dg.DagsterInstance.ephemeral())
    return _INSTANCES[0]


class Lake:
    """Writes and reads one asset through an IO manager with contexts built by Dagster."""

    def __init__(self, manager: Any, asset: str, kind: str, metadata: dict | None = None):
        self.manager = manager
        self.asset = asset
        self.partitions_def, self.partition_by, self.keys = KINDS[kind]
        self.metadata = {"partition_by": self.partition_by} if self.partition_by else {}
        self.metadata.update(metadata or {})
        self.instance = _instance()
        if kind == "dynamic":
            self.instance.add_dynamic_partitions("tickers", self.keys)

    def _ctx(self, keys: Sequence[str] | None, build: Any, **kw: Any) -> Any:
        args: dict[str, Any] = {"asset_key": [self.asset], **kw}
        if self.partitions_def is not None and keys:
            args["asset_partitions_def"] = self.partitions_def
            if len(keys) == 1:
                args["partition_key"] = keys[0]
            else:
                args["asset_partition_key_range"] = dg.PartitionKeyRange(keys[0], keys[-1])
        args["instance"] = self.instance
        return build(**args)

    def write(self, frame: pl.DataFrame | pl.LazyFrame, keys: Sequence[str] | None = None) -> dict:
        ctx = self._ctx(keys, dg.build_output_context, definition_metadata=self.metadata)
        self.manager.handle_output(ctx, frame)
        return {k: getattr(v, "value", v) for k, v in ctx.get_logged_metadata().items()}

    def read(self, keys: Sequence[str] | None = None) -> pl.DataFrame:
        upstream = dg.build_output_context(definition_metadata=self.metadata)
        ctx = self._ctx(keys, dg.build_input_context, upstream_output=upstream)
        frame = self.manager.load_input(ctx)
        assert isinstance(frame, pl.LazyFrame)
        return frame.collect()

    def with_partition(self, frame: pl.DataFrame, key: str) -> pl.DataFrame:
        """The frame with the partition columns of `key` (typed like the manager stores them)."""
        if self.partitions_def is None:
            return frame
        from dag_io.partitioning import layout_for

        layout = layout_for(self.asset, self.partitions_def, self.partition_by)
        assert layout is not None
        values = layout.values([key])
        return frame.with_columns(
            pl.lit(values.item(0, c), dtype=values.schema[c]).alias(c) for c in values.columns
        )


@pytest.fixture
def lake_root(tmp_path: Path) -> str:
    return str(tmp_path / f"lake-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def make_lake(lake_root: str) -> Any:
    """Factory: `make_lake(fmt, kind, asset="t", root=lake_root, metadata=None, **options)`."""

    def build(
        fmt: str,
        kind: str,
        asset: str = "t",
        root: str | None = None,
        metadata: dict | None = None,
        **options: str,
    ) -> Lake:
        return Lake(make_manager(fmt, root or lake_root, **options), asset, kind, metadata)

    return build


@pytest.fixture
def kinds() -> dict[str, tuple[Any, Any, list[str]]]:
    return KINDS


S3_OPTIONS = {  # resolved from the environment the `s3_bucket` fixture sets, as in production
    "AWS_ACCESS_KEY_ID": "env:AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY": "env:AWS_SECRET_ACCESS_KEY",
    "AWS_REGION": "env:AWS_REGION",
    "AWS_ENDPOINT_URL": "env:AWS_ENDPOINT_URL",
    "conditional_put": "etag",
}


class Where:
    """A lake root (local directory or moto S3 bucket) and how to read tables independently."""

    def __init__(self, root: str, options: dict[str, str]) -> None:
        self.root = root
        self.options = options
        self.is_s3 = root.startswith("s3://")

    def uri(self, name: str) -> str:
        return f"{self.root}/{name}"

    def manager(self, fmt: str) -> Any:
        return make_manager(fmt, self.root, **self.options)

    def resolved(self) -> dict[str, str]:
        from dag_io.storage import delta_storage_options

        return delta_storage_options(self.root, self.options)

    def delta(self, name: str) -> Any:
        from deltalake import DeltaTable

        return DeltaTable(self.uri(name), storage_options=self.resolved() or None)

    def read(self, fmt: str, name: str) -> pl.DataFrame:
        """The whole persisted table, read with Polars directly (not through the manager)."""
        opts = self.resolved() or None
        if fmt == "delta":
            return pl.read_delta(self.uri(name), storage_options=opts)
        from dag_io.storage import filesystem

        fs, root = filesystem(self.uri(name), self.resolved())
        with fs.open_input_file(f"{root}/_schema.parquet") as handle:
            schema = pl.read_parquet_schema(handle)
        selector = pafs.FileSelector(root, recursive=True)
        files = sorted(
            i.path
            for i in fs.get_file_info(selector)
            if i.path.endswith("/data.parquet") and "/_tmp-" not in i.path
        )
        prefix = "s3://" if self.is_s3 else ""
        return pl.read_parquet(
            [prefix + f for f in files],
            schema=schema,
            missing_columns="insert",
            hive_partitioning=False,
            storage_options=opts,
        )


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> Where:
    """Each test using it runs on a local directory and on the moto S3 server."""
    if request.param == "local":
        return Where(str(tmp_path / "lake"), {})
    bucket = request.getfixturevalue("s3_bucket")
    return Where(f"s3://{bucket}/lake", dict(S3_OPTIONS))


@pytest.fixture
def local(tmp_path: Path) -> Where:
    return Where(str(tmp_path / "lake"), {})
