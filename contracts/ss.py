"""SS contracts: phone deals from the phone board's crawl files to deals, TCO and daily reports.

Bronze holds one crawl file's posts as delivered (the IS crawler format); silver holds the
normalised posts, the rules step's deal candidates (up to two scenarios per post) and the LLM
step's extraction with every quarantined row and its reason; gold holds the dictionary, the deals
with their TCO and the daily price statistics.
"""

from __future__ import annotations

from typing import Annotated, Any

import pandera.polars as pa
import polars as pl

from contracts.is_ import IsCrawlerExecutor, IsCrawlFiles

UTC = Annotated[pl.Datetime, "us", "UTC"]
TEXTS = Annotated[pl.List, pl.String]
GBS = Annotated[pl.List, pl.Int32]
MD5 = r"^[0-9a-f]{32}$"
CARRIERS = ["SKT", "KT", "LGU+", "MVNO"]
CHANNELS = ["온라인", "오프라인", "unknown"]
CONTRACTS = ["공시지원", "선택약정", "무약정"]
INTENTS = ["advertorial", "question", "deal", "unclear"]
QUARANTINE = ["unknown_carrier", "non_deal", "advertorial_high", "llm_invalid_answer"]


def _text(description: str, *, nullable: bool = True) -> Any:
    return pa.Field(nullable=nullable, description=description)


def _won(description: str) -> Any:
    return pa.Field(nullable=True, description=f"{description} (KRW)")


def _months(description: str) -> Any:
    return pa.Field(ge=0, le=120, nullable=True, description=f"{description} (months)")


# -- bronze -------------------------------------------------------------------------------------
class SsCrawlerExecutor(IsCrawlerExecutor):
    """One crawl file a phone-board crawler run wrote into SS_OUTPUT_DIR (the run's manifest)."""


class SsCrawlFiles(IsCrawlFiles):
    """One post of one phone-board crawl file, as the crawler delivered it."""


# -- silver -------------------------------------------------------------------------------------
class _PostKey(pa.DataFrameModel):
    post_id: pl.String = pa.Field(str_length={"min_value": 1}, description="site's post number")
    url: pl.String = pa.Field(description="post URL")


class _Cues(pa.DataFrameModel):
    city: pl.String = _text("first of the 17 provinces named (body first, then OP comments)")
    channel: pl.String = pa.Field(isin=CHANNELS, description="온라인, 오프라인 or unknown")
    move_type: pl.String = pa.Field(
        isin=["번호이동", "기기변경", "자급"], nullable=True, description="move type")
    contract: pl.String = pa.Field(isin=CONTRACTS, nullable=True, description="contract")
    payment: pl.String = pa.Field(isin=["현금완납", "할부"], nullable=True, description="payment")
    adv_score: pl.Float64 = pa.Field(ge=0, le=1, description="advertorial cue score (0..1)")
    intent: pl.String = pa.Field(isin=INTENTS, description="advertorial, question, deal, unclear")
    deal_candidate_score: pl.Float64 = pa.Field(ge=0, le=1, description="deal score (0..1)")
    is_candidate: pl.Boolean = pa.Field(description="a deal candidate (rules)")
    has_price: pl.Boolean = pa.Field(description="a price is written (N만 / NNNN원)")


class SsNormalizedPosts(_PostKey, _Cues):
    """A phone-board post with its text (title, content, the author's own comments) and cues."""

    crawl_file: pl.String = pa.Field(description="the crawl file that stored this row")
    site: pl.String = pa.Field(description="community site")
    board: pl.String = pa.Field(description="board")
    title: pl.String = _text("title")
    content: pl.String = _text("plain-text body")
    author: pl.String = _text("author nickname", nullable=True)
    text: pl.String = _text("title + content + OP comments, NUL-free", nullable=False)
    op_comments: pl.String = _text("the author's top-level comments and first replies")
    comment_count: pl.Int64 = pa.Field(ge=0, nullable=True, description="comments")
    posted_at: UTC = pa.Field(nullable=True, description="published at (UTC)")
    source_posted_at: pl.Date = pa.Field(nullable=True, description="published day (KST)")
    crawled_at: UTC = pa.Field(description="crawl of this row (UTC)")

    class Config:
        unique = ("post_id", "url")
        strict = True


