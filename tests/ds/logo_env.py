"""DS logo test environment: source and target buckets on the loopback moto server, the DS and
CD definitions of the logo assets bound to them, and a loopback proxy that fails one upload.

`FailingProxy` sits between the pipeline's boto3 client and moto: it forwards every request
unchanged, except that the n-th object PUT into one bucket is answered the way S3 and R2
throttle (HTTP 503, `SlowDown`) and never reaches moto. The pipeline therefore sees a real
failed upload (botocore's own error parsing, its no-retry configuration) with nothing in the
pipeline's code replaced.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import boto3
import dagster as dg
import polars as pl
import pytest

from dag import cd_logo_assets, ds_logo_assets
from dag.ds_bucket import LogoBuckets
from dag.jobs import cd_logos_job, ds_logos_job
from dag_io import DeltaIOManager, PostgresResource

COMPANY_IDS = [str(i) for i in range(101, 109)]
PUBLIC_URL = "https://cdn.example.test/ds"
CD_PUBLIC_URL = "https://cdn.example.test/cd"
CHAIN = ["ds_logo_sources", "ds_logo_files", "ds_logo_webp", "ds_company_thumbnails"]
# CD's company ids are uuid5 of the company name (contracts/cd.py CdCompany).
CD_NAMES = ["삼성전자", "SK하이닉스", "카카오", "네이버", "현대차", "셀트리온"]
CD_COMPANIES = pl.DataFrame(
    {
        "company_id": [str(uuid.uuid5(uuid.NAMESPACE_URL, name)) for name in CD_NAMES],
        "company_name": CD_NAMES,
        "security_count": [1, 1, 1, 1, 2, 1],
        "active_security_count": [1, 1, 1, 1, 2, 0],
        "listing_date": pl.Series(["1975-06-11", "1996-12-26", "2017-07-10", "2008-11-28",
                                   "1974-06-28", "2005-07-19"]).str.to_date(),
        "is_active": [True, True, True, True, True, False],
    },
    schema={"company_id": pl.String, "company_name": pl.String, "security_count": pl.Int64,
            "active_security_count": pl.Int64, "listing_date": pl.Date, "is_active": pl.Boolean},
)
SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)
HOP_HEADERS = {"connection", "keep-alive", "transfer-encoding", "expect", "content-length"}


@dataclass
class Logos:
    defs: dg.Definitions
    instance: dg.DagsterInstance
    buckets: LogoBuckets
    postgres: PostgresResource
    endpoint: str

    def run(
        self, selection: list[str] | None = None, **kwargs: object
    ) -> dg.ExecuteInProcessResult:
        job = dg.define_asset_job("t", selection=selection or CHAIN)
        defs = dg.Definitions(
            assets=self.defs.assets, asset_checks=self.defs.asset_checks, jobs=[job],
            resources=self.defs.resources,
        )
        return defs.resolve_job_def("t").execute_in_process(
            instance=self.instance, raise_on_error=False, **kwargs  # type: ignore[arg-type]
        )

    def run_job(self, name: str) -> dg.ExecuteInProcessResult:
        """One of the project's own jobs (dag/jobs.py), as wired."""
        return self.defs.resolve_job_def(name).execute_in_process(
            instance=self.instance, raise_on_error=False
        )

    def table(self, asset: str) -> pl.DataFrame:
        return pl.read_delta(str(Path(self.defs.resources["delta_io_manager"].root_uri) / asset))

    def keys(self, bucket: str) -> set[str]:
        return set(self.buckets.store(bucket).listing()["key"].to_list())


def recorded(endpoint: str) -> list[dict[str, str]]:
    """The moto recorder's log since it was (re)started: method and URL of each request."""
    with urllib.request.urlopen(f"{endpoint}/moto-api/recorder/download-recording",
                                timeout=10) as answer:
        lines = answer.read().decode().splitlines()
    return [{"method": e["method"], "url": e["url"]} for e in map(json.loads, lines) if e]


