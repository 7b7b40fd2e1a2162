"""Run monitoring (dag/dagster.yaml): a run whose worker is killed does not stay STARTED forever.

Issue #13 item 4. The committed instance template enables Dagster's run monitoring and every
project job carries a `dagster/max_runtime` run tag. The slow test reproduces the failure as an
operator meets it: a run launched with `dagster job launch` (default run launcher: an ephemeral
code server that starts the run worker as its own process) is SIGKILLed with its code server, so
nothing is left to report the run's end. The run stays STARTED until `dagster-daemon run` is
started; its monitoring daemon then fails the run once the run passes its maximum runtime (the
default run launcher cannot probe a worker's health, so the runtime bound is what catches a dead
worker). The instance is the committed template with only the timings shortened.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from dag import instance as instance_command
from dag.conventions import instance_violations
from dag.definitions import defs
from dag.jobs import MAX_RUNTIME_TAG

TEMPLATE = Path(__file__).resolve().parents[2] / "dag" / "dagster.yaml"
BIN = Path(sys.executable).parent
# The test job's own max runtime: long enough for the kill to land while the run is STARTED.
TEST_MAX_RUNTIME_SEC = 20
LAUNCH_TIMEOUT_SEC = 180.0
STARTED_DEADLINE_SEC = 120.0
FAILED_DEADLINE_SEC = 120.0
STOP_TIMEOUT_SEC = 20.0
# Shortened timings and the default run coordinator for the test instance (see `monitored`);
# everything else is the committed template.
TEST_MONITORING = {"poll_interval_seconds": 1, "start_timeout_seconds": 60}
DEFAULT_COORDINATOR = {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}

SLEEPY_LOCATION = '''
import os
import time
from pathlib import Path

import dagster as dg

MARKER = Path({marker!r})


@dg.op
def sleep_long() -> None:
    """Record the run worker's pid, then sleep far longer than the test waits."""
    MARKER.write_text(str(os.getpid()))
    time.sleep(600)


@dg.job(executor_def=dg.in_process_executor, tags={{"{tag}": "{max_runtime}"}})
def sleepy_job() -> None:
    sleep_long()


