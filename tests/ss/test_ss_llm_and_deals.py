"""The SS LLM step through a loopback OpenAI-compatible server, quarantine, TCO and aggregates."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import polars as pl
import pytest

from dag.llm import LlmNotConfigured, OpenAIResource
from dag.ss_deals import daily_aggregates, deal_hashes, deals_of, tco
from dag.ss_extraction import deal_schema, gate, merge_answers, prompt

SCHEMA = deal_schema()


def _candidates() -> pl.DataFrame:
    base = {
        "url": "u",
        "title": "t",
        "op_comments": "",
        "capacity": "256GB",
        "move_type": "번호이동",
        "contract": None,
        "channel": "unknown",
        "city": None,
        "store": None,
        "intent": "deal",
        "is_candidate": True,
        "deal_candidate_score": 0.9,
        "adv_score": 0.0,
        "flags": [],
    }
    rows = [
        {
            **base,
            "post_id": "1",
            "scenario": 1,
            "model": "갤럭시 S25",
            "carrier": "SKT",
            "scenario_text": "SKT S25 현완 35만 요금제 월 89,000원 6개월",
        },
        {
            **base,
            "post_id": "2",
            "scenario": 1,
            "model": "아이폰 16",
            "carrier": "KT",
            "scenario_text": "KT 아이폰16 BADENUM",
        },
        {
            **base,
            "post_id": "3",
            "scenario": 1,
            "model": "아이폰 16",
            "carrier": "KT",
            "scenario_text": "질문",
            "intent": "question",
            "is_candidate": False,
            "flags": ["non_deal"],
        },
        {
            **base,
            "post_id": "4",
            "scenario": 1,
            "model": "갤럭시 S25",
            "carrier": "SKT",
            "scenario_text": "광고",
            "adv_score": 0.7,
            "intent": "advertorial",
            "is_candidate": False,
        },
    ]
    frame = pl.DataFrame(rows).with_columns(
        key=pl.concat_str("post_id", "url", pl.col("scenario").cast(pl.String), separator="|")
    )
    return frame.with_columns(gate_passed=gate(frame))


def _resource(url: str, **extra) -> OpenAIResource:
    return OpenAIResource(base_url=url, model="test-model", **extra)


def _call(resource: OpenAIResource, frame: pl.DataFrame):
    sent = frame.filter("gate_passed")
    return resource.complete_json(
        "ss_deals_extracted (test)",
        [(r["key"], prompt(r)) for r in sent.iter_rows(named=True)],
        system="extract",
        schema_name="phone_deal",
        schema=SCHEMA,
    )


def test_llm_answers_fill_missing_fields_and_invalid_enum_is_quarantined(llm_server) -> None:
    llm_server.answers = {
        "현완 35만": {
            "model": "아이폰 16",
            "carrier": "KT",
            "upfront": 350_000,
            "plan_high_fee": 89_000,
            "plan_high_months": 6,
            "channel": "온라인",
            "capacity": "512GB",
            "store": "강남점",
            "addons_detail": [],  # required: the server's schema default for an array is null
        },
        "BADENUM": {"carrier": "SK Telecom", "upfront": 1},
    }
    frame = _candidates()
    assert frame["gate_passed"].to_list() == [True, True, False, False]
    calls = _call(_resource(llm_server.url), frame)
    assert len(llm_server.requests) == 2  # only gated rows are sent
    request = llm_server.requests[0]
    assert request["temperature"] == 0
    assert request["response_format"]["json_schema"]["strict"] is True
    assert (
        "SKT"
        in request["response_format"]["json_schema"]["schema"]["properties"]["carrier"]["enum"]
    )
    assert all(c.tokens == 70 and c.latency_ms > 0 and c.model == "test-model" for c in calls)
    out = {r["post_id"]: r for r in merge_answers(frame, calls, SCHEMA).iter_rows(named=True)}
    ok = out["1"]
    # rules' model wins; the rules' capacity is kept; missing channel/store/money are filled
    assert (ok["model"], ok["carrier"], ok["capacity"]) == ("갤럭시 S25", "SKT", "256GB")
    assert (ok["channel"], ok["store"], ok["upfront"]) == ("온라인", "강남점", 350_000)
    assert ok["quarantine_reason"] is None
    assert out["2"]["quarantine_reason"] == "llm_invalid_answer"
    assert "carrier: 'SK Telecom' is not one of" in out["2"]["llm_error"]
    assert out["3"]["quarantine_reason"] == "non_deal"
    assert out["4"]["quarantine_reason"] == "advertorial_high"


def test_llm_error_fails_the_step_naming_the_row(llm_server) -> None:
    llm_server.mode = "error"
    with pytest.raises(dg.Failure, match=r"2 of 2 LLM call\(s\).*1\|u\|1.*InternalServerError"):
        _call(_resource(llm_server.url), _candidates())
    assert len(llm_server.requests) == 2  # no retries


def test_slow_llm_times_out_without_retry(llm_server) -> None:
    llm_server.mode, llm_server.slow_seconds = "slow", 3.0
    with pytest.raises(dg.Failure, match="APITimeoutError"):
        _call(_resource(llm_server.url, timeout_seconds=0.5, max_concurrency=1), _candidates())
    assert len(llm_server.requests) == 2


def test_unconfigured_llm_fails_fast_naming_the_variables() -> None:
    with pytest.raises(LlmNotConfigured, match="OPENAI_BASE_URL and OPENAI_MODEL"):
        OpenAIResource().complete_json(
            "ss", [("k", "p")], system="", schema_name="x", schema=SCHEMA
        )


def _extracted(**values) -> pl.DataFrame:
    row = {
        "post_id": "1",
        "url": "u",
        "scenario": 1,
        "model": "갤럭시 S25",
        "carrier": "SKT",
        "move_type": "번호이동",
        "contract": "공시지원",
        "payment": "현금완납",
        "capacity": "256GB",
        "upfront": 350_000,
        "plan_high_fee": 89_000,
        "plan_high_months": 6,
        "plan_after_fee": 45_000,
        "plan_after_months": 18,
        "mvno_tail_fee": None,
        "mvno_tail_months": None,
        "addons_monthly": 9_900,
        "addons_months": 3,
        "device_finance_total": 200_000,
        "support_cash": 100_000,
        "adv_score": 0.2,
        "quarantine_reason": None,
    }
    return pl.DataFrame([{**row, **values}])


def test_tco_arithmetic() -> None:
    out = tco(_extracted()).row(0, named=True)
    # 350,000 + 89,000x6 + 45,000x18 + 9,900x3 + 200,000
    assert out["tco_total"] == 350_000 + 534_000 + 810_000 + 29_700 + 200_000
    assert out["tco_net"] == out["tco_total"] - 100_000
    bare = tco(
        _extracted(
            plan_high_fee=None,
            plan_after_fee=None,
            addons_monthly=None,
            device_finance_total=None,
            support_cash=None,
        )
    ).row(0, named=True)
    assert (bare["tco_total"], bare["tco_net"]) == (350_000, 350_000)


def test_deal_hash_is_md5_of_the_key_fields() -> None:
    import hashlib

    joined = "1|u|갤럭시 S25|SKT|번호이동|공시지원|현금완납|350000|89000|6|100000|256GB|200000"
    assert deal_hashes(_extracted()).item() == hashlib.md5(joined.encode()).hexdigest()
    missing = "1|u|갤럭시 S25|SKT|||현금완납|350000|89000|6|0|256GB|200000"
    assert (
        deal_hashes(_extracted(move_type=None, contract=None, support_cash=None)).item()
        == hashlib.md5(missing.encode()).hexdigest()
    )
    assert deals_of(_extracted(quarantine_reason="non_deal")).height == 0


def test_aggregates_on_a_fixed_set() -> None:
    day = dt.date(2026, 12, 7)
    deals = pl.DataFrame(
        {
            "model": ["갤럭시 S25"] * 4 + ["아이폰 16", "갤럭시 S25"],
            "capacity": ["256GB", "256GB", None, "256GB", "1TB", "256GB"],
            "source_posted_at": [day] * 5 + [day - dt.timedelta(days=7)],  # the last: out of window
            "tco_total": [100, 200, 300, 400, 1000, 5],
        }
    )
    out = daily_aggregates(deals.lazy(), None).collect()
    s25 = out.filter(pl.col("model") == "갤럭시 S25").row(0, named=True)
    # capacity None -> the model's smallest capacity (256GB): four deals
    assert (s25["capacity"], s25["ts"], s25["n"]) == ("256GB", day, 4)
    assert (s25["min"], s25["p25"], s25["median"], s25["p75"], s25["max"], s25["avg"]) == (
        100.0,
        175.0,
        250.0,
        325.0,
        400.0,
        250.0,
    )
    iphone = out.filter(pl.col("model") == "아이폰 16").row(0, named=True)
    assert iphone["capacity"] == "1024GB" and iphone["n"] == 1
    assert out.height == 2
    earlier = daily_aggregates(deals.lazy(), day - dt.timedelta(days=1)).collect()
    assert earlier["n"].to_list() == [1]  # only the deal 7 days before the 7th