class _Scenario(_PostKey, _Cues):
    scenario: pl.Int8 = pa.Field(isin=[1, 2], description="scenario of the post (1 or 2)")
    crawl_file: pl.String = pa.Field(description="the crawl file of this row")
    source_posted_at: pl.Date = pa.Field(nullable=True, description="published day (KST)")
    title: pl.String = _text("post title")
    scenario_text: pl.String = _text("the scenario's text", nullable=False)
    op_comments: pl.String = _text("the author's comments")
    model: pl.String = pa.Field(description="phone model (dictionary name, or 미상)")
    carrier: pl.String = _text("carrier (dictionary name)")
    capacity: pl.String = _text("capacity: 64GB..512GB or 1TB")
    addons_count: pl.Int32 = pa.Field(ge=0, nullable=True, description="부가서비스 N개")
    flags: TEXTS = pa.Field(description="rule flags (non_deal, intent_*, advertorial_high, ...)")


class SsDealCandidates(_Scenario):
    """One scenario of a post that passed the rules' prefilter (a carrier and a model named)."""

    class Config:
        unique = ("post_id", "url", "scenario")
        strict = True


class _Money(pa.DataFrameModel):
    upfront: pl.Int64 = _won("paid up front (현완 / 할원)")
    support_cash: pl.Int64 = _won("cash support paid back")
    device_finance_total: pl.Int64 = _won("device instalment total")
    device_finance_months: pl.Int64 = _months("device instalment")
    plan_high_fee: pl.Int64 = _won("monthly fee of the required plan")
    plan_high_months: pl.Int64 = _months("required plan")
    plan_after_fee: pl.Int64 = _won("monthly fee after the required plan")
    plan_after_months: pl.Int64 = _months("plan after")
    mvno_tail_fee: pl.Int64 = _won("MVNO tail plan fee")
    mvno_tail_months: pl.Int64 = _months("MVNO tail plan")
    addons_monthly: pl.Int64 = _won("add-ons per month")
    addons_months: pl.Int64 = _months("add-ons")
    addons_detail: pl.String = pa.Field(
        nullable=True, str_startswith="[",
        description="add-ons [{name, fee, months, note}] as a JSON array (null: not asked)")
    retention_line_months: pl.Int64 = _months("line kept at least")
    retention_plan_months: pl.Int64 = _months("plan kept at least")
    retention_addons_months: pl.Int64 = _months("add-ons kept at least")
    contract_type: pl.String = pa.Field(
        isin=CONTRACTS, nullable=True, description="contract type (the rules' contract wins)")
    contract_months: pl.Int64 = _months("contract term")
    contract_extra_support: pl.Boolean = pa.Field(
        nullable=True, description="extra support (추가지원금) on top of the contract's")
    contract_support_amount: pl.Int64 = _won("support of the contract (공시/추가지원금)")
    store: pl.String = _text("store named")


class SsDealsExtracted(_Scenario, _Money):
    """A candidate scenario after the LLM step: money fields, the call's outcome, and the
    quarantine reason when it is not a deal (null: it becomes a deal)."""

    gate_passed: pl.Boolean = pa.Field(description="sent to the LLM (passed the gate)")
    llm_model: pl.String = _text("model that answered (sample = the offline stand-in)")
    llm_latency_ms: pl.Float64 = pa.Field(ge=0, nullable=True, description="call latency")
    llm_tokens: pl.Int64 = pa.Field(ge=0, nullable=True, description="total tokens")
    llm_error: pl.String = _text("why the answer was refused")
    quarantine_reason: pl.String = pa.Field(isin=QUARANTINE, nullable=True, description="reason")

    class Config:
        unique = ("post_id", "url", "scenario")
        strict = True


class SsQuarantine(_PostKey):
    """A scenario kept out of the deals, with the reason (never silently dropped)."""

    scenario: pl.Int8 = pa.Field(isin=[1, 2], description="scenario")
    crawl_file: pl.String = pa.Field(description="crawl file")
    model: pl.String = pa.Field(description="model")
    carrier: pl.String = _text("carrier")
    intent: pl.String = pa.Field(isin=INTENTS, description="intent")
    adv_score: pl.Float64 = pa.Field(ge=0, le=1, description="advertorial score")
    deal_candidate_score: pl.Float64 = pa.Field(ge=0, le=1, description="deal score")
    reason: pl.String = pa.Field(isin=QUARANTINE, description="quarantine reason")
    detail: pl.String = _text("what triggered it")

    class Config:
        unique = ("post_id", "url", "scenario")
        strict = True


