"""Serving loads on literal silver frames: PostgreSQL and a Turso file get identical tables."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import dagster as dg
import polars as pl

from dag import cd_serving_loads as loads
from dag.cd_display_processing import search_names
from dag.cd_metrics_rules import company_metrics, latest_security_metrics, security_ranks
from dag.cd_serving_loads import TABLES
from dag_io import PostgresResource, TursoResource

D1, D2, D3 = dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)
NS = uuid.UUID("6ba7b811-9dad-11d1-80b4-00c04fd430c8")


def sid(ticker: str, exchange: str) -> str:
    return str(uuid.uuid5(NS, f"{ticker}:{exchange}"))


def cid(name: str) -> str:
    return str(uuid.uuid5(NS, name))


SECURITIES = [  # ticker, exchange, name, type, company, listed, last, delisted
    ("005930", "KOSPI", "삼성전자", "보통주", "삼성전자", D1, D3, None),
    ("005935", "KOSPI", "삼성전자우", "우선주", "삼성전자", D1, D3, None),
    ("033780", "KOSPI", "KT&G", "보통주", "KT&G", D1, D3, None),
    ("066570", "KOSPI", "LG전자", "보통주", "LG전자", D1, D2, D3),  # delisted on D3
    ("440000", "KOSDAQ", "미래에셋대우스팩5호", "스팩", None, D1, D3, None),
]


def security() -> pl.LazyFrame:
    rows = [
        {"security_id": sid(t, x), "ticker": t, "exchange": x, "name": n, "security_type": ty,
         "company_name": c, "company_id": cid(c) if c else None, "listing_date": a,
         "last_listed_date": b, "delisting_date": d, "is_active": d is None}
        for t, x, n, ty, c, a, b, d in SECURITIES
    ]  # fmt: skip
    return pl.LazyFrame(rows, schema_overrides={"delisting_date": pl.Date})


def company() -> pl.LazyFrame:
    names = ["삼성전자", "KT&G", "LG전자"]
    return pl.LazyFrame(
        {"company_id": [cid(n) for n in names], "company_name": names,
         "security_count": [2, 1, 1], "active_security_count": [2, 1, 0],
         "listing_date": [D1, D1, D1], "is_active": [True, True, False]}
    )  # fmt: skip


def _listed(day: dt.date) -> list[tuple[str, str]]:
    return [(t, x) for t, x, *_rest, b, _d in SECURITIES if b >= day]


def _keyed(day: dt.date) -> dict[str, list]:
    listed = _listed(day)
    return {
        "date": [day] * len(listed),
        "exchange": [x for _, x in listed],
        "ticker": [t for t, _ in listed],
        "security_id": [sid(t, x) for t, x in listed],
    }


def _ym(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        year=pl.col("date").dt.year().cast(pl.Int32), month=pl.col("date").dt.month().cast(pl.Int32)
    )


def price(days: tuple[dt.date, ...] = (D1, D2, D3)) -> pl.LazyFrame:
    frames = []
    for i, day in enumerate(days):
        keyed = _keyed(day)
        n = len(keyed["ticker"])
        close = [1000 * (k + 1) + 10 * i for k in range(n)]
        frames.append(
            pl.DataFrame(
                {
                    **keyed,
                    **{column: close for column in ("open", "high", "low", "close")},
                    "volume": [10] * n,
                    "transaction": [c * 10 for c in close],
                    "rate": [0.5] * n,
                }
            )
        )
    return _ym(pl.concat(frames)).lazy()


def marketcaps(days: tuple[dt.date, ...] = (D1, D2, D3)) -> pl.LazyFrame:
    return (
        price(days)
        .with_columns(shares=pl.lit(100, dtype=pl.Int64))
        .with_columns(market_cap=pl.col("close") * pl.col("shares"))
        .select("date", "exchange", "ticker", "security_id", "close", "market_cap", "volume",
                "transaction", "shares", "year", "month")
    )  # fmt: skip


def bppedds(days: tuple[dt.date, ...] = (D1, D2, D3)) -> pl.LazyFrame:
    return (
        price(days)
        .filter(pl.col("exchange") != "KONEX")
        .select("date", "exchange", "ticker", "security_id", "year", "month",
                bps=pl.col("close") * 2, per=pl.col("close") / 100, pbr=pl.lit(1.5),
                eps=pl.lit(100, dtype=pl.Int64), div=pl.lit(2.0), dps=pl.lit(50, dtype=pl.Int64))
    )  # fmt: skip


# --- the loads --------------------------------------------------------------------------------


def _gold() -> dict[str, pl.LazyFrame]:
    sec, comp = security(), company()
    prices, caps, fundamentals = price(), marketcaps(), bppedds()
    return {
        "cd_security": sec,
        "cd_company": comp,
        "cd_digest_price": prices,
        "cd_digest_marketcaps": caps,
        "cd_digest_bppedds": fundamentals,
        "cd_security_metrics": latest_security_metrics(sec, prices, caps, fundamentals),
        "cd_company_metrics": company_metrics(sec, comp, caps),
        "cd_security_ranks": security_ranks(caps, fundamentals),
        "cd_search_names": search_names(comp, sec),
    }


def _run_loads(target: str, resource: object, gold: dict[str, pl.LazyFrame]) -> dict[str, int]:
    """Invoke every load asset of `target` directly; returns rows written per table."""
    rows = {}
    for name in TABLES:
        asset = getattr(loads, f"cd_{name}_{target}")
        inputs = {arg: gold[arg] for arg in asset.op.ins if arg in gold}
        resources = {"cd_postgres" if target == "postgres" else "turso": resource}
        if asset.partitions_def is not None:
            # the IO manager would hand a range run exactly the range's rows: all of them here
            context = dg.build_asset_context(
                resources=resources,
                partition_key_range=dg.PartitionKeyRange(f"{D1}|KOSPI", f"{D3}|KONEX"),
            )
        else:
            context = dg.build_asset_context(resources=resources)
        result = asset(context, **inputs)
        rows[name] = result.metadata["dagster/row_count"]
    return rows


def _counts(resource: PostgresResource | TursoResource) -> dict[str, int]:
    return {name: resource.read(name).height for name in TABLES}


def test_every_serving_table_loads_identically_into_postgres_and_turso(
    postgres_resource: PostgresResource, tmp_path: Path
) -> None:
    postgres = postgres_resource
    turso = TursoResource(url=str(tmp_path / "turso.db"))
    gold = _gold()
    written_pg = _run_loads("postgres", postgres, gold)
    written_turso = _run_loads("turso", turso, gold)
    assert written_pg == written_turso
    counts_pg, counts_turso = _counts(postgres), _counts(turso)
    assert counts_pg == counts_turso == written_pg
    assert counts_pg["security"] == 5 and counts_pg["company"] == 3
    assert counts_pg["price"] == 5 + 5 + 4  # LG전자 delisted on D3

    # idempotent: loading everything again leaves the same tables
    _run_loads("postgres", postgres, gold)
    _run_loads("turso", turso, gold)
    assert _counts(postgres) == counts_pg
    assert _counts(turso) == counts_turso

    company_rows = turso.read("company").sort("rank", nulls_last=True)
    names = turso.read("search_name").filter(pl.col("company_id") == cid("KT&G"))
    assert company_rows["company_name"].to_list() == ["삼성전자", "KT&G", "LG전자"]
    assert company_rows["rank"].to_list() == [1, 2, None]  # LG전자 delisted: not ranked
    assert names.sort("order")["value"].to_list() == ["KT&G", "케이티앤지", "zpdlxldoswl"]


def test_read_back_contract_checks_pass_on_both_targets(
    postgres_resource: PostgresResource, tmp_path: Path
) -> None:
    postgres = postgres_resource
    turso = TursoResource(url=str(tmp_path / "turso.db"))
    gold = _gold()
    _run_loads("postgres", postgres, gold)
    _run_loads("turso", turso, gold)
    for target, resource_key, resource in (
        ("postgres", "cd_postgres", postgres),
        ("turso", "turso", turso),
    ):
        for name in ("security", "company", "security_rank", "search_name"):
            check = getattr(loads, f"cd_{name}_{target}_contract")
            context = dg.build_asset_check_context(resources={resource_key: resource})
            result = check(context)
            assert result.passed, (target, name, result.metadata)
            assert result.metadata["rows_checked"].value > 0
