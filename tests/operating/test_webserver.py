"""The Dagster webserver, started as a user starts it, serves exactly what `defs` defines.

`dagster-webserver` runs from the repository root (code location found through `[tool.dagster]`)
on a free loopback port; its GraphQL API is compared with `dag.definitions.defs`: every asset with
its group, description, kinds, tags (`data_tier` included), column schema and backfill policy,
every asset check, job, schedule and sensor.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import pytest

from dag.definitions import defs

REPOSITORY_QUERY = """
query Repository($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename
    ... on PythonError { message stack }
    ... on Repository {
      jobs { name description tags { key value } }
      schedules { name cronSchedule executionTimezone pipelineName description }
      sensors { name targets { pipelineName } }
      assetGroups { groupName }
      assetNodes {
        assetKey { path }
        groupName
        description
        kinds
        tags { key value }
        isPartitioned
        backfillPolicy { policyType maxPartitionsPerRun }
        metadataEntries {
          label
          ... on TableSchemaMetadataEntry { schema { columns { name type description } } }
        }
        assetChecksOrError { ... on AssetChecks { checks { name blocking } } }
      }
    }
  }
}
"""

COLUMN_SCHEMA = "dagster/column_schema"


def user_jobs(repository: dg.RepositoryDefinition) -> list[dg.JobDefinition]:
    """Jobs the project defines (Dagster's implicit `__ASSET_JOB` left out)."""
    return [job for job in repository.get_all_jobs() if not job.name.startswith("__")]


@pytest.fixture(scope="module")
def served(webserver: Any) -> dict[str, Any]:
    """The repository as the webserver serves it (one GraphQL round trip for the module)."""
    data = webserver.graphql(
        REPOSITORY_QUERY,
        {
            "selector": {
                "repositoryLocationName": webserver.location,
                "repositoryName": webserver.repository,
            }
        },
    )["repositoryOrError"]
    assert data["__typename"] == "Repository", data
    return data


def served_assets(served: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {"/".join(node["assetKey"]["path"]): node for node in served["assetNodes"]}


def expected_columns(spec: dg.AssetSpec) -> list[dict[str, Any]] | None:
    schema = spec.metadata.get(COLUMN_SCHEMA)
    if schema is None:
        return None
    value = schema.value if isinstance(schema, dg.TableSchemaMetadataValue) else schema
    return [{"name": c.name, "type": c.type, "description": c.description} for c in value.columns]


def served_columns(node: dict[str, Any]) -> list[dict[str, Any]] | None:
    entries = [e for e in node["metadataEntries"] if e["label"] == COLUMN_SCHEMA]
    return entries[0]["schema"]["columns"] if entries else None


def test_asset_keys_and_groups_match_defs(served: dict[str, Any]) -> None:
    specs = {spec.key.to_user_string(): spec for spec in defs.resolve_all_asset_specs()}
    nodes = served_assets(served)
    assert sorted(nodes) == sorted(specs)
    assert {k: n["groupName"] for k, n in nodes.items()} == {
        k: s.group_name for k, s in specs.items()
    }
    assert sorted(g["groupName"] for g in served["assetGroups"]) == sorted(
        {s.group_name for s in specs.values()}
    )
    assert {s.group_name for s in specs.values()} <= {"CD", "DS", "IS", "SS", "NPS"}


def test_asset_descriptions_kinds_and_tags_match_defs(served: dict[str, Any]) -> None:
    nodes = served_assets(served)
    for spec in defs.resolve_all_asset_specs():
        node = nodes[spec.key.to_user_string()]
        name = spec.key.to_user_string()
        assert node["description"] == spec.description, name
        assert node["description"], f"{name}: no description in the UI"
        assert sorted(node["kinds"]) == sorted(spec.kinds), name
        served_tags = {t["key"]: t["value"] for t in node["tags"]}
        assert served_tags == dict(spec.tags), name
        assert served_tags["data_tier"] in {"bronze", "silver", "gold"}, name


def test_column_schemas_and_backfill_policies_match_defs(served: dict[str, Any]) -> None:
    nodes = served_assets(served)
    graph = defs.resolve_asset_graph()
    for spec in defs.resolve_all_asset_specs():
        name = spec.key.to_user_string()
        node = nodes[name]
        assert served_columns(node) == expected_columns(spec), name
        assert served_columns(node), f"{name}: no column schema in the UI"
        asset = graph.get(spec.key)
        assert node["isPartitioned"] == (asset.partitions_def is not None), name
        policy = asset.backfill_policy
        if policy is None:
            assert node["backfillPolicy"] is None, name
        else:
            assert node["backfillPolicy"] == {
                "policyType": policy.policy_type.value,
                "maxPartitionsPerRun": policy.max_partitions_per_run,
            }, name


def test_asset_checks_match_defs(served: dict[str, Any]) -> None:
    graph = defs.resolve_asset_graph()
    expected = {
        (key.asset_key.to_user_string(), key.name, graph.get_check_spec(key).blocking)
        for key in graph.asset_check_keys
    }
    got = {
        (name, check["name"], check["blocking"])
        for name, node in served_assets(served).items()
        for check in node["assetChecksOrError"]["checks"]
    }
    assert got == expected
    # Every asset carries its pandera contract check, named `<asset>_contract`.
    names = {(asset, check) for asset, check, _ in got}
    for spec in defs.resolve_all_asset_specs():
        asset = spec.key.to_user_string()
        assert (asset, f"{asset}_contract") in names, f"{asset}: no contract check served"


def test_jobs_match_defs(served: dict[str, Any]) -> None:
    repository = defs.get_repository_def()
    expected = {job.name: (job.description, dict(job.tags)) for job in user_jobs(repository)}
    got = {
        job["name"]: (job["description"], {t["key"]: t["value"] for t in job["tags"]})
        for job in served["jobs"]
        if not job["name"].startswith("__")
    }
    assert got == expected
    assert {"nps_history_job", "cd_daily_update_job"} <= set(got)
    assert all(description for description, _ in got.values())


def test_schedules_and_sensors_match_defs(served: dict[str, Any]) -> None:
    repository = defs.get_repository_def()
    expected_schedules = {
        s.name: (s.cron_schedule, s.execution_timezone, s.job_name, s.description)
        for s in repository.schedule_defs
    }
    got_schedules = {
        s["name"]: (s["cronSchedule"], s["executionTimezone"], s["pipelineName"], s["description"])
        for s in served["schedules"]
    }
    assert got_schedules == expected_schedules
    assert "cd_daily_update_schedule" in got_schedules
    assert sorted(s["name"] for s in served["sensors"]) == sorted(
        s.name for s in repository.sensor_defs
    )
    assert repository.sensor_defs, "no sensor defined (the freshness checks need one)"
