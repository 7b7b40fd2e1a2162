"""NPS gold: pension loads into real PostgreSQL (idempotent months), serving indexes, analysis."""

import datetime as dt
from pathlib import Path

import dagster as dg
import polars as pl
import pytest

from contracts import validate_frame
from contracts.nps import (
    NpsCompanyGrowth,
    NpsHisDigest,
    NpsIndustryMonthlyStats,
    NpsRegionMonthlyStats,
)
from dag.nps_monthly_stats import company_growth, industry_monthly_stats, region_monthly_stats
from dag.nps_pension_indexes import (
    INDEXES,
    TRGM_INDEX,
    TrigramSupport,
    ensure_indexes,
    nps_pension_indexes,
    nps_pension_indexes_contract,
)
from dag.nps_serving_loads import nps_his_postgres_append, nps_his_postgres_append_contract
from dag.partitions import nps_monthly_partition
from dag_io import DeltaIOManager, PostgresResource
from tests.sql import query

JAN, FEB = dt.date(2024, 1, 1), dt.date(2024, 2, 1)


def digest_rows(month: dt.date, n: int, *, offset: int = 0) -> pl.DataFrame:
    """`n` valid silver rows of `month` (names vary with the index; some without a BRN)."""
    i = pl.int_range(offset, offset + n, eager=True)
    subs = (i % 7).cast(pl.Int64)
    amount = subs * 300_000
    frame = pl.DataFrame(
        {
            "data_created_ym": [month.strftime("%Y-%m")] * n,
            "company_name": [f"테스트상사{k}" for k in i],
            "business_reg_num": [None if k % 5 == 0 else f"{100000 + k:06d}" for k in i],
            "join_status": ["1" if k % 4 else "2" for k in i],
            "zip_code": ["03154"] * n,
            "lot_number_address": ["서울특별시 종로구 세종로"] * n,
            "road_name_address": ["서울특별시 종로구 세종대로"] * n,
            "legal_dong_addr_code": ["1111011900"] * n,
            "admin_dong_addr_code": ["1111055000"] * n,
            "addr_sido_code": ["11"] * n,
            "addr_sigungu_code": ["110" if k % 3 else "140" for k in i],
            "addr_emdong_code": ["119"] * n,
            "workplace_type": ["1"] * n,
            "industry_code": [None if k % 6 == 0 else "620100" for k in i],
            "industry_name": [None if k % 6 == 0 else "컴퓨터 프로그래밍 서비스업" for k in i],
            "applied_at": [dt.date(2010, 1, 1)] * n,
            "re_registered_at": [None] * n,
            "withdrawn_at": [None] * n,
            "subscriber_count": subs,
            "monthly_notice_amount": amount,
            "new_subscribers": (i % 2).cast(pl.Int64),
            "lost_subscribers": (i % 3 == 0).cast(pl.Int64),
            "ym": [month] * n,
            "name_norm": [f"테스트상사{k}" for k in i],
            "company_types": [["주식회사"] if k % 2 else [] for k in i],
            "addr_key": [("110" if k % 3 else "140") + "-1111011900" for k in i],
        },
        schema_overrides={
            "business_reg_num": pl.String,
            "industry_code": pl.String,
            "industry_name": pl.String,
            "re_registered_at": pl.Date,
            "withdrawn_at": pl.Date,
            "company_types": pl.List(pl.String),
        },
    )
    wage = pl.col("monthly_notice_amount") / pl.col("subscriber_count") / 0.09
    frame = frame.with_columns(
        avg_monthly_wage=pl.when(pl.col("subscriber_count") > 0).then(wage).cast(pl.Float64)
    )
    return frame.select(list(NpsHisDigest.to_schema().columns))


def test_digest_rows_helper_is_a_valid_silver_frame() -> None:
    passed, metadata = validate_frame(digest_rows(JAN, 30), NpsHisDigest)
    assert passed, metadata