# -- gold ---------------------------------------------------------------------------------------
class SsDictionary(pa.DataFrameModel):
    """A carrier or phone model with its aliases (seed data in the repository)."""

    kind: pl.String = pa.Field(isin=["carrier", "model"], description="carrier or model")
    name: pl.String = pa.Field(description="canonical name")
    aliases: TEXTS = pa.Field(description="aliases as posters write them")
    aliases_keyb: TEXTS = pa.Field(description="aliases in key-B normalisation")
    capacities: GBS = pa.Field(description="model capacities in GB ([] for carriers)")

    class Config:
        unique = ("kind", "name")
        strict = True


class SsDeals(_PostKey, _Money):
    """A phone deal: phone, contract and its terms, money, add-ons, retention months and its
    total cost of ownership."""

    deal_hash: pl.String = pa.Field(str_matches=MD5, description="md5 of the key fields")
    scenario: pl.Int8 = pa.Field(isin=[1, 2], description="scenario of the post")
    source_posted_at: pl.Date = pa.Field(nullable=True, description="published day (KST)")
    model: pl.String = pa.Field(description="phone model")
    capacity: pl.String = _text("capacity")
    carrier: pl.String = pa.Field(isin=CARRIERS, description="SKT, KT, LGU+ or MVNO")
    move_type: pl.String = _text("move type")
    contract: pl.String = _text("contract")
    payment: pl.String = _text("payment")
    channel: pl.String = pa.Field(isin=CHANNELS, description="channel")
    city: pl.String = _text("province")
    addons_count: pl.Int32 = pa.Field(ge=0, nullable=True, description="add-ons")
    advertorial_score: pl.Float64 = pa.Field(ge=0, le=1, description="advertorial score")
    flags: TEXTS = pa.Field(description="rule flags")
    tco_total: pl.Int64 = pa.Field(description="upfront + sum(fee x months) + device finance")
    tco_net: pl.Int64 = pa.Field(description="tco_total - support cash")
    parsed_at: UTC = pa.Field(description="crawl the deal was extracted from (UTC)")

    class Config:
        unique = ("deal_hash",)
        strict = True


class SsAggregatesDaily(pa.DataFrameModel):
    """TCO statistics of one (model, capacity, day) among the deals of the last 7 days."""

    model: pl.String = pa.Field(description="phone model")
    capacity: pl.String = pa.Field(description="capacity (the model's smallest when unknown)")
    ts: pl.Date = pa.Field(description="day posted (KST)")
    min: pl.Float64 = pa.Field(description="lowest tco_total")
    p25: pl.Float64 = pa.Field(description="25th percentile (linear)")
    median: pl.Float64 = pa.Field(description="median")
    p75: pl.Float64 = pa.Field(description="75th percentile (linear)")
    max: pl.Float64 = pa.Field(description="highest tco_total")
    avg: pl.Float64 = pa.Field(description="mean")
    n: pl.Int64 = pa.Field(gt=0, description="deals")

    class Config:
        unique = ("model", "capacity", "ts")
        strict = True


class SsFlush(pa.DataFrameModel):
    """One PostgreSQL serving table the confirmed flush empties, and the rows it holds now."""

    table: pl.String = pa.Field(unique=True, description="table")
    rows: pl.Int64 = pa.Field(ge=0, le=0, description="rows it holds after the flush (0)")

    class Config:
        strict = True


class SsApiViewsPostgres(pa.DataFrameModel):
    """One JSON API view of the serving database and the rows it shows."""

    view: pl.String = pa.Field(unique=True, description="view name")
    rows: pl.Int64 = pa.Field(ge=0, description="rows")

    class Config:
        strict = True


# -- serving (PostgreSQL and Turso) -------------------------------------------------------------
class SsDealsServing(SsDeals):
    """Serving `deals` (flags as comma-joined text)."""

    flags: pl.String = pa.Field(description="rule flags, comma-joined")  # type: ignore[assignment]

    class Config:
        unique = ("deal_hash",)
        strict = True


class SsAggregatesDailyServing(SsAggregatesDaily):
    """Serving `aggregates_daily`."""


class _DictionaryServing(pa.DataFrameModel):
    id: pl.Int32 = pa.Field(unique=True, description="1-based id in seed order")
    name: pl.String = pa.Field(unique=True, description="canonical name")
    aliases: pl.String = pa.Field(description="aliases, comma-joined")
    aliases_keyb: pl.String = pa.Field(description="key-B aliases, comma-joined")

    class Config:
        unique = ("id",)
        strict = True


class SsCarriersServing(_DictionaryServing):
    """Serving `carriers`."""


class SsPhoneModelsServing(_DictionaryServing):
    """Serving `phone_models`."""

    capacities: pl.String = pa.Field(description="capacities in GB, comma-joined")
