"""The pages in a real headless Chromium: HTMX filters, history, topology, CSV export,
a poll after the session expired.

Screenshots of every page land in test-artifacts/screenshots/ (git-ignored).
Skipped with a clear reason when Chromium is not installed (tests/conftest.py).
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from estate.models import ParameterGroup
from tests.browser import CHROMIUM
from tests.factories import estate as f

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

pytestmark = [
    pytest.mark.browser,
    # live_server needs real commits; serialized_rollback puts back the rows the
    # migrations made (roles) so tests after this module still find them.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(scope="module")
def _allow_orm_beside_playwright():
    """Playwright's sync API keeps an asyncio loop alive in this thread, and Django
    then refuses ORM calls from it. The test code is plain synchronous code (the loop
    only drives the browser), so the guard is lifted for this module only."""
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
    before it is flushed. (Inside Playwright's sync context Django hands out another
    connection object, one that lacks the test runner's serialized data: a browser
    kept open across tests made the flush skip restoring the migrations' rows, and the
    tests after this module lost their roles and permissions.)"""
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
            viewport={"width": 1440, "height": 900},
            accept_downloads=True,
            base_url=live_server.url,
        )
        page = context.new_page()
        page.set_default_timeout(10_000)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on(
            "console",
            # A 400 answer to a bad filter is expected, and so is the 401 (with
            # HX-Redirect) to a signed-out poll; Chromium logs them as failed loads.
            lambda msg: (
                errors.append(f"{page.url}: {msg.text[:200]}")
                if msg.type == "error"
                and "status of 400" not in msg.text
                and "status of 401" not in msg.text
                else None
            ),
        )
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


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    # caret="initial": hiding the caret makes Playwright leave style="" on inputs, which
    # htmx's history snapshot then carries back in, tripping the strict CSP.
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, caret="initial")


def _identifiers(page) -> list[str]:
    return page.locator("#inventory-rows tbody td.id a").all_inner_texts()


