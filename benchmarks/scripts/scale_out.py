"""Issue 19's scale-out benchmarks, measured on this machine and printed as a table (reported,
never gated: the figures depend on the cores and on whatever else runs).

Usage, from the repository root:
`.venv/bin/python benchmarks/scripts/scale_out.py [--only celery|history|s3] [--json OUT]`
(also `--repeat N`, `--months N`, `--rows N`; the defaults are the figures of docs/scale-out.md)

What each side does (every service is a throwaway subprocess on loopback, stopped afterwards;
the PostgreSQL server is `pgserver`, or TEST_POSTGRES_URL when set):

1. celery: the CD daily assets over the 30-day range of tests/operating/test_celery.py
   (`dagster asset materialize --select <CD daily> --partition-range 2025-10-01|KOSPI...
   2025-10-30|KOSPI`, KRX sample scale 0.02), one run each side, each into its own SQLite
   instance, data dir and PostgreSQL databases, the lake emptied before every timed run.
   - in-process: `{"execution": {"config": {"in_process": {}}}}`; the CLI process runs the steps.
   - celery: `{"execution": {"config": {"celery": {}}}}`; the CLI process orchestrates and three
     `dagster-celery` workers (one pool process each) on a `redis-server` (broker db 0, backend
     db 1) run the steps. The workers are started, answer a ping, and have run one untimed
     warm-up run of the first day (each worker imports the code location with its first step)
     before any timing; the in-process side gets the same untimed warm-up run.
   Timed: the wall seconds of the `dagster asset materialize` process (its own start-up and code
   location load included, the same on both sides). Ratio = celery / in-process.
2. history: the CD month-end history assets (cd_historical_*) over N months (default 36, from
   2022-07) at KRX sample scale 0.02, on one PostgreSQL instance (`python -m dag.instance
   --postgres`, DAG_MAX_CONCURRENT_RUNS=3, DAG_BACKFILL_MAX_PARTITIONS_PER_RUN=12) with a
   `dagster-daemon run` started (run queue heartbeat seen) before any timing.
   - single run: `dagster job launch -j cd_history_job` with the range tags over all N months:
     one queued run, dequeued by the daemon, executed in-process in one run worker.
   - chunked: a backfill of the same assets and months stored in the instance, as the UI's
     backfill dialog does; the daemon splits it into ceil(N/12) runs (BackfillPolicy.multi_run)
     and runs up to 3 at once.
   Timed: from the run (single) or the backfill (chunked) being stored in the instance to the
   end time the instance records for its last run: the queue, run-worker start-ups and code
   location loads are on both sides; the CLI's own start-up before it stores the run is not.
   Ratio = chunked / single.
3. s3: one Delta partition of R rows (default 1,000,000; date, ticker, exchange, open, close,
   volume, change_rate, value: benchkit.data.lake_frame), written into a new table each time.
   - DeltaIOManager (dag_io), `handle_output` with a prebuilt output context (as
     benchmarks/test_bench_io_managers.py), to `moto_server` (S3 on loopback, conditional-put
     commits as in production) and to the local disk (a temp dir on the same disk as the repo).
   - floor: `deltalake.write_deltalake` of the same Arrow table, partitioned by date, to both.
   Timed: median of 5 interleaved writes each. Ratio = S3 / local.

Sides are interleaved (A, B, A, B, ...) and repeated --repeat times (medians reported), so drift
in the machine's load falls on both. The load average is printed before and after every part.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
BENCH_DIR = REPO_ROOT / "benchmarks"
for entry in (str(REPO_ROOT), str(BENCH_DIR)):  # dag, dag_io, tests.* and benchkit by import
    if entry not in sys.path:
        sys.path.insert(0, entry)

BIN = Path(sys.executable).parent
SAMPLE = {"krx_source": {"config": {"sample_scale": 0.02}}}
WORKERS = 3
WARM_UP_DAY = "2025-10-01|KOSPI"
HISTORY_START = "2022-07-01"
CHUNK_MONTHS = 12
MAX_CONCURRENT_RUNS = 3
S3_REPEATS = 5
RUN_TIMEOUT_SEC = 1800.0
MOTO_START_SEC = 30.0


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def median_of(values: list[float]) -> float:
    return statistics.median(values)


# --------------------------------------------------------------------------- PostgreSQL


@contextmanager
def postgres_server() -> Iterator[tuple[str, Any]]:
    """TEST_POSTGRES_URL, else a throwaway pgserver (as tests/conftest.py): (url, resource)."""
    from tests.conftest import postgres_resource_from_url

    given = os.environ.get("TEST_POSTGRES_URL")
    if given:
        yield given, postgres_resource_from_url(given)
        return
    import pgserver

    # A fresh mkdtemp dir: as root, pgserver runs postgres as its own user (tests/conftest.py).
    server = pgserver.get_server(
        Path(tempfile.mkdtemp(prefix="dag-bench-pg-")), cleanup_mode="delete"
    )
    try:
        url = server.get_uri()
        yield url, postgres_resource_from_url(url)
    finally:
        server.cleanup()


# --------------------------------------------------------------------------- 1. Celery


def run_cli(ops: Any, args: list[str]) -> float:
    """Wall seconds of one CLI process (a non-zero exit raises with the output's tail)."""
    started = time.perf_counter()
    ops.run(*args, timeout=RUN_TIMEOUT_SEC)
    return time.perf_counter() - started


def bench_celery(repeat: int) -> dict[str, Any]:
    from dag.executors import CELERY_BACKEND_ENV, CELERY_BROKER_ENV, write_worker_config
    from tests.operating import test_celery as tc
    from tests.operating.conftest import (
        make_operating,
        postgres_env,
        stop_group,
        throwaway_databases,
    )

    celery_config = {"execution": {"config": {"celery": {}}}, "resources": SAMPLE}
    in_process_config = {"execution": {"config": {"in_process": {}}}, "resources": SAMPLE}

    def args(config: dict[str, Any], partitions: list[str]) -> list[str]:
        return [
            "dagster", "asset", "materialize", "-m", "dag.definitions", "--select", tc.CD_DAILY,
            *partitions, "--config-json", json.dumps(config),
        ]  # fmt: skip

    full = ["--partition-range", tc.CD_RANGE]
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-celery-")))
        redis_url = stack.enter_context(redis_server(root / "redis"))
        url, server = stack.enter_context(postgres_server())
        env = {
            CELERY_BROKER_ENV: f"{redis_url}/0",
            CELERY_BACKEND_ENV: f"{redis_url}/1",
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # `celery` for the workers
        }
        celery_dbs = stack.enter_context(throwaway_databases(url, "bcel"))
        local_dbs = stack.enter_context(throwaway_databases(url, "bloc"))
        celery_ops = make_operating(root / "celery", {**postgres_env(server, celery_dbs), **env})
        local_ops = make_operating(root / "in_process", postgres_env(server, local_dbs))
        config = write_worker_config(celery_ops.home / "celery-worker.yaml")
        # The instance's storage once, before three workers would race on its schema migration.
        tc.open_instance(celery_ops).dispose()
        tc.open_instance(local_ops).dispose()
        workers: list[subprocess.Popen] = []
        logs: list[Path] = []
        for i in range(WORKERS):
            process, worker_log = tc.start_worker(celery_ops, config, f"bench{i}")
            workers.append(process)
            logs.append(worker_log)
            stack.callback(lambda p=process: p.poll() is None and stop_group(p))
        app = tc.celery_app(f"{redis_url}/0", f"{redis_url}/1")
        cluster = tc.Cluster(celery_ops, workers, logs, app)
        cluster.wait_until_ready()
        log(f"celery: {WORKERS} workers answer; warm-up runs of {WARM_UP_DAY} (untimed)")
        run_cli(celery_ops, args(celery_config, ["--partition", WARM_UP_DAY]))
        run_cli(local_ops, args(in_process_config, ["--partition", WARM_UP_DAY]))
        warmed = sum(1 for path in logs if "execute_plan[" in path.read_text())
        log(f"celery: {warmed}/{WORKERS} workers took a step in the warm-up; load {load()}")
        times: dict[str, list[float]] = {"in_process": [], "celery": []}
        for i in range(repeat):
            for side, ops, run_config in (
                ("in_process", local_ops, in_process_config),
                ("celery", celery_ops, celery_config),
            ):
                shutil.rmtree(ops.lake, ignore_errors=True)
                seconds = run_cli(ops, args(run_config, full))
                times[side].append(seconds)
                log(f"celery #{i + 1} {side}: {seconds:.1f}s (load {load()})")
        warmed = sum(1 for path in logs if "execute_plan[" in path.read_text())
    in_process, celery = median_of(times["in_process"]), median_of(times["celery"])
    return {
        "case": f"30-partition CD range ({tc.CD_RANGE}), sample 0.02",
        "a": ("in-process", in_process),
        "b": (f"celery, {WORKERS} workers", celery),
        "ratio": celery / in_process,
        "runs": times,
        "workers_that_ran_steps": warmed,
    }


@contextmanager
def redis_server(workdir: Path) -> Iterator[str]:
    """A throwaway `redis-server` on a free loopback port, no persistence (as test_celery.py)."""
    import redis

    from tests.operating.conftest import free_port, stop_group

    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is missing (Debian package redis-server)")
    workdir.mkdir(parents=True)
    port = free_port()
    with (workdir / "redis.log").open("wb") as out:
        process = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--dir", str(workdir),
             "--save", "", "--appendonly", "no"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    url = f"redis://127.0.0.1:{port}"
    try:
        client = redis.Redis.from_url(f"{url}/0", socket_timeout=1.0, socket_connect_timeout=1.0)
        deadline = time.monotonic() + 20.0
        while True:  # until it listens (bounded by the deadline; not a retry of work)
            if process.poll() is not None:
                raise RuntimeError(f"redis-server exited {process.returncode}")
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.2)
        client.close()
        yield url
    finally:
        stop_group(process)


