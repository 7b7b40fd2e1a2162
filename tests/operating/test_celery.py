"""Steps on Celery workers (issue 19): `dagster-celery` workers against a real `redis-server`.

A module-scoped Redis (own temp dir, no persistence, a free loopback port) and three
`dagster-celery worker start -A dagster_celery.app -y <python -m dag.executors --worker-config>`
workers (one pool process each, their own process groups) run from the repository root with a
temporary DAGSTER_HOME and DAG_DATA_DIR. The CD daily update's assets over a 30-day range run as
one run (`dagster asset materialize --partition-range`, as tests/operating/test_cli.py) through
`{"execution": {"config": {"celery": {}}}}` and, as the reference, in-process into a second data
dir: every lake table must hold the same rows. A pool process SIGKILLed mid-step must fail the run
without a retry, and a re-run must leave every partition exactly once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dag.executors import CELERY_BACKEND_ENV, CELERY_BROKER_ENV, write_worker_config
from tests.operating.conftest import (
    BIN,
    REPO_ROOT,
    Operating,
    free_port,
    make_operating,
    postgres_env,
    stop_group,
    throwaway_databases,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.scale_out]

WORKERS = 3
CD_RANGE = "2025-10-01|KOSPI...2025-10-30|KOSPI"
# The assets of `cd_daily_update_job` (dag/jobs.py): group CD without the month-end history (a
# different partitions definition) and the Turso loads.
CD_DAILY = "group:CD and not key:cd_historical_* and not tag:target=turso"
SAMPLE = {"krx_source": {"config": {"sample_scale": 0.02}}}
CELERY = {"execution": {"config": {"celery": {}}}, "resources": SAMPLE}
IN_PROCESS = {"execution": {"config": {"in_process": {}}}, "resources": SAMPLE}
REDIS_START_SEC = 20.0
WORKERS_READY_SEC = 60.0
CONTROL_TIMEOUT_SEC = 2.0
RUN_TIMEOUT_SEC = 240.0
# A killed pool process fails its task at once (WorkerLostError); the run then stops within a
# few scheduler ticks: the bound leaves room for the steps already running elsewhere.
FAIL_FAST_SEC = 90.0


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        reason = "redis-server is missing (Debian package redis-server)"
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Celery tests: {reason}")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway `redis-server` on a free loopback port, no persistence, stopped afterwards."""
    import redis

    binary = redis_binary()
    workdir = tmp_path_factory.mktemp("redis")
    port = free_port()
    log = workdir / "redis.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(workdir),
             "--save", "", "--appendonly", "no"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    url = f"redis://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + REDIS_START_SEC
        client = redis.Redis.from_url(f"{url}/0", socket_timeout=1.0, socket_connect_timeout=1.0)
        while True:
            assert process.poll() is None, f"redis-server exited:\n{log.read_text()[-3000:]}"
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                pass  # not listening yet: the deadline bounds the wait
            if time.monotonic() > deadline:
                pytest.fail(f"redis-server not answering after {REDIS_START_SEC}s")
            time.sleep(0.2)
        client.close()
        yield url
    finally:
        stop_group(process)


RABBITMQ_SERVER = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")  # Debian's, not the root wrapper
RABBITMQ_START_SEC = 60.0


@pytest.fixture(scope="module")
def rabbitmq_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """TEST_RABBITMQ_URL when set, else a throwaway RabbitMQ node (own name, ports, data dir and
    Erlang cookie) on free loopback ports, stopped afterwards; skipped where none is installed."""
    given = os.environ.get("TEST_RABBITMQ_URL")
    if given:
        yield given
        return
    if not RABBITMQ_SERVER.exists():
        pytest.skip(f"RabbitMQ is not installed ({RABBITMQ_SERVER}; Debian: rabbitmq-server)")
    import kombu

    workdir = tmp_path_factory.mktemp("rabbitmq")
    port = free_port()
    env = {
        **os.environ,
        "HOME": str(workdir),  # the node's own Erlang cookie
        "RABBITMQ_NODENAME": f"dagtest-{port}@localhost",
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(free_port()),
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_CONFIG_FILE": str(workdir / "rabbitmq"),  # absent: the defaults
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
    }
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(RABBITMQ_SERVER)], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    # RabbitMQ's built-in guest login, accepted over loopback only.
    url = f"amqp://guest:guest@127.0.0.1:{port}//"  # secret-scan: deliberate
    try:
        deadline = time.monotonic() + RABBITMQ_START_SEC
        while True:
            assert process.poll() is None, f"rabbitmq-server exited:\n{log.read_text()[-3000:]}"
            try:
                with kombu.Connection(url, connect_timeout=1.0) as connection:
                    connection.connect()
                break
            except OSError:
                pass  # not listening yet: the deadline bounds the wait
            if time.monotonic() > deadline:
                pytest.fail(f"rabbitmq-server not answering after {RABBITMQ_START_SEC}s")
            time.sleep(0.5)
        yield url
    finally:
        stop_group(process)


