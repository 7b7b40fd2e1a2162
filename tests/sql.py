"""Ad-hoc SQL for tests that inspect a PostgreSQL server beyond what the resources expose
(catalog views, aggregates). The project's own code reads only through the resources."""

from collections.abc import Sequence
from typing import Any

import polars as pl

from dag_io import PostgresResource


def query(postgres: PostgresResource, sql: str, params: Sequence[Any] = ()) -> pl.DataFrame:
    """Run one read-only statement and return its rows as a Polars frame (ADBC, Arrow)."""
    with postgres.get_connection() as conn, conn.cursor() as cursor:
        cursor.execute(sql, tuple(params) or None)
        return pl.from_arrow(cursor.fetch_arrow_table())  # type: ignore[return-value]
