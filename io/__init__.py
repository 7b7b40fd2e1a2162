"""dag_io: Arrow IO for the DAG project (Delta/Parquet IO managers, ADBC loaders, storage helpers).

Knows nothing of domains: it moves Polars/Arrow frames between Dagster, the lake and databases.
"""

from dag_io.delta import DeltaIOManager
from dag_io.lake_config import LakeConfig, lake
from dag_io.loaders import LoadResult
from dag_io.parquet import ParquetIOManager
from dag_io.postgres import PostgresResource
from dag_io.turso import TursoResource

__all__ = [
    "DeltaIOManager",
    "LakeConfig",
    "LoadResult",
    "ParquetIOManager",
    "PostgresResource",
    "TursoResource",
    "lake",
]
