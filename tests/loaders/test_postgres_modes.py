"""PostgresResource.load on a real PostgreSQL: every mode, exact contents, idempotent re-runs."""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import pandera.polars as pa
import polars as pl
import pytest

from contracts import contract_columns
from dag_io import LoadResult, PostgresResource
from dag_io.loaders import LoadError

pytestmark = pytest.mark.postgres

JAN, FEB, MAR = dt.date(2024, 1, 1), dt.date(2024, 2, 1), dt.date(2024, 3, 1)


def register(month: dt.date, names: list[str], base: int = 0) -> pl.DataFrame:
    """A small pension-register-like Gold frame: one row per workplace and month."""
    return pl.DataFrame(
        {
            "ym": [month] * len(names),
            "biz_no": [f"{month:%m}-{i}" for i in range(len(names))],
            "company": names,
            "members": pl.Series([base + i for i in range(len(names))], dtype=pl.Int64),
        }
    )


class Register(pa.DataFrameModel):
    """Contract of the test table: ym + biz_no is the key, company nullable."""

    ym: pl.Date = pa.Field(description="month")
    biz_no: str = pa.Field(description="business number")
    company: str = pa.Field(nullable=True, description="company name")
    members: pl.Int64 = pa.Field(ge=0, description="enrolled members")


def contents(fetch, pg: PostgresResource, table: str = "register") -> list[tuple]:
    return fetch(pg, f"SELECT ym, biz_no, company, members FROM {table} ORDER BY ym, biz_no")


def as_tuples(frame: pl.DataFrame) -> list[tuple]:
    return sorted(frame.select("ym", "biz_no", "company", "members").rows())


def test_replace_creates_then_swaps_and_is_idempotent(pg, fetch) -> None:
    first = register(JAN, ["삼성전자", "카카오"])
    result = pg.load("register", first.lazy(), mode="replace")
    assert isinstance(result, LoadResult)
    assert (result.table, result.rows) == ("register", 2)
    assert result.seconds > 0
    assert contents(fetch, pg) == as_tuples(first)

    second = pl.concat([register(FEB, ["네이버"]), register(MAR, ["LG", None])])
    for _ in range(2):  # idempotent
        assert pg.load("register", second, mode="replace").rows == 3
        assert contents(fetch, pg) == as_tuples(second)


def test_replace_keeps_indexes_and_constraints(pg, fetch) -> None:
    pg.load("register", register(JAN, ["a", "b"]), mode="replace", keys=["ym", "biz_no"])
    pg.execute('CREATE INDEX register_company_idx ON register ("company")')
    pg.load("register", register(FEB, ["c"]), mode="replace")
    pg.load("register", register(MAR, ["d"]), mode="replace")
    indexes = fetch(pg, "SELECT indexname FROM pg_indexes WHERE tablename = 'register' ORDER BY 1")
    assert indexes == [("register_company_idx",), ("register_pkey",)]
    assert contents(fetch, pg) == as_tuples(register(MAR, ["d"]))
    leftovers = fetch(pg, "SELECT relname FROM pg_class WHERE relname LIKE 'register\\_\\_%'")
    assert leftovers == []


def test_replace_partitions_replaces_exactly_the_frames_partitions(pg, fetch) -> None:
    pg.load("register", pl.concat([register(JAN, ["a", "b"]), register(FEB, ["c"])]),
            mode="replace_partitions", partition_columns=["ym"])
    new_feb = register(FEB, ["x", "y", "z"], base=10)
    mar = register(MAR, ["m"])
    for _ in range(2):  # idempotent
        result = pg.load("register", pl.concat([new_feb, mar]).lazy(),
                         mode="replace_partitions", partition_columns=["ym"])
        assert result.rows == 4
        expected = as_tuples(pl.concat([register(JAN, ["a", "b"]), new_feb, mar]))
        assert contents(fetch, pg) == expected


