"""Scale-out deployment (issue 19, part A): the instance on PostgreSQL, queued runs with
`dag/serial` limits, chunked history backfills and the dagster-k8s Helm values.

One module-scoped deployment, as an operator sets it up: PostgreSQL databases on the suite's
server (Dagster's own instance database and the projects' serving databases), a DAGSTER_HOME
written by `python -m dag.instance --postgres` with the DAGSTER_PG_* variables, and a
`dagster-daemon run` from the repository root that dequeues launched runs and runs backfills.
The session's pgserver listens on a Unix socket only, while dagster-postgres connects to
`hostname:port`: a loopback TCP relay to the socket stands in for the network in between
(TEST_POSTGRES_URL on TCP is used directly).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl
import pytest
import yaml
from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
from polars.testing import assert_frame_equal

from dag import cd_history_common
from dag.definitions import defs
from dag.instance import POSTGRES_TEMPLATE, TEMPLATE
from dag.jobs import SERIAL_TAG, cd_daily_update_job, cd_history_job, cd_jobs
from dag.partitions import cd_monthly_history_partition
from tests.operating.conftest import (
    REPO_ROOT,
    Operating,
    make_operating,
    postgres_env,
    running_daemon,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

RUN_CONFIG = {
    "execution": {"config": {"in_process": {}}},
    "resources": {"krx_source": {"config": {"sample_scale": 0.02}}},
}
CONFIG = ["--config-json", json.dumps(RUN_CONFIG)]
RUN_DEADLINE_SEC = 240.0
BACKFILL_DEADLINE_SEC = 300.0
RELAY_TIMEOUT_SEC = 10.0
# The code location's chunk size in this deployment (the default is 12): 30 months -> 3 runs of 10.
CHUNK_MONTHS = 10
HISTORY_MONTHS = cd_monthly_history_partition.get_partition_keys_in_range(
    dg.PartitionKeyRange("2023-01-01", "2025-06-01")
)
HISTORY_ASSETS = ("cd_historical_prices", "cd_historical_marketcaps", "cd_historical_bppedds")
DEPLOY = REPO_ROOT / "deploy"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
# The Kubernetes Secret with the credentials (deploy/README.md).
K8S_CREDENTIALS_OBJECT = "dag-secrets"


class UnixSocketRelay:
    """A loopback TCP port relayed to a PostgreSQL Unix socket (a thread per direction)."""

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(RELAY_TIMEOUT_SEC)
        self.port: int = self.listener.getsockname()[1]
        self.closed = threading.Event()
        self.lock = threading.Lock()
        self.open: set[socket.socket] = set()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue  # wake up to see whether the relay was closed
            except OSError:
                return  # the listener was closed
            server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            server.settimeout(RELAY_TIMEOUT_SEC)
            server.connect(self.socket_path)
            server.settimeout(None)  # idle pooled connections may wait indefinitely
            client.settimeout(None)
            with self.lock:
                self.open.update((client, server))
            threading.Thread(target=self._connection, args=(client, server), daemon=True).start()

    def _connection(self, client: socket.socket, server: socket.socket) -> None:
        upstream = threading.Thread(target=self._pump, args=(client, server), daemon=True)
        upstream.start()
        self._pump(server, client)
        upstream.join()
        self._close(client, server)

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass  # either side closed or reset: this direction of the connection is over
        with contextlib.suppress(OSError):  # let the other direction see the end too
            target.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(OSError):
            source.shutdown(socket.SHUT_RDWR)

    def _close(self, *sockets: socket.socket) -> None:
        with self.lock:
            for sock in sockets:
                sock.close()
                self.open.discard(sock)

    def close(self) -> None:
        self.closed.set()
        self.listener.close()
        self.thread.join(timeout=RELAY_TIMEOUT_SEC + 1)
        with self.lock:
            remaining = list(self.open)
        for sock in remaining:  # the pumps then end and close their pair
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + RELAY_TIMEOUT_SEC
        while self.open and time.monotonic() < deadline:
            time.sleep(0.05)
        self._close(*remaining)


@dataclass(frozen=True)
class Deployment:
    ops: Operating
    server_url: str  # the PostgreSQL server (maintenance database)
    dagster_db: str  # the instance's database
    instance_command: Any  # `python -m dag.instance --postgres` as run by the fixture

    def dagster_db_url(self) -> str:
        prefix, _, query = self.server_url.partition("?")
        return prefix.rsplit("/", 1)[0] + "/" + self.dagster_db + (f"?{query}" if query else "")


@pytest.fixture(scope="module")
def deployment(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_server_url: str,
    postgres_server_resource: Any,
) -> Iterator[Deployment]:
    """Databases, the relay, DAGSTER_PG_* (also in this process, to open the instance) and the
    DAGSTER_HOME `python -m dag.instance --postgres` writes."""
    import psycopg

    server = postgres_server_resource
    suffix = uuid.uuid4().hex[:8]
    dagster_db = f"so_dagster_{suffix}"
    databases = {p: f"so_{p}_{suffix}" for p in ("nps", "cd", "ds", "is")}
    with psycopg.connect(postgres_server_url, autocommit=True) as conn:
        for name in (dagster_db, *databases.values()):
            conn.execute(f'CREATE DATABASE "{name}"')
    relay = UnixSocketRelay(f"{server.host}/.s.PGSQL.{server.port}") if server.host.startswith(
        "/"
    ) else None
    pg_env = {
        "DAGSTER_PG_USERNAME": server.user,
        "DAGSTER_PG_PASSWORD": server.password,
        "DAGSTER_PG_HOST": "127.0.0.1" if relay else server.host,
        "DAGSTER_PG_PORT": str(relay.port if relay else server.port),
        "DAGSTER_PG_DB": dagster_db,
    }
    try:
        ops = make_operating(
            tmp_path_factory.mktemp("scale_out"),
            {
                **postgres_env(server, databases),
                **pg_env,
                "DAG_BACKFILL_MAX_PARTITIONS_PER_RUN": str(CHUNK_MONTHS),
            },
        )
        (ops.home / "dagster.yaml").unlink()  # make_operating's SQLite copy: the command writes it
        written = ops.run("python", "-m", "dag.instance", "--postgres")
        with pytest.MonkeyPatch.context() as patch:
            for name, value in pg_env.items():
                patch.setenv(name, value)
            yield Deployment(ops, postgres_server_url, dagster_db, written)
    finally:
        with psycopg.connect(postgres_server_url, autocommit=True) as conn:
            for name in (dagster_db, *databases.values()):
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if relay is not None:
            relay.close()


@pytest.fixture(scope="module")
def instance(deployment: Deployment) -> Iterator[dg.DagsterInstance]:
    with dg.DagsterInstance.from_config(str(deployment.ops.home)) as opened:
        yield opened


@pytest.fixture(scope="module")
def daemon(deployment: Deployment) -> Iterator[None]:
    """`dagster-daemon run` on the PostgreSQL instance (run queue, backfills, monitoring)."""
    with running_daemon(deployment.ops.env, deployment.ops.home / "daemon.log"):
        yield


def wait_for_runs(instance: dg.DagsterInstance, run_ids: list[str]) -> list[dg.DagsterRun]:
    deadline = time.monotonic() + RUN_DEADLINE_SEC
    while time.monotonic() < deadline:
        runs = [instance.get_run_by_id(run_id) for run_id in run_ids]
        if all(run is not None and run.is_finished for run in runs):
            return [run for run in runs if run is not None]
        time.sleep(1.0)
    pytest.fail(f"runs {run_ids} not finished after {RUN_DEADLINE_SEC}s")


def assert_success(instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
    if run.status == dg.DagsterRunStatus.SUCCESS:
        return
    failures = [
        str(record.dagster_event.event_specific_data)[:1500]
        for record in instance.all_logs(run.run_id)
        if record.dagster_event is not None and record.dagster_event.is_failure
    ]
    pytest.fail(f"{run.job_name} {run.run_id} {run.status}:\n" + "\n".join(failures))


# --------------------------------------------------------------------------- instance on PostgreSQL


def without_storage(config: dict[str, Any]) -> dict[str, Any]:
    return {
        k: v
        for k, v in config.items()
        if k not in ("run_storage", "event_log_storage", "schedule_storage")
    }


def test_postgres_template_is_the_sqlite_template_plus_postgres_storage() -> None:
    sqlite = yaml.safe_load(TEMPLATE.read_text())
    postgres = yaml.safe_load(POSTGRES_TEMPLATE.read_text())
    assert without_storage(postgres) == sqlite  # same queue, monitoring, pools, retries off
    connection = {
        "username": {"env": "DAGSTER_PG_USERNAME"},
        "password": {"env": "DAGSTER_PG_PASSWORD"},
        "hostname": {"env": "DAGSTER_PG_HOST"},
        "port": {"env": "DAGSTER_PG_PORT"},
        "db_name": {"env": "DAGSTER_PG_DB"},
        "scheme": "postgresql+psycopg2",  # not psycopg 3 (SQLAlchemy 2.1's default)
    }
    for key, module in (
        ("run_storage", "dagster_postgres.run_storage"),
        ("event_log_storage", "dagster_postgres.event_log"),
        ("schedule_storage", "dagster_postgres.schedule_storage"),
    ):
        assert postgres[key]["module"] == module
        assert postgres[key]["config"] == {"postgres_db": connection}, key


def test_instance_command_writes_the_postgres_template(deployment: Deployment) -> None:
    home = deployment.ops.home
    assert deployment.instance_command.stdout == f"DAGSTER_HOME={home}\n"
    assert deployment.instance_command.stderr == ""
    assert (home / "dagster.yaml").read_text() == POSTGRES_TEMPLATE.read_text()
    assert "DAGSTER_PG_PASSWORD" in (home / "dagster.yaml").read_text()
    # The connection is read from the environment when the instance opens, never written down.
    assert deployment.ops.env["DAGSTER_PG_DB"] not in (home / "dagster.yaml").read_text()


@pytest.mark.scale_out
def test_materialize_against_the_postgres_instance(
    deployment: Deployment, instance: dg.DagsterInstance
) -> None:
    import psycopg
    from dagster_postgres import PostgresRunStorage

    partition = "2025-11-03|KOSDAQ"
    deployment.ops.run(
        "dagster", "asset", "materialize", "-m", "dag.definitions",
        "--select", "cd_stockcode", "--partition", partition, *CONFIG,
    )  # fmt: skip
    assert isinstance(instance.run_storage, PostgresRunStorage)
    runs = instance.get_runs(filters=dg.RunsFilter(tags={"dagster/partition": partition}))
    assert len(runs) == 1
    assert_success(instance, runs[0])
    assert partition in instance.get_materialized_partitions(dg.AssetKey("cd_stockcode"))
    # The run, its events and the asset's partition status are rows of the PostgreSQL database.
    with psycopg.connect(deployment.dagster_db_url()) as conn:
        stored = conn.execute("SELECT run_id, status FROM runs").fetchall()
        events = conn.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s", (runs[0].run_id,)
        ).fetchone()
    assert stored == [(runs[0].run_id, "SUCCESS")]
    assert events is not None and events[0] > 10
    # Nothing of the instance went to SQLite files in DAGSTER_HOME.
    assert not list(deployment.ops.home.rglob("*.db")), list(deployment.ops.home.rglob("*.db"))


# --------------------------------------------------------------------------- queued runs


def test_templates_queue_runs_with_one_run_per_serial_tag_value(tmp_path: Path) -> None:
    for path in (TEMPLATE, POSTGRES_TEMPLATE):
        config = yaml.safe_load(path.read_text())
        assert config["run_coordinator"]["class"] == "QueuedRunCoordinator", path
        runs = config["concurrency"]["runs"]
        assert runs["max_concurrent_runs"] > 0
        assert runs["tag_concurrency_limits"] == [
            {"key": SERIAL_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
        ]
    # The PostgreSQL template opens in the fixture's deployment (it needs a server).
    (tmp_path / "dagster.yaml").write_text(TEMPLATE.read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as opened:
        queue = opened.get_concurrency_config().run_queue_config
        assert queue is not None
        assert queue.max_concurrent_runs == 10
        assert queue.tag_concurrency_limits == runs["tag_concurrency_limits"]
        assert "QUEUED_RUN_COORDINATOR" in opened.get_required_daemon_types()


def test_jobs_rewriting_gold_tables_share_a_serial_tag() -> None:
    by_name = {job.name: job for job in defs.jobs}
    assert by_name["cd_daily_update_job"].run_tags[SERIAL_TAG] == "cd_gold"
    assert by_name["cd_daily_update_turso_job"].run_tags[SERIAL_TAG] == "cd_gold"
    assert by_name["nps_history_job"].run_tags[SERIAL_TAG] == "nps_gold"
    # The month-end history writes only its own monthly partitions: its chunks run side by side.
    assert SERIAL_TAG not in cd_history_job.tags
    assert {job.name for job in cd_jobs} >= {cd_daily_update_job.name, cd_history_job.name}


def test_unpartitioned_tables_take_turns_in_their_jobs_pool() -> None:
    """A run launched by asset selection carries no job tag: the steps that rewrite a whole
    unpartitioned table are in a concurrency pool named like the serial tag of their jobs."""
    graph = defs.resolve_asset_graph()
    expected = {"CD": "cd_gold", "NPS": "nps_gold"}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        name = key.to_user_string()
        if node.group_name not in ("CD", "NPS", "DS") or node.partitions_def is not None:
            continue
        pool = defs.resolve_assets_def(key).op.pool
        want = expected.get(node.group_name or "", f"{name.split('_')[0]}_logos")
        assert pool == want, (name, pool)
    for job in defs.jobs:
        resolved = defs.resolve_job_def(job.name)
        pools = {node.pool for node in resolved.graph.node_defs if node.pool}
        if SERIAL_TAG in resolved.tags:
            assert pools <= {resolved.tags[SERIAL_TAG]}, (job.name, pools)
    config = yaml.safe_load(TEMPLATE.read_text())
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}


def test_instance_command_applies_max_concurrent_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dag import instance as instance_command

    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DAG_MAX_CONCURRENT_RUNS", "3")
    instance_command.main([])
    written = yaml.safe_load((tmp_path / "home" / "dagster.yaml").read_text())
    expected = yaml.safe_load(TEMPLATE.read_text())
    expected["concurrency"]["runs"]["max_concurrent_runs"] = 3
    assert written == expected  # that value only
    monkeypatch.setenv("DAG_MAX_CONCURRENT_RUNS", "many")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "other"))
    with pytest.raises(ValueError, match="DAG_MAX_CONCURRENT_RUNS='many'"):
        instance_command.main([])


@pytest.mark.scale_out
def test_two_cd_daily_runs_queued_at_once_run_one_after_the_other(
    deployment: Deployment, instance: dg.DagsterInstance, daemon: None
) -> None:
    ops = deployment.ops
    partitions = {str(uuid.uuid4()): day for day in ("2025-11-05|KOSPI", "2025-11-06|KOSPI")}
    started = []
    for run_id, day in partitions.items():
        tags = json.dumps({"dagster/partition": day})
        args = ["dagster", "job", "launch", "-j", "cd_daily_update_job", "--run-id", run_id]
        started.append(ops.start(*args, "--tags", tags, *CONFIG))
    for process, log in started:
        ops.finish(process, log)
    runs = wait_for_runs(instance, list(partitions))
    for run in runs:
        assert_success(instance, run)
        assert run.tags[SERIAL_TAG] == "cd_gold"
        enqueued = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_ENQUEUED)
        assert len(enqueued) == 1, "the run did not go through the queue"
    records = sorted(
        (instance.get_run_record_by_id(run.run_id) for run in runs),
        key=lambda record: record.start_time if record and record.start_time else math.inf,
    )
    first, second = records
    assert first is not None and second is not None
    assert first.start_time and first.end_time and second.start_time and second.end_time
    # Never overlapping: the second run started only after the first had ended.
    assert first.end_time <= second.start_time, (first.end_time, second.start_time)
    for run_id, day in partitions.items():
        assert day in instance.get_materialized_partitions(dg.AssetKey("cd_prices")), run_id
    assert pl.read_delta(str(ops.lake / "cd_security")).height > 0


def step_spans(instance: dg.DagsterInstance, run_id: str, step: str) -> tuple[float, float]:
    events = instance.all_logs(run_id)
    times = {
        e.dagster_event_type: e.timestamp
        for e in events
        if e.is_dagster_event and e.step_key == step
        and e.dagster_event_type
        in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS)
    }
    return times[dg.DagsterEventType.STEP_START], times[dg.DagsterEventType.STEP_SUCCESS]


@pytest.mark.scale_out
def test_two_cd_asset_selection_runs_at_once_take_turns_on_gold_tables(
    deployment: Deployment, instance: dg.DagsterInstance
) -> None:
    """Two `dagster asset materialize` processes for different days (no job, no run tag, no
    queue): the cd_gold steps of one wait for the other's, and both runs succeed."""
    ops = deployment.ops
    selection = "group:CD and not tag:target=turso and not key:cd_historical_*"
    before = {r.run_id for r in instance.get_runs()}
    started = [
        ops.start(
            "dagster", "asset", "materialize", "-m", "dag.definitions", "--select", selection,
            "--partition", day, *CONFIG,
        )
        for day in ("2025-11-10|KOSPI", "2025-11-11|KOSPI")
    ]
    for process, log in started:
        ops.finish(process, log)
    runs = [r for r in instance.get_runs() if r.run_id not in before]
    assert len(runs) == 2 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
    assert all(SERIAL_TAG not in r.tags for r in runs)
    for step in ("cd_security", "cd_security_ranks", "cd_security_postgres"):
        first, second = sorted(step_spans(instance, r.run_id, step) for r in runs)
        assert first[1] <= second[0], (step, first, second)  # never at the same time
    for day in ("2025-11-10|KOSPI", "2025-11-11|KOSPI"):
        assert day in instance.get_materialized_partitions(dg.AssetKey("cd_prices"))


