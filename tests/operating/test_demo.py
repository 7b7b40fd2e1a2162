"""The README's main command (`python -m dag.demo`) runs every job and reports what it wrote; after
its single-run ranges, the UI shows partitioned assets' checks as passed.

Both read the one demo run of the session (the `demo` fixture); they share this module so that
`make test`'s pytest-xdist workers (`--dist loadfile`) run the demo once, in one worker.

Dagster records a range run's check result once, without a partition, and the UI then reads every
partition's check as skipped ("0 / 1 Passed" on the graph). The contract checks record one
evaluation per partition instead (`contracts.conclude`); the UI test opens the instance the demo
left in a real browser and reads what a user sees: the asset's checks list and its lineage node.
Screenshots are kept in `artifacts/screenshots/checks-<asset>.png`.
"""

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import DemoRun
from tests.operating.conftest import (
    RENDER_TIMEOUT_MS,
    SCREENSHOTS,
    Webserver,
    serving_webserver,
)

CHECK_SUMMARY = re.compile(r"\d+ / \d+ Passed")
# A partitioned silver asset of each group the demo runs over a range.
ASSETS = {
    "cd_digest_price": "cd_digest_price_contract",
    "nps_his_digest": "nps_his_digest_contract",
}


def test_demo_runs_main_jobs_on_embedded_defaults(demo: DemoRun) -> None:
    out = demo.output
    assert demo.returncode == 0, out[-4000:]
    # Quiet: the demo's own first line comes first (no library warnings before it).
    assert out.startswith(f"DAGSTER_HOME={demo.home}"), out[:2000]
    for job in ("nps_history_job", "cd_daily_update_job", "cd_daily_update_turso_job"):
        assert f"  {job} " in out and "steps succeeded" in out
    assert "All runs succeeded" in out
    # The summary names every store with real row counts.
    for line in ("delta    nps_his_digest", "delta    cd_digest_price", "public.pension",
                 "public.price", "nps_postgres: postgres database 'nps'", f"turso: {demo.data}"):
        assert line in out, line
    assert "not local or empty" not in out
    assert (demo.home / "dagster.yaml").exists()
    assert (demo.data / "postgres").is_dir()
    # Dagster recorded the runs in the instance, so `dagster dev` shows them afterwards.
    assert list(demo.home.rglob("runs.db")) or list(demo.home.rglob("*.db"))


@pytest.fixture(scope="module")
def demo_webserver(demo: DemoRun) -> Iterator[Webserver]:
    assert demo.returncode == 0, demo.output[-3000:]
    env = {
        **os.environ,
        "DAGSTER_HOME": str(demo.home),
        "DAG_DATA_DIR": str(demo.data),
        "PYTHONWARNINGS": "ignore",
    }
    with serving_webserver(env, demo.home / "webserver.log") as server:
        yield server


def _open(browser: Any, url: str, ready: str | re.Pattern[str]) -> Any:
    page = browser.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.get_by_text(ready).first.wait_for(timeout=RENDER_TIMEOUT_MS)
    page.wait_for_load_state("networkidle", timeout=RENDER_TIMEOUT_MS)
    return page


@pytest.mark.slow
@pytest.mark.parametrize("asset", sorted(ASSETS))
def test_partitioned_checks_show_passed_after_the_demo(
    browser: Any, demo_webserver: Webserver, asset: str
) -> None:
    check = ASSETS[asset]
    page = _open(browser, f"{demo_webserver.url}/assets/{asset}?view=checks", "Evaluation result")
    try:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"checks-{asset}.png"))
        text = page.inner_text("body")
        # the checks list ("<check> Succeeded") and the latest evaluation's result ("Passed")
        assert f"{check}\nSucceeded" in text, text[:2000]
        assert "Passed" in text, text[:2000]
        assert "Skipped" not in text, text[:2000]
    finally:
        page.close()

    lineage = f"{demo_webserver.url}/assets/{asset}?view=lineage&lineageScope=neighbors"
    # The node's check summary ("<passed> / <total> Passed") is fetched after the graph is
    # drawn (its label "Asset checks" shows first, over "Loading..."): wait for the summary.
    page = _open(browser, lineage, CHECK_SUMMARY)
    try:
        page.screenshot(path=str(SCREENSHOTS / f"checks-{asset}-lineage.png"))
        text = page.inner_text("body")
        assert "0 / 1 Passed" not in text, text[:3000]
        assert "1 / 1 Passed" in text, text[:3000]
    finally:
        page.close()
