"""The asset graph of every group renders in a real browser (headless Debian Chromium).

Playwright drives `/usr/bin/chromium` through its executable path (installed by
`.ci/install-browser`; a browser download by Playwright cannot work offline). Each group's lineage
page is opened on the test webserver, its screenshot kept in `artifacts/screenshots/<group>.png`
(a CI artifact), and every asset name of the group must be rendered on the page.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from dag.definitions import defs
from tests.operating.conftest import RENDER_TIMEOUT_MS, SCREENSHOTS, STATUSES_LOADED, VIEWPORT

GROUPS: dict[str, list[str]] = {}
for _spec in defs.resolve_all_asset_specs():
    GROUPS.setdefault(_spec.group_name or "default", []).append(_spec.key.to_user_string())


def node_label(page: Any, asset: str) -> Any:
    """The label of an asset's node in the lineage graph: a truncated label carries the full
    name as its tooltip, a name that fits is the label's text (visible ones only: the collapsed
    asset list beside the graph holds the names too)."""
    return page.locator(node_selector(asset))


def node_selector(asset: str) -> str:
    return f'[data-tooltip="{asset}"]:visible, :text-is("{asset}"):visible'


def shows_name(label: str, asset: str) -> bool:
    """The label is the name, or the UI's middle truncation of it (`nps_indu…_postgres`)."""
    head, ellipsis, tail = label.strip().partition("…")
    if not ellipsis:
        return head == asset
    return len(head) >= 3 and asset.startswith(head) and asset.endswith(tail)


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_group_asset_graph_renders(browser: Any, webserver: Any, group: str) -> None:
    page = browser.new_page()
    try:
        url = f"{webserver.url}/locations/{webserver.repo_path}/asset-groups/{group}"
        response = page.goto(url, wait_until="domcontentloaded")
        assert response is not None and response.ok, f"{url}: {response and response.status}"
        # Nodes appear once the layout query has answered (any of the group's nodes will do);
        # then the status queries settle. A page that never draws one is kept for diagnosis.
        any_node = page.locator(", ".join(node_selector(asset) for asset in GROUPS[group]))
        try:
            any_node.first.wait_for(timeout=RENDER_TIMEOUT_MS)
        except PlaywrightTimeout:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{group}-no-nodes.png"))
            pytest.fail(
                f"group {group}: no node drawn on {url} within {RENDER_TIMEOUT_MS} ms; page "
                f"text: {page.inner_text('body')[:2000]!r}; webserver log tail: "
                f"{webserver.log.read_text(errors='replace')[-3000:]}"
            )
        page.wait_for_load_state("networkidle", timeout=RENDER_TIMEOUT_MS)
        page.wait_for_function(STATUSES_LOADED, timeout=RENDER_TIMEOUT_MS)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        shot = SCREENSHOTS / f"{group}.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 50_000, f"{shot}: suspiciously small screenshot"

        # A node shows its name or the UI's middle truncation of it (with the full name as a
        # tooltip in some layouts, as plain text in others): look at the rendered text.
        shown = page.inner_text("body").splitlines()
        labels = {
            asset: [*node_label(page, asset).all_inner_texts(), *shown] for asset in GROUPS[group]
        }
        missing = sorted(
            asset
            for asset, texts in labels.items()
            if not any(shows_name(label, asset) for label in texts)
        )
        assert not missing, (
            f"group {group}: nodes not rendered on {url} (viewport {VIEWPORT}; a larger group "
            f"needs a taller one): {missing}"
        )
        others = [a for g, assets in GROUPS.items() if g != group for a in assets]
        assert not [a for a in others if node_label(page, a).count()], f"{group}: foreign nodes"
        text = page.inner_text("body")
        assert "Join the Dagster community" not in text
        assert group in text
    finally:
        page.close()
