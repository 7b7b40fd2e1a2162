"""The resources' catalog API: `tables()` / `count_rows()` on PostgreSQL and SQLite files, and
PostgreSQL's typed index API (`IndexSpec`, `ensure_indexes`, `indexes`, `extension_status`):
idempotent, extension-aware, identifiers validated and quoted. Also the demo's summary, which
lists the serving tables through that API."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dagster as dg
import polars as pl
import psycopg
import pytest

from dag.summary import summarize
from dag_io import DeltaIOManager, ParquetIOManager, PostgresResource, TursoResource
from dag_io.loaders import LoadError
from dag_io.postgres import IndexSpec

DBS = [pytest.param("postgres", marks=pytest.mark.postgres), "sqlite"]
QUOTES = pl.DataFrame(
    {
        "day": pl.date_range(pl.date(2024, 1, 1), pl.date(2024, 1, 5), eager=True),
        "ticker": ["005930", "035720", "000660", "005930", "035720"],
        "n": [1, 2, 3, 4, 5],
        "name": ["삼성전자", "카카오", "SK하이닉스", "삼성전자", "카카오"],
    }
)
SPECS = (
    IndexSpec("quotes_ticker_idx", ("ticker",)),
    IndexSpec("quotes_ticker_day_idx", ("ticker", "day")),
    IndexSpec("quotes_day_brin", ("day",), method="brin"),
)


@pytest.fixture(params=DBS)
def serving(request, pg, turso_file) -> PostgresResource | TursoResource:
    return pg if request.param == "postgres" else turso_file


@pytest.fixture
def quotes(pg: PostgresResource) -> PostgresResource:
    """`pg` with table public.quotes (primary key n) loaded."""
    pg.load("public.quotes", QUOTES, mode="replace", keys=["n"])
    return pg


# --- tables() / count_rows() -------------------------------------------------------------------
def test_tables_and_row_counts(serving: PostgresResource | TursoResource) -> None:
    assert serving.tables() == []
    serving.load("quotes", QUOTES, mode="replace")
    serving.load("empty_table", QUOTES.head(0), mode="replace")
    if isinstance(serving, PostgresResource):
        serving.load("gold.quotes", QUOTES.head(2), mode="replace")
        expected = {"gold.quotes": 2, "public.empty_table": 0, "public.quotes": 5}
    else:
        # SQLite's own tables (sqlite_sequence here) are not listed.
        serving.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY AUTOINCREMENT)")
        serving.execute("INSERT INTO counter DEFAULT VALUES")
        expected = {"counter": 1, "empty_table": 0, "quotes": 5}
    assert serving.tables() == sorted(expected)
    assert {t: serving.count_rows(t) for t in serving.tables()} == expected


def test_count_rows_refuses_bad_and_missing_tables(
    serving: PostgresResource | TursoResource,
) -> None:
    with pytest.raises(LoadError, match="invalid table name"):
        serving.count_rows('quotes"; DROP TABLE x; --')
    with pytest.raises(LoadError, match="invalid table name"):
        serving.count_rows("a.b.c")
    with pytest.raises(LoadError, match="does not exist"):
        serving.count_rows("no_such_table")


# --- index API (PostgreSQL) --------------------------------------------------------------------
@pytest.mark.postgres
def test_ensure_indexes_creates_missing_ones_once(quotes: PostgresResource) -> None:
    first = quotes.ensure_indexes("public.quotes", SPECS)
    assert first.created == tuple(s.name for s in SPECS)
    assert first.existing == () and dict(first.skipped) == {}
    assert first.statements[0] == (
        'CREATE INDEX IF NOT EXISTS "quotes_ticker_idx" ON "public"."quotes" USING btree ("ticker")'
    )
    listed = quotes.indexes("public.quotes")
    assert listed.columns == ["index_name", "access_method", "definition"]
    assert listed.select("index_name", "access_method").rows() == [
        ("quotes_day_brin", "brin"),
        ("quotes_ticker_day_idx", "btree"),
        ("quotes_ticker_idx", "btree"),
    ]  # the primary key's index is not listed
    definitions = dict(listed.select("index_name", "definition").iter_rows())
    assert definitions["quotes_ticker_day_idx"] == (
        "CREATE INDEX quotes_ticker_day_idx ON public.quotes USING btree (ticker, day)"
    )

    again = quotes.ensure_indexes("quotes", SPECS)  # unqualified: the same table
    assert (again.statements, again.created) == ((), ())
    assert again.existing == first.created
    assert quotes.indexes("quotes").equals(listed)


@pytest.mark.postgres
def test_concurrent_calls_create_each_index_once(quotes: PostgresResource) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(quotes.ensure_indexes, "public.quotes", SPECS) for _ in range(3)]
        reports = [future.result(timeout=60) for future in futures]  # none of them failed
    created = [name for report in reports for name in report.created]
    assert sorted(created) == sorted(s.name for s in SPECS)
    assert quotes.indexes("public.quotes").height == len(SPECS)


@pytest.mark.postgres
def test_an_index_needing_a_missing_extension_is_skipped(quotes: PostgresResource) -> None:
    missing = IndexSpec(
        "quotes_name_trgm", ("name",), method="gin", opclass="gin_trgm_ops",
        extension="dag_no_such_extension",
    )
    report = quotes.ensure_indexes("public.quotes", [*SPECS, missing])
    assert dict(report.skipped) == {
        "quotes_name_trgm": "extension dag_no_such_extension is not available on this server"
    }
    assert report.created == tuple(s.name for s in SPECS)
    assert not any("EXTENSION" in s or "gin" in s for s in report.statements)
    status = report.extensions["dag_no_such_extension"]
    assert (status.installed, status.available, status.usable) == (False, False, False)
    assert status == quotes.extension_status("dag_no_such_extension")
    assert "quotes_name_trgm" not in quotes.indexes("public.quotes")["index_name"].to_list()


@pytest.mark.postgres
def test_an_installed_extension_needs_no_create_extension(quotes: PostgresResource) -> None:
    # plpgsql is installed in every database.
    spec = IndexSpec("quotes_n_idx", ("n", "ticker"), extension="plpgsql")
    report = quotes.ensure_indexes("public.quotes", [spec])
    assert report.created == ("quotes_n_idx",)
    assert report.statements == (
        'CREATE INDEX IF NOT EXISTS "quotes_n_idx" ON "public"."quotes" '
        'USING btree ("n", "ticker")',
    )


def _uninstalled_extension(pg: PostgresResource) -> str:
    """An extension the server offers that this database has not installed (e.g. pgserver's
    `vector`), or skip when there is none."""
    with pg.get_connection() as conn, conn.cursor() as cur:
        cur.execute("SELECT name FROM pg_available_extensions WHERE installed_version IS NULL "
                    "ORDER BY name = 'vector' DESC, name LIMIT 1")
        rows = cur.fetchall()
    if not rows:
        pytest.skip("the server offers no extension that is not installed yet")
    return rows[0][0]


@pytest.mark.postgres
def test_a_creatable_extension_is_created_first(quotes: PostgresResource) -> None:
    extension = _uninstalled_extension(quotes)
    before = quotes.extension_status(extension)
    assert (before.installed, before.available, before.creatable) == (False, True, True)
    spec = IndexSpec("quotes_day_idx", ("day",), extension=extension)
    report = quotes.ensure_indexes("public.quotes", [spec])
    assert report.statements[0] == f'CREATE EXTENSION IF NOT EXISTS "{extension}"'
    assert report.created == ("quotes_day_idx",)
    assert quotes.extension_status(extension).installed


@pytest.mark.postgres
def test_an_extension_this_login_may_not_create_is_skipped(
    quotes: PostgresResource, postgres_url: str
) -> None:
    extension = _uninstalled_extension(quotes)
    role = f"r_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN PASSWORD 'pw' NOSUPERUSER")
    try:
        plain = PostgresResource(host=quotes.host, port=quotes.port, user=role, password="pw",
                                 database=quotes.database)
        spec = IndexSpec("quotes_name_idx", ("name",), extension=extension)
        report = plain.ensure_indexes("public.quotes", [spec])
        assert report.statements == ()
        assert dict(report.skipped) == {
            "quotes_name_idx": f"extension {extension} is available but this login may not "
                               "create it"
        }
    finally:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f"DROP ROLE {role}")
    assert not quotes.extension_status(extension).installed


@pytest.mark.postgres
def test_index_api_refuses_bad_names_and_missing_targets(quotes: PostgresResource) -> None:
    for bad in ('x"; DROP TABLE quotes; --', "a b", "", "1st"):
        with pytest.raises(LoadError, match="invalid index name"):
            IndexSpec(bad, ("ticker",))
        with pytest.raises(LoadError, match="invalid column name"):
            IndexSpec("ok_idx", (bad,))
    with pytest.raises(LoadError, match="invalid operator class"):
        IndexSpec("ok_idx", ("name",), method="gin", opclass="gin_trgm_ops; --")
    with pytest.raises(LoadError, match="invalid extension name"):
        IndexSpec("ok_idx", ("name",), extension="pg-trgm")
    with pytest.raises(LoadError, match="unknown access method"):
        IndexSpec("ok_idx", ("name",), method="btree; DROP")  # type: ignore[arg-type]
    with pytest.raises(LoadError, match="non-empty tuple"):
        IndexSpec("ok_idx", "name")  # type: ignore[arg-type]
    with pytest.raises(LoadError, match="invalid extension name"):
        quotes.extension_status("x'; --")

    with pytest.raises(LoadError, match="invalid table name"):
        quotes.ensure_indexes('quotes"; DROP TABLE quotes; --', SPECS)
    with pytest.raises(LoadError, match="invalid table name"):
        quotes.indexes("a.b.c")
    with pytest.raises(LoadError, match="does not exist"):
        quotes.ensure_indexes("public.no_such_table", SPECS)
    with pytest.raises(LoadError, match="does not exist"):
        quotes.indexes("public.no_such_table")
    with pytest.raises(LoadError, match="given twice"):
        quotes.ensure_indexes("public.quotes", [SPECS[0], SPECS[0]])
    with pytest.raises(LoadError, match=r"no column\(s\) \['price'\]"):
        quotes.ensure_indexes("public.quotes", [*SPECS, IndexSpec("quotes_price", ("price",))])
    # Index names are unique per schema: a name another relation holds is refused, not
    # silently "created" by IF NOT EXISTS.
    quotes.load("public.other", QUOTES, mode="replace")
    quotes.ensure_indexes("public.other", [IndexSpec("taken_idx", ("n",))])
    with pytest.raises(LoadError, match="already has that name"):
        quotes.ensure_indexes("public.quotes", [*SPECS, IndexSpec("taken_idx", ("n",))])
    assert quotes.indexes("public.quotes").height == 0  # every refusal created nothing


# --- the demo's summary ------------------------------------------------------------------------
@pytest.mark.postgres
def test_summary_lists_serving_tables_with_row_counts(
    tmp_path: Path, pg: PostgresResource, turso_file: TursoResource
) -> None:
    pg.load("public.pension", QUOTES, mode="replace")
    turso_file.load("price", QUOTES.head(3), mode="replace")
    defs = dg.Definitions(
        resources={
            "delta_io_manager": DeltaIOManager(root_uri=str(tmp_path / "lake")),
            "parquet_io_manager": ParquetIOManager(root_uri=str(tmp_path / "lake")),
            **{f"{project}_postgres": pg for project in ("nps", "cd", "is", "ss", "ds")},
            "turso": turso_file,
        }
    )
    lines = summarize(defs)
    assert lines[:3] == [
        "Lake:",
        f"  delta    {tmp_path / 'lake'} (no tables yet)",
        f"  parquet  {tmp_path / 'lake'} (no tables yet)",
    ]
    assert lines[3:] == [
        "Serving databases:",
        *(
            line
            for project in ("nps", "cd", "is", "ss", "ds")
            for line in (
                f"  {project}_postgres: postgres database {pg.database!r}",
                f"    {'public.pension':<44} {5:>10,} rows",
            )
        ),
        f"  turso: {turso_file.url}",
        f"    {'price':<44} {3:>10,} rows",
    ]