def test_replace_partitions_multi_column_and_null_partition(pg, fetch) -> None:
    def frame(rows: list[tuple]) -> pl.DataFrame:
        return pl.DataFrame(rows, schema={"day": pl.Date, "exchange": pl.String,
                                          "close": pl.Float64}, orient="row")

    pg.load("quotes", frame([(JAN, "KOSPI", 1.0), (JAN, "KOSDAQ", 2.0), (JAN, None, 3.0),
                             (FEB, "KOSPI", 4.0)]),
            mode="replace_partitions", partition_columns=["day", "exchange"])
    pg.load("quotes", frame([(JAN, "KOSPI", 10.0), (JAN, None, 30.0), (JAN, None, 31.0)]),
            mode="replace_partitions", partition_columns=["day", "exchange"])
    got = fetch(pg, "SELECT day, exchange, close FROM quotes ORDER BY close")
    assert got == [(JAN, "KOSDAQ", 2.0), (FEB, "KOSPI", 4.0), (JAN, "KOSPI", 10.0),
                   (JAN, None, 30.0), (JAN, None, 31.0)]


def test_append_adds_rows(pg, fetch) -> None:
    jan, feb = register(JAN, ["a"]), register(FEB, ["b", "c"])
    pg.load("register", jan, mode="append")
    assert pg.load("register", feb, mode="append").rows == 2
    assert contents(fetch, pg) == as_tuples(pl.concat([jan, feb]))


def test_upsert_inserts_and_updates_by_key_idempotently(pg, fetch) -> None:
    pg.load("register", register(JAN, ["a", "b"]), mode="upsert", keys=["ym", "biz_no"],
            columns=contract_columns(Register))
    change = pl.concat([register(JAN, ["a2"], base=7), register(FEB, ["c"])])
    for _ in range(2):
        assert pg.load("register", change, mode="upsert", keys=["ym", "biz_no"]).rows == 2
        assert contents(fetch, pg) == [(JAN, "01-0", "a2", 7), (JAN, "01-1", "b", 1),
                                       (FEB, "02-0", "c", 0)]
    assert fetch(pg, "SELECT count(*) FROM pg_class WHERE relname LIKE 'register\\_\\_%'") == [
        (0,)]


def test_contract_drives_ddl(pg, fetch) -> None:
    pg.load("gold.register", register(JAN, ["a"]), mode="append", keys=["ym", "biz_no"],
            columns=contract_columns(Register))
    columns = fetch(pg, """
        SELECT column_name, data_type, is_nullable FROM information_schema.columns
        WHERE table_schema = 'gold' AND table_name = 'register' ORDER BY ordinal_position""")
    assert columns == [("ym", "date", "NO"), ("biz_no", "text", "NO"),
                       ("company", "text", "YES"), ("members", "bigint", "NO")]
    pk = fetch(pg, """
        SELECT a.attname FROM pg_index i JOIN pg_attribute a
          ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
        WHERE i.indrelid = 'gold.register'::regclass AND i.indisprimary ORDER BY a.attname""")
    assert pk == [("biz_no",), ("ym",)]


def test_frame_must_match_existing_table_before_any_write(pg, fetch) -> None:
    original = register(JAN, ["a", "b"])
    pg.load("register", original, mode="replace")
    wrong_type = original.with_columns(pl.col("members").cast(pl.String))
    with pytest.raises(LoadError, match=r"register.*'members'.*String.*bigint"):
        pg.load("register", wrong_type, mode="replace")
    with pytest.raises(LoadError, match=r"frame columns not in the table: \['extra'\]"):
        pg.load("register", original.with_columns(extra=pl.lit(1)), mode="append")
    with pytest.raises(LoadError, match=r"columns missing from the frame: \['company'\]"):
        pg.load("register", original.drop("company"), mode="replace_partitions",
                partition_columns=["ym"])
    assert contents(fetch, pg) == as_tuples(original)


