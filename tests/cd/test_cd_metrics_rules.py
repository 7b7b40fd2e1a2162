"""Gold rules on literal frames: latest metrics, company market caps, ranks and prior ranks."""

from __future__ import annotations

import datetime as dt

import polars as pl

from dag.cd_metrics_rules import company_metrics, latest_security_metrics, security_ranks

D1, D2, D3 = dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)


def _security() -> pl.LazyFrame:
    return pl.LazyFrame(
        {
            "security_id": ["s-sam", "s-samp", "s-old", "s-hy", "s-spac"],
            "ticker": ["005930", "005935", "000010", "000660", "400000"],
            "exchange": ["KOSPI", "KOSPI", "KOSDAQ", "KOSPI", "KOSDAQ"],
            "company_id": ["c-sam", "c-sam", "c-sam", "c-hy", None],
            "listing_date": [D1, D1, D1, D1, D1],
            "delisting_date": [None, None, D3, None, None],
        },
        schema_overrides={"delisting_date": pl.Date},
    )


def _marketcap(rows: list[tuple]) -> pl.LazyFrame:
    return pl.LazyFrame(
        rows,
        schema={"date": pl.Date, "security_id": pl.String, "ticker": pl.String,
                "exchange": pl.String, "market_cap": pl.Int64, "shares": pl.Int64},
        orient="row",
    )  # fmt: skip


CAPS = _marketcap(
    [
        (D1, "s-sam", "005930", "KOSPI", 100, 10),
        (D1, "s-samp", "005935", "KOSPI", 10, 1),
        (D1, "s-old", "000010", "KOSDAQ", 500, 5),
        (D1, "s-hy", "000660", "KOSPI", 1000, 3),  # D1 must not be the prior date
        (D2, "s-sam", "005930", "KOSPI", 100, 10),
        (D2, "s-samp", "005935", "KOSPI", 10, 1),
        (D2, "s-old", "000010", "KOSDAQ", 500, 5),  # last appearance: delisted from D3
        (D2, "s-hy", "000660", "KOSPI", 300, 3),
        (D3, "s-sam", "005930", "KOSPI", 200, 10),
        (D3, "s-samp", "005935", "KOSPI", 20, 1),
        (D3, "s-hy", "000660", "KOSPI", 300, 3),
        (D3, "s-spac", "400000", "KOSDAQ", 300, 30),
    ]
)


def _bppedd(rows: list[tuple]) -> pl.LazyFrame:
    cols = ["date", "security_id", "ticker", "exchange", "bps", "per", "pbr", "eps", "div", "dps"]
    return pl.LazyFrame(
        rows,
        schema={c: pl.Date if c == "date" else pl.String if c in cols[1:4] else pl.Float64
                for c in cols},
        orient="row",
    )  # fmt: skip


BPPEDD = _bppedd(
    [
        (D1, "s-sam", "005930", "KOSPI", 5.0, 10.0, 1.0, 3.0, 2.0, 100.0),
        (D2, "s-sam", "005930", "KOSPI", 6.0, None, 1.1, 3.0, 2.0, 100.0),
        (D2, "s-hy", "000660", "KOSPI", 9.0, 20.0, 2.0, 4.0, 1.0, 50.0),
        (D3, "s-sam", "005930", "KOSPI", 7.0, None, 1.2, 3.0, 2.0, 100.0),
        (D3, "s-hy", "000660", "KOSPI", 7.0, 10.0, 2.0, 5.0, 1.0, 50.0),
    ]
)
PRICE = pl.LazyFrame(
    [(D1, "s-sam", 70000), (D2, "s-sam", 71000), (D3, "s-hy", 150000), (D3, "s-old", 1)],
    schema={"date": pl.Date, "security_id": pl.String, "close": pl.Int64},
    orient="row",
)
COMPANY = pl.LazyFrame(
    {"company_id": ["c-sam", "c-hy"], "company_name": ["삼성전자", "SK하이닉스"]}
)


