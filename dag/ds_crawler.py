"""The logo crawler run through Dagster Pipes, the guarded bucket clean-up, and the company ids.

Crawler command (`<P>` = DS or CD), resolved when the asset runs:
- `<P>_CRAWLER_COMMAND` (e.g. `npx tsx src/main.ts`, shlex-split, no shell) when set;
- else `<P>_CRAWLER_DOCKER_IMAGE` (e.g. `ds-naver-crawler:dev`): `docker run --rm --memory 4g
  -e R2_ENDPOINT -e R2_ACCESS_KEY_ID ... <image>`; the credentials reach the container as
  environment variables passed through from this process (from the `<p>_logo_buckets` resource,
  i.e. `<P>_R2_*`), never baked into the image (**Fix** of 3.5.4). Documented, not exercised here;
- else the sample crawler `python -m dag.ds_sample` for the first `<P>_SAMPLE_LOGOS` (12) ids.

The crawler gets the Pipes bootstrap variables and its own R2_* variables for the source bucket.
Uploaded files come from its Pipes materialization (`uploaded`: the keys), not from its log
(**Fix** of 3.5.1); a non-zero exit fails the asset with the output tail, as does a run longer
than `<P>_CRAWLER_TIMEOUT_SECONDS` (default 1800).
"""


import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import dagster as dg
import pandera.polars as pa
import polars as pl

from contracts import column_schema
from dag.common import logos_pool
from dag.ds_bucket import LogoBuckets
from dag_io import LoadError

TAIL_CHARS = 4000


def known_companies(context: Any, postgres_key: str, column: str) -> pl.Series:
    """The company ids of the project's PostgreSQL `company` table."""
    try:
        frame = getattr(context.resources, postgres_key).read("company", columns=[column])
    except LoadError as error:
        raise dg.Failure(
            f"{postgres_key}: cannot read the company ids (`company`.{column}): {error}. "
            "Logos are matched against existing companies only; load the companies first."
        ) from error
    return frame[column].cast(pl.String)


def crawler_command(prefix: str, ids_file: Path, env: dict[str, str]) -> list[str]:
    """The command of one crawler run (see the module docstring)."""
    p = prefix.upper()
    if env.get(f"{p}_CRAWLER_COMMAND", "").strip():
        return shlex.split(env[f"{p}_CRAWLER_COMMAND"])
    image = env.get(f"{p}_CRAWLER_DOCKER_IMAGE", "").strip()
    if image:
        names = ("R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET")
        passed = [arg for name in names for arg in ("-e", name)]  # values come from our env
        return ["docker", "run", "--rm", "--memory", "4g", *passed, image]
    return [sys.executable, "-m", "dag.ds_sample", "--ids-file", str(ids_file)]


