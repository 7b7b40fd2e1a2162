"""The README's section-14 one-liners (updated for Dagster 1.13) run and print sensible results."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_one_liners() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = text.split("<!-- one-liners:start -->")[1].split("<!-- one-liners:end -->")[0]
    return [line for line in block.splitlines() if line.startswith("python -c ")]


def run_one_liner(command: str, env: dict[str, str]) -> str:
    code = command.removeprefix("python -c ").strip()
    assert code[0] == code[-1] == '"', f"one-liner is not a double-quoted python -c: {command}"
    result = subprocess.run(
        [sys.executable, "-c", code[1:-1]], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert result.returncode == 0, f"{command}\n{result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[int, str]:
    env = {**os.environ, "DAG_DATA_DIR": str(tmp_path_factory.mktemp("data"))}
    commands = readme_one_liners()
    assert len(commands) == 5
    # Each one-liner is a process importing the code location (seconds): run them side by side.
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        return dict(enumerate(pool.map(lambda cmd: run_one_liner(cmd, env), commands)))


def test_total_assets(outputs: dict[int, str]) -> None:
    from dag.definitions import defs

    assert outputs[0].strip() == f"Total assets: {len(defs.assets)}"
    assert len(defs.assets) > 0


def test_nps_group_resolution(outputs: dict[int, str]) -> None:
    lines = outputs[1].strip().splitlines()
    keys, count = lines[:-1], int(lines[-1])
    assert count == len(keys) > 0
    assert all(re.fullmatch(r"AssetKey\(\['nps_\w+'\]\)", key) for key in keys), keys
    assert "AssetKey(['nps_his_digest'])" in keys


def test_jobs_listing(outputs: dict[int, str]) -> None:
    from dag.definitions import defs

    lines = outputs[2].strip().splitlines()
    assert lines == [f"{job.name}: {job.description}" for job in defs.jobs]
    assert any(line.startswith("nps_history_job: ") for line in lines)


def test_nps_history_job_selection_equals_the_nps_group(outputs: dict[int, str]) -> None:
    assert sorted(outputs[3].strip().splitlines()) == sorted(outputs[1].strip().splitlines()[:-1])


def test_asset_check_count(outputs: dict[int, str]) -> None:
    from dag.definitions import defs

    assert outputs[4].strip() == f"Asset checks: {len(defs.asset_checks)}"
    assert len(defs.asset_checks) >= len(defs.assets)


def test_dagster_definitions_validate(tmp_path: Path) -> None:
    """`dagster definitions validate` (from the repository root) accepts the code location."""
    env = {**os.environ, "DAG_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Validation successful for code location dag." in output