def stub_digest(frames: dict[str, pl.DataFrame]) -> dg.AssetsDefinition:
    """`nps_his_digest` stand-in writing literal frames per month through the real IO manager."""

    @dg.asset(
        name="nps_his_digest",
        partitions_def=nps_monthly_partition,
        backfill_policy=dg.BackfillPolicy.single_run(),
        io_manager_key="delta_io_manager",
        metadata={"partition_by": "ym"},
    )
    def _digest(context: dg.AssetExecutionContext) -> pl.DataFrame:
        return frames[context.partition_key]

    return _digest


def materialize_month(
    lake: Path, pg: PostgresResource, frames: dict[str, pl.DataFrame], key: str
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [
            stub_digest(frames),
            nps_his_postgres_append,
            nps_his_postgres_append_contract,
            nps_pension_indexes,
            nps_pension_indexes_contract,
        ],
        partition_key=key,
        resources={"delta_io_manager": DeltaIOManager(root_uri=str(lake)), "nps_postgres": pg},
    )


def pension_counts(pg: PostgresResource) -> dict[dt.date, tuple[int, int]]:
    rows = query(
        pg,
        "SELECT ym, count(*) AS n, count(DISTINCT row_key) AS k FROM public.pension GROUP BY ym",
    )
    return {r["ym"]: (r["n"], r["k"]) for r in rows.iter_rows(named=True)}


@pytest.mark.postgres
def test_replacing_a_month_twice_never_duplicates(
    tmp_path: Path, postgres_resource: PostgresResource
) -> None:
    pg = postgres_resource
    frames = {"2024-01-01": digest_rows(JAN, 40), "2024-02-01": digest_rows(FEB, 25)}

    first = materialize_month(tmp_path / "lake", pg, frames, "2024-01-01")
    assert first.success
    load = first.asset_materializations_for_node("nps_his_postgres_append")[0].metadata
    assert load["dagster/row_count"].value == 40
    assert load["table"].value == "public.pension"
    assert load["rows_per_second"].value > 0
    checks = {e.check_name: e.passed for e in first.get_asset_check_evaluations()}
    assert checks == {
        "nps_his_postgres_append_contract": True,
        "nps_pension_indexes_contract": True,
    }

    assert materialize_month(tmp_path / "lake", pg, frames, "2024-01-01").success
    assert materialize_month(tmp_path / "lake", pg, frames, "2024-02-01").success
    assert pension_counts(pg) == {JAN: (40, 40), FEB: (25, 25)}

    # The January file is re-delivered smaller: the month is replaced, February untouched.
    frames["2024-01-01"] = digest_rows(JAN, 12, offset=100)
    assert materialize_month(tmp_path / "lake", pg, frames, "2024-01-01").success
    assert pension_counts(pg) == {JAN: (12, 12), FEB: (25, 25)}
    names = query(pg, "SELECT min(company_name) AS m FROM public.pension WHERE ym = '2024-01-01'")
    assert names.item() == "테스트상사100"
    types = query(pg, "SELECT company_types FROM public.pension WHERE row_key LIKE '%상사101|%'")
    assert types.item() == "주식회사"  # list loaded as comma-joined text


@pytest.mark.postgres
def test_load_refuses_a_frame_that_breaks_the_contract(
    tmp_path: Path, postgres_resource: PostgresResource
) -> None:
    pg = postgres_resource
    good = digest_rows(JAN, 10)
    assert materialize_month(tmp_path / "lake", pg, {"2024-01-01": good}, "2024-01-01").success
    bad = good.with_columns(subscriber_count=pl.lit(-1, pl.Int64))
    with pytest.raises(
        dg.Failure, match=r"nps_his_postgres_append \(2024-01-01\).*NpsHisPostgresAppend"
    ):
        materialize_month(tmp_path / "lake", pg, {"2024-01-01": bad}, "2024-01-01")
    assert pension_counts(pg) == {JAN: (10, 10)}  # nothing partial: the old month stays