def test_safe_widening_and_column_order_are_accepted(pg, fetch) -> None:
    pg.load("register", register(JAN, ["a"]), mode="replace")
    narrower = register(FEB, ["b"]).with_columns(pl.col("members").cast(pl.Int32))
    pg.load("register", narrower.select(reversed(narrower.columns)), mode="append")
    assert contents(fetch, pg)[-1] == (FEB, "02-0", "b", 0)


def test_mode_arguments_are_checked(pg) -> None:
    frame = register(JAN, ["a"])
    with pytest.raises(LoadError, match="needs partition_columns"):
        pg.load("register", frame, mode="replace_partitions")
    with pytest.raises(LoadError, match="needs keys"):
        pg.load("register", frame, mode="upsert")
    with pytest.raises(LoadError, match="partition column 'month' is not a column"):
        pg.load("register", frame, mode="replace_partitions", partition_columns=["month"])
    with pytest.raises(LoadError, match="unknown load mode 'merge'"):
        pg.load("register", frame, mode="merge")  # type: ignore[arg-type]


def test_execute_binds_parameters(pg, fetch) -> None:
    pg.load("register", register(JAN, ["a", "b"]), mode="replace")
    pg.execute("DELETE FROM register WHERE company = $1", ("a",))
    assert [r[2] for r in contents(fetch, pg)] == ["b"]


def test_embedded_default_starts_server_and_creates_database(embedded_dir: Path, fetch) -> None:
    """host '' => pgserver under embedded_dir; concurrent first use from threads is safe."""
    resources = [PostgresResource(database=f"gold_{i % 2}", embedded_dir=str(embedded_dir))
                 for i in range(4)]

    def run(i: int) -> LoadResult:
        frame = pl.DataFrame({"amount": [Decimal("1.10")]})
        return resources[i].load(f"t{i}", frame, mode="replace")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = [f.result() for f in [pool.submit(run, i) for i in range(4)]]
    assert [r.rows for r in results] == [1, 1, 1, 1]
    assert fetch(resources[0], "SELECT current_database(), amount::text FROM t0") == [
        ("gold_0", "1.10")]
    assert fetch(resources[1], "SELECT tablename FROM pg_tables WHERE tablename LIKE 't%' "
                               "ORDER BY 1") == [("t1",), ("t3",)]


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
def test_replace_partitions_with_explicit_partitions_empties_a_month(
    db: str, pg, turso_file, fetch
) -> None:
    """The run's months are replaced even when one now has no rows (its old rows go)."""
    target = pg if db == "postgres" else turso_file
    target.load("register", pl.concat([register(JAN, ["가", "나"]), register(FEB, ["다"])]),
                mode="replace_partitions", partition_columns=("ym",),
                columns=contract_columns(Register))
    result = target.load(
        "register", register(FEB, ["라", "마"]), mode="replace_partitions",
        partition_columns=("ym",), columns=contract_columns(Register),
        partitions=pl.DataFrame({"ym": [JAN, FEB]}),
    )
    assert result.rows == 2
    assert [row[1] for row in contents(fetch, target)] == ["02-0", "02-1"]  # January emptied
    assert [row[2] for row in contents(fetch, target)] == ["라", "마"]


@pytest.mark.parametrize("db", ["postgres", "sqlite"])
def test_rows_outside_explicit_partitions_are_refused(db: str, pg, turso_file, fetch) -> None:
    target = pg if db == "postgres" else turso_file
    first = register(JAN, ["가"])
    target.load("register", first, mode="replace_partitions", partition_columns=("ym",),
                columns=contract_columns(Register))
    with pytest.raises(LoadError, match=r"rows outside the partitions being replaced"):
        target.load(
            "register", pl.concat([register(JAN, ["나"]), register(MAR, ["다"])]),
            mode="replace_partitions", partition_columns=("ym",),
            columns=contract_columns(Register), partitions=pl.DataFrame({"ym": [JAN]}),
        )
    # (SQLite keeps dates as ISO text: compare the other columns.)
    assert [row[1:] for row in contents(fetch, target)] == [row[1:] for row in as_tuples(first)]