defs = dg.Definitions(jobs=[sleepy_job])
'''


def template() -> dict:
    return yaml.safe_load(TEMPLATE.read_text())


def test_template_enables_run_monitoring_and_keeps_retries_off() -> None:
    config = template()
    monitoring = config["run_monitoring"]
    assert monitoring["enabled"] is True
    assert monitoring["start_timeout_seconds"] > 0
    assert monitoring["poll_interval_seconds"] > 0
    assert monitoring["max_runtime_seconds"] > 0  # runs without the tag are bounded too
    assert monitoring["max_resume_run_attempts"] == 0  # fail fast: never resume a dead worker
    assert config["run_retries"]["enabled"] is False
    assert instance_violations(TEMPLATE) == []


def test_template_instance_runs_the_monitoring_daemon(tmp_path: Path) -> None:
    (tmp_path / "dagster.yaml").write_text(TEMPLATE.read_text())
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        assert instance.run_monitoring_enabled
        assert "MONITORING" in instance.get_required_daemon_types()
        assert not instance.run_retries_enabled


def test_every_job_bounds_its_runs_with_a_max_runtime_tag() -> None:
    for job in defs.jobs:
        value = job.run_tags.get(MAX_RUNTIME_TAG)
        assert value is not None, f"{job.name}: no {MAX_RUNTIME_TAG} run tag"
        assert 0 < int(value) <= template()["run_monitoring"]["max_runtime_seconds"], job.name


def test_instance_command_notes_a_home_without_run_monitoring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fresh, old = tmp_path / "fresh", tmp_path / "old"
    old.mkdir()
    (old / "dagster.yaml").write_text("run_retries:\n  enabled: false\n")
    monkeypatch.setenv("DAGSTER_HOME", str(fresh))
    instance_command.main()
    out, err = capsys.readouterr()
    assert (out, err) == (f"DAGSTER_HOME={fresh}\n", "")
    assert (fresh / "dagster.yaml").read_text() == TEMPLATE.read_text()
    monkeypatch.setenv("DAGSTER_HOME", str(old))
    instance_command.main()
    out, err = capsys.readouterr()
    assert out == f"DAGSTER_HOME={old}\n"
    assert "does not enable run monitoring" in err
    assert (old / "dagster.yaml").read_text() == "run_retries:\n  enabled: false\n"  # kept


def start(args: list[str], env: dict[str, str], cwd: Path, log: Path) -> subprocess.Popen:
    """A CLI in its own session: it and every process it starts share its process group."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [str(BIN / args[0]), *args[1:]],
            cwd=cwd,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # the group is already gone
        os.killpg(pgid, signal.SIGKILL)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group, SIGKILL it when still there after STOP_TIMEOUT_SEC."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=STOP_TIMEOUT_SEC)
    kill_group(process.pid)
    process.wait(timeout=STOP_TIMEOUT_SEC)


def gone(pid: int) -> bool:
    """The process no longer runs (exited, or a zombie waiting to be reaped)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def wait_for(what: str, condition, deadline_sec: float, log: Path | None = None) -> float:
    """Poll `condition` every 0.5 s; the seconds it took, or fail after `deadline_sec`."""
    began = time.monotonic()
    while time.monotonic() - began < deadline_sec:
        if condition():
            return time.monotonic() - began
        time.sleep(0.5)
    tail = f"\n--- {log.name} (tail)\n{log.read_text()[-4000:]}" if log and log.exists() else ""
    pytest.fail(f"{what}: not after {deadline_sec}s{tail}")


@pytest.fixture
def monitored(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """A DAGSTER_HOME with the committed template (shortened timings) and the CLI environment."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = template()
    config["run_monitoring"].update(TEST_MONITORING)
    # The launch starts its run at once (the template queues it for the daemon, which this test
    # starts only after the kill): the default coordinator, the rest of the template unchanged.
    config["run_coordinator"] = DEFAULT_COORDINATOR
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "DAGSTER_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    yield home, env


@pytest.mark.slow
def test_killed_run_is_marked_failed_by_the_monitoring_daemon(
    tmp_path: Path, monitored: tuple[Path, dict[str, str]]
) -> None:
    home, env = monitored
    marker = tmp_path / "worker.pid"
    location = tmp_path / "sleepy.py"
    location.write_text(
        SLEEPY_LOCATION.format(
            marker=str(marker), tag=MAX_RUNTIME_TAG, max_runtime=TEST_MAX_RUNTIME_SEC
        )
    )
    run_id = str(uuid.uuid4())
    launch_log = tmp_path / "launch.log"
    daemon_log = tmp_path / "daemon.log"
    launcher = start(
        ["dagster", "job", "launch", "-f", str(location), "-j", "sleepy_job", "--run-id", run_id],
        env,
        tmp_path,
        launch_log,
    )
    daemon = None
    killed = False
    with dg.DagsterInstance.from_config(str(home)) as instance:
        try:
            code = launcher.wait(timeout=LAUNCH_TIMEOUT_SEC)
            assert code == 0, f"dagster job launch exited {code}:\n{launch_log.read_text()[-4000:]}"

            def run_status() -> dg.DagsterRunStatus | None:
                run = instance.get_run_by_id(run_id)
                return run.status if run else None

            # The op is sleeping inside the run worker: the code server and worker outlived the CLI.
            wait_for(
                "run STARTED with its op sleeping",
                lambda: marker.exists() and marker.read_text().isdigit(),
                STARTED_DEADLINE_SEC,
                launch_log,
            )
            assert run_status() == dg.DagsterRunStatus.STARTED
            worker = int(marker.read_text())
            assert os.getpgid(worker) == launcher.pid, "run worker outside the CLI's process group"

            # SIGKILL the run worker and its code server: nothing is left to report the run's end.
            kill_group(launcher.pid)
            killed = True
            wait_for(f"run worker {worker} gone after SIGKILL", lambda: gone(worker), 30.0)
            time.sleep(3.0)
            assert run_status() == dg.DagsterRunStatus.STARTED  # the bug, without the daemon

            daemon = start(
                ["dagster-daemon", "run", "-f", str(location)], env, tmp_path, daemon_log
            )

            def failed() -> bool:
                assert daemon.poll() is None, (
                    f"dagster-daemon exited {daemon.returncode}:\n{daemon_log.read_text()[-4000:]}"
                )
                return run_status() == dg.DagsterRunStatus.FAILURE

            wait_for(
                "run FAILURE after the daemon started", failed, FAILED_DEADLINE_SEC, daemon_log
            )
        finally:
            if not killed:  # a failure before the kill: end what the launch left running
                kill_group(launcher.pid)
            if daemon is not None:
                stop(daemon)

        text = "\n".join(record.message for record in instance.all_logs(run_id))
        # The monitoring daemon's messages: the runtime bound, then the forced failure (the
        # termination request cannot reach the killed code server).
        cancel = f"Canceling due to exceeding maximum runtime of {TEST_MAX_RUNTIME_SEC} seconds"
        assert cancel in text, text[-4000:]
        failures = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        assert len(failures) == 1, text[-4000:]
        assert "forcibly marked as failed" in failures[0].message, failures[0].message
