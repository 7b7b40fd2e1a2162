"""The Arrow batches a load hands the driver: every row once, in order, and on PostgreSQL in
batches of about `send_batch_bytes` (socket-sized, so the server parses one batch while ADBC
encodes the next); SQLite keeps the collected chunks whole."""

from __future__ import annotations

import polars as pl
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from dag_io.loaders import BATCH_ROWS, _CountingBatches
from dag_io.postgres import DIALECT as POSTGRES
from dag_io.turso import DIALECT as SQLITE


def _frame(rows: int) -> pl.DataFrame:
    return pl.DataFrame({
        "id": list(range(rows)),
        "name": [f"회사{i % 97}" for i in range(rows)],
    }, schema={"id": pl.Int64, "name": pl.String})


@settings(max_examples=25, deadline=None)
@given(rows=st.integers(0, 20_000), send_bytes=st.sampled_from([None, 64, 4_096, 32 * 1024]))
def test_every_row_once_in_order_in_bounded_batches(rows: int, send_bytes: int | None) -> None:
    frame = _frame(rows)
    counting = _CountingBatches(frame.lazy(), frame.schema, send_bytes)
    batches = list(counting.reader())
    assert counting.rows == rows
    got = pl.from_arrow(pa.Table.from_batches(batches, schema=counting.schema))
    assert isinstance(got, pl.DataFrame)
    assert_frame_equal(got, frame)
    if send_bytes is None:
        assert all(b.num_rows <= BATCH_ROWS for b in batches)
    elif rows:
        per_row = frame.to_arrow().nbytes / rows
        limit = max(1, int(send_bytes // per_row) + 1)
        assert all(b.num_rows <= limit for b in batches)


def test_postgres_sends_socket_sized_batches_and_sqlite_whole_chunks() -> None:
    frame = _frame(100_000)
    pg = list(_CountingBatches(frame.lazy(), frame.schema, POSTGRES.send_batch_bytes).reader())
    sqlite = list(_CountingBatches(frame.lazy(), frame.schema, SQLITE.send_batch_bytes).reader())
    assert POSTGRES.send_batch_bytes == 32 * 1024 and SQLITE.send_batch_bytes is None
    assert max(b.nbytes for b in pg) <= 40 * 1024 and len(pg) > 50
    assert sum(b.num_rows for b in sqlite) == 100_000 and len(sqlite) <= 2
