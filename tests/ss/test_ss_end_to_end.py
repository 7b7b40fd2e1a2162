"""SS end to end through Dagster: sensor -> ingest job -> reports job, PostgreSQL views."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from dag.conventions import check_definitions, missing_contract_checks

SS_MODULES = (
    "ss_dictionary",
    "ss_crawl_ingestion",
    "ss_extraction",
    "ss_deals",
    "ss_serving_loads",
    "ss_crawler",
)


def ss_definitions(postgres_resource) -> dg.Definitions:
    import importlib

    from dag.jobs import ss_jobs
    from dag.resources import build_resources
    from dag.sensors import ss_output_data_sensor

    modules = [importlib.import_module(f"dag.{m}") for m in SS_MODULES]
    resources = build_resources()
    resources["ss_postgres"] = postgres_resource
    return dg.Definitions(
        assets=dg.load_assets_from_modules(modules),
        asset_checks=dg.load_asset_checks_from_modules(modules),
        jobs=ss_jobs,
        sensors=[ss_output_data_sensor],
        resources=resources,
    )


def test_ss_definitions_follow_the_conventions(data_dir: Path) -> None:
    defs = ss_definitions(None)
    assert check_definitions(defs) == []
    assert missing_contract_checks(defs) == []


@pytest.mark.postgres
@pytest.mark.slow
def test_sample_crawl_runs_end_to_end_and_reingest_is_idempotent(
    data_dir: Path, postgres_resource, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dag.ss_demo import ingest, reports, run_ss_demo
    from tests.ss.test_ss_llm_fields import assert_sample_fills_the_new_fields

    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setenv("IS_SENSOR_SETTLE_SECONDS", "0")
    defs = ss_definitions(postgres_resource)
    with dg.instance_for_test() as instance:
        run_ss_demo(defs, instance)
        deals = postgres_resource.read("deals")
        assert deals.height > 10
        assert set(deals["carrier"]) <= {"SKT", "KT", "LGU+", "MVNO"}
        assert_sample_fills_the_new_fields(deals)
        first = deals.sort("deal_hash")
        # the same files again: the same deals, no duplicates
        for key in instance.get_dynamic_partitions("ss_crawl_files"):
            ingest(defs, instance, key)
        reports(defs, instance)
        again = postgres_resource.read("deals").sort("deal_hash")
        assert again.equals(first)
        docs = postgres_resource.read("api_deals_json")
        assert docs.height == deals.height
        doc = json.loads(docs["doc"][0])
        assert doc["tco_monthly"] == -(-doc["tco_total"] // 24)
