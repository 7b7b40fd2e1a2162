"""NPS contracts: National Pension Service enrolled workplaces (국민연금 가입 사업장 내역).

Bronze `NpsHisDownload` is the monthly file as delivered (every value a string, canonical English
names) plus lineage; silver `NpsHisDigest` is the typed, cleaned, de-duplicated register with the
derived company-name and wage columns. Gold models (company layer, loads, analysis) follow the
marker at the end of this file.
"""

from __future__ import annotations

from typing import Annotated, Any

import pandera.polars as pa
import polars as pl
from pandera.api.polars.types import PolarsData

HEADER_VARIANTS = ("standard", "spaced", "annotated_2021", "legacy_english")
YM_PATTERN = r"^\d{4}-(0[1-9]|1[0-2])$"
DIGEST_KEY = (
    "ym",
    "company_name",
    "business_reg_num",
    "zip_code",
    "subscriber_count",
    "monthly_notice_amount",
)


# Field helpers return what `pa.Field` returns (typed `Any`, so that `col: pl.Int64 = ...`
# type-checks).
def _raw(description: str) -> Any:
    return pa.Field(description=f"{description} (string as delivered; empty when absent)")


def _code(description: str, digits: int) -> Any:
    return pa.Field(
        nullable=True,
        str_matches=rf"^\d{{{digits}}}$",
        description=f"{description}: {digits} digits as text, leading zeros kept; null if absent",
    )


def _status(description: str) -> Any:
    return pa.Field(nullable=True, isin=["1", "2"], description=description)


def _count(description: str) -> Any:
    return pa.Field(ge=0, description=description)


def _date(description: str) -> Any:
    return pa.Field(nullable=True, description=f"{description}; null when empty or 0001-01-01")


class NpsHisDownload(pa.DataFrameModel):
    """One line of the month's file exactly as delivered, under canonical names, with lineage."""

    data_created_ym: pl.String = _raw("자료생성년월: data month YYYY-MM")
    company_name: pl.String = _raw("사업장명: workplace name")
    business_reg_num: pl.String = _raw("사업자등록번호: first 6 digits of the registration number")
    join_status: pl.String = _raw("사업장가입상태코드: 1 registered, 2 withdrawn")
    zip_code: pl.String = _raw("우편번호: 5-digit postcode")
    lot_number_address: pl.String = _raw("사업장지번상세주소: lot-number address")
    road_name_address: pl.String = _raw("사업장도로명상세주소: road-name address")
    legal_dong_addr_code: pl.String = _raw("고객법정동주소코드: 10-digit legal-dong code")
    admin_dong_addr_code: pl.String = _raw("고객행정동주소코드: 10-digit admin-dong code")
    addr_sido_code: pl.String = _raw("법정동주소광역시도코드: 2-digit province code")
    addr_sigungu_code: pl.String = _raw("법정동주소광역시시군구코드: 3-digit district code")
    addr_emdong_code: pl.String = _raw("법정동주소광역시시군구읍면동코드: 3-digit town code")
    workplace_type: pl.String = _raw("사업장형태구분코드: 1 corporation, 2 individual")
    industry_code: pl.String = _raw("사업장업종코드: 6-digit industry (999999 placeholder)")
    industry_name: pl.String = _raw("사업장업종코드명: industry name")
    applied_at: pl.String = _raw("적용일자: YYYY-MM-DD, 0001-01-01 = none")
    re_registered_at: pl.String = _raw("재등록일자: YYYY-MM-DD, 0001-01-01 = none")
    withdrawn_at: pl.String = _raw("탈퇴일자: YYYY-MM-DD, 0001-01-01 = none")
    subscriber_count: pl.String = _raw("가입자수: enrolled subscribers")
    monthly_notice_amount: pl.String = _raw("당월고지금액: contributions billed this month (KRW)")
    new_subscribers: pl.String = _raw("신규취득자수: subscribers who joined this month")
    lost_subscribers: pl.String = _raw("상실가입자수: subscribers who left this month")
    source_file: pl.String = pa.Field(description="lineage: delivered file name")
    source_sha256: pl.String = pa.Field(
        str_matches=r"^[0-9a-f]{64}$", description="lineage: SHA-256 of the delivered bytes"
    )
    source_bytes: pl.Int64 = pa.Field(ge=0, description="lineage: size of the delivered file")
    line_number: pl.Int64 = pa.Field(ge=2, description="lineage: physical line (header = 1)")
    header_variant: pl.String = pa.Field(
        isin=list(HEADER_VARIANTS), description="lineage: which header naming the file used"
    )
    bytes_replaced: pl.Int64 = pa.Field(
        ge=0, description="lineage: undecodable bytes replaced by U+FFFD in this file"
    )
    ym: pl.Date = pa.Field(description="data month (first day); partition column")

    class Config:
        unique = ("ym", "source_sha256", "line_number")
        strict = True

    @pa.dataframe_check(description="자료생성년월 is YYYY-MM and equals the partition month")
    @classmethod
    def data_month_matches_partition(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("data_created_ym").str.strip_chars() == pl.col("ym").dt.strftime("%Y-%m")
        )