@pytest.mark.postgres
def test_serving_indexes_and_the_trigram_branch(
    tmp_path: Path, postgres_resource: PostgresResource
) -> None:
    pg = postgres_resource
    result = materialize_month(
        tmp_path / "lake", pg, {"2024-01-01": digest_rows(JAN, 8)}, "2024-01-01"
    )
    meta = result.asset_materializations_for_node("nps_pension_indexes")[0].metadata
    indexes = query(pg, "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'pension'")
    defs = dict(indexes.iter_rows())
    for name, using in INDEXES.items():
        assert name in defs
        assert using.split("(")[0].strip() in defs[name]
    available = query(
        pg, "SELECT count(*) AS n FROM pg_available_extensions WHERE name = 'pg_trgm'"
    ).item()
    if available:
        assert TRGM_INDEX in defs and "gin_trgm_ops" in defs[TRGM_INDEX]
        assert meta["trigram_index"].value.startswith("created")
    else:
        assert TRGM_INDEX not in defs
        assert meta["trigram_index"].value == "skipped: pg_trgm not available on this server"

    # The skip branch, forced with an extension the server certainly lacks; idempotent reruns.
    support, statements = ensure_indexes(pg, extension="pg_trgm_absent_for_this_test")
    assert (support.available, support.use) == (False, False)
    assert not any("gin" in s or "EXTENSION" in s for s in statements)
    assert query(pg, "SELECT count(*) AS n FROM pg_indexes WHERE tablename = 'pension'").item() == (
        len(defs)
    )


def test_trigram_decision_texts() -> None:
    assert TrigramSupport(True, True, False).use
    assert TrigramSupport(False, True, True).decision == "created (pg_trgm created by this run)"
    assert not TrigramSupport(False, True, False).use
    assert TrigramSupport(False, False, True).decision.startswith("skipped: pg_trgm not available")


def test_industry_and_region_statistics() -> None:
    digest = pl.concat([digest_rows(JAN, 30), digest_rows(FEB, 12)])
    industry = industry_monthly_stats(digest.lazy()).collect()
    assert validate_frame(industry, NpsIndustryMonthlyStats)[0]
    jan = industry.filter(pl.col("ym") == JAN)
    assert set(jan["industry_code"]) == {"620100", "unknown"}
    assert jan["workplaces"].sum() + jan["withdrawn_workplaces"].sum() == 30
    source = digest_rows(JAN, 30)
    assert jan["subscribers"].sum() == source["subscriber_count"].sum()
    known = jan.filter(pl.col("industry_code") == "620100").row(0, named=True)
    assert known["industry_name"] == "컴퓨터 프로그래밍 서비스업"
    # Every row bills 300,000 per subscriber at 9%: the weighted wage is exactly 3,333,333.
    assert known["avg_monthly_wage"] == 3_333_333.0
    assert known["net_change"] == known["new_subscribers"] - known["lost_subscribers"]

    region = region_monthly_stats(digest.lazy()).collect()
    assert validate_frame(region, NpsRegionMonthlyStats)[0]
    assert set(region.filter(pl.col("ym") == JAN)["addr_sigungu_code"]) == {"110", "140"}
    assert region["subscribers"].sum() == digest["subscriber_count"].sum()


def test_company_growth_month_over_month_and_year_over_year() -> None:
    facts = pl.DataFrame(
        {
            "company_id": ["a", "a", "a", "b", "b"],
            "ym": [
                dt.date(2023, 1, 1),
                dt.date(2023, 12, 1),
                dt.date(2024, 1, 1),
                JAN,
                dt.date(2024, 3, 1),
            ],
            "subscriber_count": [10, 20, 25, 0, 4],
        }
    )
    growth = company_growth(facts.lazy()).collect()
    assert validate_frame(growth, NpsCompanyGrowth)[0]
    a = growth.filter((pl.col("company_id") == "a") & (pl.col("ym") == JAN)).row(0, named=True)
    assert (a["prev_month_subscribers"], a["mom_change"], a["mom_growth_pct"]) == (20, 5, 25.0)
    assert (a["prev_year_subscribers"], a["yoy_change"], a["yoy_growth_pct"]) == (10, 15, 150.0)
    # A gap month is a missing base, not the previous row; a zero base gives no percentage.
    b = growth.filter((pl.col("company_id") == "b") & (pl.col("ym") == dt.date(2024, 3, 1)))
    assert b["prev_month_subscribers"].to_list() == [None]
    first = growth.filter((pl.col("company_id") == "a") & (pl.col("ym") == dt.date(2023, 1, 1)))
    assert first["mom_change"].to_list() == [None]
