"""Lake storage helpers: table URIs under a root, storage options resolved from the environment,
and a pyarrow filesystem for the few object operations the Parquet manager needs (list, move).

A lake root is a local directory or an object-store URI (`s3://bucket/prefix`, R2 through the S3
options). Storage options are object_store keys (`AWS_ENDPOINT_URL`, `conditional_put`, ...);
a value `"env:NAME"` is read from the environment when the table is used, so no secret is ever
part of the configuration itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

ENV_PREFIX = "env:"


def is_local(uri: str) -> bool:
    """True for a plain path or a `file://` URI (no object store involved)."""
    scheme = urlparse(uri).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def local_path(uri: str) -> Path:
    """The filesystem path of a local URI."""
    return Path(uri[len("file://") :] if uri.startswith("file://") else uri)


def join_uri(root: str, *parts: str) -> str:
    """`root/part/part` for a local path or an object-store URI (no duplicated slashes)."""
    clean = [p.strip("/") for p in parts if p.strip("/")]
    if is_local(root):
        return str(local_path(root).joinpath(*clean))
    return "/".join([root.rstrip("/"), *clean])


def table_uri(root: str, asset_key_path: Sequence[str]) -> str:
    """Location of an asset's table: `<root>/<asset key path>`."""
    return join_uri(root, *asset_key_path)


def resolve_storage_options(options: Mapping[str, str]) -> dict[str, str]:
    """Options with `"env:NAME"` values replaced by the environment variable's value.

    An unset or empty variable drops its option (an optional setting such as `conditional_put`
    is then simply not configured, and object_store falls back to its own environment lookup).
    """
    resolved: dict[str, str] = {}
    for key, value in options.items():
        if value.startswith(ENV_PREFIX):
            env_value = os.environ.get(value[len(ENV_PREFIX) :], "")
            if env_value:
                resolved[key] = env_value
        else:
            resolved[key] = value
    return resolved


def _lookup(options: Mapping[str, str], *names: str) -> str | None:
    lowered = {k.lower(): v for k, v in options.items()}
    for name in names:
        value = lowered.get(name.lower())
        if value:
            return value
    return None


def delta_storage_options(uri: str, options: Mapping[str, str]) -> dict[str, str]:
    """Resolved options for deltalake/polars on an object store: an `http://` endpoint also
    allows plain HTTP, and commits use conditional put (`etag`) unless a locking option is set."""
    resolved = resolve_storage_options(options)
    if is_local(uri):
        return resolved
    endpoint = _lookup(
        resolved, "aws_endpoint_url", "endpoint_url", "aws_endpoint"
    ) or os.environ.get("AWS_ENDPOINT_URL", "")
    if endpoint.startswith("http://") and _lookup(resolved, "aws_allow_http", "allow_http") is None:
        resolved["AWS_ALLOW_HTTP"] = "true"
    if endpoint and _lookup(resolved, "aws_endpoint_url", "endpoint_url", "aws_endpoint") is None:
        resolved["AWS_ENDPOINT_URL"] = endpoint
    safe_commit = _lookup(
        resolved,
        "conditional_put",
        "aws_conditional_put",
        "aws_s3_locking_provider",
        "aws_s3_allow_unsafe_rename",
    )
    if safe_commit is None:  # Delta commits need an atomic put-if-absent on S3 (AWS, R2, MinIO)
        resolved["conditional_put"] = "etag"
    return resolved


def filesystem(uri: str, options: Mapping[str, str]) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path of `uri` inside it (local disk or S3-compatible)."""
    if is_local(uri):
        return pafs.LocalFileSystem(), str(local_path(uri).resolve())
    parsed = urlparse(uri)
    if parsed.scheme not in ("s3", "s3a"):
        raise ValueError(
            f"unsupported lake URI scheme {parsed.scheme!r} in {uri!r} (s3:// or a path)"
        )
    resolved = delta_storage_options(uri, options)
    env = os.environ
    endpoint = _lookup(resolved, "aws_endpoint_url", "endpoint_url", "aws_endpoint")
    kwargs: dict[str, object] = {
        "access_key": _lookup(resolved, "aws_access_key_id", "access_key_id")
        or env.get("AWS_ACCESS_KEY_ID"),
        "secret_key": _lookup(resolved, "aws_secret_access_key", "secret_access_key")
        or env.get("AWS_SECRET_ACCESS_KEY"),
        "region": _lookup(resolved, "aws_region", "region") or env.get("AWS_REGION") or "us-east-1",
    }
    if endpoint:
        endpoint_url = urlparse(endpoint)
        kwargs["endpoint_override"] = endpoint_url.netloc
        kwargs["scheme"] = endpoint_url.scheme or "https"
    fs = pafs.S3FileSystem(**{k: v for k, v in kwargs.items() if v is not None})
    return fs, f"{parsed.netloc}{parsed.path}".rstrip("/")