@contextmanager
def operating_on_databases(
    root: Path, server_url: str, server: Any, extra_env: dict[str, str]
) -> Iterator[Operating]:
    """`make_operating` with its own PostgreSQL databases (the CD loads), dropped afterwards."""
    with throwaway_databases(server_url, "cel") as databases:
        yield make_operating(root, {**postgres_env(server, databases), **extra_env})


def celery_env(broker: str, backend: str) -> dict[str, str]:
    return {
        CELERY_BROKER_ENV: broker,
        CELERY_BACKEND_ENV: backend,
        # `dagster-celery worker start` runs `celery` from PATH.
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    }


def worker_config(ops: Operating) -> Path:
    """The workers' config file; the instance's storage created once first (workers opening a
    fresh SQLite instance at the same time race on its schema migration)."""
    open_instance(ops).dispose()
    return write_worker_config(ops.home / "celery-worker.yaml")


def celery_app(broker: str, backend: str) -> Any:
    """A client of the workers' Celery app (control commands only: ping, active tasks)."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app

    return make_app(CeleryExecutor.for_cli(broker=broker, backend=backend).app_args())


@dataclass
class Cluster:
    """The Celery side: its operating env (shared by the workers), workers and a control app."""

    operating: Operating
    workers: list[subprocess.Popen]
    logs: list[Path]
    app: Any

    def worker_logs(self) -> str:
        return "\n".join(f"--- {log.name}\n{log.read_text()[-2500:]}" for log in self.logs)

    def ready_workers(self) -> set[str]:
        replies = self.app.control.inspect(timeout=CONTROL_TIMEOUT_SEC).ping() or {}
        return set(replies)

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + WORKERS_READY_SEC
        while len(self.ready_workers()) < len(self.workers):
            for process in self.workers:
                assert process.poll() is None, f"a worker exited:\n{self.worker_logs()}"
            if time.monotonic() > deadline:
                pytest.fail(f"workers not ready after {WORKERS_READY_SEC}s")
            time.sleep(0.5)

    def active(self) -> list[dict[str, Any]]:
        replies = self.app.control.inspect(timeout=CONTROL_TIMEOUT_SEC).active() or {}
        return [task for tasks in replies.values() for task in tasks]


def start_worker(ops: Operating, config: Path, name: str) -> tuple[subprocess.Popen, Path]:
    """`dagster-celery worker start` (it names the worker `<name>@<host>`), one pool process."""
    log = ops.home / f"worker-{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "dagster-celery"), "worker", "start", "-A", "dagster_celery.app",
             "-y", str(config), "-n", name, "--", "--concurrency", "1"],
            cwd=REPO_ROOT,
            env=ops.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: the celery process and its pool stop with it
        )  # fmt: skip
    return process, log


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    redis_url: str,
    postgres_server_url: str,
    postgres_server_resource: Any,
) -> Iterator[Cluster]:
    """Three workers on the Celery side's instance and data dir, stopped afterwards."""
    env = celery_env(f"{redis_url}/0", f"{redis_url}/1")
    root = tmp_path_factory.mktemp("celery")
    with operating_on_databases(root, postgres_server_url, postgres_server_resource, env) as ops:
        config = worker_config(ops)
        started: list[subprocess.Popen] = []
        logs: list[Path] = []
        try:
            for i in range(WORKERS):
                process, log = start_worker(ops, config, f"w{i}")
                started.append(process)
                logs.append(log)
            found = Cluster(ops, started, logs, celery_app(f"{redis_url}/0", f"{redis_url}/1"))
            found.wait_until_ready()
            yield found
        finally:
            for process in started:
                if process.poll() is None:
                    stop_group(process)


@pytest.fixture(scope="module")
def reference(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server_url: str,
    postgres_server_resource: Any,
) -> Iterator[Operating]:
    """The same range in-process, into its own instance and data dir."""
    root = tmp_path_factory.mktemp("in-process")
    with operating_on_databases(root, postgres_server_url, postgres_server_resource, {}) as ops:
        started = time.monotonic()
        ops.run(*materialize_args(ops, IN_PROCESS))
        print(f"in-process run of {CD_RANGE}: {time.monotonic() - started:.1f}s")
        yield ops


def materialize_args(ops: Operating, run_config: dict[str, Any]) -> list[str]:
    return [
        "dagster", "asset", "materialize", "-m", "dag.definitions", "--select", CD_DAILY,
        "--partition-range", CD_RANGE, "--config-json", json.dumps(run_config),
    ]  # fmt: skip


def open_instance(ops: Operating) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(ops.home))


def runs_of(ops: Operating) -> list[dg.DagsterRun]:
    with open_instance(ops) as instance:
        return list(instance.get_runs())


