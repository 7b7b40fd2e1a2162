"""Every resource of the code location, bound once: EnvVar when set, embedded default otherwise.

Environments (dev/stg/prod) differ only in environment variables (see .env.example). When a
variable is unset, the embedded default of DESIGN.md applies, so the project runs with no external
service: lake under ./data/lake, Turso file ./data/turso.db, DuckDB files ./data/<prefix>.duckdb,
and a PostgreSQL server started on demand under ./data/postgres. DAG_DATA_DIR moves ./data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
from dagster_duckdb import DuckDBResource

from dag.cd_source import KrxSource
from dag.ds_bucket import LogoBuckets
from dag.llm import OpenAIResource
from dag.nps_source import NpsSource
from dag_io import DeltaIOManager, ParquetIOManager, PostgresResource, TursoResource

PROJECTS = ("cd", "ds", "is", "nps", "ss")


def data_dir() -> Path:
    """Root of everything the embedded defaults write (./data unless DAG_DATA_DIR says else)."""
    return Path(os.environ.get("DAG_DATA_DIR", "data")).resolve()


def env_or(name: str, default: Any) -> Any:
    """`dg.EnvVar(name)` when the variable is set (resolved at run time), else the default."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def env_int_or(name: str, default: int) -> Any:
    return dg.EnvVar.int(name) if os.environ.get(name) else default


def env_float_or(name: str, default: float) -> float:
    """Non-secret float settings (Dagster has no EnvVar.float): read when definitions load."""
    return float(os.environ.get(name) or default)


def lake_uri(fmt: str) -> Any:
    """Root of one lake format: `<DAG_LAKE_URI>/<fmt>` when configured, ./data/lake/<fmt> else."""
    configured = os.environ.get("DAG_LAKE_URI")
    if configured:
        return configured.rstrip("/") + f"/{fmt}"
    return str(data_dir() / "lake" / fmt)


def lake_storage_options() -> dict[str, str]:
    """Object-store options; values are environment-variable *names*, resolved by dag_io at use."""
    options = {
        "AWS_ACCESS_KEY_ID": "env:AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY": "env:AWS_SECRET_ACCESS_KEY",
        "AWS_REGION": "env:AWS_REGION",
        "AWS_ENDPOINT_URL": "env:AWS_ENDPOINT_URL",
        "conditional_put": "env:DAG_LAKE_CONDITIONAL_PUT",
    }
    return options if os.environ.get("DAG_LAKE_URI") else {}


def postgres_resource(project: str) -> PostgresResource:
    """A project's PostgreSQL: `<P>_POSTGRES_*` when set, else the embedded pgserver database."""
    p = project.upper()
    return PostgresResource(
        host=env_or(f"{p}_POSTGRES_HOST", ""),
        port=env_int_or(f"{p}_POSTGRES_PORT", 5432),
        user=env_or(f"{p}_POSTGRES_USER", "postgres"),
        password=env_or(f"{p}_POSTGRES_PASSWORD", ""),
        database=env_or(f"{p}_POSTGRES_DB", project),
        embedded_dir=str(data_dir() / "postgres"),
        # Timeouts (seconds, 0 = none) shared by every project's database; never retries.
        connect_timeout_seconds=env_int_or("POSTGRES_CONNECT_TIMEOUT_SECONDS", 10),
        statement_timeout_seconds=env_int_or("POSTGRES_STATEMENT_TIMEOUT_SECONDS", 600),
        lock_timeout_seconds=env_int_or("POSTGRES_LOCK_TIMEOUT_SECONDS", 300),
    )


