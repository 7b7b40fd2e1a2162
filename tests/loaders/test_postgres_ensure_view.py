"""`PostgresResource.ensure_view`: CREATE OR REPLACE VIEW from a reviewed SELECT, idempotent, one
statement only, and a failed replacement leaves the previous view in place."""

from __future__ import annotations

import adbc_driver_manager
import polars as pl
import psycopg
import pytest

from dag_io import LoadError, PostgresResource

pytestmark = pytest.mark.postgres

PRICES = pl.DataFrame({"model": ["a", "b", "c"], "price": [300, 100, 200]},
                      schema={"model": pl.String, "price": pl.Int64})


@pytest.fixture
def prices(postgres_resource: PostgresResource) -> PostgresResource:
    postgres_resource.load("prices", PRICES, mode="replace", keys=["model"])
    return postgres_resource


def _views(resource: PostgresResource) -> dict[str, str]:
    with psycopg.connect(resource.uri()) as conn:
        rows = conn.execute(
            "SELECT table_name, view_definition FROM information_schema.views "
            "WHERE table_schema = 'public'"
        ).fetchall()
    return {name: definition for name, definition in rows}


def test_ensure_view_is_idempotent_and_replaces_in_place(prices: PostgresResource) -> None:
    select = "SELECT model, price FROM prices WHERE price < 250"
    prices.ensure_view("cheap", select)
    prices.ensure_view("cheap", select + ";\n")  # again, with a trailing semicolon: no error
    assert list(_views(prices)) == ["cheap"]
    assert sorted(prices.read("cheap")["model"]) == ["b", "c"]
    # replaced in place: the same name, a new body (columns may be added at the end)
    prices.ensure_view("cheap", "SELECT model, price, price * 2 AS doubled FROM prices "
                                "WHERE price < 150")
    assert prices.read("cheap").rows() == [("b", 100, 200)]
    # schema-qualified names work too
    prices.ensure_view("public.all_prices", "SELECT model FROM prices")
    assert set(_views(prices)) == {"cheap", "all_prices"}
    assert prices.count_rows("all_prices") == 3


@pytest.mark.parametrize(
    "select",
    [
        "SELECT 1; DROP TABLE prices",
        "SELECT model FROM prices; SELECT 2;",
    ],
)
def test_a_second_statement_is_refused_before_anything_runs(
    prices: PostgresResource, select: str
) -> None:
    with pytest.raises(LoadError, match="postgres view sneaky: the SELECT holds more than one"):
        prices.ensure_view("sneaky", select)
    assert "sneaky" not in _views(prices)
    assert prices.count_rows("prices") == 3  # the DROP never ran


def test_an_invalid_name_is_refused(prices: PostgresResource) -> None:
    with pytest.raises(LoadError):
        prices.ensure_view('cheap"; DROP TABLE prices; --', "SELECT 1")
    assert prices.count_rows("prices") == 3


def test_a_bad_select_fails_clearly_and_keeps_the_previous_view(
    prices: PostgresResource,
) -> None:
    prices.ensure_view("cheap", "SELECT model, price FROM prices WHERE price < 250")
    before = _views(prices)["cheap"]
    # The driver's error names the statement (the view) and PostgreSQL's reason.
    with pytest.raises(adbc_driver_manager.Error,
                       match=r'VIEW "cheap" AS .*relation "no_such_table" does not exist'):
        prices.ensure_view("cheap", "SELECT model, price FROM no_such_table")
    with pytest.raises(adbc_driver_manager.Error,
                       match=r'column "no_such_column" does not exist'):
        prices.ensure_view("cheap", "SELECT model, no_such_column FROM prices")
    # dropping a column is not a replacement PostgreSQL allows: refused, view unchanged
    with pytest.raises(adbc_driver_manager.Error, match="cannot drop columns from view"):
        prices.ensure_view("cheap", "SELECT model FROM prices")
    assert _views(prices)["cheap"] == before
    assert sorted(prices.read("cheap")["model"]) == ["b", "c"]
