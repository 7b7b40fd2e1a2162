"""SS silver: the rules step (`ss_deal_candidates`), the LLM step (`ss_deals_extracted`) and the
quarantine (`ss_quarantine`), per crawl file, each upserting one keyed table.

The LLM step sends only the scenarios that pass the gate (prefilter passed, intent deal, a
candidate, score >= SS_DEAL_GATE_MIN_SCORE, not a strong advertorial with a low score) through
the `openai` resource with a strict JSON schema whose carrier and model are enums of the
dictionary. Besides the money it answers the add-ons one by one (`addons_detail`, stored as a
JSON array text), how long line, plan and add-ons must be kept (`retention_*_months`) and the
contract terms (`contract_type`, `contract_months`, `contract_extra_support`,
`contract_support_amount`). Its values fill only what the rules left missing (null, 0,
`unknown`; the rules' contract cue wins over `contract_type`); the rules' model always wins.
Every scenario that does not become a deal keeps a reason: `advertorial_high`, `non_deal`
(also: below the gate), `unknown_carrier`, `llm_invalid_answer` (an answer that breaks
the schema, e.g. a carrier outside the enum, an add-on without its `note` or with a text fee).
SS_FASTFAIL_ON_QUARANTINE=1 fails the step instead, naming the posts and fields.
"""

import json
import os
import re
import time
from typing import TYPE_CHECKING, Any

import dagster as dg
import polars as pl
from jsonschema import Draft202012Validator, ValidationError

from contracts import column_schema, contract_check, polars_schema
from contracts.ss import CONTRACTS, SsDealCandidates, SsDealsExtracted, SsQuarantine
from dag.common import elapsed
from dag.llm import Answer, LlmCall, OpenAIResource
from dag.ss_common import (
    BACKFILL,
    CARRIERS,
    LAKE,
    POOL,
    advertorial_high,
    deal_low_score,
    gate_min_score,
    ss_crawl_file_partition,
    ss_tags,
)
from dag.ss_dictionary import seed
from dag.ss_rules import deal_candidates
from dag_io import lake

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

KEY = ["post_id", "url", "scenario"]
MONEY = ("upfront", "support_cash", "device_finance_total", "device_finance_months",
         "plan_high_fee", "plan_high_months", "plan_after_fee", "plan_after_months",
         "mvno_tail_fee", "mvno_tail_months", "addons_monthly", "addons_months")
RETENTION = ("retention_line_months", "retention_plan_months", "retention_addons_months")
INTEGERS = (*MONEY, *RETENTION, "contract_months", "contract_support_amount")
FILLED = ("carrier", "capacity", "move_type", "channel", "city", "store")
ADDON_KEYS = ("name", "fee", "months", "note")
ANSWERED: dict[str, pl.DataType] = {  # answer fields the rules never set, with their dtypes
    **{f: pl.Int64() for f in INTEGERS}, "addons_detail": pl.String(),
    "contract_type": pl.String(), "contract_extra_support": pl.Boolean(),
}
SYSTEM = ("You extract one Korean phone deal from a board post. Answer with the JSON schema only. "
          "Money in KRW as integers (35만 = 350000), months as integers, null when not stated. "
          "addons_detail lists each add-on (부가서비스) with its monthly fee and months, [] when "
          "none; retention_*_months: how long the line, plan and add-ons must be kept.")


def of_file(table: pl.LazyFrame, bronze: pl.LazyFrame) -> pl.DataFrame:
    """The rows of the run's crawl file's posts (by post_id and url)."""
    return table.join(bronze.select("post_id", "url").unique(), on=["post_id", "url"],
                      how="semi").collect()


def _keyed(model: type) -> dict[str, Any]:
    return {**lake(write_mode="merge", merge_keys=KEY),
            "dagster/column_schema": column_schema(model)}