def lake_tables(ops: Operating) -> dict[str, pl.DataFrame]:
    """Every Delta table of the lake, rows sorted by all columns (a total order on the rows)."""
    tables = {}
    for path in sorted(ops.lake.iterdir()):
        frame = pl.read_delta(str(path))
        tables[path.name] = frame.sort(frame.columns, nulls_last=True)
    return tables


def assert_same_lake(got: Operating, expected: Operating) -> None:
    want = lake_tables(expected)
    have = lake_tables(got)
    assert sorted(have) == sorted(want)
    assert any(frame.height for frame in want.values()), "the reference lake is empty"
    for name, frame in want.items():
        assert_frame_equal(have[name], frame, check_row_order=True)


def test_worker_killed_mid_step_fails_fast_and_rerun_completes(
    cluster: Cluster, reference: Operating
) -> None:
    ops = cluster.operating
    # First in the module: the workers are cold, so the first step each takes spends seconds
    # importing the code location and the kill lands inside a step, never after it.
    # An empty lake: a partition the re-run failed to write would otherwise still be there from
    # the first test.
    shutil.rmtree(ops.lake, ignore_errors=True)
    before = {r.run_id for r in runs_of(ops)}
    process, log = ops.start(*materialize_args(ops, CELERY))
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_SEC
        active: list[dict[str, Any]] = []
        while not active:
            assert process.poll() is None, f"run ended before a step ran:\n{log.read_text()}"
            assert time.monotonic() < deadline, "no step became active"
            active = cluster.active()
        victim = active[0]
        os.kill(int(victim["worker_pid"]), signal.SIGKILL)
        killed_at = time.monotonic()
        code = process.wait(timeout=FAIL_FAST_SEC)
        failed_after = time.monotonic() - killed_at
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=20)
    assert code != 0, log.read_text()[-3000:]
    [run] = [r for r in runs_of(ops) if r.run_id not in before]
    assert run.status == dg.DagsterRunStatus.FAILURE
    assert "WorkerLostError" in log.read_text(), log.read_text()[-3000:]
    # No retry: the lost task was received once, and not redelivered to another worker.
    received = f"execute_plan[{victim['id']}] received"
    assert sum(w.read_text().count(received) for w in cluster.logs) == 1, received
    print(f"killed {victim['worker_pid']} ({victim['hostname']}): failed in {failed_after:.1f}s")

    # The pool replaces its killed process; the re-run completes and every partition is there
    # exactly once (each step rewrites its partitions).
    ops.run(*materialize_args(ops, CELERY), timeout=RUN_TIMEOUT_SEC)
    assert_same_lake(ops, reference)


def test_celery_range_matches_in_process(cluster: Cluster, reference: Operating) -> None:
    ops = cluster.operating
    # An empty lake, and only what the workers log from now on: the run alone must fill both.
    shutil.rmtree(ops.lake, ignore_errors=True)
    logged = {path: path.stat().st_size for path in cluster.logs}
    started = time.monotonic()
    ops.run(*materialize_args(ops, CELERY), timeout=RUN_TIMEOUT_SEC)
    elapsed = time.monotonic() - started
    run = runs_of(ops)[0]  # the newest
    assert run.status == dg.DagsterRunStatus.SUCCESS
    assert run.tags["dagster/asset_partition_range_start"] == CD_RANGE.split("...")[0]
    assert run.run_config["execution"] == {"config": {"celery": {}}}  # no URL in run storage
    # Every worker took steps: the run really spread over the three workers.
    logs = cluster.worker_logs()
    for path, offset in logged.items():
        with path.open("rb") as log:
            log.seek(offset)
            assert b"succeeded in" in log.read(), logs
    assert_same_lake(ops, reference)
    print(f"celery run of {CD_RANGE}: {elapsed:.1f}s")


def test_rabbitmq_broker_runs_the_same_range(
    tmp_path_factory: pytest.TempPathFactory,
    rabbitmq_url: str,
    redis_url: str,
    postgres_server_url: str,
    postgres_server_resource: Any,
    reference: Operating,
) -> None:
    """RabbitMQ as the broker (`amqp://`, Celery's own client), Redis as the result backend: one
    worker runs the same range, and the lake equals the in-process run's."""
    env = celery_env(rabbitmq_url, f"{redis_url}/2")
    root = tmp_path_factory.mktemp("celery-amqp")
    with operating_on_databases(root, postgres_server_url, postgres_server_resource, env) as ops:
        config = worker_config(ops)
        process, log = start_worker(ops, config, "amqp")
        try:
            app = celery_app(rabbitmq_url, f"{redis_url}/2")
            Cluster(ops, [process], [log], app).wait_until_ready()
            ops.run(*materialize_args(ops, CELERY), timeout=RUN_TIMEOUT_SEC)
        finally:
            stop_group(process)
        assert "succeeded in" in log.read_text(), log.read_text()[-3000:]
        assert runs_of(ops)[0].status == dg.DagsterRunStatus.SUCCESS
        assert_same_lake(ops, reference)