# --------------------------------------------------------------------------- chunked backfills


def test_history_backfill_policy_reads_its_chunk_size_from_the_environment() -> None:
    policy = cd_history_common.history_backfill_policy
    assert policy({}).max_partitions_per_run == 12
    assert policy({"DAG_BACKFILL_MAX_PARTITIONS_PER_RUN": "5"}).max_partitions_per_run == 5
    assert policy({"DAG_BACKFILL_MAX_PARTITIONS_PER_RUN": "5"}).policy_type.value == "MULTI_RUN"
    for bad in ("0", "-3", "twelve"):
        with pytest.raises(ValueError, match="DAG_BACKFILL_MAX_PARTITIONS_PER_RUN"):
            policy({"DAG_BACKFILL_MAX_PARTITIONS_PER_RUN": bad})
    graph = defs.resolve_asset_graph()
    expected = policy(os.environ)
    for name in HISTORY_ASSETS:
        assert graph.get(dg.AssetKey(name)).backfill_policy == expected, name
    # The daily assets stay single-run: a 30-day range is one run (tests/operating/test_cli.py).
    daily = graph.get(dg.AssetKey("cd_prices")).backfill_policy
    assert daily == dg.BackfillPolicy.single_run()


def read_history(ops: Operating, asset: str) -> pl.DataFrame:
    files = sorted((ops.data / "lake" / "parquet" / asset).glob("history_month=*/*.parquet"))
    assert files, f"{asset}: no history written"
    frame = pl.read_parquet(files, hive_partitioning=True)
    return frame.sort(frame.columns)