def test_inventory_filters_history_cluster_topology_and_csv(page):
    # Given a realistic estate and a Viewer
    estate = f.make_demo_estate()
    f.make_user("vera", role="Viewer")
    _login(page, "vera")
    _shot(page, "overview")

    # When two filters are applied on the inventory through HTMX
    page.goto("/inventory/")
    _shot(page, "inventory")
    # (No page.evaluate / wait_for_function here: the strict CSP forbids the string
    # eval Playwright uses for them. Full page loads are counted from outside instead.)
    loads: list[str] = []
    page.on("load", lambda p: loads.append(p.url))
    page.select_option("select[name=kind]", ["instance"])
    page.wait_for_url("**kind=instance**")
    expect(page.locator("#inventory-rows [data-kind]:not([data-kind=instance])")).to_have_count(0)
    all_instances = sorted(_identifiers(page))
    page.select_option("select[name=region]", ["eu-west-1"])
    page.wait_for_url("**region=eu-west-1**")
    expect(page.locator("#inventory-rows tbody tr")).to_have_count(3)

    # Then the URL carries both filters, the rows match, and the page never reloaded
    query = parse_qs(urlparse(page.url).query)
    assert query["kind"] == ["instance"]
    assert query["region"] == ["eu-west-1"]
    assert "environment=" not in page.url  # empty fields are left out of the URL
    assert sorted(_identifiers(page)) == ["ledger-euw1-1", "ledger-euw1-2", "legacy-mysql-replica"]
    assert loads == [], f"the filters reloaded the page: {loads}"
    _shot(page, "inventory-filtered")

    # When the user goes back, the previous filter's rows come back
    page.go_back()
    page.wait_for_url(lambda url: "region=" not in url)
    expect(page.locator("#inventory-rows tbody tr")).to_have_count(len(all_instances))
    assert sorted(_identifiers(page)) == all_instances
    assert "legacy-mysql" in all_instances
    assert "orders-1" in all_instances
    # and the filter controls follow the URL again
    expect(page.locator("select[name=region] option:checked")).to_have_count(0)

    # The same URL opened cold renders the same table
    page.goto("/inventory/?kind=instance&region=eu-west-1")
    assert sorted(_identifiers(page)) == ["ledger-euw1-1", "ledger-euw1-2", "legacy-mysql-replica"]

    # CSV export of the filtered set
    with page.expect_download() as download_info:
        page.click("text=Export CSV")
    content = Path(download_info.value.path()).read_text()
    rows = list(csv.DictReader(io.StringIO(content)))
    assert sorted(r["identifier"] for r in rows) == [
        "ledger-euw1-1",
        "ledger-euw1-2",
        "legacy-mysql-replica",
    ]
    assert {r["region"] for r in rows} == {"eu-west-1"}

    # A bad filter typed in the form shows its message in place (a 400 is swapped in)
    page.fill("input[name=tag]", "=oops")
    page.press("input[name=tag]", "Enter")
    page.wait_for_selector("#inventory-table .errorbox")
    assert "Tag filter needs a key" in page.locator("#inventory-table").inner_text()

    # When a cluster is opened from the inventory
    page.goto("/inventory/?kind=cluster")
    page.click("#inventory-rows >> text=orders")
    page.wait_for_url(f"**/clusters/{estate['orders']['cluster'].pk}/")
    assert page.locator("h1").inner_text().startswith("orders")
    assert page.locator("text=orders-analytics").count() >= 1
    _shot(page, "cluster")

    # and its topology: writer, readers, endpoints and the proxy are drawn
    page.click("a.btn:has-text('Topology')")
    page.wait_for_url("**/topology/")
    nodes = page.locator("#topology svg a.node")
    labels = nodes.locator("text.label").all_text_contents()
    for expected in (
        "orders",
        "orders-1",
        "orders-2",
        "orders-3",
        "orders-analytics",
        "orders-proxy",
    ):
        assert expected in labels, labels
    assert page.locator("#topology svg a.node[data-node^=cluster] >> nth=0").count() == 1
    assert page.locator("path.edge-clone").count() == 1  # orders -> orders-clone-qa
    box = page.locator("#topology svg").bounding_box()
    assert box is not None
    assert box["width"] > 800
    _shot(page, "topology-cluster")

    # Clicking a node opens its detail page
    page.locator("#topology svg a.node[data-layer=instance]", has_text="orders-2").click()
    page.wait_for_url(f"**/instances/{estate['orders']['readers'][0].pk}/")
    _shot(page, "instance")


def test_every_page_renders_in_light_and_dark(page):
    """Screenshots of every page (looked at by a human), and no console errors."""
    estate = f.make_demo_estate()
    big = f.make_global_cluster(identifier="wide-global")
    for n, region in enumerate(
        ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
    ):
        f.make_aurora_family(
            big.account,
            region=region,
            identifier=f"wide-{region}",
            readers=15 if n == 0 else 3,
            global_cluster=big,
            is_global_writer=n == 0,
            with_proxy=n == 0,
        )
    f.make_snapshot(
        cluster=estate["orders"]["cluster"],
        identifier="orders-copy-eu",
        region="eu-west-1",
        source_snapshot_arn=estate["orders"]["cluster"].snapshots.first().arn,
    )
    f.make_user("ada", role="Operator")
    _login(page, "ada")
    pages = {
        "topology-index": "/topology/",
        "global": f"/global/{estate['global_cluster'].pk}/",
        "topology-global": f"/global/{estate['global_cluster'].pk}/topology/",
        "topology-wide": f"/global/{big.pk}/topology/",
        "topology-replicas": f"/instances/{estate['legacy'].pk}/topology/",
        "instance-replica": f"/instances/{estate['replica'].pk}/",
        "proxy": f"/proxies/{estate['orders']['proxy'].pk}/",
        "caches": "/caches/",
        "cache-group": f"/caches/groups/{estate['sessions'].pk}/",
        "dms": "/dms/",
        "dms-task": f"/dms/tasks/{estate['dms_task'].pk}/",
        "parameter-groups": "/parameter-groups/",
        "parameter-diff": "/parameter-groups/diff/?a="
        + str(ParameterGroup.objects.get(identifier="orders-pg16").pk),
        "snapshots": "/snapshots/",
        "sync-history": "/sync/",
        "inventory-bad-filter": "/inventory/?sort=nonsense",
    }
    for name, url in pages.items():
        response = page.goto(url)
        assert response is not None, name
        assert response.status in (200, 400), (name, response.status)
        _shot(page, name)
    page.emulate_media(color_scheme="dark")
    for name in ("overview", "inventory", "cluster", "topology-global"):
        url = {
            "overview": "/",
            "inventory": "/inventory/",
            "cluster": f"/clusters/{estate['orders']['cluster'].pk}/",
            "topology-global": pages["topology-global"],
        }[name]
        page.goto(url)
        _shot(page, f"dark-{name}")
    # The wide diagram draws all 5 regions and all 32 instances, none overlapping.
    page.goto(pages["topology-wide"])
    assert page.locator("text.band-label").count() == 5
    rects = [
        (r.get_attribute("x"), r.get_attribute("y"))
        for r in page.locator("#topology svg a.node[data-layer=instance] rect").all()
    ]
    assert len(rects) == 32
    assert len(set(rects)) == 32


