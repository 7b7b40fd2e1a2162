"""Company layer rules on hand-made workplace rows: candidates, scores, decisions, facts."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contracts import validate_frame
from contracts.nps import (
    NpsCompanyAlias,
    NpsDimCompany,
    NpsFactPensionMonthly,
    NpsMatchAudit,
    NpsReviewQueue,
)
from dag.nps_company_matching import (
    company_alias,
    decision,
    dim_company,
    match_rows,
    monthly_facts,
    review_queue,
    score,
)

JAN = dt.date(2024, 1, 1)
FEB = dt.date(2024, 2, 1)
DONG = "4161033025"
SEOUL = "1111010100"


def row(
    name: str,
    norm: str,
    reg: str | None,
    *,
    sido: str | None = "41",
    sigungu: str | None = "610",
    dong: str | None = DONG,
    industry: str | None = "292201",
    subs: int = 5,
    amount: int = 1_000_000,
    joins: int = 1,
    leaves: int = 0,
    ym: dt.date = JAN,
    types: tuple[str, ...] = (),
) -> dict[str, object]:
    return {
        "ym": ym,
        "company_name": name,
        "business_reg_num": reg,
        "zip_code": "12816",
        "addr_sido_code": sido,
        "addr_sigungu_code": sigungu,
        "addr_key": None if sigungu is None or dong is None else f"{sigungu}-{dong}",
        "industry_code": industry,
        "name_norm": norm,
        "company_types": list(types),
        "subscriber_count": subs,
        "monthly_notice_amount": amount,
        "new_subscribers": joins,
        "lost_subscribers": leaves,
    }


def frame(*rows: dict[str, object]) -> pl.LazyFrame:
    return pl.DataFrame(
        list(rows),
        schema_overrides={
            "company_types": pl.List(pl.String),
            "business_reg_num": pl.String,
            "addr_sido_code": pl.String,
            "addr_sigungu_code": pl.String,
            "addr_key": pl.String,
            "industry_code": pl.String,
        },
    ).lazy()


def audit_of(*rows: dict[str, object]) -> pl.DataFrame:
    audit = match_rows(frame(*rows)).collect()
    passed, metadata = validate_frame(audit, NpsMatchAudit)
    assert passed, metadata
    return audit


def by_name(audit: pl.DataFrame, name: str) -> dict[str, object]:
    return audit.filter(pl.col("company_name") == name).row(0, named=True)


KAKAO = row("(주)카카오", "카카오", "120811", types=("주식회사",))
WOOSUNG = row("우성기전(주)", "우성기전", "126811", sigungu="610", subs=7)


def test_registration_candidate_scores_similarity_plus_small_bonuses() -> None:
    audit = audit_of(KAKAO, WOOSUNG)
    kakao = by_name(audit, "(주)카카오")
    assert kakao["method"] == "registration"
    assert kakao["company_id"] == f"120811-610-{DONG}"
    assert kakao["similarity"] == 0.95
    assert (kakao["industry_match"], kakao["district_match"]) == (True, True)
    assert kakao["score"] == 1.0  # 0.95 + 0.1 + 0.1 clamped
    assert kakao["decision"] == "accepted"


def test_registration_without_industry_and_district_is_not_a_perfect_score() -> None:
    # Fix: the old SQL turned a missing industry/district into a match (score 1.0).
    lone = row("무명상사", "무명상사", "555555", sido=None, industry="999999")
    audit = audit_of(lone)
    got = by_name(audit, "무명상사")
    assert got["method"] == "registration"
    assert (got["industry_match"], got["district_match"]) == (False, False)
    assert got["score"] == 0.95
    assert got["score"] < 1.0


def test_exact_alias_needs_three_letters_and_gets_no_free_bonus() -> None:
    # A name-only row (no registration number) whose name_norm equals a company's name.
    alias_row = row("카카오", "카카오", None, industry=None, sigungu="110", sido="11")
    audit = audit_of(KAKAO, alias_row)
    got = by_name(audit, "카카오")
    assert got["method"] == "alias"
    assert got["company_id"] == f"120811-610-{DONG}"
    assert got["similarity"] == 0.92
    # Missing industry and another district: no bonus (the old code scored this 1.0).
    assert (got["industry_match"], got["district_match"]) == (False, False)
    assert got["score"] == 0.92
    assert got["decision"] == "accepted"

    short = row("삼성", "삼성", "777777", sigungu="680", sido="11")
    short_alias = row("삼성 ", "삼성", None, sigungu="680", sido="11")
    audit = audit_of(short, short_alias)
    assert by_name(audit, "삼성 ")["method"] == "trigram"  # 2 letters: never an exact alias


def test_trigram_candidates_stay_in_the_sigungu_and_keep_the_top_three() -> None:
    companies = [
        row("카카오모빌리티", "카카오모빌리티", "100001", dong="4161033021"),
        row("카카오페이", "카카오페이", "100002", dong="4161033022"),
        row("카카오게임즈", "카카오게임즈", "100003", dong="4161033023"),
        row("카카오엔터", "카카오엔터", "100004", dong="4161033024"),
        # Nearly the same name in another district: never a candidate for a 41-610 row.
        row("카카오뱅크본사", "카카오뱅크본사", "100005", sido="11", sigungu="110", dong=SEOUL),
    ]
    query = row("카카오뱅크본점", "카카오뱅크본점", None, dong=None)
    audit = audit_of(*companies, query)
    got = audit.filter(pl.col("business_reg_num").is_null()).row(0, named=True)
    assert got["method"] == "trigram"
    assert got["candidate_count"] == 3
    assert got["company_id"] != f"100005-110-{SEOUL}"
    assert got["district_match"] is True
    # "  카", " 카카", "카카오" shared with every 카카오 company; the best is a near-tie resolved
    # deterministically by the smallest company id among equal scores.
    assert 0.0 < got["similarity"] < 0.95
    assert got["score"] == pytest.approx(min(1.0, got["similarity"] + 0.4), abs=1e-6)


def test_trigram_review_and_reject_bands() -> None:
    company = row("우성기전", "우성기전", "126811")
    close = row("우성기전산업", "우성기전산업", None, dong=None)  # industry + district match
    far = row("우성기전산업 ", "우성기전산업", None, dong=None, industry=None)  # district only
    audit = audit_of(company, close, far)
    close_row = audit.filter(
        (pl.col("company_name") == "우성기전산업") & pl.col("industry_match")
    ).row(0, named=True)
    far_row = by_name(audit, "우성기전산업 ")
    assert close_row["similarity"] == pytest.approx(0.5)
    assert close_row["score"] == pytest.approx(0.9)
    assert close_row["decision"] == "accepted"
    assert far_row["score"] == pytest.approx(0.7)
    assert far_row["decision"] == "rejected"


def test_no_candidate_means_rejected_without_company() -> None:
    nowhere = row("무명", "무명", None, sido=None, sigungu=None, dong=None, industry=None)
    audit = audit_of(KAKAO, nowhere)
    got = by_name(audit, "무명")
    assert (got["method"], got["company_id"], got["decision"]) == ("none", None, "rejected")
    assert got["candidate_count"] == 0


def test_score_rounding_keeps_band_edges_exact() -> None:
    scores = pl.select(
        s=score(pl.lit(0.7), pl.lit(True), pl.lit(False), pl.lit(0.2)),
        t=score(pl.lit(0.55), pl.lit(True), pl.lit(False), pl.lit(0.2)),
        u=score(pl.lit(0.9), pl.lit(True), pl.lit(True), pl.lit(0.2)),
    )
    assert scores.row(0) == (0.9, 0.75, 1.0)  # 0.7 + 0.2 is 0.8999999999999999 unrounded
    decided = scores.select(decision(pl.col("s")), decision(pl.col("t")).alias("t"))
    assert decided.row(0) == ("accepted", "review")


def review_case() -> pl.DataFrame:
    company = row("우성기전", "우성기전", "126811")
    review = row("우성기전산업사", "우성기전산업사", None, dong=None)
    return audit_of(company, review, KAKAO, row("카카오", "카카오", None))


def test_accepted_xor_queued_and_queue_contract() -> None:
    audit = review_case()
    assert audit["row_key"].is_unique().all()
    queue = review_queue(audit.lazy()).collect()
    assert queue.height == 1
    assert queue["company_name"].to_list() == ["우성기전산업사"]
    assert 0.75 <= queue["score"][0] < 0.9
    accepted_keys = set(audit.filter(pl.col("decision") == "accepted")["row_key"])
    assert accepted_keys.isdisjoint(queue["row_key"])
    passed, metadata = validate_frame(queue, NpsReviewQueue)
    assert passed, metadata


def test_aliases_come_from_exact_alias_and_high_similarity_only() -> None:
    audit = review_case()
    aliases = company_alias(audit.lazy()).collect()
    assert validate_frame(aliases, NpsCompanyAlias)[0]
    pairs = set(aliases.select("company_id", "alias").iter_rows())
    assert pairs == {
        (f"120811-610-{DONG}", "카카오"),  # registration (0.95) and exact alias
        (f"126811-610-{DONG}", "우성기전"),  # registration (0.95)
    }
    kakao = aliases.filter(pl.col("alias") == "카카오").row(0, named=True)
    assert kakao["occurrences"] == 2
    assert kakao["source"] == "alias"
    # The review-band trigram name never becomes an alias.
    assert "우성기전산업사" not in aliases["alias"].to_list()


def test_facts_sum_accepted_rows_per_company_and_month() -> None:
    audit = audit_of(
        KAKAO,
        row("카카오", "카카오", None, subs=3, amount=500_000, joins=2, leaves=1),
        row("우성기전산업사", "우성기전산업사", None, dong=None, subs=99),  # review: not summed
        row("우성기전", "우성기전", "126811", subs=7, amount=700_000),
    )
    facts = monthly_facts(audit.lazy()).collect()
    assert validate_frame(facts, NpsFactPensionMonthly)[0]
    got = {r["company_id"]: r for r in facts.iter_rows(named=True)}
    kakao = got[f"120811-610-{DONG}"]
    assert (kakao["subscriber_count"], kakao["monthly_notice_amount"]) == (8, 1_500_000)
    assert (kakao["new_subscribers"], kakao["lost_subscribers"], kakao["workplace_rows"]) == (
        3,
        1,
        2,
    )
    assert got[f"126811-610-{DONG}"]["subscriber_count"] == 7  # the 99 under review is not in


def test_months_are_independent_and_dimension_is_order_independent() -> None:
    jan = [KAKAO, row("카카오", "카카오", None), WOOSUNG]
    feb = [
        row("카카오 주식회사", "카카오", "120811", ym=FEB, subs=9, industry="620100"),
        row("우성기전(주)", "우성기전", "126811", ym=FEB, industry="999999"),
    ]
    together = match_rows(frame(*jan, *feb)).collect().sort("row_key")
    apart = pl.concat([match_rows(frame(*feb)).collect(), match_rows(frame(*jan)).collect()]).sort(
        "row_key"
    )
    assert together.equals(apart)

    dim_a = dim_company(together.lazy()).collect()
    dim_b = dim_company(together.reverse().lazy()).collect()
    assert dim_a.equals(dim_b)
    assert validate_frame(dim_a, NpsDimCompany)[0]
    kakao = dim_a.filter(pl.col("business_reg_num") == "120811").row(0, named=True)
    assert kakao["canonical_name"] == "카카오 주식회사"  # the latest month's name
    assert kakao["industry_code"] == "620100"
    assert (kakao["valid_from"], kakao["valid_to"], kakao["months_seen"]) == (JAN, FEB, 2)
    woosung = dim_a.filter(pl.col("business_reg_num") == "126811").row(0, named=True)
    assert woosung["industry_code"] == "292201"  # the placeholder never replaces a real one


def test_contract_rejects_a_decision_that_contradicts_its_score() -> None:
    audit = review_case().with_columns(
        decision=pl.when(pl.col("decision") == "review")
        .then(pl.lit("accepted"))
        .otherwise(pl.col("decision"))
    )
    passed, metadata = validate_frame(audit, NpsMatchAudit)
    assert not passed
    assert any("decision_follows_score" in rule for rule in metadata["rules_failed"].data)


NAMES = ["카카오", "카카오뱅크", "우성기전", "우성기전산업", "새마을금고", "신협", "한빛"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(NAMES),
            st.sampled_from([None, "100001", "100002"]),
            st.sampled_from([None, "110", "610"]),
            st.sampled_from([None, "999999", "292201"]),
            st.integers(0, 50),
        ),
        min_size=1,
        max_size=12,
        unique_by=lambda t: (t[0], t[1], t[4]),
    )
)
def test_every_row_gets_exactly_one_consistent_decision(rows: list[tuple]) -> None:
    data = [
        row(name, name, reg, sigungu=sgg, industry=ind, subs=subs)
        for name, reg, sgg, ind, subs in rows
    ]
    audit = audit_of(*data)  # the contract's rules: decision follows score, no free bonus
    assert audit.height == len(data)
    queue = review_queue(audit.lazy()).collect()
    facts = monthly_facts(audit.lazy()).collect()
    accepted = audit.filter(pl.col("decision") == "accepted")
    assert set(queue["row_key"]).isdisjoint(accepted["row_key"])
    assert facts["subscriber_count"].sum() == accepted["subscriber_count"].sum()
