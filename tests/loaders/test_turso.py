"""TursoResource on real SQLite files: every mode, rollback on failure, the text encodings of
dates/timestamps/decimals, and the file read back by pyturso with identical contents."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import adbc_driver_manager
import pandera.polars as pa
import polars as pl
import pytest
import turso
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import contract_columns
from dag_io import TursoResource
from dag_io.loaders import LoadError, load_frame
from dag_io.turso import DIALECT, PytursoCursor, database_file, is_remote

JAN, FEB = dt.date(2024, 1, 1), dt.date(2024, 2, 1)


class Digest(pa.DataFrameModel):
    """Contract of the test table (a monthly digest per workplace)."""

    ym: pl.Date = pa.Field(description="month")
    biz_no: str = pa.Field(description="business number")
    company: str = pa.Field(nullable=True, description="company name")
    amount: pl.Decimal(14, 2) = pa.Field(description="monthly amount")


def digest(month: dt.date, names: list[str | None], amount: str = "1.50") -> pl.DataFrame:
    return pl.DataFrame({
        "ym": [month] * len(names),
        "biz_no": [f"{month:%m}-{i}" for i in range(len(names))],
        "company": names,
        "amount": pl.Series([Decimal(amount)] * len(names), dtype=pl.Decimal(14, 2)),
    })


def read_with_pyturso(resource: TursoResource, sql: str) -> list[tuple]:
    conn = turso.connect(str(database_file(resource.url)))
    try:
        return [tuple(row) for row in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def stored(frame: pl.DataFrame) -> list[tuple]:
    """The digest frame as SQLite stores it (ISO dates, decimals as text with their scale)."""
    return sorted((f"{ym:%Y-%m-%d}", b, c, str(a)) for ym, b, c, a in frame.rows())


def digest_rows(resource: TursoResource) -> list[tuple]:
    return read_with_pyturso(resource, "SELECT * FROM digest ORDER BY ym, biz_no")


def test_every_mode_exact_contents_read_by_pyturso(turso_file: TursoResource) -> None:
    jan, feb = digest(JAN, ["삼성전자", None]), digest(FEB, ["카카오"])
    for _ in range(2):  # idempotent
        assert turso_file.load("digest", pl.concat([jan, feb]).lazy(), mode="replace",
                               keys=["ym", "biz_no"], columns=contract_columns(Digest)).rows == 3
        assert digest_rows(turso_file) == stored(pl.concat([jan, feb]))

    new_feb = digest(FEB, ["네이버", "LG"], amount="-0.05")
    for _ in range(2):
        turso_file.load("digest", new_feb, mode="replace_partitions", partition_columns=["ym"])
        assert digest_rows(turso_file) == stored(pl.concat([jan, new_feb]))

    dec = dt.date(2023, 12, 1)
    change = pl.concat([digest(JAN, ["삼성전자", "현대차"], amount="9.99"), digest(dec, ["SK"])])
    for _ in range(2):
        turso_file.load("digest", change, mode="upsert", keys=["ym", "biz_no"])
        assert digest_rows(turso_file) == stored(pl.concat([change, new_feb]))

    turso_file.load("digest", digest(dt.date(2024, 3, 1), ["x"]), mode="append")
    assert digest_rows(turso_file) == stored(
        pl.concat([change, new_feb, digest(dt.date(2024, 3, 1), ["x"])]))


def test_contract_ddl_not_null_primary_key(turso_file: TursoResource, fetch) -> None:
    turso_file.load("digest", digest(JAN, ["a"]), mode="append", keys=["ym", "biz_no"],
                    columns=contract_columns(Digest))
    info = fetch(turso_file, 'SELECT name, type, "notnull", pk FROM pragma_table_info(\'digest\')')
    assert info == [("ym", "DATE", 1, 1), ("biz_no", "TEXT", 1, 2), ("company", "TEXT", 0, 0),
                    ("amount", "DECIMAL_TEXT(14,2)", 1, 0)]


def test_type_encodings(turso_file: TursoResource) -> None:
    seoul = ZoneInfo("Asia/Seoul")
    frame = pl.DataFrame({
        "n": pl.Series([1, None], dtype=pl.Int64), "x": [0.25, None], "flag": [True, None],
        "at": [dt.datetime(2024, 1, 1, 9, 0, 0, 5, tzinfo=seoul), None],
        "local": [dt.datetime(2024, 1, 1, 9, 30), None],
        "price": pl.Series([Decimal("10.10"), None], dtype=pl.Decimal(10, 2)),
    })
    turso_file.load("typed", frame, mode="replace")
    assert read_with_pyturso(turso_file, "SELECT * FROM typed ORDER BY n NULLS LAST") == [
        (1, 0.25, 1, "2024-01-01T00:00:00.000005+00:00", "2024-01-01T09:30:00.000000", "10.10"),
        (None, None, None, None, None, None),
    ]


def test_failure_rolls_back_and_mismatch_is_refused(turso_file: TursoResource) -> None:
    good = digest(JAN, ["a", "b"])
    turso_file.load(
        "digest", good, mode="replace", keys=["ym", "biz_no"], columns=contract_columns(Digest)
    )
    bad = digest(FEB, ["c", "d"]).with_columns(
        amount=pl.when(pl.col("company") == "d").then(None).otherwise(pl.col("amount")))
    for mode, options in [("replace", {}), ("append", {}),
                          ("replace_partitions", {"partition_columns": ["ym"]}),
                          ("upsert", {"keys": ["ym", "biz_no"]})]:
        with pytest.raises(adbc_driver_manager.Error, match="NOT NULL"):
            turso_file.load("digest", bad, mode=mode, **options)
        assert digest_rows(turso_file) == stored(good)
    with pytest.raises(LoadError, match=r"'amount'.*does not fit table type DECIMAL_TEXT"):
        turso_file.load("digest", good.with_columns(pl.col("amount").cast(pl.Float64)),
                        mode="replace")
    assert digest_rows(turso_file) == stored(good)


def test_url_forms(tmp_path: Path) -> None:
    assert database_file("file:/srv/x.db") == Path("/srv/x.db")
    assert database_file("file:///srv/x.db") == Path("/srv/x.db")
    assert database_file("data/turso.db") == Path("data/turso.db")
    assert is_remote("libsql://db-org.turso.io") and is_remote("https://db-org.turso.io")
    assert not is_remote("file:data/turso.db")
    plain = TursoResource(url=str(tmp_path / "nested" / "dir" / "t.db"))
    plain.load("t", pl.DataFrame({"a": [1]}), mode="replace")
    plain.execute("CREATE INDEX t_a ON t (a)")
    assert read_with_pyturso(plain, "SELECT name FROM sqlite_master ORDER BY name") == [
        ("t",), ("t_a",)]


_rows = st.lists(st.tuples(
    st.one_of(st.none(), st.text(st.characters(codec="utf-8", exclude_characters="\x00"),
                                 max_size=12)),
    st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
    st.one_of(st.none(), st.floats(allow_nan=False)),
    st.one_of(st.none(), st.dates(dt.date(1, 1, 1), dt.date(9999, 12, 31))),
    st.one_of(st.none(), st.decimals(-(10**12) + 1, 10**12 - 1, places=3)),
), max_size=12)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(_rows)
def test_round_trip_property_through_pyturso(turso_file: TursoResource, rows: list) -> None:
    frame = pl.DataFrame(rows, orient="row", schema={
        "s": pl.String, "n": pl.Int64, "x": pl.Float64, "d": pl.Date,
        "m": pl.Decimal(15, 3)}).with_row_index("i")
    turso_file.load("prop", frame, mode="replace")
    got = read_with_pyturso(turso_file, "SELECT s, n, x, d, m FROM prop ORDER BY i")
    assert [r[:3] for r in got] == [r[:3] for r in rows]
    assert [r[3] for r in got] == [None if r[3] is None else r[3].isoformat() for r in rows]
    for (*_, text), (*_, value) in zip(got, rows, strict=True):
        assert (text is None) == (value is None)
        if text is not None:  # exact value and exactly three decimals
            assert Decimal(text) == value and len(text.split(".")[1]) == 3


def test_remote_path_sql_runs_on_tursos_own_engine(tmp_path: Path) -> None:
    """The remote path (pyturso cursor adapter) minus sync/push, on a local pyturso database."""
    conn = turso.connect(str(tmp_path / "replica.db"))
    cursor = PytursoCursor(conn)
    jan, feb = digest(JAN, ["가", None]), digest(FEB, ["나"])
    try:
        for mode, frame, options in [
            (
                "replace",
                pl.concat([jan, feb]),
                {"keys": ["ym", "biz_no"], "columns": contract_columns(Digest)},
            ),
            ("replace_partitions", digest(FEB, ["다"], "2.00"), {"partition_columns": ["ym"]}),
            ("upsert", digest(JAN, ["라"], "3.30"), {"keys": ["ym", "biz_no"]}),
            ("append", digest(dt.date(2024, 3, 1), ["마"]), {}),
        ]:
            assert load_frame(cursor, DIALECT, "digest", frame, mode=mode, **options).rows == len(
                frame)
            conn.commit()
        got = [tuple(r) for r in conn.execute("SELECT * FROM digest ORDER BY 1, 2").fetchall()]
    finally:
        conn.close()
    expected = [digest(JAN, ["라"], "3.30"), jan[1:], digest(FEB, ["다"], "2.00"),
                digest(dt.date(2024, 3, 1), ["마"])]
    assert got == stored(pl.concat(expected))
