"""Dagster metadata built from Polars frames: a Markdown preview of the first rows (with masked
PII columns) and the column schema shown in the asset catalog."""

from __future__ import annotations

import re
from collections.abc import Sequence

import dagster as dg
import polars as pl

MASK = "***"
MAX_CELL = 60
# Line breaks and other control characters would break a Markdown table row.
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
PREVIEW_CHARS = 1_000  # dagster-webserver renders shorter Markdown inline (MetadataEntry)
MIN_PREVIEW_ROWS = 3  # fewer columns rather than fewer than this many rows


def _cell(value: object) -> str:
    text = "" if value is None else str(value)
    text = _CONTROL.sub(" ", text.replace("\\", "\\\\").replace("|", "\\|"))
    return text if len(text) <= MAX_CELL else text[: MAX_CELL - 1] + "…"


def preview_markdown(df: pl.DataFrame, n: int = 10, mask: Sequence[str] = ()) -> str:
    """The first rows (up to `n`) as a Markdown table; columns in `mask` are shown as `***`.

    The preview fits the Dagster UI's inline limit for Markdown metadata (dagster-webserver shows
    Markdown under 1,000 characters inline and anything longer behind "[Show Markdown]"), so it
    renders the same way on every asset: a wide table shows as many of its first columns as
    leave room for three rows, with a last column `(+N columns)`, and as many of the first rows
    as fit; the column schema lists every column.
    """
    if not df.columns:
        return "(no columns)"
    head = df.head(n)
    masked = set(mask)
    cells = {
        c: [MASK] * head.height if c in masked else [_cell(v) for v in head.get_column(c)]
        for c in head.columns
    }
    columns = list(head.columns)
    while True:
        more = len(head.columns) - len(columns)
        names = [_cell(c) for c in columns] + ([f"(+{more} columns)"] if more else [])
        lines = ["| " + " | ".join(names) + " |", "| " + " | ".join("---" for _ in names) + " |"]
        for i in range(head.height):
            row = "| " + " | ".join([cells[c][i] for c in columns] + ([""] if more else [])) + " |"
            if len("\n".join([*lines, row])) >= PREVIEW_CHARS:
                break
            lines.append(row)
        fits = len(lines) - 2 >= min(MIN_PREVIEW_ROWS, head.height)
        if (fits and len("\n".join(lines)) < PREVIEW_CHARS) or len(columns) == 1:
            return "\n".join(lines)
        columns = columns[:-1]


def table_schema(schema: pl.Schema) -> dg.TableSchema:
    """A Dagster table schema (column names and Polars type names) for the catalog."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name=name, type=str(dtype)) for name, dtype in schema.items()]
    )
