"""Fixtures for operating the project as a user does: the Dagster CLI and webserver as subprocesses.

Every command runs from the repository root against a temporary DAGSTER_HOME (the committed
`dag/dagster.yaml` template copied in, as `python -m dag.instance` does) and a temporary
DAG_DATA_DIR, with PostgreSQL pointed at the test server and small sample sizes. The template
queues launched runs (QueuedRunCoordinator): `operating_daemon` adds the `dagster-daemon run`
that starts them, as `dagster dev` does.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import httpx
import pytest

from dag_io import PostgresResource

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
TEMPLATE = REPO_ROOT / "dag" / "dagster.yaml"
# `[tool.dagster] code_location_name` in pyproject.toml; `Definitions` live in `__repository__`.
LOCATION = "dag"
REPOSITORY = "__repository__"
SERVER_START_DEADLINE_SEC = 120.0
# The daemon loads the code location before its first heartbeat.
DAEMON_START_DEADLINE_SEC = 120.0
CLI_TIMEOUT_SEC = 300.0
# Small samples keep every CLI run to seconds: NPS rows per month, CD share of the KRX universe.
NPS_SAMPLE_ROWS = "300"
# 300 sample rows make a ~25 KB monthly file: lower the 100 KiB "file too small" check floor.
NPS_MIN_FILE_BYTES = "4096"


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
RENDER_TIMEOUT_MS = 60_000
# The lineage view opens at its detail zoom and draws only the nodes inside the viewport; a tall
# viewport keeps every node of the largest group (CD) in view, with its full name as a label.
# Each node shows "Loading..." until its materialization/check status has arrived.
STATUSES_LOADED = "() => !document.body.innerText.includes('Loading...')"
VIEWPORT = {"width": 2000, "height": 4000}
# The UI's "Join the Dagster community" dialog stays closed once this browser key is set.
DISMISS_COMMUNITY_DIALOG = "window.localStorage.setItem('communityNux', '\"1\"');"

SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium context with a fresh profile; skipped only outside CI without it."""
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: run .ci/install-browser (Debian's chromium package)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the browser test: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport=VIEWPORT,
        )
        context.add_init_script(DISMISS_COMMUNITY_DIALOG)
        try:
            yield context
        finally:
            context.close()



def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def postgres_env(server: PostgresResource, databases: dict[str, str]) -> dict[str, str]:
    """`<P>_POSTGRES_*` variables for each project, pointing at the test server's databases."""
    env: dict[str, str] = {}
    for project, database in databases.items():
        p = project.upper()
        env[f"{p}_POSTGRES_HOST"] = server.host
        env[f"{p}_POSTGRES_PORT"] = str(server.port)
        env[f"{p}_POSTGRES_USER"] = server.user
        env[f"{p}_POSTGRES_PASSWORD"] = server.password
        env[f"{p}_POSTGRES_DB"] = database
    return env


