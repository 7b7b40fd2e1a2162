"""End to end: the NPS sample month, bronze -> silver, through Dagster against the same asset
functions called directly.

Through Dagster: `dg.materialize([nps_his_download, nps_his_digest])` for one partition with the
sample `NpsSource` and a `DeltaIOManager` on a temporary lake (in-process executor, ephemeral
instance): run and step bookkeeping, event log, IO manager writes and reads, output metadata.
Directly: the two asset functions invoked with `dg.build_asset_context`, the bronze output handed
to silver in memory and the silver plan collected. The ratio is the orchestration + persistence
overhead of one run.
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from benchkit.data import NPS_MONTH
from benchkit.lake import instance
from dag.nps_data_processing import nps_his_digest
from dag.nps_raw_ingestion import nps_his_download
from dag.nps_source import NpsSource
from dag_io import DeltaIOManager

KEY = f"{NPS_MONTH:%Y-%m-%d}"


def source(rows: int) -> NpsSource:
    return NpsSource(mode="sample", sample_rows=rows, seed=7)


def through_dagster(lake: Path, rows: int) -> int:
    """One Dagster run of bronze + silver for the month; returns the silver row count."""
    result = dg.materialize(
        [nps_his_download, nps_his_digest],
        partition_key=KEY,
        resources={
            "nps_source": source(rows),
            "delta_io_manager": DeltaIOManager(root_uri=str(lake)),
        },
        instance=instance(),
    )
    assert result.success
    events = result.asset_materializations_for_node("nps_his_digest")
    return int(events[0].metadata["dagster/row_count"].value)


def direct(rows: int) -> int:
    """The same two asset functions called directly; returns the silver row count."""
    with dg.build_asset_context(partition_key=KEY) as context:
        bronze = nps_his_download(context, nps_source=source(rows))
    with dg.build_asset_context(partition_key=KEY) as context:
        silver = nps_his_digest(context, nps_his_download=bronze.value)
    frame: pl.DataFrame = silver.value.collect()
    return frame.height