@dg.asset(
    group_name="SS",
    partitions_def=ss_crawl_file_partition,
    backfill_policy=BACKFILL,
    io_manager_key=LAKE,
    kinds={"polars", "deltalake"},
    tags=ss_tags("silver"),
    metadata=_keyed(SsDealCandidates),
    deps=["ss_dictionary"],
    pool=POOL,
)
def ss_deal_candidates(
    ss_normalized_posts: pl.LazyFrame, ss_crawl_files: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Deal scenarios of the file's posts (up to two per post): model, carrier, capacity,
    add-ons count and rule flags; posts dropped by the prefilter are counted by reason."""
    started = time.perf_counter()
    posts = of_file(ss_normalized_posts, ss_crawl_files)
    found, dropped = deal_candidates(
        posts, advertorial_high=advertorial_high(), deal_low=deal_low_score()
    )
    out = found.select(list(polars_schema(SsDealCandidates)))
    return dg.Output(out.lazy(), metadata={
        "posts": posts.height, "scenarios": out.height,
        **{f"dropped_{reason}": n for reason, n in dropped.items()},
        "two_scenario_posts": int((out["scenario"] == 2).sum()),
        "dagster/row_count": out.height, "execution_time_sec": elapsed(started),
    })


# --- the LLM step --------------------------------------------------------------------------------
def deal_schema() -> dict[str, Any]:
    """The strict answer schema: carrier and model are enums of the dictionary, contract_type of
    the contracts; `addons_detail` is an array of {name, fee, months, note}, all four required."""
    number = {"type": ["integer", "null"]}
    text = {"type": ["string", "null"]}
    addon = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "fee": number, "months": number, "note": text},
        "required": list(ADDON_KEYS), "additionalProperties": False,
    }
    properties: dict[str, Any] = {
        "model": {"type": "string", "enum": [m["name"] for m in seed()["models"]]},
        "carrier": {"type": "string", "enum": list(CARRIERS)},
        "capacity": text, "move_type": text, "channel": text, "city": text, "store": text,
        **dict.fromkeys(MONEY, number),
        "addons_detail": {"type": "array", "items": addon},
        **dict.fromkeys(RETENTION, number),
        "contract_type": {"type": ["string", "null"], "enum": [*CONTRACTS, None]},
        "contract_months": number,
        "contract_extra_support": {"type": ["boolean", "null"]},
        "contract_support_amount": number,
    }
    return {"type": "object", "properties": properties, "required": list(properties),
            "additionalProperties": False}


def prompt(row: dict[str, Any]) -> str:
    meta = f"model={row['model']}|carrier={row['carrier']}|capacity={row['capacity']}"
    return (f"[TITLE] {row['title']}\n[CONTENT] {row['scenario_text']}\n[META] {meta}\n"
            f"[COMMENTS_OP] {row['op_comments']}")


def answer_problem(answer: Answer, schema: dict[str, Any]) -> str | None:
    """What breaks the JSON schema in an answer, naming the field (`addons_detail[1].fee: ...`);
    None when it follows it. Missing or unexpected fields first, then the fields in schema order,
    so the message is the same whatever order the validator finds them in."""
    order = {name: i for i, name in enumerate(schema["properties"])}

    def rank(error: ValidationError) -> tuple[int, int, str]:
        path = list(error.path)
        return (len(path) > 0, order.get(str(path[0]), -1) if path else -1, str(path[1:]))

    error = min(Draft202012Validator(schema).iter_errors(answer), key=rank, default=None)
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
    return f"{where.lstrip('.')}: {error.message}" if where else error.message


def addons_json(detail: list[dict[str, Any]]) -> str:
    """`addons_detail` as stored: a JSON array, each object's keys in schema order."""
    return json.dumps([{k: item[k] for k in ADDON_KEYS} for item in detail], ensure_ascii=False)


def gate(frame: pl.DataFrame) -> pl.Series:
    """Scenarios sent to the LLM."""
    return frame.select(
        (pl.col("intent") == "deal") & pl.col("is_candidate")
        & (pl.col("deal_candidate_score") >= gate_min_score())
        & ~((pl.col("adv_score") >= advertorial_high())
            & (pl.col("deal_candidate_score") < deal_low_score()))
    ).to_series()


def merge_answers(candidates: pl.DataFrame, calls: list[LlmCall], schema: dict[str, Any]
                  ) -> pl.DataFrame:
    """Candidates with the LLM's values filling what the rules left missing, the call outcomes
    and the quarantine reason of each scenario."""
    rows = []
    for call in calls:  # one per LLM call (the gated scenarios), not per row of the frame
        problem = call.error or (answer_problem(call.answer, schema) if call.answer else None)
        answer = call.answer if problem is None and call.answer else {}
        detail = answer.get("addons_detail")
        rows.append({"key": call.key, "llm_model": call.model, "llm_latency_ms": call.latency_ms,
                     "llm_tokens": call.tokens, "llm_error": problem,
                     **{f"llm_{f}": answer.get(f) for f in (*FILLED, *ANSWERED)},
                     "llm_addons_detail": None if detail is None else addons_json(detail)})
    llm_schema: dict[str, PolarsDataType] = {
        "key": pl.String, "llm_model": pl.String, "llm_latency_ms": pl.Float64,
        "llm_tokens": pl.Int64, "llm_error": pl.String,
        **{f"llm_{f}": pl.String for f in FILLED},
        **{f"llm_{f}": dtype for f, dtype in ANSWERED.items()},
    }
    answers = pl.DataFrame(rows, schema=llm_schema)
    missing = {"channel": "unknown"}
    joined = candidates.join(answers, on="key", how="left")
    filled = joined.with_columns(
        *[pl.when(pl.col(f).is_null() | (pl.col(f) == missing.get(f, "")))
          .then(pl.coalesce(f"llm_{f}", f)).otherwise(pl.col(f)).alias(f)
          if f in candidates.columns else pl.col(f"llm_{f}").alias(f) for f in FILLED],
        *[pl.col(f"llm_{f}").alias(f) for f in ANSWERED if f != "contract_type"],
        # the rules' contract cue is the same fact: it wins, the LLM fills it when absent
        contract_type=pl.coalesce("contract", "llm_contract_type"),
    ).with_columns(pl.col("channel").replace_strict(
        {"온라인": "온라인", "오프라인": "오프라인"}, default="unknown"))
    high = advertorial_high()
    reason = (
        pl.when(pl.col("adv_score") >= high).then(pl.lit("advertorial_high"))
        .when(~pl.col("gate_passed") | pl.col("flags").list.contains("non_deal"))
        .then(pl.lit("non_deal"))
        .when(pl.col("llm_error").is_not_null()).then(pl.lit("llm_invalid_answer"))
        .when(~pl.col("carrier").is_in(list(CARRIERS)) | pl.col("carrier").is_null())
        .then(pl.lit("unknown_carrier"))
    )
    return filled.with_columns(quarantine_reason=reason)


CONTRACT_CUES = (("선택약정", "선택약정"), ("선약", "선택약정"), ("무약정", "무약정"),
                 ("공시", "공시지원"))


def sample_answer(text: str) -> Answer:
    """The offline stand-in of sample mode: the money, add-on, retention and contract fields
    read with regular expressions from the way the sample generator's posters write them (a
    stand-in, not an extractor). A required plan of N months is kept N months, add-ons likewise;
    line retention, contract months and extra support only when written out."""
    def won(pattern: str) -> int | None:
        match = re.search(pattern, text)
        return None if match is None else int(float(match[1].replace(",", "")) * 10_000
                                                if "만" in match[0] else match[1].replace(",", ""))

    def months(pattern: str) -> int | None:
        match = re.search(pattern, text)
        return None if match is None else int(match[2])

    def first(*patterns: str) -> int | None:  # the months of the first pattern that matches
        found = (m for m in (re.search(p, text) for p in patterns) if m is not None)
        return next((int(m[1]) for m in found), None)

    line = text.split("[META] ", 1)[1].split("\n", 1)[0]
    meta = dict(part.split("=", 1) for part in line.split("|"))
    plan = r"요금제\s*월?\s*([\d,]+)원\s*(\d+)\s*개월"
    after = r"이후\s*월?\s*([\d,]+)원\s*(\d+)\s*개월"
    addons = r"부가\S*\s*(\d+)\s*개\s*월?\s*([\d,]+)원\s*(\d+)\s*개월"
    finance = r"할부원금\s*(\d+(?:\.\d+)?)\s*만\s*(\d+)\s*개월"
    store = re.search(r"(\S+(?:점|텔레콤|모바일))\b", text)
    added = re.search(addons, text)
    detail = [] if added is None else [{
        "name": f"부가서비스 {added[1]}개", "fee": int(added[2].replace(",", "")),
        "months": int(added[3]), "note": None,
    }]
    plan_months = months(plan)
    cue = next((value for word, value in CONTRACT_CUES if word in text), None)
    extra = re.search(r"추가\s*지원", text) is not None
    return {
        "model": meta.get("model", ""),
        "carrier": meta.get("carrier") if meta.get("carrier") in CARRIERS else "MVNO",
        "capacity": None, "move_type": None, "channel": None, "city": None,
        "store": store[1] if store else None,
        "upfront": won(r"(?:현완|현금완납|기기값)\s*(\d+(?:\.\d+)?)\s*만") or 0,
        "support_cash": won(r"(?:지원금|페이백|차비)\s*(\d+(?:\.\d+)?)\s*만"),
        "device_finance_total": won(finance), "device_finance_months": months(finance),
        "plan_high_fee": won(plan), "plan_high_months": plan_months,
        "plan_after_fee": won(after), "plan_after_months": months(after),
        "mvno_tail_fee": None, "mvno_tail_months": None,
        "addons_monthly": None if added is None else int(added[2].replace(",", "")),
        "addons_months": None if added is None else int(added[3]),
        "addons_detail": detail,
        "retention_line_months": first(r"회선\s*유지\s*(\d+)\s*개월",
                                       r"(\d+)\s*개월\s*회선\s*유지"),
        # the required plan's months are how long it must be kept, unless written otherwise
        "retention_plan_months": first(r"요금제\s*유지\s*(\d+)\s*개월") or plan_months,
        "retention_addons_months": first(r"부가\S*\s*유지\s*(\d+)\s*개월")
        or (None if added is None else int(added[3])),
        "contract_type": cue,
        "contract_months": first(r"약정\s*(\d+)\s*개월", r"(\d+)\s*개월\s*약정"),
        "contract_extra_support": True if extra else None,
        "contract_support_amount": won(r"(?:추가|공시)\s*지원금?\s*(\d+(?:\.\d+)?)\s*만"),
    }


@dg.asset(
    group_name="SS",
    partitions_def=ss_crawl_file_partition,
    backfill_policy=BACKFILL,
    io_manager_key=LAKE,
    kinds={"polars", "deltalake", "openai"},
    tags=ss_tags("silver"),
    metadata=_keyed(SsDealsExtracted),
    pool=POOL,
)
def ss_deals_extracted(
    context: dg.AssetExecutionContext, openai: OpenAIResource,
    ss_deal_candidates: pl.LazyFrame, ss_crawl_files: pl.LazyFrame,
) -> dg.Output[pl.LazyFrame]:
    """Deal scenarios with the LLM's money fields (upfront, support cash, device finance, plan
    fees and months, add-ons and their detail), retention months and contract terms, each call's
    outcome, and the quarantine reason of non-deals."""
    started = time.perf_counter()
    candidates = of_file(ss_deal_candidates, ss_crawl_files).with_columns(
        key=pl.concat_str("post_id", "url", pl.col("scenario").cast(pl.String), separator="|"),
        store=pl.lit(None, pl.String),
    )
    candidates = candidates.with_columns(gate_passed=gate(candidates))
    sent = candidates.filter("gate_passed")
    schema = deal_schema()
    label = f"ss_deals_extracted ({', '.join(context.partition_keys)})"
    calls = openai.complete_json(
        label, [(r["key"], prompt(r)) for r in sent.iter_rows(named=True)] if sent.height else [],
        system=SYSTEM, schema_name="phone_deal", schema=schema, sample=sample_answer,
    ) if sent.height else []
    out = merge_answers(candidates, calls, schema).select(list(polars_schema(SsDealsExtracted)))
    reasons = dict(out["quarantine_reason"].drop_nulls().value_counts().iter_rows())
    invalid = out.filter(pl.col("llm_error").is_not_null()).select(
        "post_id", "url", "scenario", "llm_error").head(20).to_dicts()
    if reasons and os.environ.get("SS_FASTFAIL_ON_QUARANTINE", "").strip() == "1":
        examples = "; ".join(f"post {r['post_id']} scenario {r['scenario']}: {r['llm_error']}"
                             for r in invalid[:5])
        raise dg.Failure(f"{label}: quarantined scenarios {reasons} (SS_FASTFAIL_ON_QUARANTINE=1)"
                         + (f"; invalid LLM answers: {examples}" if examples else ""))
    for row in invalid:
        context.log.warning(f"{label}: post {row['post_id']} ({row['url']}) scenario "
                            f"{row['scenario']}: LLM answer refused: {row['llm_error']}")
    latency = [c.latency_ms for c in calls]
    return dg.Output(out.lazy(), metadata={
        "scenarios": out.height, "llm_calls": len(calls), "llm_model": openai.model or "",
        "llm_sample_mode": openai.sample_mode,
        "llm_refused_answers": int(out["llm_error"].is_not_null().sum()),
        "llm_refused_examples": dg.MetadataValue.json(invalid),
        "with_addons_detail": int(out["addons_detail"].str.starts_with("[{").sum()),
        "llm_latency_ms_max": max(latency, default=0.0),
        "llm_tokens": int(out["llm_tokens"].fill_null(0).sum()),
        "quarantined": dg.MetadataValue.json(reasons),
        "deals": int(out["quarantine_reason"].is_null().sum()),
        "dagster/row_count": out.height, "execution_time_sec": elapsed(started),
    })


@dg.asset(
    group_name="SS",
    partitions_def=ss_crawl_file_partition,
    backfill_policy=BACKFILL,
    io_manager_key=LAKE,
    kinds={"polars", "deltalake"},
    tags=ss_tags("silver"),
    metadata=_keyed(SsQuarantine),
    pool=POOL,
)
def ss_quarantine(
    ss_deals_extracted: pl.LazyFrame, ss_crawl_files: pl.LazyFrame
) -> dg.Output[pl.LazyFrame]:
    """Scenarios kept out of the deals and why: unknown carrier, non-deal, strong advertorial,
    an LLM answer that broke the schema."""
    rows = of_file(ss_deals_extracted, ss_crawl_files).filter(
        pl.col("quarantine_reason").is_not_null()
    ).select(
        *KEY, "crawl_file", "model", "carrier", "intent", "adv_score", "deal_candidate_score",
        reason="quarantine_reason",
        detail=pl.coalesce("llm_error", pl.col("flags").list.join(",")),
    ).select(list(polars_schema(SsQuarantine)))
    return dg.Output(rows.lazy(), metadata={
        "by_reason": dg.MetadataValue.json(dict(rows["reason"].value_counts().iter_rows())),
        "dagster/row_count": rows.height,
    })


ss_deal_candidates_contract = contract_check(ss_deal_candidates, SsDealCandidates)
ss_deals_extracted_contract = contract_check(ss_deals_extracted, SsDealsExtracted)
ss_quarantine_contract = contract_check(ss_quarantine, SsQuarantine)
