"""What the pipelines wrote where: lake tables, PostgreSQL tables and the Turso file, with rows."""

from __future__ import annotations

from collections.abc import Iterator

import dagster as dg

from dag_io import ArrowIOManager, LoadError, PostgresResource, TursoResource

SERVING_RESOURCES = (
    "nps_postgres", "cd_postgres", "is_postgres", "ss_postgres", "ds_postgres", "turso"
)


def _lake_lines(manager: ArrowIOManager, fmt: str) -> Iterator[str]:
    tables = manager.list_tables()
    yield f"  {fmt:<8} {manager.root_uri}" + ("" if tables else " (no tables yet)")
    for name, rows in tables:
        yield f"  {fmt:<8} {name:<40} {rows:>10,} rows"


def _where(resource: PostgresResource | TursoResource) -> str:
    if isinstance(resource, TursoResource):
        return resource.url
    return f"postgres database {resource.database!r}"


def _serving_lines(name: str, resource: dg.ConfigurableResource) -> Iterator[str]:
    """The database's tables with their row counts, through the resource's catalog API."""
    with dg.build_resources({name: resource}) as built:
        live: PostgresResource | TursoResource = getattr(built, name)
        yield f"  {name}: {_where(live)}"
        for table in live.tables():
            try:
                rows = f"{live.count_rows(table):>10,} rows"
            except LoadError as exc:  # a name the loaders refuse, or dropped since listed
                rows = f"(not counted: {exc})"
            yield f"    {table:<44} {rows}"


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