def launch_history_backfill(instance: dg.DagsterInstance) -> str:
    """A backfill of the month-end history over HISTORY_MONTHS, as the UI's backfill dialog
    asks for one: stored in the instance for the daemon."""
    with warnings.catch_warnings():
        # Raised inside Dagster's own from_asset_partitions (its call of AssetSelection.sources).
        warnings.filterwarnings(
            "ignore", message=r"Function `AssetSelection.sources`", category=DeprecationWarning
        )
        backfill = make_history_backfill(instance)
    instance.add_backfill(backfill)
    return backfill.backfill_id


def make_history_backfill(
    instance: dg.DagsterInstance,
    months: list[str] = HISTORY_MONTHS,
    run_config: dict[str, Any] = RUN_CONFIG,
) -> PartitionBackfill:
    """The backfill the UI's dialog stores for the month-end history over `months` (also used by
    benchmarks/scripts/scale_out.py)."""
    return PartitionBackfill.from_asset_partitions(
        backfill_id=uuid.uuid4().hex[:8],
        asset_graph=defs.resolve_asset_graph(),
        partition_names=months,
        asset_selection=[dg.AssetKey(name) for name in HISTORY_ASSETS],
        backfill_timestamp=time.time(),
        tags={},
        dynamic_partitions_store=instance,
        all_partitions=False,
        title="history backfill",
        description=None,
        run_config=run_config,
    )


