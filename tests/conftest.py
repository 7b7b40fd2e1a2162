"""Shared fixtures: real services (PostgreSQL, S3-compatible server) and isolated data dirs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

if TYPE_CHECKING:
    from dag_io import PostgresResource


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated DAG_DATA_DIR, so embedded defaults (lake, turso file, duckdb) land in tmp."""
    path = tmp_path / "data"
    path.mkdir()
    monkeypatch.setenv("DAG_DATA_DIR", str(path))
    return path


@dataclass(frozen=True)
class DemoRun:
    """One run of the README's main command, `python -m dag.demo`, at small sample sizes."""

    data: Path
    returncode: int
    output: str

    @property
    def home(self) -> Path:
        return self.data / "dagster_home"


def run_demo(data: Path, extra_env: dict[str, str], timeout: float = 600) -> DemoRun:
    """`python -m dag.demo` at small sample sizes into `data`, on the embedded defaults (its own
    pgserver, no external service) plus `extra_env`."""
    inherited = {
        k: v for k, v in os.environ.items() if not k.endswith(("_POSTGRES_HOST", "DAGSTER_HOME"))
    }
    env = {
        **inherited,
        "DAG_DATA_DIR": str(data),
        "NPS_SAMPLE_ROWS": "400",
        "NPS_MIN_FILE_BYTES": "1024",
        "KRX_SAMPLE_SCALE": "0.03",
        **extra_env,
    }
    result = subprocess.run(
        [sys.executable, "-m", "dag.demo", "--cd-days", "2025-11-06", "2025-11-07"],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return DemoRun(data, result.returncode, result.stdout + result.stderr)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """The demo on the embedded defaults, run once per session: tests/operating/test_demo.py
    checks its output and browses the instance it leaves."""
    return run_demo(tmp_path_factory.mktemp("demo") / "data", {})


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A real PostgreSQL: TEST_POSTGRES_URL when set, else a throwaway pgserver for the session."""
    url = os.environ.get("TEST_POSTGRES_URL")
    if url:
        yield url
        return
    import pgserver

    # Not under pytest's tmp dir: as root, pgserver runs postgres as its own user, which cannot
    # traverse /tmp/pytest-of-root (mode 700); a fresh mkdtemp dir is handed over to it.
    pgdata = Path(tempfile.mkdtemp(prefix="dag-test-pg-"))
    server = pgserver.get_server(pgdata, cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    prefix, _, query = postgres_server_url.partition("?")
    db_url = prefix.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")
    yield db_url
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_resource_from_url(url: str) -> PostgresResource:
    """A PostgresResource for a libpq URL (TCP host or unix-socket `?host=/dir`)."""
    from dag_io import PostgresResource

    parts = urlsplit(url)
    query = parse_qs(parts.query)
    return PostgresResource(
        host=query.get("host", [parts.hostname or ""])[0],
        port=int(query.get("port", [parts.port or 5432])[0]),
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or ""),
        database=parts.path.lstrip("/"),
    )


@pytest.fixture
def postgres_resource(postgres_url: str) -> PostgresResource:
    """PostgresResource on the test's fresh database (the `postgres_url` fixture)."""
    return postgres_resource_from_url(postgres_url)


@pytest.fixture(scope="session")
def postgres_server_resource(postgres_server_url: str) -> PostgresResource:
    """PostgresResource on the session server's own database (host, port and login to reuse)."""
    return postgres_resource_from_url(postgres_server_url)


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3-compatible server as a loopback subprocess, stopped after the session.

    Not moto's threaded server: it runs inside the test process, and deltalake's blocking calls
    hold the GIL while waiting on it, which deadlocks (delta-io/delta-rs#3942, #4362).
    """
    port = free_port()
    server = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # moto's request recorder (tests/ds) writes its log here, not into the checkout
        env={
            **os.environ,
            "MOTO_RECORDER_FILEPATH": str(tmp_path_factory.mktemp("moto") / "recording"),
        },
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:  # wait for the server to listen (bounded by the deadline; not a retry of work)
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
            break
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise RuntimeError(f"moto_server did not start on {url}") from None
            time.sleep(0.1)
    yield url
    proc.kill()
    proc.wait()


@pytest.fixture
def s3_bucket(s3_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new bucket on the moto server, with the AWS_* variables the lake reads set for it."""
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_endpoint)
    name = f"lake-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name


@pytest.fixture
def llm_server() -> Iterator[object]:
    """A loopback OpenAI-compatible server (tests/llm_server.py), reached through the real
    `openai` client: set `.answers`, `.mode` ("ok", "error", "slow"); read `.requests`."""
    from tests.llm_server import LlmServer, start

    state = LlmServer()
    server = start(state)
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _no_leaked_instance_context(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail the test that leaves a Dagster instance entered (e.g. a schedule or sensor context
    built without `with`): Dagster keeps the instance's state storage in a context variable, and
    every later test that builds definitions would fail with "undefined DagsterInstance weakref"
    once the instance is gone, far from the cause."""
    from dagster._core.storage.defs_state.base import _current_storage  # no public accessor

    before = _current_storage.get()
    yield
    after = _current_storage.get()
    if after is not None and after is not before:
        raise AssertionError(
            f"{request.node.nodeid} left a Dagster instance entered; use `with` for instances and "
            "schedule/sensor contexts"
        )
