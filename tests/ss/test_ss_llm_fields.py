"""The LLM step's add-on detail, retention months and contract terms (issue #17): the strict
schema, the answers through the loopback OpenAI-compatible server, invalid answers quarantined
naming the field, the sample stand-in, and end to end into `ss_deals` and PostgreSQL `deals`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest

from dag.llm import OpenAIResource
from dag.ss_deals import deals_of
from dag.ss_extraction import deal_schema, gate, merge_answers, prompt, sample_answer

SCHEMA = deal_schema()
NEW = ("addons_detail", "retention_line_months", "retention_plan_months",
       "retention_addons_months", "contract_type", "contract_months", "contract_extra_support",
       "contract_support_amount")
ADDONS = [
    {"name": "유튜브 프리미엄", "fee": 13_900, "months": 3, "note": "3개월 후 해지"},
    {"name": "폰케어", "fee": None, "months": None, "note": None},
]
TERMS = {
    "retention_line_months": 6, "retention_plan_months": 4, "retention_addons_months": 3,
    "contract_type": "선택약정", "contract_months": 24, "contract_extra_support": True,
    "contract_support_amount": 150_000,
}


def _candidates(*texts: str, contract: str | None = None) -> pl.DataFrame:
    rows = [{
        "post_id": str(n), "url": "u", "scenario": 1, "title": "t", "op_comments": "",
        "model": "갤럭시 S25", "carrier": "SKT", "capacity": "256GB", "move_type": "번호이동",
        "contract": contract, "payment": None, "channel": "unknown", "city": None, "store": None,
        "intent": "deal", "is_candidate": True, "deal_candidate_score": 0.9, "adv_score": 0.0,
        "flags": [], "scenario_text": text,
    } for n, text in enumerate(texts, start=1)]
    frame = pl.DataFrame(rows).with_columns(
        key=pl.concat_str("post_id", "url", pl.col("scenario").cast(pl.String), separator="|"),
        source_posted_at=pl.lit(None, pl.Date),
    )
    return frame.with_columns(gate_passed=gate(frame))


def _extract(server: Any, frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    calls = OpenAIResource(base_url=server.url, model="test-model").complete_json(
        "ss_deals_extracted (test)", [(r["key"], prompt(r)) for r in frame.iter_rows(named=True)],
        system="extract", schema_name="phone_deal", schema=SCHEMA,
    )
    out = merge_answers(frame, calls, SCHEMA)
    return {r["post_id"]: r for r in out.iter_rows(named=True)}


def test_schema_is_strict_for_the_new_fields() -> None:
    props = SCHEMA["properties"]
    assert set(NEW) <= set(SCHEMA["required"])
    item = props["addons_detail"]["items"]
    assert props["addons_detail"]["type"] == "array"
    assert item["required"] == ["name", "fee", "months", "note"]
    assert item["additionalProperties"] is False
    assert (item["properties"]["fee"]["type"], item["properties"]["note"]["type"]) == (
        ["integer", "null"], ["string", "null"])
    assert props["contract_type"]["enum"] == ["공시지원", "선택약정", "무약정", None]
    assert props["contract_extra_support"]["type"] == ["boolean", "null"]
    assert all(props[f]["type"] == ["integer", "null"] for f in (
        "retention_line_months", "retention_plan_months", "retention_addons_months",
        "contract_months", "contract_support_amount"))


def test_answer_with_addons_retention_and_contract_lands_in_the_deal(llm_server) -> None:
    llm_server.answers = {
        "ADDONS": {"model": "갤럭시 S25", "carrier": "SKT", "upfront": 100_000,
                   "addons_monthly": 13_900, "addons_months": 3, "addons_detail": ADDONS,
                   **TERMS},
        "BARE": {"model": "갤럭시 S25", "carrier": "SKT", "addons_detail": [],
                 "contract_type": "무약정"},
    }
    frame = _candidates("SKT S25 ADDONS", "SKT S25 BARE", "SKT S25 RULES", contract=None)
    frame = frame.with_columns(
        contract=pl.when(pl.col("post_id") == "3").then(pl.lit("공시지원")).otherwise(None))
    llm_server.answers["RULES"] = {**llm_server.answers["BARE"], "contract_type": "선택약정"}
    out = _extract(llm_server, frame)
    sent = llm_server.requests[0]["response_format"]["json_schema"]
    assert sent["strict"] is True and "addons_detail" in sent["schema"]["required"]
    full = out["1"]
    assert full["quarantine_reason"] is None and full["llm_error"] is None
    assert json.loads(full["addons_detail"]) == ADDONS
    assert {k: full[k] for k in TERMS} == TERMS
    # an empty array is an answer (no add-ons), not a missing value
    assert (out["2"]["addons_detail"], out["2"]["contract_type"]) == ("[]", "무약정")
    assert out["2"]["retention_line_months"] is None
    # the rules' contract cue wins over the LLM's contract_type
    assert out["3"]["contract_type"] == "공시지원"
    deals = deals_of(pl.DataFrame(list(out.values()))).sort("post_id")
    assert deals["post_id"].to_list() == ["1", "2", "3"]
    first = deals.row(0, named=True)
    assert json.loads(first["addons_detail"]) == ADDONS
    assert first["contract_extra_support"] is True and first["contract_months"] == 24
    # TCO counts the add-ons once: addons_monthly x addons_months (the detail is not re-summed)
    assert first["tco_total"] == 100_000 + 13_900 * 3


INTEGER_OR_NULL = "is not of type 'integer', 'null'"


@pytest.mark.parametrize(("addons", "terms", "error"), [
    ([{"name": "폰케어", "fee": 9_900, "months": 3}], {},
     "addons_detail[0]: 'note' is a required property"),
    ([ADDONS[0], {**ADDONS[1], "fee": "9,900"}], {},
     f"addons_detail[1].fee: '9,900' {INTEGER_OR_NULL}"),
    ([{**ADDONS[0], "months": True}], {}, f"addons_detail[0].months: True {INTEGER_OR_NULL}"),
    ([{**ADDONS[0], "extra": 1}], {},
     "addons_detail[0]: Additional properties are not allowed ('extra' was unexpected)"),
    ([{**ADDONS[0], "name": None}], {}, "addons_detail[0].name: None is not of type 'string'"),
    ({"name": "폰케어"}, {}, "addons_detail: {'name': '폰케어'} is not of type 'array'"),
    ([], {"retention_plan_months": "6개월"}, f"retention_plan_months: '6개월' {INTEGER_OR_NULL}"),
    ([], {"contract_extra_support": "yes"},
     "contract_extra_support: 'yes' is not of type 'boolean', 'null'"),
    ([], {"contract_type": "약정"}, "contract_type: '약정' is not one of"),
])
def test_invalid_new_fields_quarantine_the_scenario_naming_the_field(
    llm_server, addons: Any, terms: dict[str, Any], error: str
) -> None:
    llm_server.answers = {
        "BAD": {"model": "갤럭시 S25", "carrier": "SKT", "addons_detail": addons, **terms},
        "GOOD": {"model": "갤럭시 S25", "carrier": "SKT", "addons_detail": ADDONS},
    }
    out = _extract(llm_server, _candidates("SKT S25 BAD", "SKT S25 GOOD"))
    bad = out["1"]
    assert bad["quarantine_reason"] == "llm_invalid_answer"
    assert error in bad["llm_error"]
    # nothing of a refused answer is kept
    assert bad["addons_detail"] is None and bad["retention_plan_months"] is None
    assert out["2"]["quarantine_reason"] is None
    assert deals_of(pl.DataFrame(list(out.values())))["post_id"].to_list() == ["2"]


def test_an_answer_missing_a_required_field_is_invalid(llm_server) -> None:
    llm_server.responder = lambda text, images, schema: {
        k: v for k, v in {**dict.fromkeys(schema["properties"]), "model": "갤럭시 S25",
                          "carrier": "SKT", "addons_detail": []}.items()
        if k != "retention_addons_months"
    }
    out = _extract(llm_server, _candidates("SKT S25"))
    assert out["1"]["quarantine_reason"] == "llm_invalid_answer"
    assert out["1"]["llm_error"] == "'retention_addons_months' is a required property"


def _sample(content: str) -> dict[str, Any]:
    meta = "model=갤럭시 S25|carrier=KT|capacity=256GB"
    return sample_answer(f"[TITLE] t\n[CONTENT] {content}\n[META] {meta}\n[COMMENTS_OP] 부가 1개")


def test_sample_stand_in_answers_the_new_fields_by_the_schema() -> None:
    answer = _sample("KT S25 256기가 번이 선약\n현완 10만\n요금제 월 89,000원 6개월\n"
                     "이후 월 45,000원 18개월\n부가 2개 월 9,900원 3개월")
    assert answer["addons_detail"] == [
        {"name": "부가서비스 2개", "fee": 9_900, "months": 3, "note": None}]
    assert (answer["retention_plan_months"], answer["retention_addons_months"]) == (6, 3)
    assert (answer["contract_type"], answer["retention_line_months"]) == ("선택약정", None)
    assert (answer["contract_months"], answer["contract_extra_support"]) == (None, None)
    written = _sample("KT S25 공시 추가지원금 15만 약정 24개월 회선 유지 6개월\n"
                      "요금제 월 89,000원 6개월\n요금제 유지 4개월")
    assert {k: written[k] for k in TERMS} == {
        "retention_line_months": 6, "retention_plan_months": 4, "retention_addons_months": None,
        "contract_type": "공시지원", "contract_months": 24, "contract_extra_support": True,
        "contract_support_amount": 150_000,
    }
    assert written["addons_detail"] == []
    from dag.ss_extraction import answer_problem

    assert answer_problem(answer, SCHEMA) is None and answer_problem(written, SCHEMA) is None


def _answer(text: str, images: list[bytes], schema: dict[str, Any]) -> dict[str, Any]:
    """The loopback model: the sample stand-in's answer with the add-on detail and terms; KT
    posts get a text fee (an invalid answer)."""
    answer = {**sample_answer(text), "addons_detail": ADDONS, **TERMS}
    if "carrier=KT|" in text:
        answer["addons_detail"] = [{**ADDONS[0], "fee": "13,900"}]
    return answer


@pytest.mark.postgres
@pytest.mark.slow
def test_new_fields_reach_ss_deals_and_postgres_deals(
    data_dir: Path, postgres_resource, llm_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dag.ss_demo import run_ss_demo
    from tests.ss.test_ss_end_to_end import ss_definitions

    llm_server.responder = _answer
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url)
    monkeypatch.setenv("OPENAI_MODEL", "test-model")
    monkeypatch.setenv("IS_SENSOR_SETTLE_SECONDS", "0")
    defs = ss_definitions(postgres_resource)
    with dg.instance_for_test() as instance:
        run_ss_demo(defs, instance)
    assert llm_server.requests, "the LLM step called the loopback server"
    lake = pl.read_delta(str(data_dir / "lake" / "delta" / "ss_deals"))
    served = postgres_resource.read("deals")
    assert lake.height > 5 and served.height == lake.height
    for frame in (lake, served):
        assert "KT" not in set(frame["carrier"])  # the invalid answers became no deal
        assert all(json.loads(d) == ADDONS for d in frame["addons_detail"])
        for name, value in TERMS.items():
            if name != "contract_type":
                assert frame[name].to_list() == [value] * frame.height, name
        # the rules' contract cue (공시/선약 in every sample deal) wins over the answer
        assert set(frame["contract_type"]) <= {"공시지원", "선택약정"}
        assert frame["contract_type"].to_list() == frame["contract"].to_list()
    assert served.schema["contract_extra_support"] == pl.Boolean
    quarantine = pl.read_delta(str(data_dir / "lake" / "delta" / "ss_quarantine")).filter(
        pl.col("reason") == "llm_invalid_answer")
    assert quarantine.height > 0 and set(quarantine["carrier"]) == {"KT"}
    assert set(quarantine["detail"]) == {f"addons_detail[0].fee: '13,900' {INTEGER_OR_NULL}"}


def assert_sample_fills_the_new_fields(deals: pl.DataFrame) -> None:
    """The sample stand-in's deals (PostgreSQL `deals` after the SS demo) carry add-on detail
    where the text names add-ons, the retention months and a contract type."""
    detailed = deals.filter(pl.col("addons_detail") != "[]")
    assert 0 < detailed.height < deals.height  # the sample writes add-ons in ~40% of deals
    for row in detailed.iter_rows(named=True):
        (item,) = json.loads(row["addons_detail"])
        assert (item["fee"], item["months"]) == (row["addons_monthly"], row["addons_months"])
        assert row["retention_addons_months"] == row["addons_months"]
    assert deals["retention_plan_months"].to_list() == deals["plan_high_months"].to_list()
    assert deals["contract_type"].null_count() == 0


def _step(server: Any, texts: tuple[str, ...]) -> dg.Output:
    """`ss_deals_extracted` invoked directly on candidates shaped as `ss_deal_candidates`."""
    from contracts import polars_schema
    from contracts.ss import SsDealCandidates
    from dag.ss_common import ss_crawl_file_partition
    from dag.ss_extraction import ss_deals_extracted

    schema = polars_schema(SsDealCandidates)
    candidates = _candidates(*texts).with_columns(
        crawl_file=pl.lit("f1"), has_price=pl.lit(True), addons_count=pl.lit(None, pl.Int32),
    ).select([pl.col(n).cast(t) for n, t in schema.items()])
    bronze = candidates.select("post_id", "url").lazy()
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(str(ss_crawl_file_partition.name), ["f1"])
        with dg.build_asset_context(partition_key="f1", instance=instance) as context:
            return ss_deals_extracted(
                context, OpenAIResource(base_url=server.url, model="test-model"),
                candidates.lazy(), bronze,
            )


def test_step_reports_refused_answers_and_fast_fail_names_post_and_field(
    llm_server, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_server.answers = {
        "BAD": {"model": "갤럭시 S25", "carrier": "SKT",
                "addons_detail": [{**ADDONS[0], "fee": "13,900"}]},
        "GOOD": {"model": "갤럭시 S25", "carrier": "SKT", "addons_detail": ADDONS, **TERMS},
    }
    monkeypatch.delenv("SS_FASTFAIL_ON_QUARANTINE", raising=False)
    result = _step(llm_server, ("SKT S25 GOOD", "SKT S25 BAD"))
    out = result.value.collect()
    assert out.filter(pl.col("post_id") == "1")["addons_detail"].to_list() == [
        json.dumps(ADDONS, ensure_ascii=False)]
    assert result.metadata["with_addons_detail"].value == 1
    assert result.metadata["llm_refused_examples"].data == [{
        "post_id": "2", "url": "u", "scenario": 1,
        "llm_error": "addons_detail[0].fee: '13,900' is not of type 'integer', 'null'"}]
    monkeypatch.setenv("SS_FASTFAIL_ON_QUARANTINE", "1")
    with pytest.raises(dg.Failure, match=r"post 2 scenario 1: addons_detail\[0\]\.fee: '13,900'"):
        _step(llm_server, ("SKT S25 GOOD", "SKT S25 BAD"))