def test_sync_now_shows_progress_and_refreshes_the_numbers_when_done(page, monkeypatch):
    # Given an Operator on the overview; the worker is left out (no AWS here): the run
    # stays queued until the test finishes it the way a worker would.
    from estate import models, tasks

    queued: list[int] = []
    monkeypatch.setattr(tasks.sync_run_task, "delay_on_commit", queued.append)
    account = f.make_account(name="ops")
    f.make_instance(account, identifier="first")
    f.make_user("otto", role="Operator")
    _login(page, "otto")
    assert page.locator(".stats .stat").first.inner_text() == "1"

    # When Sync now is pressed, the progress partial replaces the button and polls
    page.click("button:has-text('Sync now')")
    page.wait_for_selector("#sync:has-text('syncing')")
    (run_id,) = queued
    _shot(page, "overview-syncing")

    # and when the run ends with a new resource mirrored
    f.make_instance(account, identifier="second")
    models.SyncRun.objects.filter(pk=run_id).update(status="succeeded", finished_at=timezone.now())

    # Then polling stops on the final status and the totals refresh without a reload
    page.wait_for_selector("#sync:not(:has-text('syncing'))", timeout=15_000)
    expect(page.locator(".stats .stat").first).to_have_text("2", timeout=15_000)
    assert "succeeded" in page.locator("#sync").inner_text()
    assert page.locator("#sync[hx-trigger]").count() == 0


def test_a_poll_after_the_session_expired_goes_to_the_login_page_and_back(page):
    # Given a viewer watching a running operation (no worker here: it stays running),
    # whose status box polls every 2 s
    from operations.models import Operation, State

    cluster = f.make_cluster(identifier="orders")
    op = Operation.objects.create(
        kind="cluster_failover",
        target_arn=cluster.arn,
        target_label=cluster.identifier,
        account=cluster.account,
        region=cluster.region,
        state=State.RUNNING,
    )
    f.make_user("vera", role="Viewer")
    _login(page, "vera")
    page.goto(f"/operations/{op.pk}/")
    expect(page.locator("#op-status[hx-trigger]")).to_have_count(1)

    # When the session expires (the browser's cookies are gone)
    page.context.clear_cookies()

    # Then the next poll takes the whole page to the login, not the login into the box
    page.wait_for_url(f"**/login/?next=/operations/{op.pk}/", timeout=15_000)
    assert page.locator("#op-status").count() == 0
    # and logging in again comes back to the operation
    page.fill("input[name=username]", "vera")
    page.fill("input[name=password]", "pw")
    page.click("button[type=submit]")
    page.wait_for_url(f"**/operations/{op.pk}/")
    expect(page.locator("#op-status")).to_have_count(1)
