"""dag_io: Arrow IO for the DAG project (Delta/Parquet IO managers, ADBC loaders, storage helpers).

Knows nothing of domains: it moves Polars/Arrow frames between Dagster, the lake and databases.
Everything the code location uses is exported here; the submodules are the implementation.
"""

from dag_io.base import ArrowIOManager
from dag_io.delta import DeltaIOManager
from dag_io.lake_config import (
    LakeConfig,
    PartitionBy,
    is_lake_io_manager,
    lake,
    lake_violations,
)
from dag_io.loaders import (
    ColumnSpec,
    DatabaseConnectError,
    DatabaseTimeoutError,
    LoadError,
    LoadResult,
)
from dag_io.parquet import ParquetIOManager
from dag_io.partitioning import PartitionLayout, layout_for
from dag_io.postgres import ExtensionStatus, IndexReport, IndexSpec, PostgresResource
from dag_io.turso import TursoResource

__all__ = [
    "ArrowIOManager",
    "ColumnSpec",
    "DatabaseConnectError",
    "DatabaseTimeoutError",
    "DeltaIOManager",
    "ExtensionStatus",
    "IndexReport",
    "IndexSpec",
    "LakeConfig",
    "LoadError",
    "LoadResult",
    "ParquetIOManager",
    "PartitionBy",
    "PartitionLayout",
    "PostgresResource",
    "TursoResource",
    "is_lake_io_manager",
    "lake",
    "lake_violations",
    "layout_for",
]
