"""The guideline enforced on the loaded definitions, and proof the checker catches breaches."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from dag.conventions import (
    GROUPS,
    check_definitions,
    instance_violations,
    missing_contract_checks,
)
from dag.definitions import defs

ROOT = Path(__file__).resolve().parents[2]


def test_definitions_comply_with_the_guideline() -> None:
    assert check_definitions(defs) == []


def test_every_asset_has_its_contract_check() -> None:
    assert missing_contract_checks(defs) == []


def test_groups_are_the_five_projects_and_implemented_ones_are_present() -> None:
    graph = defs.resolve_asset_graph()
    groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups <= GROUPS
    assert {"CD", "NPS"} <= groups


def test_committed_instance_template_keeps_run_retries_off() -> None:
    assert instance_violations(ROOT / "dag" / "dagster.yaml") == []


def test_instance_checker_catches_enabled_run_retries(tmp_path: Path) -> None:
    bad = tmp_path / "dagster.yaml"
    bad.write_text("run_retries:\n  enabled: true\n  max_retries: 3\n")
    assert instance_violations(bad) == [
        f"{bad}: run_retries.enabled is true (decision 1: fail fast, no retries)"
    ]


class _Creds(dg.ConfigurableResource):
    """A resource with a secret field, to prove the checker sees literal secrets."""

    host: str = ""
    password: str = ""


def _bad_definitions() -> dg.Definitions:
    @dg.asset(
        name="cd_wrong_name",
        group_name="CD_TURSO",
        kinds={"polars", "bronze", "turso", "deltalake"},
        tags={"layer": "bronze"},
        retry_policy=dg.RetryPolicy(max_retries=3),
        partitions_def=dg.DailyPartitionsDefinition(start_date="2024-01-01"),
    )
    def some_other_function() -> None: ...

    @dg.asset(group_name="NPS", tags={"data_tier": "ops", "dagster/max_retries": "2"})
    def nps_undocumented() -> None: ...

    job = dg.define_asset_job(
        "retrying_job",
        selection=[nps_undocumented],
        op_retry_policy=dg.RetryPolicy(max_retries=1),
        tags={"dagster/max_retries": "3"},
    )
    return dg.Definitions(
        assets=[some_other_function, nps_undocumented],
        jobs=[job],
        resources={"bad_db": _Creds(host="db", password="hunter2")},  # secret-scan: deliberate
    )


@pytest.mark.parametrize(
    "expected",
    [
        "cd_wrong_name: group 'CD_TURSO' is not one of",
        "cd_wrong_name: tags['data_tier'] is None",
        "cd_wrong_name: tier-like tag key 'layer'",
        "cd_wrong_name: 4 kinds",
        "cd_wrong_name: kinds ['bronze'] hold a tier",
        "cd_wrong_name: kinds ['turso'] are not in appendix A",
        "cd_wrong_name: function is named 'some_other_function'",
        "cd_wrong_name: op has a retry policy",
        "cd_wrong_name: partitioned asset without 'partition_by' metadata",
        "cd_wrong_name: no description",
        "nps_undocumented: tags['data_tier'] is 'ops'",
        "nps_undocumented: retry tag 'dagster/max_retries'",
        "nps_undocumented: no description",
        "job retrying_job: op_retry_policy is set",
        "job retrying_job: retry tag 'dagster/max_retries'",
        "job retrying_job: no description",
        "resource bad_db: secret field 'password' is not bound to dg.EnvVar",
    ],
)
def test_checker_names_the_asset_and_the_rule(expected: str) -> None:
    violations = check_definitions(_bad_definitions())
    assert any(line.startswith(expected) for line in violations), violations


def test_checker_accepts_envvar_bound_and_empty_secrets() -> None:
    ok = dg.Definitions(
        resources={
            "env_db": _Creds(host="db", password=dg.EnvVar("SOME_DB_PASSWORD")),
            "embedded_db": _Creds(),
        }
    )
    assert check_definitions(ok) == []


def test_missing_contract_check_is_named() -> None:
    @dg.asset(group_name="NPS", tags={"data_tier": "gold"})
    def nps_without_contract() -> None:
        """An asset nobody wrote a contract for."""

    assert missing_contract_checks(dg.Definitions(assets=[nps_without_contract])) == [
        "nps_without_contract: no 'nps_without_contract_contract' asset check"
    ]


def test_every_asset_shows_its_contract_as_column_schema() -> None:
    from contracts.testing import assert_column_schema_matches, find_contract

    for assets_def in defs.assets or []:
        for key in assets_def.keys:
            assert_column_schema_matches(assets_def, find_contract(key.path[-1]))
