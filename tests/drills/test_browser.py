"""The drill report in a real headless Chromium: the probe chart draws under the strict
CSP (no console errors), and the backup page filters through HTMX."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from drills.models import DrillRun, DrillType, ProbeSample, RunStatus
from tests.browser import CHROMIUM
from tests.factories import estate as f

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture
def page(live_server, monkeypatch):
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the test's own ORM
    # calls are plain synchronous code.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--no-first-run",
            ],
        )
        context = browser.new_context(
            viewport={"width": 1400, "height": 900}, base_url=live_server.url
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text[:200]) if m.type == "error" else None)
        yield page
        context.close()
        browser.close()
    assert not errors, f"browser console errors: {errors}"


def _login(page, username: str) -> None:
    page.goto("/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def test_drill_report_draws_the_probe_chart_and_backup_filter_works(page):
    # Given a finished drill with samples on two endpoints, and a failing backup
    cluster = f.make_cluster(identifier="orders")
    start = timezone.now() - timedelta(minutes=2)
    run = DrillRun.objects.create(
        drill_type=DrillType.FAILOVER,
        target_arn=cluster.arn,
        target_label="orders",
        status=RunStatus.PASSED,
        client_downtime_seconds=3.0,
        slo_seconds=35,
        slo_met=True,
        probe_endpoints=[{"label": "direct"}, {"label": "proxy"}],
        triggered_at=start + timedelta(seconds=5),
    )
    ProbeSample.objects.bulk_create(
        ProbeSample(
            run=run,
            endpoint=label,
            at=start + timedelta(milliseconds=200 * i),
            ok=not (label == "direct" and 30 <= i < 45),
            latency_ms=2.0 + (i % 5),
        )
        for label in ("direct", "proxy")
        for i in range(80)
    )
    f.make_instance(identifier="nobackup", backup_retention_period=0)
    f.make_user("vera", role="Viewer")
    _login(page, "vera")
    # When the report opens, then uPlot draws a canvas from the JSON
    page.goto(f"/drills/runs/{run.pk}/")
    expect(page.locator("[data-drill-chart] canvas").first).to_be_visible()
    expect(page.locator("#drill-status")).to_contain_text("3.00 s")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "drill-report.png"), full_page=True, caret="initial")
    # And the backup page filters to failures through HTMX
    page.goto("/backups/")
    page.click("text=Failing only")
    page.wait_for_url("**failing=1**")
    expect(page.locator("#backup-table")).to_contain_text("nobackup")
    page.screenshot(path=str(SHOTS / "backups.png"), full_page=True, caret="initial")
