"""Identifiers (schema, table, column, partition and key names) are validated and quoted:
malicious names are refused before anything reaches the database."""

from __future__ import annotations

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dag_io.loaders import LoadError, TableName, quote, validate_identifier

MALICIOUS = ["x; drop table y", 'a"b', "t--", "", "1abc", "a b", "a\x00", "tab\tle", "a'b",
             "x;", "t\n", "a.b.c", "ａ;", "y/*", "a" * 64]


@pytest.mark.parametrize("name", MALICIOUS)
def test_bad_identifiers_are_rejected(name: str) -> None:
    with pytest.raises(LoadError, match="invalid"):
        validate_identifier(name)


def test_good_identifiers_are_quoted() -> None:
    assert quote("nps_his_digest") == '"nps_his_digest"'
    assert quote("국민연금_월별") == '"국민연금_월별"'
    assert TableName.parse("gold.NpsDigest").sql == '"gold"."NpsDigest"'
    assert str(TableName.parse("gold.t")) == "gold.t"


@given(st.text(max_size=80))
def test_quoted_identifiers_cannot_break_out(name: str) -> None:
    try:
        quoted = quote(name)
    except LoadError:
        return
    inner = quoted[1:-1]
    assert inner == name
    assert all(ch.isalnum() or ch == "_" for ch in inner)
    assert len(inner.encode()) <= 63


def _malicious_loads(name: str) -> list[dict]:
    frame = pl.DataFrame({"a": [1], "b": ["x"]})
    return [
        {"table": name, "frame": frame, "mode": "replace"},
        {"table": f"{name}.t", "frame": frame, "mode": "append"},
        {"table": "t", "frame": frame.rename({"a": name}), "mode": "append"},
        {"table": "t", "frame": frame, "mode": "replace_partitions", "partition_columns": [name]},
        {"table": "t", "frame": frame, "mode": "upsert", "keys": [name]},
    ]


@pytest.mark.postgres
def test_postgres_refuses_malicious_names_and_touches_nothing(pg, fetch) -> None:
    pg.load("y", pl.DataFrame({"a": [1]}), mode="replace")
    for call in _malicious_loads("x; drop table y"):
        with pytest.raises(LoadError, match="invalid"):
            pg.load(**call)
    assert fetch(pg, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'") == [("y",)]
    assert fetch(pg, "SELECT a FROM y") == [(1,)]


def test_turso_refuses_malicious_names_and_touches_nothing(turso_file, fetch) -> None:
    turso_file.load("y", pl.DataFrame({"a": [1]}), mode="replace")
    for call in _malicious_loads('y"; DROP TABLE y; --'):
        with pytest.raises(LoadError, match="invalid"):
            turso_file.load(**call)
    assert fetch(turso_file, "SELECT name FROM sqlite_master") == [("y",)]