class NpsHisDigest(pa.DataFrameModel):
    """One enrolled workplace per month: the typed, cleaned, de-duplicated pension register."""

    data_created_ym: pl.String = pa.Field(
        str_matches=YM_PATTERN, description="자료생성년월: data month YYYY-MM"
    )
    company_name: pl.String = pa.Field(description="사업장명: workplace name, trimmed")
    business_reg_num: pl.String = _code("사업자등록번호: first digits of the BRN", 6)
    join_status: pl.String = _status("사업장가입상태코드: 1 registered, 2 withdrawn")
    zip_code: pl.String = _code("우편번호: postcode", 5)
    lot_number_address: pl.String = pa.Field(nullable=True, description="사업장지번상세주소")
    road_name_address: pl.String = pa.Field(nullable=True, description="사업장도로명상세주소")
    legal_dong_addr_code: pl.String = _code("고객법정동주소코드: legal-dong code", 10)
    admin_dong_addr_code: pl.String = _code("고객행정동주소코드: admin-dong code", 10)
    addr_sido_code: pl.String = _code("법정동주소광역시도코드: province (51/52 beside 42/45)", 2)
    addr_sigungu_code: pl.String = _code("법정동주소광역시시군구코드: district", 3)
    addr_emdong_code: pl.String = _code("법정동주소광역시시군구읍면동코드: town", 3)
    workplace_type: pl.String = _status("사업장형태구분코드: 1 corporation, 2 individual")
    industry_code: pl.String = _code("사업장업종코드: industry (999999 = placeholder)", 6)
    industry_name: pl.String = pa.Field(nullable=True, description="사업장업종코드명")
    applied_at: pl.Date = _date("적용일자: date the workplace joined")
    re_registered_at: pl.Date = _date("재등록일자: date of re-registration")
    withdrawn_at: pl.Date = _date("탈퇴일자: date of withdrawal")
    subscriber_count: pl.Int64 = _count("가입자수: enrolled subscribers")
    monthly_notice_amount: pl.Int64 = _count("당월고지금액: contributions billed (KRW)")
    new_subscribers: pl.Int64 = _count("신규취득자수: joined this month")
    lost_subscribers: pl.Int64 = _count("상실가입자수: left this month")
    ym: pl.Date = pa.Field(description="data month (first day, from 자료생성년월); partition")
    name_norm: pl.String = pa.Field(
        nullable=True,
        str_matches=r"^[0-9a-z가-힣]+$",
        description="normalised name: legal forms and brackets removed, [0-9a-z가-힣] only",
    )
    company_types: Annotated[pl.List, pl.String] = pa.Field(
        description="legal forms in the name (주식회사, 유한회사, 사단법인...); [] if none"
    )
    addr_key: pl.String = pa.Field(
        nullable=True,
        str_matches=r"^\d{3}-\d{10}$",
        description="<sigungu code>-<legal-dong code>; null when either is missing",
    )
    avg_monthly_wage: pl.Float64 = pa.Field(
        nullable=True,
        ge=0,
        description="estimated wage: notice amount / subscribers / contribution rate (KRW); "
        "null when no subscribers",
    )

    class Config:
        unique = DIGEST_KEY
        strict = True

    @pa.dataframe_check(description="자료생성년월 equals the month of ym, and ym is a month start")
    @classmethod
    def data_month_matches_ym(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            (pl.col("data_created_ym") == pl.col("ym").dt.strftime("%Y-%m"))
            & (pl.col("ym").dt.day() == 1)
        )

    @pa.dataframe_check(description="avg_monthly_wage is null exactly when subscriber_count is 0")
    @classmethod
    def wage_only_with_subscribers(cls, data: PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(
            pl.col("avg_monthly_wage").is_null() == (pl.col("subscriber_count") == 0)
        )


# --- gold (company layer, loads, analysis) ---

# Owned by the NPS gold engineer. Lake models first, then the PostgreSQL tables as loaded (a load
# asset's contract covers the frame it loads: validated before loading, drives the DDL, and its
# `<asset>_contract` check re-validates what PostgreSQL holds). PostgreSQL has no list columns in
# the loaders, so list columns (`company_types`) are loaded as comma-joined text.

_MATCH_METHODS = ["registration", "alias", "trigram", "none"]
_DECISIONS = ["accepted", "review", "rejected"]
_YM = "Data month (first day, Asia/Seoul)"


class NpsHisPostgresAppend(NpsHisDigest):
    """`public.pension`: the digest rows of the loaded months plus `row_key`, the table's key."""

    # A loaded table keeps the list as text: the column's dtype changes in this subclass, which
    # pandera supports and mypy reports as an incompatible override of the base's annotation.
    company_types: pl.String = pa.Field(  # type: ignore[assignment]
        description="legal forms detected in the name, comma-joined ('' if none)"
    )
    row_key: pl.String = pa.Field(
        str_length={"min_value": 12},
        description="natural key as text: ym|company_name|business_reg_num|zip|subscribers|amount",
    )

    class Config:
        unique = ("ym", "row_key")
        strict = True


class NpsMatchAudit(pa.DataFrameModel):
    """Matching decisions: each digest row of the month, its best candidate company and score."""

    ym: pl.Date = pa.Field(description=_YM)
    row_key: pl.String = pa.Field(description="The digest row's natural key as text (see pension)")
    company_name: pl.String = pa.Field(description="Workplace name as delivered (trimmed)")
    business_reg_num: pl.String = pa.Field(
        description="First 6 digits of 사업자등록번호", nullable=True
    )
    name_norm: pl.String = pa.Field(description="Normalised name the match compared", nullable=True)
    company_types: Annotated[pl.List, pl.String] = pa.Field(description="Legal forms detected")
    addr_key: pl.String = pa.Field(description="<sigungu>-<legal-dong code>", nullable=True)
    district: pl.String = pa.Field(
        description="시군구 district: sido + sigungu code", nullable=True
    )
    industry_code: pl.String = pa.Field(description="Row industry code as delivered", nullable=True)
    subscriber_count: pl.Int64 = pa.Field(description="가입자수", ge=0)
    monthly_notice_amount: pl.Int64 = pa.Field(description="당월고지금액 (KRW)", ge=0)
    new_subscribers: pl.Int64 = pa.Field(description="신규취득자수", ge=0)
    lost_subscribers: pl.Int64 = pa.Field(description="상실가입자수", ge=0)
    method: pl.String = pa.Field(
        description="How the best candidate was found", isin=_MATCH_METHODS
    )
    candidate_count: pl.Int64 = pa.Field(description="Candidates scored for the row", ge=0)
    company_id: pl.String = pa.Field(description="Best candidate company", nullable=True)
    candidate_name: pl.String = pa.Field(
        description="Best candidate's representative name", nullable=True
    )
    similarity: pl.Float64 = pa.Field(
        description="Name similarity of the candidate",
        nullable=True,
        in_range={"min_value": 0.0, "max_value": 1.0},
    )
    industry_match: pl.Boolean = pa.Field(
        description="Same known industry (missing = False)", nullable=True
    )
    district_match: pl.Boolean = pa.Field(
        description="Same known district (missing = False)", nullable=True
    )
    score: pl.Float64 = pa.Field(
        description="similarity + bonuses, clamped to [0, 1]",
        nullable=True,
        in_range={"min_value": 0.0, "max_value": 1.0},
    )
    decision: pl.String = pa.Field(
        description="accepted >= 0.90, review 0.75-0.90, rejected", isin=_DECISIONS
    )

    class Config:
        unique = ("ym", "row_key")
        strict = True

    @pa.dataframe_check
    @classmethod
    def decision_follows_score(cls, data: PolarsData) -> pl.LazyFrame:
        """accepted iff score >= 0.90; review iff 0.75 <= score < 0.90; else rejected."""
        s = pl.col("score").fill_null(0.0)
        expected = (
            pl.when(s >= 0.90)
            .then(pl.lit("accepted"))
            .when(s >= 0.75)
            .then(pl.lit("review"))
            .otherwise(pl.lit("rejected"))
        )
        return data.lazyframe.select(pl.col("decision") == expected)

    @pa.dataframe_check
    @classmethod
    def candidate_iff_method(cls, data: PolarsData) -> pl.LazyFrame:
        """A row has a company candidate exactly when a method found one."""
        return data.lazyframe.select((pl.col("method") == "none") == pl.col("company_id").is_null())

    @pa.dataframe_check
    @classmethod
    def no_free_bonus(cls, data: PolarsData) -> pl.LazyFrame:
        """Without an industry and a district match the score is the bare similarity (Fix)."""
        bare = ~pl.col("industry_match").fill_null(False) & ~pl.col("district_match").fill_null(
            False
        )
        return data.lazyframe.select(
            ~bare | pl.col("score").is_null() | (pl.col("score") <= pl.col("similarity"))
        )


class NpsReviewQueue(pa.DataFrameModel):
    """Workplace rows awaiting a human decision: best candidate scored in [0.75, 0.90)."""

    ym: pl.Date = pa.Field(description=_YM)
    row_key: pl.String = pa.Field(description="The digest row's natural key as text")
    company_name: pl.String = pa.Field(description="Workplace name as delivered")
    business_reg_num: pl.String = pa.Field(
        description="First 6 digits of 사업자등록번호", nullable=True
    )
    name_norm: pl.String = pa.Field(description="Normalised name", nullable=True)
    addr_key: pl.String = pa.Field(description="<sigungu>-<legal-dong code>", nullable=True)
    district: pl.String = pa.Field(
        description="시군구 district: sido + sigungu code", nullable=True
    )
    industry_code: pl.String = pa.Field(description="Row industry code", nullable=True)
    method: pl.String = pa.Field(description="How the candidate was found", isin=_MATCH_METHODS[:3])
    proposed_company_id: pl.String = pa.Field(description="Company proposed for the row")
    proposed_name: pl.String = pa.Field(description="Proposed company's representative name")
    similarity: pl.Float64 = pa.Field(
        description="Name similarity", in_range={"min_value": 0.0, "max_value": 1.0}
    )
    score: pl.Float64 = pa.Field(description="Match score (review band)", ge=0.75, lt=0.90)

    class Config:
        unique = ("ym", "row_key")
        strict = True


class NpsFactPensionMonthly(pa.DataFrameModel):
    """Per company and month: sums over the accepted workplace rows of the company."""

    company_id: pl.String = pa.Field(description="Company (<reg num>-<addr_key>)")
    ym: pl.Date = pa.Field(description=_YM)
    subscriber_count: pl.Int64 = pa.Field(description="Subscribers (sum)", ge=0)
    monthly_notice_amount: pl.Int64 = pa.Field(description="Notice amount KRW (sum)", ge=0)
    new_subscribers: pl.Int64 = pa.Field(description="Joins (sum)", ge=0)
    lost_subscribers: pl.Int64 = pa.Field(description="Leaves (sum)", ge=0)
    workplace_rows: pl.Int64 = pa.Field(description="Accepted rows summed", ge=1)

    class Config:
        unique = ("company_id", "ym")
        strict = True


class NpsDimCompany(pa.DataFrameModel):
    """Companies (registration number + addr_key) over all months in the lake."""

    company_id: pl.String = pa.Field(
        description="<business_reg_num>-<addr_key> (deterministic)", unique=True
    )
    business_reg_num: pl.String = pa.Field(description="First 6 digits of 사업자등록번호")
    canonical_name: pl.String = pa.Field(description="Name in the latest month (largest workplace)")
    normalized_name: pl.String = pa.Field(
        description="name_norm of the canonical name", nullable=True
    )
    company_types: Annotated[pl.List, pl.String] = pa.Field(
        description="Legal forms of the canonical name"
    )
    industry_code: pl.String = pa.Field(
        description="Latest known industry (no placeholder)", nullable=True
    )
    addr_key: pl.String = pa.Field(description="<sigungu>-<legal-dong code>")
    district: pl.String = pa.Field(
        description="시군구 district: sido + sigungu code", nullable=True
    )
    valid_from: pl.Date = pa.Field(description="First month seen")
    valid_to: pl.Date = pa.Field(description="Last month seen (inclusive)")
    months_seen: pl.Int64 = pa.Field(description="Months the company appears in", ge=1)

    class Config:
        unique = ("company_id",)
        strict = True

    @pa.dataframe_check
    @classmethod
    def valid_range(cls, data: PolarsData) -> pl.LazyFrame:
        """valid_from is never after valid_to."""
        return data.lazyframe.select(pl.col("valid_from") <= pl.col("valid_to"))


class NpsCompanyAlias(pa.DataFrameModel):
    """Normalised names a company is known by (accepted exact-alias and >= 0.95 matches)."""

    company_id: pl.String = pa.Field(description="Company")
    alias: pl.String = pa.Field(description="Normalised name", str_length={"min_value": 1})
    example_name: pl.String = pa.Field(description="A delivered name with this alias (latest)")
    source: pl.String = pa.Field(
        description="Strongest evidence: alias, registration or trigram", isin=_MATCH_METHODS[:3]
    )
    first_seen: pl.Date = pa.Field(description="First month the alias was seen")
    last_seen: pl.Date = pa.Field(description="Last month the alias was seen")
    occurrences: pl.Int64 = pa.Field(description="Accepted rows with this alias", ge=1)

    class Config:
        unique = ("company_id", "alias")
        strict = True


class NpsIndustryMonthlyStats(pa.DataFrameModel):
    """Per month and industry: workplaces, subscribers, average wage, joins and leaves."""

    ym: pl.Date = pa.Field(description=_YM)
    industry_code: pl.String = pa.Field(description="업종 code ('unknown' when missing)")
    industry_name: pl.String = pa.Field(description="업종 name (most frequent)", nullable=True)
    workplaces: pl.Int64 = pa.Field(description="Registered workplaces (status 1)", ge=0)
    withdrawn_workplaces: pl.Int64 = pa.Field(description="Withdrawn workplaces (status 2)", ge=0)
    subscribers: pl.Int64 = pa.Field(description="Subscribers", ge=0)
    monthly_notice_amount: pl.Int64 = pa.Field(description="Notice amount KRW", ge=0)
    avg_monthly_wage: pl.Float64 = pa.Field(
        description="Subscriber-weighted average wage KRW", nullable=True, ge=0
    )
    new_subscribers: pl.Int64 = pa.Field(description="Joins", ge=0)
    lost_subscribers: pl.Int64 = pa.Field(description="Leaves", ge=0)
    net_change: pl.Int64 = pa.Field(description="Joins minus leaves")

    class Config:
        unique = ("ym", "industry_code")
        strict = True


class NpsRegionMonthlyStats(pa.DataFrameModel):
    """Per month and 시군구 region: workplaces, subscribers, average wage, joins and leaves."""

    ym: pl.Date = pa.Field(description=_YM)
    addr_sido_code: pl.String = pa.Field(description="시도 code ('unknown' when missing)")
    addr_sigungu_code: pl.String = pa.Field(description="시군구 code ('unknown' when missing)")
    workplaces: pl.Int64 = pa.Field(description="Registered workplaces (status 1)", ge=0)
    withdrawn_workplaces: pl.Int64 = pa.Field(description="Withdrawn workplaces (status 2)", ge=0)
    subscribers: pl.Int64 = pa.Field(description="Subscribers", ge=0)
    monthly_notice_amount: pl.Int64 = pa.Field(description="Notice amount KRW", ge=0)
    avg_monthly_wage: pl.Float64 = pa.Field(
        description="Subscriber-weighted average wage KRW", nullable=True, ge=0
    )
    new_subscribers: pl.Int64 = pa.Field(description="Joins", ge=0)
    lost_subscribers: pl.Int64 = pa.Field(description="Leaves", ge=0)
    net_change: pl.Int64 = pa.Field(description="Joins minus leaves")

    class Config:
        unique = ("ym", "addr_sido_code", "addr_sigungu_code")
        strict = True


class NpsCompanyGrowth(pa.DataFrameModel):
    """Per company and month: subscribers against a month and a year earlier (MoM, YoY)."""

    company_id: pl.String = pa.Field(description="Company")
    ym: pl.Date = pa.Field(description=_YM)
    subscriber_count: pl.Int64 = pa.Field(description="Subscribers this month", ge=0)
    prev_month_subscribers: pl.Int64 = pa.Field(
        description="Subscribers a month earlier", nullable=True, ge=0
    )
    mom_change: pl.Int64 = pa.Field(description="Change against the previous month", nullable=True)
    mom_growth_pct: pl.Float64 = pa.Field(
        description="MoM change in % (null if no base)", nullable=True
    )
    prev_year_subscribers: pl.Int64 = pa.Field(
        description="Subscribers 12 months earlier", nullable=True, ge=0
    )
    yoy_change: pl.Int64 = pa.Field(description="Change against 12 months earlier", nullable=True)
    yoy_growth_pct: pl.Float64 = pa.Field(
        description="YoY change in % (null if no base)", nullable=True
    )

    class Config:
        unique = ("company_id", "ym")
        strict = True


class NpsPensionIndexes(pa.DataFrameModel):
    """Manifest of the serving indexes on `public.pension`, read back from `pg_indexes`."""

    index_name: pl.String = pa.Field(description="Index name", unique=True)
    access_method: pl.String = pa.Field(
        description="btree, gin or brin", isin=["btree", "gin", "brin"]
    )
    definition: pl.String = pa.Field(description="CREATE INDEX statement (pg_indexes.indexdef)")

    class Config:
        strict = True

    @pa.dataframe_check
    @classmethod
    def serving_indexes_present(cls, data: PolarsData) -> pl.LazyFrame:
        """The registration-number, (sigungu, industry) and BRIN month indexes all exist."""
        required = [
            "pension_business_reg_num_idx",
            "pension_sigungu_industry_idx",
            "pension_ym_brin",
        ]
        return data.lazyframe.select(
            pl.lit(required).list.set_difference(pl.col("index_name").implode()).list.len() == 0
        )


# PostgreSQL tables as loaded (list columns as comma-joined text).
class NpsMatchAuditPostgres(NpsMatchAudit):
    """`match_audit_log`: the matching decisions as loaded (months replaced per run)."""

    company_types: pl.String = pa.Field(  # type: ignore[assignment]  # list as text, as above
        description="Legal forms detected, comma-joined"
    )


class NpsReviewQueuePostgres(NpsReviewQueue):
    """`match_review_queue`: rows awaiting review as loaded (months replaced per run)."""


class NpsFactPensionMonthlyPostgres(NpsFactPensionMonthly):
    """`fact_pension_monthly` (key company_id + ym) as loaded (months replaced per run)."""


class NpsDimCompanyPostgres(NpsDimCompany):
    """`dim_company` as loaded (whole table replaced per run)."""

    company_types: pl.String = pa.Field(  # type: ignore[assignment]  # list as text, as above
        description="Legal forms of the canonical name, comma-joined"
    )


class NpsCompanyAliasPostgres(NpsCompanyAlias):
    """`company_alias` as loaded (whole table replaced per run)."""


class NpsIndustryMonthlyStatsPostgres(NpsIndustryMonthlyStats):
    """`nps_industry_monthly_stats` as loaded (months replaced per run)."""


class NpsRegionMonthlyStatsPostgres(NpsRegionMonthlyStats):
    """`nps_region_monthly_stats` as loaded (months replaced per run)."""


class NpsCompanyGrowthPostgres(NpsCompanyGrowth):
    """`nps_company_growth` as loaded (whole table replaced per run)."""
