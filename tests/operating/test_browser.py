"""The asset graph of every group renders in a real browser (headless Debian Chromium).

Playwright drives `/usr/bin/chromium` through its executable path (installed by
`.ci/install-browser`; a browser download by Playwright cannot work offline). Each group's lineage
page is opened on the test webserver, its screenshot kept in `artifacts/screenshots/<group>.png`
(a CI artifact), and every asset name of the group must be rendered on the page.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dag.definitions import defs

REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "artifacts" / "screenshots"
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
# The UI's "Join the Dagster community" dialog stays closed once this browser key is set.
DISMISS_COMMUNITY_DIALOG = "window.localStorage.setItem('communityNux', '\"1\"');"

GROUPS: dict[str, list[str]] = {}
for _spec in defs.resolve_all_asset_specs():
    GROUPS.setdefault(_spec.group_name or "default", []).append(_spec.key.to_user_string())


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
            viewport={"width": 1600, "height": 1000},
        )
        context.add_init_script(DISMISS_COMMUNITY_DIALOG)
        try:
            yield context
        finally:
            context.close()


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_group_asset_graph_renders(browser: Any, webserver: Any, group: str) -> None:
    page = browser.new_page()
    try:
        url = f"{webserver.url}/locations/{webserver.repo_path}/asset-groups/{group}"
        response = page.goto(url, wait_until="domcontentloaded")
        assert response is not None and response.ok, f"{url}: {response and response.status}"
        # The graph's nodes are rendered once the asset layout query has answered.
        page.get_by_text(GROUPS[group][0], exact=True).first.wait_for(timeout=RENDER_TIMEOUT_MS)
        page.wait_for_load_state("networkidle", timeout=RENDER_TIMEOUT_MS)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"{group}.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 20_000, f"{shot}: suspiciously small screenshot"

        text = page.inner_text("body")
        missing = [name for name in GROUPS[group] if name not in text]
        assert not missing, f"group {group}: asset names not rendered on {url}: {missing}"
        assert "Join the Dagster community" not in text
        other_groups = {name for g, names in GROUPS.items() if g != group for name in names}
        assert not [name for name in other_groups if f"\n{name}\n" in f"\n{text}\n"]
    finally:
        page.close()