# --------------------------------------------------------------------------- 2. history


def history_backfill(instance: Any, months: list[str], run_config: dict[str, Any]) -> str:
    """The backfill the UI's dialog stores (as tests/operating/test_scale_out.py, N months)."""
    import warnings

    from tests.operating.test_scale_out import make_history_backfill

    with warnings.catch_warnings():
        # Raised inside Dagster's own from_asset_partitions (AssetSelection.sources).
        warnings.filterwarnings("ignore", message=r"Function `AssetSelection.sources`")
        backfill = make_history_backfill(instance, months, run_config)
    instance.add_backfill(backfill)
    return backfill.backfill_id


def wait_finished(instance: Any, runs_of: Callable[[], list[Any]], expected: int) -> list[Any]:
    """Poll until `expected` runs exist and all have finished; every one must have succeeded."""
    import dagster as dg

    deadline = time.monotonic() + RUN_TIMEOUT_SEC
    while True:
        runs = runs_of()
        if len(runs) >= expected and all(run.is_finished for run in runs):
            break
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs not finished after {RUN_TIMEOUT_SEC}s: {runs}")
        time.sleep(0.5)
    failed = [run.run_id for run in runs if run.status != dg.DagsterRunStatus.SUCCESS]
    if failed:
        raise RuntimeError(f"runs failed: {failed}")
    return runs