def crawler_asset(
    prefix: str, model: type[pa.DataFrameModel], asset_tags: dict[str, str], buckets_key: str,
    postgres_key: str, company_column: str,
) -> dg.AssetsDefinition:
    p = prefix.upper()

    def crawler(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        buckets: LogoBuckets = getattr(context.resources, buckets_key)
        timeout = float(os.environ.get(f"{p}_CRAWLER_TIMEOUT_SECONDS") or 1800)
        with tempfile.TemporaryDirectory() as tmp:
            ids_file = Path(tmp) / "company_ids.txt"
            command = crawler_command(prefix, ids_file, dict(os.environ))
            if command[:3] == [sys.executable, "-m", "dag.ds_sample"]:
                ids = known_companies(context, postgres_key, company_column).sort()
                count = int(os.environ.get(f"{p}_SAMPLE_LOGOS") or 12)
                ids_file.write_text("\n".join(ids.head(count).to_list()) + "\n")
            with dg.open_pipes_session(
                context=context.op_execution_context,
                context_injector=dg.PipesTempFileContextInjector(),
                message_reader=dg.PipesTempFileMessageReader(),
            ) as session:
                env = {**os.environ, **buckets.crawler_env(), **session.get_bootstrap_env_vars()}
                try:
                    done = subprocess.run(command, env=env, capture_output=True, text=True,
                                          timeout=timeout, check=False, stdin=subprocess.DEVNULL)
                except subprocess.TimeoutExpired as error:
                    raise dg.Failure(f"{prefix}_logo_crawler: `{shlex.join(command[:3])} ...` "
                                     f"ran longer than {timeout:g} s and was killed") from error
        if done.returncode != 0:
            raise dg.Failure(
                f"{prefix}_logo_crawler: `{shlex.join(command[:3])} ...` exited with code "
                f"{done.returncode}.\nstderr: {done.stderr[-TAIL_CHARS:]}",
                metadata={"exit_code": done.returncode},
            )
        uploaded: list[str] = []
        for result in session.get_reported_results():
            if isinstance(result, dg.MaterializeResult) and result.metadata:
                value = result.metadata.get("uploaded")
                uploaded.extend(getattr(value, "value", value) or [])  # type: ignore[arg-type]
        return dg.MaterializeResult(metadata={
            "uploaded": dg.MetadataValue.json(uploaded), "dagster/row_count": len(uploaded),
            "command": shlex.join(command[:3]), "exit_code": done.returncode,
            "source_bucket": buckets.source_bucket})

    crawler.__name__ = f"{prefix}_logo_crawler"
    crawler.__doc__ = (f"{p} company logos the crawler uploaded to the source bucket "
                       f"(`clogo-<id>.png`), from its Dagster Pipes messages.")
    return dg.asset(
        pool=logos_pool(prefix),
        name=crawler.__name__, group_name="DS", kinds={"python", "s3"}, tags=asset_tags,
        metadata={"dagster/column_schema": column_schema(model),
                  "command": f"{p}_CRAWLER_COMMAND, {p}_CRAWLER_DOCKER_IMAGE or the sample"},
        required_resource_keys={buckets_key, postgres_key},
    )(crawler)


class CleanupConfig(dg.Config):
    """Which objects to delete; nothing happens unless both confirmations repeat them."""

    bucket: str = "target"
    """`source` or `target`."""
    prefix: str = "clogo-"
    confirm_bucket: str = ""
    """Must equal the bucket's actual name."""
    confirm_prefix: str = ""
    """Must equal `prefix`."""


def cleanup_asset(
    prefix: str, model: type[pa.DataFrameModel], asset_tags: dict[str, str], buckets_key: str
) -> dg.AssetsDefinition:
    def cleanup(context: dg.AssetExecutionContext, config: CleanupConfig) -> dg.MaterializeResult:
        buckets: LogoBuckets = getattr(context.resources, buckets_key)
        names = {"source": buckets.source_bucket, "target": buckets.target_bucket}
        if config.bucket not in names:
            raise dg.Failure(f"{prefix}_bucket_cleanup: bucket must be source or target, got "
                             f"{config.bucket!r}")
        name = names[config.bucket]
        if config.confirm_bucket != name or config.confirm_prefix != config.prefix:
            raise dg.Failure(
                f"{prefix}_bucket_cleanup refused: nothing deleted. To delete the objects under "
                f"prefix {config.prefix!r} of bucket {name!r}, set confirm_bucket: {name!r} and "
                f"confirm_prefix: {config.prefix!r} (got {config.confirm_bucket!r}, "
                f"{config.confirm_prefix!r})")
        store = buckets.store(name)
        listing = store.listing(config.prefix)
        store.delete(listing["key"].to_list())
        deleted = listing.select(bucket=pl.lit(name), key="key", size="size")
        context.log.warning(f"{prefix}_bucket_cleanup: deleted {deleted.height} object(s) "
                            f"under {config.prefix!r} from {name}")
        return dg.MaterializeResult(metadata={
            "deleted": dg.MetadataValue.json(deleted.to_dicts()),
            "dagster/row_count": deleted.height, "bucket": name, "prefix": config.prefix})

    cleanup.__name__ = f"{prefix}_bucket_cleanup"
    cleanup.__doc__ = (f"Objects deleted from a {prefix.upper()} logo bucket by a confirmed "
                       "clean-up (run by hand only; in no job, schedule or sensor).")
    return dg.asset(
        pool=logos_pool(prefix),
        name=cleanup.__name__, group_name="DS", kinds={"python", "s3"}, tags=asset_tags,
        metadata={"dagster/column_schema": column_schema(model)},
        required_resource_keys={buckets_key},
    )(cleanup)
