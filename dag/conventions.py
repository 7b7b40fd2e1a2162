"""The organisation's guideline as code: inspect loaded Definitions and name every breach.

`check_definitions(defs)` returns human-readable violations (empty when the project complies);
the conventions tests assert it is empty for `dag.definitions.defs` and that it names the asset
and the rule for deliberately broken definitions. `python -m dag.conventions` prints the report.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import yaml

from dag_io import is_lake_io_manager, lake_violations

GROUPS = frozenset({"CD", "DS", "IS", "SS", "NPS"})
TIERS = frozenset({"bronze", "silver", "gold"})
TIER_LIKE_KEYS = frozenset({"tier", "layer", "data_layer", "medallion", "stage", "datatier"})
MAX_KINDS = 3
# Guideline appendix A (section 17): the only kinds an asset may carry.
ALLOWED_KINDS = frozenset(
    """
    airbyte airflow airliftmapped airtable athena atlan aws awsstepfunction awsstepfunctions axioma
    azure azureml bigquery cassandra catboost celery census chalk claude clickhouse cockroachdb
    collibra cplus cplusplus csharp cube dask databricks datadog datahub db2 dbt dbtcloud deepseek
    deltalake denodo dify dingtalk discord dlt dlthub docker doris doubao druid duckdb
    elasticsearch evidence excel facebook fivetran flink gcp gcs gemini github gitlab go google
    googlecloud googledrive googlesheets grafana graphql greatexpectations hackernews
    hackernewsapi hadoop hashicorp hex hightouch hudi huggingface huggingfaceapi iceberg icechunk
    impala instagram ipynb java javascript json jupyter k8s kafka kedro kubernetes lakefs lightgbm
    linear linkedin llama looker mariadb matplotlib meltano meta metabase microsoft minio mistral
    mlflow modal mongodb montecarlo mysql net notdiamond noteable notion numpy omni openai
    openmetadata optuna oracle pagerduty pandas pandera papermill papertrail parquet pinot plotly
    plural polars postgres postgresql powerbi prefect presto pulsar pydantic pyspark python
    pytorch pytorchlightning qwen r r2 rabbitmq ray react reddit redis redpanda redshift rockset
    rust s3 sagemaker salesforce scala scikitlearn scipy scylladb sdf secoda segment sharepoint
    shell shopify sigma slack sling snowflake snowpark soda spanner spark sql sqlite sqlmesh
    sqlserver starrocks stepfunction stepfunctions stitch stripe supabase superset tableau talend
    teams tecton tensorflow teradata thoughtspot tiktok toml treasuredata trino twilio twitter
    typescript vercel volcengine wandb weaviate wechat x xgboost youtube dag task table view
    dataset semanticmodel source seed file dashboard report notebook workbook csv
    """.split()
)
SECRET_FIELD = re.compile(r"(password|passwd|secret|token|api_key|apikey|access_key|private_key)")
RETRY_TAG = re.compile(r"^dagster/(max_retries|retry_.*)$")


def _asset_violations(assets_def: dg.AssetsDefinition) -> Iterable[str]:
    fn = getattr(assets_def.op.compute_fn, "decorated_fn", None)
    if assets_def.op.retry_policy is not None:
        yield f"{assets_def.op.name}: op has a retry policy (decision 1: fail fast, no retries)"
    for key, spec in assets_def.specs_by_key.items():
        name = key.to_user_string()
        if spec.group_name not in GROUPS:
            yield f"{name}: group {spec.group_name!r} is not one of {sorted(GROUPS)} (decision 6)"
        tier = spec.tags.get("data_tier")
        if tier not in TIERS:
            yield f"{name}: tags['data_tier'] is {tier!r}, must be bronze, silver or gold"
        for tag in spec.tags:
            if tag.lower() in TIER_LIKE_KEYS:
                yield f"{name}: tier-like tag key {tag!r}; the tier lives only in data_tier"
            if RETRY_TAG.match(tag):
                yield f"{name}: retry tag {tag!r} (decision 1: fail fast, no retries)"
        kinds = set(spec.kinds)
        if len(kinds) > MAX_KINDS:
            yield f"{name}: {len(kinds)} kinds {sorted(kinds)}, at most {MAX_KINDS}"
        if kinds & TIERS:
            yield f"{name}: kinds {sorted(kinds & TIERS)} hold a tier; use tags['data_tier']"
        unknown = kinds - ALLOWED_KINDS - TIERS
        if unknown:
            yield f"{name}: kinds {sorted(unknown)} are not in appendix A"
        if fn is not None and len(assets_def.keys) == 1 and fn.__name__ != key.path[-1]:
            yield f"{name}: function is named {fn.__name__!r}; function name must equal asset name"
        if (
            assets_def.partitions_def is not None
            and "partition_by" not in spec.metadata
            and spec.metadata.get("write_mode") != "merge"  # one keyed table for all partitions
            and "serving_scope" not in spec.metadata  # a load replacing a scope, not a partition
        ):
            yield f"{name}: partitioned asset without 'partition_by' metadata"
        if not (spec.description or "").strip():
            yield f"{name}: no description (the docstring says what the business entity is)"


def _job_violations(job: Any) -> Iterable[str]:
    if getattr(job, "op_retry_policy", None) is not None:
        yield f"job {job.name}: op_retry_policy is set (decision 1: fail fast, no retries)"
    for tag in (getattr(job, "tags", None) or {}):
        if RETRY_TAG.match(tag):
            yield f"job {job.name}: retry tag {tag!r} (decision 1: fail fast, no retries)"
    if not (getattr(job, "description", None) or "").strip():
        yield f"job {job.name}: no description"


def _resource_violations(resources: Mapping[str, Any]) -> Iterable[str]:
    for key, resource in resources.items():
        values = getattr(resource, "__dict__", {})
        for field, value in values.items():
            if not SECRET_FIELD.search(field) or field.startswith("_"):
                continue
            if isinstance(value, dg.EnvVar) or value in ("", None):
                continue
            yield f"resource {key}: secret field {field!r} is not bound to dg.EnvVar (decision 3)"


def instance_violations(yaml_path: Path) -> list[str]:
    """The committed instance template must keep run retries off."""
    config = yaml.safe_load(yaml_path.read_text()) or {}
    if (config.get("run_retries") or {}).get("enabled"):
        return [f"{yaml_path}: run_retries.enabled is true (decision 1: fail fast, no retries)"]
    return []


def check_definitions(defs: dg.Definitions) -> list[str]:
    """Every guideline breach in `defs`, one line each, naming the asset/job/resource and rule."""
    violations: list[str] = []
    for assets_def in defs.assets or []:
        if isinstance(assets_def, dg.AssetsDefinition) and assets_def.is_executable:
            violations.extend(_asset_violations(assets_def))
    for job in defs.jobs or []:
        violations.extend(_job_violations(job))
    violations.extend(_resource_violations(defs.resources or {}))
    return violations


def missing_contract_checks(defs: dg.Definitions) -> list[str]:
    """Assets without their `<asset>_contract` check (every asset has a contract)."""
    graph = defs.resolve_asset_graph()
    check_keys = graph.asset_check_keys
    missing = []
    for key in graph.get_all_asset_keys():
        if not graph.get(key).is_materializable:
            continue
        if dg.AssetCheckKey(key, f"{key.path[-1]}_contract") not in check_keys:
            missing.append(f"{key.to_user_string()}: no '{key.path[-1]}_contract' asset check")
    return missing


def lake_config_violations(defs: dg.Definitions) -> list[str]:
    """Lake settings (`dag_io.lake(...)`) that are misspelt, impossible, or disagree with the
    asset's partitions, IO manager or column schema."""
    resources = defs.resources or {}
    out: list[str] = []
    for assets_def in defs.assets or []:
        if not isinstance(assets_def, dg.AssetsDefinition) or not assets_def.is_executable:
            continue
        for key in assets_def.keys:
            metadata = assets_def.metadata_by_key.get(key, {})
            manager = resources.get(assets_def.get_io_manager_key_for_asset_key(key))
            if "target_table" in metadata:  # a serving load: its rows live in a database
                manager = None
            out.extend(
                lake_violations(
                    key.to_user_string(),
                    assets_def.partitions_def,
                    metadata,
                    manager if is_lake_io_manager(manager) else None,
                )
            )
    return out


def assert_lake_config(defs: dg.Definitions) -> dg.Definitions:
    """`defs`, after failing the code location's load on any lake configuration problem, so
    `dagster definitions validate` reports it before any run."""
    problems = lake_config_violations(defs)
    if problems:
        raise dg.DagsterInvalidDefinitionError(
            "lake configuration problems:\n" + "\n".join(f"  {p}" for p in problems)
        )
    return defs


def main() -> None:
    from dag.definitions import defs

    template = Path(__file__).with_name("dagster.yaml")
    report = check_definitions(defs) + missing_contract_checks(defs)
    report += instance_violations(template)
    for line in report:
        sys.stdout.write(f"VIOLATION {line}\n")
    sys.stdout.write(f"{len(report)} violation(s)\n")
    sys.exit(1 if report else 0)


if __name__ == "__main__":
    main()
