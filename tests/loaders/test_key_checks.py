"""Key columns are checked before anything is written: NULL or duplicate keys (the `keys`
argument, or an existing table's primary key) and, on PostgreSQL, strings too long for an index
entry are refused with a `LoadError` naming the table, the column(s) and a row, in every mode;
the table is unchanged. A frame refused by its `keys` never opens a connection at all."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dag_io import PostgresResource, TursoResource
from dag_io.loaders import MAX_INDEX_KEY_BYTES, LoadError, check_key_values

MODES = [("replace", {}), ("replace_partitions", {"partition_columns": ["ym"]}),
         ("append", {}), ("upsert", {})]


def register(ids: list[int | None], ym: str = "2024-01", company: str = "x") -> pl.DataFrame:
    return pl.DataFrame({"ym": [ym] * len(ids), "id": pl.Series(ids, dtype=pl.Int64),
                         "company": [company] * len(ids)})


GOOD = register([1, 2, 3])
WITH_NULL = register([1, 2, None, 4])
WITH_DUPLICATE = register([1, 2, 3, 2])


def contents(target: PostgresResource | TursoResource) -> list[tuple]:
    return target.read("register").sort("ym", "id").rows()


def target_of(db: str, pg, turso_file) -> PostgresResource | TursoResource:
    return pg if db == "postgres" else turso_file


DBS = [pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"]


@pytest.mark.parametrize("db", DBS)
@pytest.mark.parametrize(("mode", "options"), MODES)
@pytest.mark.parametrize("keys_from", ["argument", "primary_key"])
def test_null_and_duplicate_keys_are_refused_before_any_write(
    db, pg, turso_file, mode, options, keys_from
) -> None:
    target = target_of(db, pg, turso_file)
    target.load("register", GOOD, mode="replace", keys=["ym", "id"])
    before = contents(target)
    # keys given, or (not upsert) left to the table's primary key found in the catalog
    keys = ["ym", "id"] if keys_from == "argument" or mode == "upsert" else []
    with pytest.raises(LoadError, match=r"table register: key column 'id' is NULL at row 2"):
        target.load("register", WITH_NULL, mode=mode, keys=keys, **options)
    duplicate = (r"table register: duplicate key \{'ym': '2024-01', 'id': 2\} "
                 r"in key columns \['ym', 'id'\] at rows \[1, 3\]")
    with pytest.raises(LoadError, match=duplicate):
        target.load("register", WITH_DUPLICATE, mode=mode, keys=keys, **options)
    assert contents(target) == before


def test_keys_are_refused_without_opening_a_connection(
    silent_server: tuple[str, int], tmp_path: Path
) -> None:
    """The check runs before connecting: a server that never answers is never asked, and the
    SQLite file is never created."""
    host, port = silent_server
    unreachable = PostgresResource(host=host, port=port, database="gold",
                                   connect_timeout_seconds=20)
    missing = tmp_path / "never" / "turso.db"
    for target in (unreachable, TursoResource(url=str(missing))):
        for frame in (WITH_NULL, WITH_DUPLICATE):
            started = time.monotonic()
            with pytest.raises(LoadError, match="nothing was loaded") as failure:
                target.load("register", frame, mode="upsert", keys=["ym", "id"])
            assert time.monotonic() - started < 10  # not the 20 s connect timeout
            assert "before connecting" in failure.value.__notes__[0]
    assert not missing.parent.exists()


@pytest.mark.parametrize("db", DBS)
def test_key_columns_are_not_null_in_the_ddl(db, pg, turso_file, fetch) -> None:
    target = target_of(db, pg, turso_file)
    target.load("register", GOOD, mode="append", keys=["ym", "id"])  # no contract: frame DDL
    if db == "postgres":
        got = fetch(target, "SELECT column_name, is_nullable FROM information_schema.columns "
                            "WHERE table_name = 'register' ORDER BY ordinal_position")
        assert got == [("ym", "NO"), ("id", "NO"), ("company", "YES")]
    else:
        got = fetch(target, "SELECT name, \"notnull\", pk FROM pragma_table_info('register')")
        assert got == [("ym", 1, 1), ("id", 1, 2), ("company", 0, 0)]


def test_tables_without_keys_take_nulls_and_repeats(turso_file: TursoResource) -> None:
    frame = pl.concat([WITH_NULL, WITH_DUPLICATE])
    assert turso_file.load("register", frame, mode="replace").rows == 8


def long_text(n_bytes: int) -> str:
    """Korean text of exactly `n_bytes` UTF-8 bytes (3 bytes a syllable, padded with 'a')."""
    return "가" * (n_bytes // 3) + "a" * (n_bytes % 3)


@pytest.mark.postgres
def test_postgres_refuses_strings_too_long_for_a_key_or_index(pg: PostgresResource,
                                                              fetch) -> None:
    pg.load("register", GOOD, mode="replace", keys=["ym", "id"])
    pg.execute('CREATE INDEX register_company_idx ON register ("company")')
    before = contents(pg)
    edge = register([7], company=long_text(MAX_INDEX_KEY_BYTES))
    assert pg.load("register", edge, mode="append").rows == 1  # exactly the limit: accepted

    too_long = pl.concat([GOOD.with_columns(id=pl.col("id") + 10),
                          register([20], company=long_text(MAX_INDEX_KEY_BYTES + 1))])
    for mode, options in MODES:
        keys = ["ym", "id"] if mode == "upsert" else []
        with pytest.raises(LoadError, match=r"table register: column\(s\) \['company'\] of index "
                                            r"register_company_idx hold 2001 UTF-8 bytes at "
                                            r"row 3, more than MAX_INDEX_KEY_BYTES=2000"):
            pg.load("register", too_long, mode=mode, keys=keys, **options)
    # A composite key counts its columns together: 1,500 + 1,500 bytes.
    pair = pl.DataFrame({"a": [long_text(1_500)], "b": [long_text(1_500)], "n": [1]})
    with pytest.raises(LoadError, match=r"column\(s\) \['a', 'b'\] of the key hold "
                                        r"3000 UTF-8 bytes at row 0"):
        pg.load("pairs", pair, mode="upsert", keys=["a", "b"])
    assert fetch(pg, "SELECT count(*) FROM pg_tables WHERE tablename = 'pairs'") == [(0,)]
    # The primary key of an existing table, found in the catalog (no keys given).
    pg.load("codes", pl.DataFrame({"code": ["a"]}), mode="replace", keys=["code"])
    with pytest.raises(LoadError, match=r"\['code'\] of index codes_pkey hold 2002 UTF-8 bytes"):
        pg.load("codes", pl.DataFrame({"code": [long_text(2_002)]}), mode="replace")
    assert fetch(pg, "SELECT code FROM codes") == [("a",)]
    assert contents(pg) == sorted([*before, *edge.rows()])


def test_sqlite_has_no_index_length_limit(turso_file: TursoResource) -> None:
    frame = register([1], company=long_text(5_000)).with_columns(ym=pl.lit(long_text(5_000)))
    assert turso_file.load("register", frame, mode="upsert", keys=["ym", "id"]).rows == 1


def test_check_key_values_names_the_first_offender() -> None:
    frame = pl.LazyFrame({"k": ["a", None, "b", "a"], "v": [1, 2, 3, 4]})
    with pytest.raises(LoadError, match=r"^t: key column 'k' is NULL at row 1 \(key \{'k': "):
        check_key_values(frame, "t", unique=["k"])
    with pytest.raises(LoadError, match=r"duplicate key \{'k': 'a'\} .* at rows \[0, 3\]"):
        check_key_values(frame.with_columns(pl.col("k").fill_null("c")), "t", unique=["k"])
    check_key_values(frame, "t", unique=["v"])  # unique, no NULL: accepted


_ids = st.lists(st.one_of(st.none(), st.integers(0, 40)), min_size=1, max_size=30)


@pytest.mark.parametrize("db", DBS)
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ids=_ids)
def test_property_bad_keys_are_always_refused_and_change_nothing(db, pg, turso_file,
                                                                 ids) -> None:
    target = target_of(db, pg, turso_file)
    target.load("register", GOOD, mode="replace", keys=["ym", "id"])
    before = contents(target)
    frame = register(ids, company="new")
    present = [i for i in ids if i is not None]
    bad = len(present) < len(ids) or len(set(present)) < len(present)
    if bad:
        with pytest.raises(LoadError, match=r"register: (key column 'id' is NULL|duplicate key)"):
            target.load("register", frame, mode="upsert", keys=["ym", "id"])
        assert contents(target) == before
    else:
        target.load("register", frame, mode="upsert", keys=["ym", "id"])
        expected = {row[:2]: row for row in before} | {row[:2]: row for row in frame.rows()}
        assert contents(target) == sorted(expected.values())