@pytest.mark.scale_out
def test_history_backfill_over_30_months_runs_in_chunks(
    deployment: Deployment, instance: dg.DagsterInstance, daemon: None
) -> None:
    ops = deployment.ops
    assert len(HISTORY_MONTHS) == 30
    backfill_id = launch_history_backfill(instance)
    expected_runs = math.ceil(len(HISTORY_MONTHS) / CHUNK_MONTHS)
    deadline = time.monotonic() + BACKFILL_DEADLINE_SEC
    by_backfill = dg.RunsFilter(tags={"dagster/backfill": backfill_id})
    while time.monotonic() < deadline:
        runs = instance.get_runs(filters=by_backfill)
        if len(runs) >= expected_runs and all(run.is_finished for run in runs):
            break
        backfill = instance.get_backfill(backfill_id)
        assert backfill is not None and backfill.status in (
            BulkActionStatus.REQUESTED, BulkActionStatus.COMPLETED_SUCCESS
        ), (backfill.status if backfill else None, backfill.error if backfill else None)
        time.sleep(1.0)
    else:
        pytest.fail(f"backfill {backfill_id}: runs not finished after {BACKFILL_DEADLINE_SEC}s")
    assert len(runs) == expected_runs == 3
    chunks = []
    for run in runs:
        assert_success(instance, run)
        start = run.tags["dagster/asset_partition_range_start"]
        end = run.tags["dagster/asset_partition_range_end"]
        chunks.append(HISTORY_MONTHS[HISTORY_MONTHS.index(start) : HISTORY_MONTHS.index(end) + 1])
        assert {k.to_user_string() for k in run.asset_selection or ()} == set(HISTORY_ASSETS)
    assert sorted(len(chunk) for chunk in chunks) == [CHUNK_MONTHS] * 3
    assert sorted(month for chunk in chunks for month in chunk) == HISTORY_MONTHS
    for name in HISTORY_ASSETS:
        assert set(HISTORY_MONTHS) <= instance.get_materialized_partitions(dg.AssetKey(name))
    before = {name: read_history(ops, name) for name in HISTORY_ASSETS}
    months = before["cd_historical_prices"]["history_month"].cast(pl.String).unique()
    assert months.len() == len(HISTORY_MONTHS)

    # A chunk re-run (as after a failed chunk) replaces exactly its months: the same rows. Run
    # in the CLI's own process (`dagster job execute`), with the backfill's run config.
    first = min(chunks)
    config = ops.home / "history_run_config.yaml"
    config.write_text(yaml.safe_dump(RUN_CONFIG))
    before_rerun = {run.run_id for run in instance.get_runs()}
    ops.run(
        "dagster", "job", "execute", "-m", "dag.definitions", "-j", "cd_history_job",
        "-c", str(config),
        "--tags", json.dumps({
            "dagster/asset_partition_range_start": first[0],
            "dagster/asset_partition_range_end": first[-1],
        }),
    )  # fmt: skip
    (rerun,) = [run for run in instance.get_runs() if run.run_id not in before_rerun]
    assert_success(instance, rerun)
    assert rerun.tags["dagster/asset_partition_range_start"] == first[0]
    for name in HISTORY_ASSETS:
        assert_frame_equal(read_history(ops, name), before[name])