@dataclass(frozen=True)
class Operating:
    """A temporary instance and data dir, and the environment the CLI runs with."""

    home: Path
    data: Path
    env: dict[str, str]

    @property
    def lake(self) -> Path:
        return self.data / "lake" / "delta"

    def run(self, *args: str, timeout: float = CLI_TIMEOUT_SEC) -> subprocess.CompletedProcess:
        """Run a CLI from the repository root; a non-zero exit fails with the output's tail."""
        done = subprocess.run(
            [str(BIN / args[0]), *args[1:]],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert done.returncode == 0, (
            f"{' '.join(args)} exited {done.returncode}\n"
            f"--- stdout (tail)\n{done.stdout[-3000:]}\n--- stderr (tail)\n{done.stderr[-2500:]}"
        )
        return done

    def start(self, *args: str) -> tuple[subprocess.Popen, Path]:
        """Start a CLI from the repository root, output to a log file (for concurrent commands)."""
        log = self.home / f"cli-{uuid.uuid4().hex[:8]}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(BIN / args[0]), *args[1:]],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        return process, log

    @staticmethod
    def finish(process: subprocess.Popen, log: Path, timeout: float = CLI_TIMEOUT_SEC) -> None:
        """Wait for a started CLI; a non-zero exit fails with its log's tail."""
        code = process.wait(timeout=timeout)
        assert code == 0, (
            f"{' '.join(map(str, process.args))} exited {code}:\n{log.read_text()[-4000:]}"
        )


def make_operating(root: Path, extra_env: dict[str, str]) -> Operating:
    home = root / "dagster_home"
    data = root / "data"
    home.mkdir(parents=True)
    data.mkdir()
    shutil.copyfile(TEMPLATE, home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAG_DATA_DIR": str(data),
        "NPS_SAMPLE_ROWS": NPS_SAMPLE_ROWS,
        "NPS_MIN_FILE_BYTES": NPS_MIN_FILE_BYTES,
        "PYTHONWARNINGS": "ignore",
        **extra_env,
    }
    # A lake URI or live source from the caller's shell must not leak into the test instance.
    for name in ("DAG_LAKE_URI", "NPS_SOURCE_MODE", "KRX_SOURCE_MODE", "TURSO_DATABASE_URL"):
        env.pop(name, None)
    return Operating(home=home, data=data, env=env)


@pytest.fixture(scope="session")
def operating(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server_url: str,
    postgres_server_resource: PostgresResource,
) -> Iterator[Operating]:
    """A fresh DAGSTER_HOME + DAG_DATA_DIR, PostgreSQL databases `nps`/`cd` on the test server."""
    with throwaway_databases(postgres_server_url, "op") as databases:
        ops = make_operating(
            tmp_path_factory.mktemp("operating"), postgres_env(postgres_server_resource, databases)
        )
        # The instance's storage is created here, once: a daemon and a CLI process creating a new
        # SQLite instance at the same time race on its schema migrations ("more than one head").
        dg.DagsterInstance.from_config(str(ops.home)).dispose()
        yield ops


@pytest.fixture(scope="session")
def operating_daemon(operating: Operating) -> Iterator[Operating]:
    """`operating` with a `dagster-daemon run`: `dagster job launch` queues its run, the daemon
    dequeues and starts it. Only the tests that launch runs start it (it polls all the time)."""
    with running_daemon(operating.env, operating.home / "daemon.log"):
        yield operating


PROJECT_DATABASES = ("nps", "cd", "ds", "is")


@contextmanager
def throwaway_databases(
    server_url: str, prefix: str, projects: tuple[str, ...] = PROJECT_DATABASES
) -> Iterator[dict[str, str]]:
    """One new database per project on the test server (`<prefix>_<project>_<random>`), dropped
    afterwards: {project: database name}."""
    import psycopg

    suffix = uuid.uuid4().hex[:8]
    databases = {p: f"{prefix}_{p}_{suffix}" for p in projects}
    with psycopg.connect(server_url, autocommit=True) as conn:
        for name in databases.values():
            conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield databases
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            for name in databases.values():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass(frozen=True)
class Webserver:
    """A running `dagster-webserver`: its base URL, log file and the served code location."""

    url: str
    log: Path
    location: str = LOCATION
    repository: str = REPOSITORY

    @property
    def repo_path(self) -> str:
        """The UI's `/locations/<repo_path>/...` segment."""
        return f"{self.repository}@{self.location}"

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST a GraphQL query; GraphQL-level errors fail the test with the server's message."""
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            timeout=60.0,
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, json.dumps(body["errors"], indent=2)[:4000]
        return body["data"]


LOCATION_STATUS = """
{ workspaceOrError { __typename
    ... on Workspace { locationEntries { name loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } } } }
    ... on PythonError { message } } }
"""


def wait_until_serving(process: subprocess.Popen, url: str, log: Path) -> None:
    """Poll `/server_info` until it answers, the process dies, or the deadline passes."""
    deadline = time.monotonic() + SERVER_START_DEADLINE_SEC
    while time.monotonic() < deadline:
        assert process.poll() is None, (
            f"dagster-webserver exited {process.returncode}:\n{log.read_text()[-6000:]}"
        )
        try:
            if httpx.get(f"{url}/server_info", timeout=2.0).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet: the deadline bounds the wait
        time.sleep(0.5)
    pytest.fail(
        f"dagster-webserver not serving {url} after {SERVER_START_DEADLINE_SEC}s:\n"
        f"{log.read_text()[-6000:]}"
    )


@contextmanager
def serving_webserver(env: dict[str, str], log: Path) -> Iterator[Webserver]:
    """`dagster-webserver` from the repository root (code location found via [tool.dagster])
    with `env`'s DAGSTER_HOME, stopped (with its code server) afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(port)],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the code server child stops with it
        )
    try:
        wait_until_serving(process, url, log)
        server = Webserver(url=url, log=log)
        entries = server.graphql(LOCATION_STATUS)["workspaceOrError"]["locationEntries"]
        assert [(e["name"], e["loadStatus"]) for e in entries] == [(LOCATION, "LOADED")], entries
        error = entries[0]["locationOrLoadError"]
        assert error["__typename"] == "RepositoryLocation", error
        yield server
    finally:
        stop_group(process)


@pytest.fixture(scope="session")
def webserver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Webserver]:
    """A webserver on a fresh, empty instance."""
    ops = make_operating(tmp_path_factory.mktemp("webserver"), {})
    with serving_webserver(ops.env, ops.home / "webserver.log") as server:
        yield server


def stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the server's own process group, SIGKILL it if it is still there after 20 s."""
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=20)


def daemon_heartbeats(home: Path) -> set[str]:
    """The daemon types with a heartbeat in the instance at `home` (an instance yaml's `env:`
    values, e.g. DAGSTER_PG_*, are read from this process's environment)."""
    import dagster as dg

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return set(instance.get_daemon_heartbeats())


@contextmanager
def running_daemon(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """`dagster-daemon run` from the repository root (code location via [tool.dagster]) on
    `env`'s instance, once its run queue has a heartbeat; stopped with its code server after."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: the code server stops with it
        )
    try:
        deadline = time.monotonic() + DAEMON_START_DEADLINE_SEC
        while "QUEUED_RUN_COORDINATOR" not in daemon_heartbeats(Path(env["DAGSTER_HOME"])):
            assert process.poll() is None, (
                f"dagster-daemon exited {process.returncode}:\n{log.read_text()[-6000:]}"
            )
            if time.monotonic() > deadline:
                pytest.fail(
                    f"dagster-daemon: no run queue heartbeat after {DAEMON_START_DEADLINE_SEC}s:"
                    f"\n{log.read_text()[-6000:]}"
                )
            time.sleep(1.0)
        yield process
    finally:
        stop_group(process)
        # A code server or run worker of the daemon's that outlived it (same process group).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