def last_end(instance: Any, runs: list[Any]) -> float:
    records = [instance.get_run_record_by_id(run.run_id) for run in runs]
    return max(record.end_time for record in records)


def spans(instance: Any, runs: list[Any], since: float) -> list[tuple[float, float]]:
    """(start, end) of each run in seconds after `since`, by start: where the time went."""
    records = [instance.get_run_record_by_id(run.run_id) for run in runs]
    return sorted((r.start_time - since, r.end_time - since) for r in records)


def bench_history(repeat: int, months_count: int) -> dict[str, Any]:
    import dagster as dg

    from dag.partitions import cd_monthly_history_partition
    from tests.operating.conftest import make_operating, running_daemon
    from tests.operating.test_scale_out import UnixSocketRelay

    run_config = {"execution": {"config": {"in_process": {}}}, "resources": SAMPLE}
    all_months = cd_monthly_history_partition.get_partition_keys()
    months = all_months[all_months.index(HISTORY_START) :][:months_count]
    if len(months) != months_count:
        raise ValueError(f"only {len(months)} months from {HISTORY_START}")
    chunks = math.ceil(months_count / CHUNK_MONTHS)
    with ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-history-")))
        url, server = stack.enter_context(postgres_server())
        from tests.operating.conftest import postgres_env, throwaway_databases

        created = stack.enter_context(
            throwaway_databases(url, "bhist", ("dagster", "nps", "cd", "ds", "is"))
        )
        dbs = {project: name for project, name in created.items() if project != "dagster"}
        # dagster-postgres connects to host:port; pgserver listens on a Unix socket only.
        relay = None
        if server.host.startswith("/"):
            relay = UnixSocketRelay(f"{server.host}/.s.PGSQL.{server.port}")
            stack.callback(relay.close)
        pg_env = {
            "DAGSTER_PG_USERNAME": server.user,
            "DAGSTER_PG_PASSWORD": server.password,
            "DAGSTER_PG_HOST": "127.0.0.1" if relay else server.host,
            "DAGSTER_PG_PORT": str(relay.port if relay else server.port),
            "DAGSTER_PG_DB": created["dagster"],
        }
        ops = make_operating(
            root,
            {
                **postgres_env(server, dbs),
                **pg_env,
                "DAG_BACKFILL_MAX_PARTITIONS_PER_RUN": str(CHUNK_MONTHS),
                "DAG_MAX_CONCURRENT_RUNS": str(MAX_CONCURRENT_RUNS),
            },
        )
        (ops.home / "dagster.yaml").unlink()  # make_operating's SQLite copy
        ops.run("python", "-m", "dag.instance", "--postgres")
        os.environ.update(pg_env)  # this process opens the instance too
        # The backfill's asset graph, built here, carries the chunk size from the environment.
        os.environ["DAG_BACKFILL_MAX_PARTITIONS_PER_RUN"] = str(CHUNK_MONTHS)
        instance = stack.enter_context(dg.DagsterInstance.from_config(str(ops.home)))
        stack.enter_context(running_daemon(ops.env, ops.home / "daemon.log"))
        log(f"history: daemon up, {months_count} months, load {load()}")
        times: dict[str, list[float]] = {"single": [], "chunked": []}
        tags_range = {
            "dagster/asset_partition_range_start": months[0],
            "dagster/asset_partition_range_end": months[-1],
        }
        for i in range(repeat):
            run_id = str(uuid.uuid4())
            ops.run(
                "dagster", "job", "launch", "-j", "cd_history_job", "--run-id", run_id,
                "--tags", json.dumps(tags_range), "--config-json", json.dumps(run_config),
            )  # fmt: skip
            runs = wait_finished(instance, lambda r=run_id: [instance.get_run_by_id(r)], 1)
            record = instance.get_run_record_by_id(run_id)
            seconds = last_end(instance, runs) - record.create_timestamp.timestamp()
            times["single"].append(seconds)
            created = record.create_timestamp.timestamp()
            timeline = ", ".join(f"{a:.0f}-{b:.0f}s" for a, b in spans(instance, runs, created))
            log(f"history #{i + 1} single run: {seconds:.1f}s, run {timeline} (load {load()})")

            submitted = time.time()
            backfill_id = history_backfill(instance, months, run_config)
            by_backfill = dg.RunsFilter(tags={"dagster/backfill": backfill_id})
            runs = wait_finished(
                instance, lambda f=by_backfill: list(instance.get_runs(filters=f)), chunks
            )
            if len(runs) != chunks:
                raise RuntimeError(f"expected {chunks} runs, got {len(runs)}")
            seconds = last_end(instance, runs) - submitted
            times["chunked"].append(seconds)
            timeline = ", ".join(f"{a:.0f}-{b:.0f}s" for a, b in spans(instance, runs, submitted))
            log(f"history #{i + 1} chunked: {seconds:.1f}s, runs {timeline} (load {load()})")
    single, chunked = median_of(times["single"]), median_of(times["chunked"])
    return {
        "case": f"CD month-end history, {months_count} months ({months[0]}..{months[-1]}), "
        "sample 0.02",
        "a": ("single run", single),
        "b": (f"chunked: {chunks} runs of {CHUNK_MONTHS}, {MAX_CONCURRENT_RUNS} at once", chunked),
        "ratio": chunked / single,
        "runs": times,
    }