def test_company_market_cap_excludes_delisted_securities_and_ranks_with_prior() -> None:
    out = company_metrics(_security(), COMPANY, CAPS).collect()
    # D3: 삼성 = 200 + 20 (000010 delisted on D3 no longer counts: the old sum said 720);
    # D2 (prior): 삼성 = 100 + 10 + 500 = 610 > 하이닉스 300.
    assert out.to_dicts() == [
        {"company_id": "c-hy", "company_name": "SK하이닉스", "market_cap": 300,
         "market_cap_date": D3, "summed_securities": 1, "rank": 1, "prior_rank": 2},
        {"company_id": "c-sam", "company_name": "삼성전자", "market_cap": 220,
         "market_cap_date": D3, "summed_securities": 2, "rank": 2, "prior_rank": 1},
    ]  # fmt: skip


def test_company_market_cap_reads_as_of_for_an_exchange_not_yet_run() -> None:
    kosdaq_lagging = CAPS.filter(
        ~((pl.col("date") == D3) & (pl.col("security_id") == "s-sam"))
    )
    out = company_metrics(_security(), COMPANY, kosdaq_lagging).collect()
    assert dict(zip(out["company_id"], out["market_cap"], strict=True)) == {
        "c-hy": 300, "c-sam": 100 + 20
    }


def test_security_ranks_over_three_dates_use_latest_and_previous_date() -> None:
    out = security_ranks(CAPS, BPPEDD).collect()
    assert out["rank_date"].unique().to_list() == [D3]
    got = {
        (r["metric_type"], r["ticker"]): (r["current_rank"], r["prior_rank"], r["value"])
        for r in out.iter_rows(named=True)
    }
    assert {k: v for k, v in got.items() if k[0] == "marketcap"} == {
        ("marketcap", "000660"): (1, 2, 300.0),  # tie at 300 broken by ticker
        ("marketcap", "400000"): (2, None, 300.0),  # not listed on D2
        ("marketcap", "005930"): (3, 3, 200.0),
        ("marketcap", "005935"): (4, 4, 20.0),
    }
    assert got[("bps", "000660")] == (1, 1, 7.0)
    assert got[("bps", "005930")] == (2, 2, 7.0)
    assert got[("per", "000660")] == (1, 1, 10.0)
    assert ("per", "005930") not in got  # no PER dated D3
    assert set(out["metric_type"]) == {"marketcap", "bps", "per", "pbr", "eps", "div", "dps"}
    assert out.select("security_id", "metric_type", "rank_date").is_unique().all()


def test_security_ranks_on_a_single_date_have_no_prior_and_empty_input_gives_empty() -> None:
    out = security_ranks(CAPS.filter(pl.col("date") == D1), BPPEDD).collect()
    assert out["prior_rank"].null_count() == out.height > 0
    empty = security_ranks(CAPS.clear(), BPPEDD.clear()).collect()
    assert empty.height == 0 and empty.schema["current_rank"] == pl.Int64


def test_latest_security_metrics_per_active_security_each_with_its_date() -> None:
    out = latest_security_metrics(_security(), PRICE, CAPS, BPPEDD).collect()
    assert out["security_id"].to_list() == ["s-hy", "s-sam", "s-samp", "s-spac"]  # no s-old
    sam = out.row(by_predicate=pl.col("security_id") == "s-sam", named=True)
    assert (sam["price"], sam["price_date"]) == (71000, D2)
    assert (sam["market_cap"], sam["shares"], sam["market_cap_date"]) == (200, 10, D3)
    assert (sam["bps"], sam["bps_date"]) == (7.0, D3)
    assert (sam["per"], sam["per_date"]) == (10.0, D1)
    spac = out.row(by_predicate=pl.col("security_id") == "s-spac", named=True)
    assert spac["price"] is None and spac["bps"] is None and spac["market_cap"] == 300
