"""Streamed partition writes for `DeltaIOManager`: Parquet data files written as the batches
arrive and committed to the Delta table in one transaction.

`write_deltalake` gathers its whole input before it writes (delta-io/delta-rs#2255), so a
12-month backfill held 12 months of Arrow batches at once. Here the output comes in parts (an
asset's range output given per partition, `dag_io.base.output_parts`), each streamed in
batches; a partition's rows are buffered up to `FILE_BYTES` or the part's end and
then written as one Parquet file by Polars (multi-threaded: a 1,000,000-row partition in about
0.75 of `write_deltalake`'s time). Memory is thus one part's rows, whatever the number of
partitions. The files become visible in one `overwrite` commit of exactly the written
partitions; until then no reader sees them, and when anything fails before the commit they are
deleted before the error propagates.

Used only for a range given per partition: `create_write_transaction` takes no read predicate,
so its commit conflicts with any concurrent commit that removed files anywhere in the table (a
second run writing other partitions at the same time fails with Delta's conflict error, nothing
lost), where `write_deltalake`'s partition predicate lets such writers commit side by side.

Each file's Delta statistics (`numRecords`, `nullCount`, and `minValues`/`maxValues` of
integer, date and short string columns, whose Parquet order is Delta's) are computed from its
rows, so MERGE still skips files by key range.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import time
from collections.abc import Iterable
from typing import Any

import polars as pl
from deltalake import CommitProperties, DeltaTable
from deltalake.transaction import AddAction, RemoveAction

from dag_io.base import WriteTarget
from dag_io.partitioning import PartitionLayout
from dag_io.storage import filesystem

FILE_BYTES = 96 * 1024 * 1024  # rows (Arrow size) buffered per partition before a file is written
WRITE_ID = "dag_io.write_id"  # commit metadata: the write that made the version
COMMITS_SEARCHED = 20  # recent commits searched first for our own commit
STAT_STRING_CHARS = 32  # longer strings get no min/max (Delta readers may truncate, we omit)
_BOUNDED = (pl.Date, pl.String)  # with the integers: types whose min/max a file records
_SAFE_VALUE = re.compile(r"[A-Za-z0-9_.\-]+")  # stored as-is in a path and a URI: no escaping


def streamable(target: WriteTarget, table: DeltaTable, schema: pl.Schema) -> bool:
    """Whether a partitioned write can stream: same columns as the table, Date/String partition
    values that need no escaping, and partitions Delta's filter can name exactly (one column, or
    a cross product of the columns' values). Otherwise `write_deltalake` writes it."""
    layout, values = target.layout, target.values
    if layout is None or values is None or values.height == 0:
        return False
    if set(schema.names()) != set(table.schema().to_arrow().names):
        return False
    if any(c.dtype not in (pl.Date, pl.String) for c in layout.columns):
        return False
    text = values.select(pl.all().cast(pl.String))
    if not all(_SAFE_VALUE.fullmatch(v) for s in text.iter_columns() for v in s):
        return False
    return _filters(layout, values) is not None


def _filters(layout: PartitionLayout, values: pl.DataFrame) -> list[Any] | None:
    """Delta partition filters selecting exactly `values` (None when no conjunction can)."""
    per_column = {c: values.get_column(c).unique(maintain_order=True) for c in layout.names}
    size = 1
    for s in per_column.values():
        size *= len(s)
    if size != values.height:  # not a cross product: `values` are unique rows
        return None
    return [(c, "in", s.cast(pl.String).to_list()) for c, s in per_column.items()]


def write_partitions(
    table: DeltaTable,
    parts: Iterable[Iterable[pl.DataFrame]],
    target: WriteTarget,
    options: dict[str, str],
    commit: CommitProperties,
    write_id: str,
) -> None:
    """Write `parts` (each a stream of batches of rows of `target`'s partitions, already
    checked) as data files and replace those partitions with them in one commit (`commit`
    carries `write_id`). A part's files are complete when its stream ends."""
    assert target.layout is not None and target.values is not None
    layout, names = target.layout, target.layout.names
    fs, root = filesystem(target.uri, options)
    pending: dict[tuple[Any, ...], list[pl.DataFrame]] = {}
    added: list[AddAction | RemoveAction] = []
    written: list[str] = []

    def flush(key: tuple[Any, ...]) -> None:
        rows = pl.concat(pending.pop(key), how="vertical").drop(names)
        row = dict(zip(names, key, strict=True))
        folder = layout.hive_path(row)
        path = f"{folder}/part-{len(written):05d}-{write_id}-c000.snappy.parquet"
        buffer = io.BytesIO()
        rows.write_parquet(buffer, compression="snappy")
        fs.create_dir(f"{root}/{folder}", recursive=True)
        written.append(path)
        with fs.open_output_stream(f"{root}/{path}") as sink:
            sink.write(buffer.getbuffer())
        values = {c: _partition_text(row[c]) for c in names}
        stats = json.dumps(_stats(rows), ensure_ascii=False)  # see _stats
        modified = int(time.time() * 1000)
        added.append(AddAction(path, buffer.tell(), values, modified, True, stats))

    try:
        for batches in parts:
            for batch in batches:
                for key, rows in batch.partition_by(names, as_dict=True).items():
                    pending.setdefault(key, []).append(rows)
                    if sum(df.estimated_size() for df in pending[key]) >= FILE_BYTES:
                        flush(key)
            for key in list(pending):
                flush(key)
        table.create_write_transaction(
            added,
            mode="overwrite",
            schema=table.schema(),
            partition_by=names,
            partition_filters=_filters(layout, target.values),
            commit_properties=commit,
        )
    except BaseException:
        # nothing of ours is visible unless the commit went through (and only a post-commit
        # hook failed): then the files are the table's and must stay
        if commit_version(target.uri, options, write_id, COMMITS_SEARCHED) is None:
            for path in written:
                fs.delete_file(f"{root}/{path}")
        raise


def commit_version(
    uri: str, options: dict[str, str], write_id: str, limit: int | None
) -> int | None:
    """The table version whose commit carries `write_id` among the last `limit` commits (all
    when None), or None."""
    for entry in DeltaTable(uri, storage_options=options).history(limit):
        if entry.get(WRITE_ID) == write_id:
            return int(entry["version"])
    return None


def _partition_text(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def _stats(rows: pl.DataFrame) -> dict[str, Any]:
    """Delta statistics of one file's rows: top-level columns; bounds only where Parquet's
    order is Delta's (integers, dates, strings of at most `STAT_STRING_CHARS`; no floats, whose
    NaN has no place in it). Written as raw UTF-8 JSON: delta-rs decodes the \\u surrogate
    pairs of characters past U+FFFF wrongly."""
    flat = [c for c, t in rows.schema.items() if not t.is_nested()]
    bounded = [c for c in flat if rows.schema[c].is_integer() or rows.schema[c] in _BOUNDED]
    found = rows.select(
        *(pl.col(c).null_count().alias(f"n:{c}") for c in flat),
        *(pl.col(c).min().alias(f"lo:{c}") for c in bounded),
        *(pl.col(c).max().alias(f"hi:{c}") for c in bounded),
    ).row(0, named=True)
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    for c in bounded:
        low, high = found[f"lo:{c}"], found[f"hi:{c}"]
        if low is None or (isinstance(low, str) and max(len(low), len(high)) > STAT_STRING_CHARS):
            continue
        mins[c], maxs[c] = _json_value(low), _json_value(high)
    return {
        "numRecords": rows.height,
        "minValues": mins,
        "maxValues": maxs,
        "nullCount": {c: found[f"n:{c}"] for c in flat},
    }


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, dt.date) else value
