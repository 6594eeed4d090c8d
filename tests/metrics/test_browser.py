"""The charts in a real headless Chromium: uPlot draws from the data endpoint under the
strict CSP, empty charts say why, hovering shows values, HTMX switches the range.

Screenshots land in test-artifacts/screenshots/ (git-ignored). Skipped when
Chromium is not installed.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.utils import timezone

from tests.browser import CHROMIUM
from tests.factories import estate as factories
from tests.metrics.test_queries import minutes, store

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def page(live_server):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an asyncio loop in this thread; the test's ORM calls
    # are plain synchronous code.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    errors: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
            )
            context = browser.new_context(
                viewport={"width": 1400, "height": 900}, base_url=live_server.url
            )
            page = context.new_page()
            page.set_default_timeout(10_000)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            yield page
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous
    assert not errors, f"browser console errors (CSP violations show here): {errors}"


def test_cluster_charts_draw_hover_and_switch_range(page):
    # Given a Serverless cluster whose two readers lag, and a Viewer
    now = timezone.now().replace(second=0, microsecond=0)
    family = factories.make_aurora_family(
        readers=2, with_proxy=False, serverless_v2_min_acu=0.5, serverless_v2_max_acu=8
    )
    cluster = family["cluster"]
    for i, reader in enumerate(family["readers"]):
        store(reader, "AuroraReplicaLag", minutes(600, 5.0 + 40 * i, end=now))
    store(cluster, "ServerlessDatabaseCapacity", minutes(600, 3.0, end=now))
    factories.make_user("vera", role="Viewer")
    page.goto("/login/")
    page.fill("input[name=username]", "vera")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/")

    # When the cluster's charts are opened
    page.goto(f"/metrics/cluster/{cluster.pk}/charts/")
    # Then the charts with data are drawn and the others say why
    lag = page.locator('[data-chart="readers-lag"]')
    lag.locator("canvas").wait_for()
    assert page.locator('[data-chart="ServerlessDatabaseCapacity"] canvas').count() == 1
    empty = page.locator('[data-chart="ACUUtilization"] .metric-empty')
    empty.wait_for()
    assert "No points yet" in empty.inner_text()
    legend = lag.locator(".u-legend").inner_text()
    assert family["readers"][0].identifier in legend
    assert "threshold" in legend
    # And hovering a chart shows the values at that minute
    box = lag.locator(".u-over").bounding_box()
    page.mouse.move(box["x"] + box["width"] - 5, box["y"] + box["height"] / 2)
    assert "45.0 s" in lag.locator(".u-legend").inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "metrics-cluster-24h.png"), full_page=True)

    # When the 7 d range is chosen (an HTMX swap)
    page.click(".metric-ranges >> text=7 d")
    page.wait_for_selector('[data-metrics-src$="range=7d"]')
    lag.locator("canvas").wait_for()
    # Then the charts are drawn again from hourly rollups
    assert page.locator('.metric-ranges a[aria-current="true"]').inner_text() == "7 d"
    page.screenshot(path=str(SHOTS / "metrics-cluster-7d.png"), full_page=True)
