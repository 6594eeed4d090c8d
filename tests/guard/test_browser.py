"""Findings, audit, drift and users pages in a real headless Chromium, under the strict
Content-Security-Policy: any CSP violation shows up as a console error and fails.

Screenshots land in test-artifacts/screenshots/guard-*.png (git-ignored). Skipped with
a clear reason when Chromium is not installed.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from audit.models import AuditEvent
from guard.models import FindingSuppression
from tests.browser import CHROMIUM
from tests.factories import estate as f

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(scope="module")
def _allow_orm_beside_playwright():
    # Playwright's sync API keeps an asyncio loop in this thread; the test code itself
    # is synchronous, so Django's async-safety guard is lifted for this module only.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    yield
    if previous is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(_allow_orm_beside_playwright, live_server):
    """A fresh Chromium per test, started after the test database is set up and closed
    before it is flushed: inside Playwright's sync context Django hands out another
    connection object, without the runner's serialized data, so a browser kept open
    across the flush leaves later tests without roles and permissions (found by
    tests/browser/test_pages.py; same fix)."""
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        context = browser.new_context(
            viewport={"width": 1440, "height": 900}, base_url=live_server.url
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            lambda msg: (
                errors.append(f"{page.url}: {msg.text[:120]}") if msg.type == "error" else None
            ),
        )
        yield page
        context.close()
        browser.close()
    assert not errors, f"browser console errors (CSP violations among them): {errors}"


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"guard-{name}.png"), full_page=True, caret="initial")


def test_admin_filters_findings_suppresses_one_and_finds_it_in_the_audit_trail(page):
    # Given a realistic estate and an Admin who logs in through the real form
    f.make_demo_estate()
    f.make_user("ada", role="Admin")
    page.goto("/login/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/")

    # When the findings are filtered to one severity through HTMX
    page.goto("/findings/")
    _shot(page, "findings")
    loads: list[str] = []
    page.on("load", lambda p: loads.append(p.url))
    page.select_option("select[name=severity]", "medium")
    page.wait_for_url("**severity=medium**")
    rows = page.locator("#findings-table tbody tr.sev-medium")
    expect(rows.first).to_be_visible()
    expect(page.locator("#findings-table tbody tr:not(.sev-medium)")).to_have_count(0)
    assert parse_qs(urlparse(page.url).query)["severity"] == ["medium"]
    assert loads == []  # swapped in place, no reload

    # And the first one is suppressed with a reason and an expiry
    first = page.locator("#findings-table tbody tr").first
    first.locator("summary", has_text="Suppress").click()
    first.locator("textarea[name=reason]").fill("Accepted risk until the migration")
    first.locator("input[name=expires_on]").fill(
        (timezone.localdate() + timedelta(days=30)).isoformat()
    )
    _shot(page, "suppress-form")
    first.locator("button", has_text="Suppress").click()
    page.wait_for_url("**/findings/**")
    expect(page.locator(".messages")).to_contain_text("Finding suppressed")
    assert FindingSuppression.objects.count() == 1

    # Then the audit trail shows it, found by free-text search
    page.goto("/audit/")
    page.fill("input[name=q]", "Accepted risk")
    page.press("input[name=q]", "Enter")
    page.wait_for_url("**q=Accepted**")
    expect(page.locator("#audit-table tbody tr")).to_have_count(1)
    expect(page.locator("#audit-table")).to_contain_text("finding.suppressed")
    _shot(page, "audit")
    assert AuditEvent.objects.filter(action="auth.login", username="ada").exists()

    # And the drift and users pages render under the same policy
    page.goto("/drift/")
    _shot(page, "drift")
    page.goto("/users/")
    expect(page.locator("#users-table")).to_contain_text("ada")
    _shot(page, "users")


def test_findings_fit_1440_px_and_page_in_place(page):
    # Given more findings than one page holds (the demo estate, plus 60 more)
    f.make_demo_estate()
    dev = f.make_account(environment="development")
    for _ in range(60):
        f.make_instance(dev, storage_encrypted=False)
    f.make_user("vic", role="Viewer")
    page.goto("/login/")
    page.fill("input[name=username]", "vic")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/")

    # When the findings page opens at 1440 px
    page.goto("/findings/")
    _shot(page, "findings-1440")
    # Then it fits without scrolling sideways, and evidence reads as labelled values
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 1440, width
    evidence = page.locator("#findings-table dl.evidence").first.inner_text()
    assert not set("_{[") & set(evidence), evidence
    # And "Next" swaps the next page in place (no reload), with the URL following
    loads: list[str] = []
    page.on("load", lambda p: loads.append(p.url))
    page.locator("#findings-table a[rel=next]").first.click()
    page.wait_for_url("**page=2**")
    expect(page.locator("#findings-table")).to_contain_text("Page 2 of")
    assert loads == []