def restart_recording(endpoint: str) -> None:
    for action in ("stop-recording", "reset-recording", "start-recording"):
        urllib.request.urlopen(
            urllib.request.Request(f"{endpoint}/moto-api/recorder/{action}", method="POST"),
            timeout=10,
        ).close()


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, and `Expect: 100-continue` answered
    server: FailingProxy

    def _any(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            raise NotImplementedError("FailingProxy: chunked request bodies are not forwarded")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.server.fails(self.command, urlsplit(self.path).path):
            self._answer(503, [("Content-Type", "application/xml")], SLOW_DOWN)
            return
        upstream = urlsplit(self.server.upstream)
        connection = http.client.HTTPConnection(upstream.hostname or "", upstream.port,
                                                timeout=10)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_HEADERS}
            connection.request(self.command, self.path, body=body, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_HEADERS]
            self._answer(answer.status, kept, data)
        finally:
            connection.close()

    def _answer(self, status: int, headers: list[tuple[str, str]], data: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _any

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test reads `FailingProxy.puts` instead."""


class FailingProxy(ThreadingHTTPServer):
    """Loopback proxy to `upstream` failing the `fail_at`-th object PUT into `bucket` (1-based;
    0: none) with 503 SlowDown, once. `puts`: paths of every object PUT into `bucket`."""

    daemon_threads = True

    def __init__(self, upstream: str) -> None:
        super().__init__(("127.0.0.1", 0), _Forward)
        self.upstream = upstream
        self.bucket = ""
        self.fail_at = 0
        self.puts: list[str] = []
        self.failed: list[str] = []
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def fails(self, method: str, path: str) -> bool:
        if method != "PUT" or not self.bucket or not path.startswith(f"/{self.bucket}/"):
            return False
        with self._lock:
            self.puts.append(path)
            if len(self.puts) != self.fail_at:
                return False
            self.failed.append(path)
            return True


@pytest.fixture
def failing_proxy(s3_endpoint: str) -> Iterator[FailingProxy]:
    proxy = FailingProxy(s3_endpoint)
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.1},
                              daemon=True)
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()
    thread.join(timeout=10)


def _credentials(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # moto accepts any key pair; taken from the variables like the lake fixture's.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    return os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]


def _logos(
    prefix: str, module: ModuleType, jobs: list[dg.UnresolvedAssetJobDefinition],
    public_url: str, s3_endpoint: str, client_endpoint: str, postgres: PostgresResource,
    data_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Logos]:
    """One group's logo definitions on new moto buckets; the pipeline's client talks to
    `client_endpoint` (moto itself, or a proxy in front of it)."""
    key_id, key = _credentials(monkeypatch)
    for name in ("CRAWLER_COMMAND", "CRAWLER_DOCKER_IMAGE", "SAMPLE_LOGOS"):
        monkeypatch.delenv(f"{prefix.upper()}_{name}", raising=False)  # the sample crawler
    suffix = uuid.uuid4().hex[:8]
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1",
                          aws_access_key_id=key_id, aws_secret_access_key=key)
    for name in (f"{prefix}-src-{suffix}", f"{prefix}-tgt-{suffix}"):
        client.create_bucket(Bucket=name)
    buckets = LogoBuckets(
        endpoint_url=client_endpoint, region="us-east-1", access_key_id=key_id,
        secret_access_key=key, source_bucket=f"{prefix}-src-{suffix}",
        target_bucket=f"{prefix}-tgt-{suffix}", public_url=public_url, timeout_seconds=10,
    )
    defs = dg.Definitions(
        assets=dg.load_assets_from_modules([module]),
        asset_checks=dg.load_asset_checks_from_modules([module]),
        jobs=jobs,
        resources={
            f"{prefix}_logo_buckets": buckets,
            f"{prefix}_postgres": postgres,
            "delta_io_manager": DeltaIOManager(root_uri=str(data_dir / "lake" / "delta")),
        },
    )
    with dg.instance_for_test() as instance:
        yield Logos(defs, instance, buckets, postgres, s3_endpoint)


def _ds_companies(postgres: PostgresResource) -> None:
    postgres.load(
        "company", pl.DataFrame({"id": COMPANY_IDS, "name": [f"회사{i}" for i in COMPANY_IDS]}),
        mode="replace",
    )


@pytest.fixture
def logos(
    s3_endpoint: str, postgres_resource: PostgresResource, data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Logos]:
    """DS on moto directly."""
    _ds_companies(postgres_resource)
    yield from _logos("ds", ds_logo_assets, [ds_logos_job], PUBLIC_URL, s3_endpoint,
                      s3_endpoint, postgres_resource, data_dir, monkeypatch)


@pytest.fixture
def proxied_logos(
    s3_endpoint: str, failing_proxy: FailingProxy, postgres_resource: PostgresResource,
    data_dir: Path, monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Logos]:
    """DS whose bucket client goes through `failing_proxy` (set its bucket and fail_at)."""
    _ds_companies(postgres_resource)
    yield from _logos("ds", ds_logo_assets, [ds_logos_job], PUBLIC_URL, s3_endpoint,
                      failing_proxy.url, postgres_resource, data_dir, monkeypatch)


@pytest.fixture
def cd_logos(
    s3_endpoint: str, postgres_resource: PostgresResource, data_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Logos]:
    """CD on moto: `cd_logos_job` with CD's `company` rows in `cd_postgres`."""
    postgres_resource.load("company", CD_COMPANIES, mode="replace")
    yield from _logos("cd", cd_logo_assets, [cd_logos_job], CD_PUBLIC_URL, s3_endpoint,
                      s3_endpoint, postgres_resource, data_dir, monkeypatch)