# --------------------------------------------------------------------------- dagster-k8s


# Variables that hold a credential (the Celery URLs may carry a broker password).
CREDENTIAL = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY|CELERY_(BROKER|BACKEND)_URL")
# Set by the chart itself (DAGSTER_HOME: `dagsterHome`; DAGSTER_PG_*: the `postgresql` values and
# its password Secret) or used by the tests only.
NOT_IN_USER_ENV = re.compile(r"^(DAGSTER_HOME|DAGSTER_PG_.*|DAG_MAX_CONCURRENT_RUNS|TEST_.*)$")


def env_example_names() -> list[str]:
    names = re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE.read_text(), flags=re.MULTILINE)
    assert len(names) > 50
    return names


def helm_values() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())


def test_helm_values_run_the_code_location_with_the_k8s_run_launcher() -> None:
    values = helm_values()
    user = values["dagster-user-deployments"]
    assert user["enabled"] is True
    (deployment,) = user["deployments"]
    args = deployment["dagsterApiGrpcArgs"]
    assert args[args.index("-m") + 1] == "dag.definitions"
    assert deployment["port"] == 3030
    assert deployment["includeConfigInLaunchedRuns"] == {"enabled": True}
    assert deployment["image"]["repository"] and deployment["image"]["tag"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    # The instance the chart renders: PostgreSQL, the same queue limits and fail-fast settings.
    postgres = values["postgresql"]
    assert postgres["enabled"] is False  # an existing server: the DAGSTER_PG_* one
    assert postgres["postgresqlPassword"] == ""  # from the Secret, never a value here
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    template = yaml.safe_load(TEMPLATE.read_text())
    runs = values["concurrency"]["runs"]
    assert runs["tagConcurrencyLimits"] == [
        {"key": SERIAL_TAG, "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    ]
    assert runs["maxConcurrentRuns"] == template["concurrency"]["runs"]["max_concurrent_runs"]
    pools = values["concurrency"]["pools"]
    assert (pools["defaultLimit"], pools["granularity"]) == (1, "op")
    daemon = values["dagsterDaemon"]
    assert daemon["enabled"] is True
    assert daemon["runCoordinator"]["type"] == "QueuedRunCoordinator"
    assert daemon["runRetries"]["enabled"] is False
    monitoring = daemon["runMonitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["maxResumeRunAttempts"] == 0
    assert monitoring["maxRuntimeSeconds"] == template["run_monitoring"]["max_runtime_seconds"]


def test_helm_values_take_every_variable_and_credentials_only_from_the_secret() -> None:
    values = helm_values()
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    env = {item["name"]: item for item in deployment["env"]}
    assert len(env) == len(deployment["env"])  # no variable twice
    names = [n for n in env_example_names() if not NOT_IN_USER_ENV.match(n)]
    missing = sorted(set(names) - set(env))
    assert not missing, f"variables of .env.example missing from deploy/helm/values.yaml: {missing}"
    for name, item in env.items():
        if CREDENTIAL.search(name):
            assert "value" not in item, f"{name}: a credential with a value"
            ref = item["valueFrom"]["secretKeyRef"]
            assert (ref["name"], ref["key"]) == (K8S_CREDENTIALS_OBJECT, name), name
        else:
            assert set(item) == {"name", "value"}, name
            assert isinstance(item["value"], str), name
    credentials = [n for n in names if CREDENTIAL.search(n)]
    assert len(credentials) >= 10, credentials
    readme = (DEPLOY / "README.md").read_text()
    assert K8S_CREDENTIALS_OBJECT in readme and "dagster-daemon" in readme
