"""What the pipelines wrote where: lake tables, PostgreSQL tables and the Turso file, with rows."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from dag_io.base import ArrowIOManager

SERVING_RESOURCES = ("nps_postgres", "cd_postgres", "turso")


def _lake_lines(manager: ArrowIOManager, fmt: str) -> Iterator[str]:
    tables = manager.list_tables()
    if not tables:
        yield f"  {fmt:<8} {manager.root_uri} (no tables yet)"
    for name, rows in tables:
        yield f"  {fmt:<8} {name:<40} {rows:>10,} rows"


def _serving_lines(name: str, resource: dg.ConfigurableResource) -> Iterator[str]:
    with dg.build_resources({name: resource}) as built:
        live = getattr(built, name)
        conn = live.get_connection()
        try:
            cursor = conn.cursor()
            if name == "turso":
                cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
                tables = [row[0] for row in cursor.fetchall()]
                where = live.url
            else:
                cursor.execute(
                    "SELECT table_schema || '.' || table_name FROM information_schema.tables "
                    "WHERE table_schema NOT IN ('pg_catalog', 'information_schema') "
                    "AND table_type = 'BASE TABLE' ORDER BY 1"
                )
                tables = [row[0] for row in cursor.fetchall()]
                where = f"postgres database {live.database!r}"
            yield f"  {name}: {where}"
            for table in tables:
                quoted = ".".join(f'"{part}"' for part in table.split("."))
                cursor.execute(f"SELECT count(*) FROM {quoted}")
                yield f"    {table:<44} {cursor.fetchone()[0]:>10,} rows"
            cursor.close()
        finally:
            conn.close()


def summarize(defs: dg.Definitions) -> list[str]:
    """One line per table written, grouped by store."""
    resources = defs.resources or {}
    lines = ["Lake:"]
    for key, fmt in (("delta_io_manager", "delta"), ("parquet_io_manager", "parquet")):
        lines.extend(_lake_lines(resources[key], fmt))
    lines.append("Serving databases:")
    for name in SERVING_RESOURCES:
        lines.extend(_serving_lines(name, resources[name]))
    return lines
