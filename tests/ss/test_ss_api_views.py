"""The SS JSON API views (`dag/seed/ss_views.sql`) on a fixed small data set in PostgreSQL:
every document against the one expected, written out by hand."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import dagster as dg
import polars as pl
import pytest

from contracts import contract_columns, key_columns, polars_schema
from contracts.ss import SsAggregatesDailyServing, SsDealsServing
from dag.ss_serving_loads import VIEWS, ss_api_views_postgres, ss_api_views_postgres_contract

pytestmark = pytest.mark.postgres

DAY1, DAY2 = dt.date(2026, 11, 30), dt.date(2026, 12, 1)
DEALS = [
    {  # 2,000,000 / 24 = 83,333.3: the monthly TCO rounds up
        "deal_hash": "a" * 32, "post_id": "101", "url": "https://p.example/101", "scenario": 1,
        "source_posted_at": DAY2, "model": "갤럭시 S25", "capacity": "256GB", "carrier": "SKT",
        "move_type": "번호이동", "contract": "공시지원", "payment": "현금완납",
        "channel": "오프라인", "city": "서울", "store": "강남점", "upfront": 350_000,
        "support_cash": 100_000, "tco_total": 2_000_000, "tco_net": 1_900_000,
    },
    {  # 1,200,000 / 24 = 50,000 exactly; unknown capacity, city and store stay null
        "deal_hash": "b" * 32, "post_id": "102", "url": "https://p.example/102", "scenario": 2,
        "source_posted_at": DAY1, "model": "아이폰 16", "capacity": None, "carrier": "KT",
        "move_type": "기기변경", "contract": "선택약정", "payment": None, "channel": "온라인",
        "city": None, "store": None, "upfront": 0, "support_cash": None,
        "tco_total": 1_200_000, "tco_net": 1_200_000,
    },
]
AGGREGATES = [
    ("갤럭시 S25", "256GB", DAY1, 1_000_000.0, 1_100_000.0, 1_200_000.0, 1_300_000.0,
     1_500_000.0, 1_234_567.89, 4),
    ("갤럭시 S25", "256GB", DAY2, 900_000.0, 950_000.0, 1_000_000.0, 1_050_000.0, 1_100_000.0,
     1_000_000.04, 3),
    ("아이폰 16", "128GB", DAY2, 1_200_000.0, 1_200_000.0, 1_200_000.0, 1_200_000.0,
     1_200_000.0, 1_200_000.0, 1),
]

EXPECTED_DEALS = {
    "a" * 32: {
        "deal_hash": "a" * 32, "post_id": "101", "url": "https://p.example/101",
        "posted": "2026-12-01", "model": "갤럭시 S25", "capacity": "256GB", "carrier": "SKT",
        "move_type": "번호이동", "contract": "공시지원", "payment": "현금완납",
        "channel": "오프라인", "city": "서울", "store": "강남점", "upfront": 350000,
        "support_cash": 100000, "tco_total": 2000000, "tco_net": 1900000, "tco_monthly": 83334,
    },
    "b" * 32: {
        "deal_hash": "b" * 32, "post_id": "102", "url": "https://p.example/102",
        "posted": "2026-11-30", "model": "아이폰 16", "capacity": None, "carrier": "KT",
        "move_type": "기기변경", "contract": "선택약정", "payment": None, "channel": "온라인",
        "city": None, "store": None, "upfront": 0, "support_cash": None, "tco_total": 1200000,
        "tco_net": 1200000, "tco_monthly": 50000,
    },
}
EXPECTED_DAILY = {
    ("갤럭시 S25", "256GB"): {
        "model": "갤럭시 S25", "capacity": "256GB", "days": [
            {"date": "2026-11-30", "min": 1000000, "p25": 1100000, "median": 1200000,
             "p75": 1300000, "max": 1500000, "avg": 1234567.9, "n": 4},
            {"date": "2026-12-01", "min": 900000, "p25": 950000, "median": 1000000,
             "p75": 1050000, "max": 1100000, "avg": 1000000.0, "n": 3},
        ],
    },
    ("아이폰 16", "128GB"): {
        "model": "아이폰 16", "capacity": "128GB", "days": [
            {"date": "2026-12-01", "min": 1200000, "p25": 1200000, "median": 1200000,
             "p75": 1200000, "max": 1200000, "avg": 1200000.0, "n": 1},
        ],
    },
}
EXPECTED_LATEST = {
    ("갤럭시 S25", "256GB"): {"model": "갤럭시 S25", "capacity": "256GB", "date": "2026-12-01",
                             "min": 900000, "median": 1000000, "max": 1100000, "n": 3},
    ("아이폰 16", "128GB"): {"model": "아이폰 16", "capacity": "128GB", "date": "2026-12-01",
                            "min": 1200000, "median": 1200000, "max": 1200000, "n": 1},
}


def _load_fixed_set(postgres_resource: Any) -> None:
    deals_schema = polars_schema(SsDealsServing)
    deals = pl.DataFrame(
        [{name: row.get(name) for name in deals_schema} for row in DEALS], schema=deals_schema
    ).with_columns(
        flags=pl.lit("intent_deal"), advertorial_score=pl.lit(0.0),
        parsed_at=pl.lit(dt.datetime(2026, 12, 1, 3, tzinfo=dt.UTC)),
    )
    aggregates = pl.DataFrame(AGGREGATES, schema=polars_schema(SsAggregatesDailyServing),
                              orient="row")
    for table, frame, contract in (("deals", deals, SsDealsServing),
                                   ("aggregates_daily", aggregates, SsAggregatesDailyServing)):
        postgres_resource.load(table, frame, mode="replace", keys=key_columns(contract),
                               columns=contract_columns(contract))


def _docs(postgres_resource: Any, view: str, *key: str) -> dict[Any, dict[str, Any]]:
    rows = postgres_resource.read(view).iter_rows(named=True)
    docs = {}
    for row in rows:
        doc = json.loads(row["doc"]) if isinstance(row["doc"], str) else row["doc"]
        docs[tuple(row[k] for k in key) if len(key) > 1 else row[key[0]]] = doc
    return docs


def test_views_return_the_expected_documents_and_are_recreated_idempotently(
    postgres_resource: Any,
) -> None:
    _load_fixed_set(postgres_resource)
    with dg.instance_for_test() as instance:
        for _ in range(2):  # the second run replaces the views in place
            result = dg.materialize(
                [ss_api_views_postgres, ss_api_views_postgres_contract],
                resources={"ss_postgres": postgres_resource}, instance=instance,
            )
            assert result.success
            (check,) = result.get_asset_check_evaluations()
            assert check.passed
    assert set(VIEWS) <= {
        name.split(".")[-1] for name in _view_names(postgres_resource)
    }
    deals = _docs(postgres_resource, "api_deals_json", "deal_hash")
    assert deals == EXPECTED_DEALS
    assert _docs(postgres_resource, "api_reports_daily_json", "model", "capacity") == (
        EXPECTED_DAILY
    )
    assert _docs(postgres_resource, "api_reports_daily_latest_json", "model", "capacity") == (
        EXPECTED_LATEST
    )


def test_views_follow_the_tables(postgres_resource: Any) -> None:
    """Views, not copies: a new day in aggregates_daily becomes the latest report at once."""
    _load_fixed_set(postgres_resource)
    with dg.instance_for_test() as instance:
        assert dg.materialize([ss_api_views_postgres],
                              resources={"ss_postgres": postgres_resource},
                              instance=instance).success
    later = pl.DataFrame(
        [("아이폰 16", "128GB", dt.date(2026, 12, 2), 1.0e6, 1.0e6, 1.0e6, 1.0e6, 1.0e6, 1.0e6,
          1)], schema=polars_schema(SsAggregatesDailyServing), orient="row")
    postgres_resource.load("aggregates_daily", later, mode="upsert",
                           keys=key_columns(SsAggregatesDailyServing),
                           columns=contract_columns(SsAggregatesDailyServing))
    latest = _docs(postgres_resource, "api_reports_daily_latest_json", "model", "capacity")
    assert latest[("아이폰 16", "128GB")]["date"] == "2026-12-02"
    assert latest[("갤럭시 S25", "256GB")] == EXPECTED_LATEST[("갤럭시 S25", "256GB")]
    daily = _docs(postgres_resource, "api_reports_daily_json", "model", "capacity")
    assert [d["date"] for d in daily[("아이폰 16", "128GB")]["days"]] == [
        "2026-12-01", "2026-12-02"]


def _view_names(postgres_resource: Any) -> list[str]:
    import psycopg

    with psycopg.connect(postgres_resource.uri()) as conn:
        return [name for (name,) in conn.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'public'"
        ).fetchall()]