def logo_buckets(project: str) -> LogoBuckets:
    """A project's logo buckets (issue 18): `<P>_R2_*` + `<P>_PUBLIC_URL` when set, else local
    directories under ./data/buckets (the embedded default; the public URL is their file URL)."""
    p = project.upper()
    local_root = data_dir() / "buckets"
    return LogoBuckets(
        endpoint_url=env_or(f"{p}_R2_ENDPOINT", ""),
        region=env_or(f"{p}_R2_REGION", "auto"),
        access_key_id=env_or(f"{p}_R2_ACCESS_KEY_ID", ""),
        secret_access_key=env_or(f"{p}_R2_SECRET_ACCESS_KEY", ""),
        source_bucket=env_or(f"{p}_R2_SRC_BUCKET", f"{project}-logos-src"),
        target_bucket=env_or(f"{p}_R2_TGT_BUCKET", f"{project}-logos"),
        public_url=env_or(f"{p}_PUBLIC_URL", (local_root / f"{project}-logos").as_uri()),
        local_root=str(local_root),
        timeout_seconds=env_int_or(f"{p}_R2_TIMEOUT_SECONDS", 60),
    )


def build_resources() -> dict[str, Any]:
    """The resource dictionary of `defs` (re-evaluated by tests after changing the environment)."""
    delta = DeltaIOManager(root_uri=lake_uri("delta"), storage_options=lake_storage_options())
    parquet = ParquetIOManager(root_uri=lake_uri("parquet"), storage_options=lake_storage_options())
    resources: dict[str, Any] = {
        "io_manager": delta,
        "delta_io_manager": delta,
        "parquet_io_manager": parquet,
        "turso": TursoResource(
            url=env_or("TURSO_DATABASE_URL", str(data_dir() / "turso.db")),
            auth_token=env_or("TURSO_AUTH_TOKEN", ""),
            busy_timeout_seconds=env_int_or("TURSO_BUSY_TIMEOUT_SECONDS", 30),
        ),
        "nps_source": NpsSource(
            mode=env_or("NPS_SOURCE_MODE", "sample"),
            source_dir=env_or("NPS_SOURCE_DIR", str(data_dir() / "sources" / "nps")),
            base_url=env_or("NPS_SOURCE_BASE_URL", "https://www.data.go.kr"),
            sample_rows=env_int_or("NPS_SAMPLE_ROWS", 2_000),
        ),
        "krx_source": KrxSource(
            mode=env_or("KRX_SOURCE_MODE", "sample"),
            seed=env_int_or("KRX_SAMPLE_SEED", 42),
            sample_scale=env_float_or("KRX_SAMPLE_SCALE", 1.0),
        ),
    }
    # The LLM (SS extraction, IS enrichment): no default endpoint; OPENAI_BASE_URL=sample is the
    # offline sample stand-in (dag/llm.py).
    resources["openai"] = OpenAIResource(
        base_url=env_or("OPENAI_BASE_URL", ""),
        model=env_or("OPENAI_MODEL", ""),
        api_key=env_or("OPENAI_API_KEY", ""),
        timeout_seconds=env_float_or("OPENAI_TIMEOUT_SECONDS", 60.0),
        max_concurrency=env_int_or("OPENAI_MAX_CONCURRENCY", 4),
    )
    # The VLM (IS image enrichment): the same client bound to VLM_*; no default endpoint.
    resources["qwen25"] = OpenAIResource(
        base_url=env_or("VLM_BASE_URL", ""),
        model=env_or("VLM_MODEL", ""),
        api_key=env_or("VLM_API_KEY", ""),
        timeout_seconds=env_float_or("VLM_TIMEOUT_SECONDS", 120.0),
        max_concurrency=env_int_or("VLM_MAX_CONCURRENCY", 2),
        env_prefix="VLM",
    )
    for project in PROJECTS:
        resources[f"{project}_postgres"] = postgres_resource(project)
    for project in ("cd", "ds", "nps"):
        resources[f"{project}_duckdb"] = DuckDBResource(
            database=env_or(f"{project.upper()}_DUCKDB_PATH", str(data_dir() / f"{project}.duckdb"))
        )
    for project in ("ds", "cd"):
        resources[f"{project}_logo_buckets"] = logo_buckets(project)
    return resources