# --------------------------------------------------------------------------- 3. S3 vs local


@contextmanager
def moto_server(workdir: Path) -> Iterator[str]:
    """moto's S3 server as a loopback subprocess (as tests/conftest.py's `s3_endpoint`): not
    moto's in-process server, on which deltalake's blocking calls deadlock (delta-rs#3942)."""
    from tests.operating.conftest import free_port

    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOTO_RECORDER_FILEPATH": str(workdir / "recording")},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + MOTO_START_SEC
        while True:  # until it listens (bounded by the deadline; not a retry of work)
            try:
                urllib.request.urlopen(f"{url}/moto-api/", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError(f"moto_server did not start on {url}") from None
                time.sleep(0.1)
        yield url
    finally:
        process.kill()
        process.wait()


def bench_s3(rows: int) -> dict[str, Any]:
    import boto3
    import polars as pl
    from benchkit import lake
    from benchkit.data import lake_frame
    from deltalake import write_deltalake

    from dag_io import DeltaIOManager
    from dag_io.storage import delta_storage_options

    with tempfile.TemporaryDirectory(prefix="bench-s3-") as tmp:
        workdir = Path(tmp)
        with moto_server(workdir) as endpoint:
            os.environ.update({
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_REGION": "us-east-1",
                "AWS_ENDPOINT_URL": endpoint,
            })  # fmt: skip
            bucket = f"bench-{uuid.uuid4().hex[:10]}"
            boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(
                Bucket=bucket
            )
            frame = lake_frame(rows)
            arrow = frame.to_arrow()
            counter = iter(range(10_000))
            s3_roots: list[str] = []

            def root(where: str) -> str:
                name = f"run-{next(counter)}"
                if where == "s3":
                    s3_roots.append(f"s3://{bucket}/{name}")
                    return s3_roots[-1]
                return str(workdir / "local" / name)

            def ours(where: str) -> Callable[[], None]:
                manager = DeltaIOManager(root_uri=root(where))
                context = lake.output_context()  # built outside the timed call
                return lambda: manager.handle_output(context, frame.lazy())

            def floor(where: str) -> Callable[[], None]:
                uri = f"{root(where)}/bench_lake"
                options = delta_storage_options(uri, {})
                return lambda: write_deltalake(
                    uri, arrow, partition_by=["date"], mode="overwrite", storage_options=options
                )

            cases = {
                ("DeltaIOManager", "local"): lambda: ours("local"),
                ("DeltaIOManager", "s3"): lambda: ours("s3"),
                ("write_deltalake", "local"): lambda: floor("local"),
                ("write_deltalake", "s3"): lambda: floor("s3"),
            }
            ours("local")()  # warm-up (imports, first-call set-up), untimed
            times: dict[tuple[str, str], list[float]] = {case: [] for case in cases}
            for i in range(S3_REPEATS):
                for case, make in cases.items():
                    write = make()
                    started = time.perf_counter()
                    write()
                    times[case].append(time.perf_counter() - started)
                log(
                    f"s3 #{i + 1}: "
                    + ", ".join(f"{k[0]} {k[1]} {v[-1]:.2f}s" for k, v in times.items())
                    + f" (load {load()})"
                )
            # Every S3 write landed: each table holds the partition's rows.
            written = {
                pl.scan_delta(
                    f"{uri}/bench_lake",
                    storage_options=delta_storage_options(uri, {}),
                )
                .select(pl.len())
                .collect()
                .item()
                for uri in s3_roots
            }
            if written != {rows}:
                raise RuntimeError(f"S3 tables hold {written} rows, not {rows}")
    medians = {f"{k[0]} {k[1]}": median_of(v) for k, v in times.items()}
    return {
        "case": f"one Delta partition, {rows:,} rows x {frame.width} columns",
        "medians": medians,
        "ratio_ours": medians["DeltaIOManager s3"] / medians["DeltaIOManager local"],
        "ratio_floor": medians["write_deltalake s3"] / medians["write_deltalake local"],
        "runs": {f"{k[0]} {k[1]}": v for k, v in times.items()},
    }


# --------------------------------------------------------------------------- table


def table(results: dict[str, dict[str, Any]], repeat: int) -> str:
    lines = [
        "| Benchmark | A | A (s) | B | B (s) | B / A |",
        "| --- | --- | ---: | --- | ---: | ---: |",
    ]
    for name in ("celery", "history"):
        if name in results:
            r = results[name]
            case = r["case"].replace("|", "\\|")  # the CD partition keys hold a pipe
            lines.append(
                f"| {case} (median of {repeat}) | {r['a'][0]} | {r['a'][1]:.1f} | "
                f"{r['b'][0]} | {r['b'][1]:.1f} | {r['ratio']:.2f} |"
            )
    if "s3" in results:
        r = results["s3"]
        m = r["medians"]
        pairs = (("DeltaIOManager", r["ratio_ours"]), ("write_deltalake", r["ratio_floor"]))
        for who, ratio in pairs:
            lines.append(
                f"| {r['case']}, {who} (median of {S3_REPEATS}) | local disk | "
                f"{m[f'{who} local']:.2f} | moto S3 (loopback) | {m[f'{who} s3']:.2f} | "
                f"{ratio:.2f} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("celery", "history", "s3"))
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    parser.add_argument("--repeat", type=int, default=3, help="repeats (celery, history)")
    parser.add_argument("--months", type=int, default=36, help="history months")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the Delta partition")
    args = parser.parse_args(argv)
    os.chdir(REPO_ROOT)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    parts: dict[str, Callable[[], dict[str, Any]]] = {
        "s3": lambda: bench_s3(args.rows),
        "celery": lambda: bench_celery(args.repeat),
        "history": lambda: bench_history(args.repeat, args.months),
    }
    results: dict[str, dict[str, Any]] = {}
    loads: dict[str, tuple[str, str]] = {}
    for name, run in parts.items():
        if args.only and name != args.only:
            continue
        before = load()
        log(f"{name}: start, load average {before}")
        results[name] = run()
        loads[name] = (before, load())
        log(f"{name}: done, load average {loads[name][1]}")
    print()
    print(table(results, args.repeat))
    print()
    for name, (before, after) in loads.items():
        print(f"load average (1/5/15 min) {name}: before {before}, after {after}")
    print(f"cores: {os.cpu_count()}")
    if args.json:
        args.json.write_text(json.dumps({"results": results, "load": loads}, indent=2, default=str))


if __name__ == "__main__":
    main()
