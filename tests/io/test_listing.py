"""`list_tables()`: every table under a lake root with its accepted rows, from metadata only
(what the demo summary prints), for Delta and hive Parquet, locally and on S3."""

import pytest

from tests.io.conftest import Where
from tests.io.test_write_audit_publish import FORMATS, RunLake


@pytest.mark.parametrize("fmt", FORMATS)
def test_tables_and_rows_exclude_refused_and_kept_data(fmt: str, where: Where) -> None:
    lake = RunLake(fmt, where.root, "daily", **where.options)
    a, b, c = lake.keys
    lake.write({a: 1, b: 1}, "run-1")  # 6 rows
    lake.write({a: 2}, "run-2")  # replaces a: the old file is kept under _dag_audit/previous
    lake.write({c: 3}, "run-3")
    lake.refuse([c], "run-3")  # quarantined: not counted
    assert lake.manager.list_tables() == [("t", 6)]


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_empty_root_lists_nothing(fmt: str, lake_root: str) -> None:
    assert RunLake(fmt, lake_root, "daily").manager.list_tables() == []
