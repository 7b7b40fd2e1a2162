"""Dagster metadata built from Polars frames: a Markdown preview of the first rows (with masked
PII columns) and the column schema shown in the asset catalog."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import polars as pl

MASK = "***"
MAX_CELL = 60


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").replace("\r", " ")
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def preview_markdown(df: pl.DataFrame, n: int = 10, mask: Sequence[str] = ()) -> str:
    """The first `n` rows as a Markdown table; columns in `mask` are shown as `***`."""
    head = df.head(n)
    masked = set(mask)
    columns = head.columns
    lines = [
        "| " + " | ".join(_cell(c) for c in columns) + " |",
        "| " + " | ".join("---" for _ in columns) + " |",
    ]
    cols = [[MASK] * head.height if c in masked else head.get_column(c).to_list() for c in columns]
    for i in range(head.height):
        lines.append("| " + " | ".join(_cell(col[i]) for col in cols) + " |")
    if not columns:
        return "(no columns)"
    return "\n".join(lines)


def table_schema(schema: pl.Schema) -> dg.TableSchema:
    """A Dagster table schema (column names and Polars type names) for the catalog."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in schema.items()]
    )
