"""Benchmark suite plumbing: modes, shared inputs, a PostgreSQL server, recording, gates.

Run: `BENCH_MODE=quick pytest benchmarks --benchmark-only` (quick is the default; `full` uses
the issue's sizes). Every bench test records its case (median/min/max seconds from
pytest-benchmark, rows, and for some cases peak memory) into one `Results`; at session end
every gate in `benchmarks/gates.toml` is evaluated, a table is printed, the results are written
to `.benchmarks/gates-<mode>.json`, and a breached gate makes the run exit non-zero.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH_DIR = Path(__file__).resolve().parent
if str(BENCH_DIR) not in sys.path:
    sys.path.insert(0, str(BENCH_DIR))

from benchkit import gates, modes, peak  # noqa: E402  (needs the sys.path entry above)

RESULTS_KEY = pytest.StashKey[gates.Results]()
OUTCOMES_KEY = pytest.StashKey[list[gates.Outcome]]()
GATES_FILE = BENCH_DIR / "gates.toml"


def results_path(mode: str) -> Path:
    return Path(os.environ.get("BENCH_RESULTS_DIR", BENCH_DIR.parent / ".benchmarks")) / (
        f"gates-{mode}.json"
    )


def pytest_configure(config: pytest.Config) -> None:
    config.stash[RESULTS_KEY] = gates.Results()


@pytest.fixture(scope="session")
def sizes() -> modes.Sizes:
    return modes.current()


@pytest.fixture(scope="session")
def bench_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Session folder of prepared inputs (also read by the peak-memory child processes)."""
    return tmp_path_factory.mktemp("bench-data")


@pytest.fixture(scope="session", autouse=True)
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """DAG_DATA_DIR in a temp folder: raw snapshots and embedded defaults never touch ./data."""
    old = os.environ.get("DAG_DATA_DIR")
    os.environ["DAG_DATA_DIR"] = str(tmp_path_factory.mktemp("dag-data"))
    yield
    if old is None:
        os.environ.pop("DAG_DATA_DIR", None)
    else:
        os.environ["DAG_DATA_DIR"] = old


class Recorder:
    """Records timings, skips, peak memory and facts of this run."""

    def __init__(self, results: gates.Results) -> None:
        self.results = results

    def timing(self, case: str, benchmark: Any, rows: int, note: str = "") -> gates.CaseRecord:
        stats = getattr(benchmark, "stats", None)
        if stats is None:
            raise RuntimeError(f"case {case}: no benchmark statistics (benchmarks disabled?)")
        data = stats.stats
        record = self.results.timing(
            case,
            rows=rows,
            median=float(data.median),
            min=float(data.min),
            max=float(data.max),
            rounds=int(data.rounds),
        )
        record.note = note
        benchmark.extra_info.update({"case": case, "rows": rows})
        return record

    def peak(self, case: str, target: str, args: dict[str, Any]) -> peak.Peak:
        measured = peak.measure(target, args)
        record = self.results.case(case)
        record.peak_rss, record.peak_rss_total = measured.increase, measured.total
        if not measured.reset:
            record.note += " peak RSS not reset (upper bound)"
        return measured

    def skip(self, case: str, reason: str) -> None:
        self.results.skipped(case, reason)

    def fact(self, name: str, value: float) -> None:
        self.results.facts[name] = float(value)


@pytest.fixture(scope="session")
def record(request: pytest.FixtureRequest) -> Recorder:
    return Recorder(request.config.stash[RESULTS_KEY])


@pytest.fixture(scope="session")
def measure_memory(sizes: modes.Sizes) -> bool:
    """Peak memory of every memory-tracked case in full mode; quick mode only for the cases
    whose memory is gated (BENCH_MEMORY=all|gated overrides)."""
    choice = os.environ.get("BENCH_MEMORY", "all" if sizes.mode == "full" else "gated")
    return choice == "all"


@pytest.fixture(scope="session")
def postgres_bench_url() -> Iterator[str]:
    """A fresh database on TEST_POSTGRES_URL's server, else on a pgserver started here (never
    the machine's own server on 5432)."""
    import psycopg

    server = None
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
            import pgserver

            # Not under pytest's 0700 tmp dir: as root, pgserver runs PostgreSQL as an
            # unprivileged user that must reach the data directory.
            pg_root = Path(tempfile.mkdtemp(prefix="bench-pgserver-"))
            pg_root.chmod(0o755)
            server = pgserver.get_server(pg_root / "data", cleanup_mode="stop")
        base = server.get_uri()
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    prefix, _, query = base.partition("?")
    url = prefix.rsplit("/", 1)[0] + "/" + name + (f"?{query}" if query else "")
    yield url
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if server is not None:
        server.cleanup()
        shutil.rmtree(pg_root, ignore_errors=True)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    results = session.config.stash.get(RESULTS_KEY, None)
    if results is None or not results.cases:
        return
    mode = modes.current().mode
    outcomes = gates.evaluate(gates.load_gates(GATES_FILE, mode), results)
    session.config.stash[OUTCOMES_KEY] = outcomes
    path = results_path(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = results.to_json() | {
        "mode": mode,
        "gates": [
            {
                "name": o.gate.name,
                "metric": o.gate.metric,
                "numerator": o.gate.numerator,
                "denominator": o.gate.denominator,
                "max": o.gate.max,
                "min": o.gate.min,
                "reason": o.gate.reason,
                "status": o.status,
                "value": o.value,
                "detail": o.detail,
            }
            for o in outcomes
        ],
    }
    path.write_text(json.dumps(payload, indent=2, default=str))
    if any(o.failed for o in outcomes) and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    outcomes = config.stash.get(OUTCOMES_KEY, None)
    if outcomes is None:
        return
    mode = modes.current().mode
    failed = [o for o in outcomes if o.failed]
    terminalreporter.section(f"performance gates ({mode} mode, {GATES_FILE.name})")
    for line in gates.table(outcomes).splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"results: {results_path(mode)}")
    if failed:
        terminalreporter.write_line(
            f"{len(failed)} gate(s) breached: " + ", ".join(o.gate.name for o in failed),
            red=True,
            bold=True,
        )
