"""Every page: who may see it, full page vs HTMX partial, and bounded query counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from estate.roles import VIEWER
from tests.factories import estate as f

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def estate() -> dict[str, Any]:
    return f.make_demo_estate()


@pytest.fixture
def viewer(client):
    user = f.make_user(role=VIEWER)
    client.force_login(user)
    return user


# (url name, how to get the args from the demo estate)
PAGES: list[tuple[str, Callable[[dict[str, Any]], list[Any]]]] = [
    ("home", lambda e: []),
    ("inventory", lambda e: []),
    ("inventory_csv", lambda e: []),
    ("cluster", lambda e: [e["orders"]["cluster"].pk]),
    ("topology_cluster", lambda e: [e["orders"]["cluster"].pk]),
    ("instance", lambda e: [e["legacy"].pk]),
    ("topology_instance", lambda e: [e["legacy"].pk]),
    ("global_cluster", lambda e: [e["global_cluster"].pk]),
    ("topology_global", lambda e: [e["global_cluster"].pk]),
    ("proxy", lambda e: [e["orders"]["proxy"].pk]),
    ("topology", lambda e: []),
    ("caches", lambda e: []),
    ("cache_group", lambda e: [e["sessions"].pk]),
    ("cache_cluster", lambda e: [e["memcached"].pk]),
    ("serverless_cache", lambda e: [f.make_serverless_cache(e["prod"]).pk]),
    ("dms", lambda e: []),
    ("dms_task", lambda e: [e["dms_task"].pk]),
    ("parameter_groups", lambda e: []),
    ("parameter_group", lambda e: [_group(e, "orders-pg16")]),
    ("parameter_diff", lambda e: []),
    ("option_groups", lambda e: []),
    ("option_group", lambda e: [f.make_option_group(e["prod"]).pk]),
    ("option_diff", lambda e: []),
    ("snapshots", lambda e: []),
    ("sync_runs", lambda e: []),
    ("sync_run", lambda e: [f.make_sync_run().pk]),
    ("sync_progress", lambda e: [f.make_sync_run().pk]),
]
HTML_PAGES = [p for p in PAGES if p[0] != "inventory_csv"]


def _group(e: dict[str, Any], identifier: str) -> int:
    from estate.models import ParameterGroup

    return ParameterGroup.objects.get(identifier=identifier).pk


def _url(name: str, args_of: Callable, estate: dict[str, Any]) -> str:
    return reverse(name, args=args_of(estate))


@pytest.mark.parametrize(("name", "args_of"), PAGES, ids=[p[0] for p in PAGES])
def test_anonymous_visitor_is_sent_to_login(client, estate, name, args_of):
    url = _url(name, args_of, estate)

    response = client.get(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(("name", "args_of"), HTML_PAGES, ids=[p[0] for p in HTML_PAGES])
def test_expired_session_htmx_request_is_redirected_to_login_not_swapped(
    client, estate, name, args_of
):
    url = _url(name, args_of, estate)

    response = client.get(
        url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{url}?kind=cluster"
    )

    assert response.status_code == 401
    assert response.content == b""
    assert response["HX-Redirect"].startswith(reverse("login") + "?next=")
    assert "kind%3Dcluster" in response["HX-Redirect"]


@pytest.mark.parametrize(("name", "args_of"), PAGES, ids=[p[0] for p in PAGES])
def test_user_without_viewer_role_is_forbidden(client, estate, name, args_of):
    client.force_login(f.make_user(role=None))

    response = client.get(_url(name, args_of, estate))

    assert response.status_code == 403


@pytest.mark.parametrize(("name", "args_of"), HTML_PAGES, ids=[p[0] for p in HTML_PAGES])
def test_viewer_gets_the_full_page(client, viewer, estate, name, args_of):
    response = client.get(_url(name, args_of, estate), follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert 'hx-headers=\'{"X-CSRFToken"' in html
    # Only external scripts (strict CSP): every <script has a src.
    assert html.count("<script") == html.count("<script src=")


@pytest.mark.parametrize(("name", "args_of"), HTML_PAGES, ids=[p[0] for p in HTML_PAGES])
def test_htmx_request_gets_only_the_partial(client, viewer, estate, name, args_of):
    url = _url(name, args_of, estate)
    if name == "topology_instance":
        url = reverse("topology_instance", args=[estate["legacy"].pk])

    response = client.get(url, **HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert "<body" not in html
    assert html.strip(), "the partial is not empty"
    assert "HX-Request" in response.get("Vary", "")


def test_anonymous_post_to_sync_now_is_sent_to_login(client, estate):
    response = client.post(reverse("sync_now"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_no_page_uses_inline_handlers_styles_or_scripts(client, viewer, estate):
    import re

    for name, args_of in HTML_PAGES:
        html = client.get(_url(name, args_of, estate), follow=True).content.decode()
        assert not re.search(r"<[^>]+\son[a-z]+\s*=", html), name  # no on*= handlers
        assert not re.search(r"<[^>]+\sstyle\s*=", html), name
        assert "<style" not in html, name
        assert "javascript:" not in html, name


def test_every_hx_get_link_also_has_an_href(client, viewer, estate):
    import re

    for name, args_of in HTML_PAGES:
        html = client.get(_url(name, args_of, estate), follow=True).content.decode()
        for tag in re.findall(r"<a\b[^>]*hx-get=[^>]*>", html):
            assert "href=" in tag, f"{name}: {tag}"


# --- Query counts: list pages cost the same at 1 row and at 200 rows ------------------


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def _grow(kind: str, account, n: int) -> None:
    builders = {
        "instance": lambda i: f.make_instance(account, tags={"team": "bulk"}),
        "cache": lambda i: f.make_replication_group(account),
        "dms": lambda i: f.make_dms_task(
            account,
            source_endpoint=f.make_dms_endpoint(account),
            target_endpoint=f.make_dms_endpoint(account, endpoint_type="target"),
            replication_instance=f.make_dms_instance(account),
        ),
        "parameter_group": lambda i: f.make_parameter_group(
            account, parameters={"a": "1"}, modified=["a"]
        ),
        "option_group": lambda i: f.make_option_group(account),
        "snapshot": lambda i: f.make_snapshot(
            instance=f.make_instance(account, parameter_groups=[]), snapshot_type="manual"
        ),
        "sync_run": lambda i: f.make_sync_run(),
        "topology": lambda i: (
            f.make_aurora_family(account, readers=1, with_proxy=False),
            f.make_global_cluster(account),
            f.make_instance(account, replica_source=f.make_instance(account)),
        ),
    }
    for i in range(n):
        builders[kind](i)


@pytest.fixture(autouse=True)
def _uncached_finding_counts(settings):
    """The overview's posture counts are cached in production; count their queries on
    every request here so that "one row" and "200 rows" measure the same work."""
    settings.GUARD_COUNTS_CACHE_SECONDS = 0


def _with_session_read(limit: int) -> int:
    """``limit`` counts the page's own queries with sessions in the cache (Redis, as in
    production); without REDIS_URL they live in the database: one more read a request."""
    return limit + (settings.SESSION_ENGINE == "django.contrib.sessions.backends.db")


LIST_PAGES = [
    ("home", "instance", 26),  # 13 of them: the posture counts
    ("inventory", "instance", 12),
    ("caches", "cache", 10),
    ("dms", "dms", 10),
    ("parameter_groups", "parameter_group", 12),
    ("option_groups", "option_group", 12),
    ("snapshots", "snapshot", 12),
    ("sync_runs", "sync_run", 10),
    ("topology", "topology", 12),
]


@pytest.mark.parametrize(("name", "kind", "limit"), LIST_PAGES, ids=[p[0] for p in LIST_PAGES])
def test_list_page_query_count_does_not_grow_with_rows(
    client, viewer, django_assert_max_num_queries, name, kind, limit
):
    account = f.make_account()
    _grow(kind, account, 1)
    url = reverse(name)
    limit = _with_session_read(limit)
    with django_assert_max_num_queries(limit):
        one = _queries(client, url)

    _grow(kind, account, 199)
    with django_assert_max_num_queries(limit):
        many = _queries(client, url)

    assert one == many


def test_inventory_csv_query_count_does_not_grow_with_rows(client, viewer):
    account = f.make_account()
    _grow("instance", account, 1)
    one = _queries_streamed(client, reverse("inventory_csv"))
    _grow("instance", account, 199)
    many = _queries_streamed(client, reverse("inventory_csv"))
    assert one == many


def _queries_streamed(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
        b"".join(response.streaming_content)
    return len(ctx.captured_queries)


# Detail pages also carry the metrics charts, the resource's posture findings (its
# account's rules: 13 queries, the backup policies among them), drill summary and
# audit trail: bounded, not per row.
DETAIL_PAGES = [
    ("cluster", lambda e: [e["orders"]["cluster"].pk], 36),  # 1: the volume used
    ("instance", lambda e: [e["legacy"].pk], 31),
    ("global_cluster", lambda e: [e["global_cluster"].pk], 29),
    ("topology_cluster", lambda e: [e["orders"]["cluster"].pk], 14),
    ("topology_global", lambda e: [e["global_cluster"].pk], 14),
    ("topology_instance", lambda e: [e["legacy"].pk], 14),
    ("cache_group", lambda e: [e["sessions"].pk], 27),
    ("dms_task", lambda e: [e["dms_task"].pk], 23),
    ("parameter_group", lambda e: [_group(e, "orders-pg16")], 14),
]


@pytest.mark.parametrize(
    ("name", "args_of", "limit"), DETAIL_PAGES, ids=[p[0] for p in DETAIL_PAGES]
)
def test_detail_page_query_count_is_bounded(
    client, viewer, estate, django_assert_max_num_queries, name, args_of, limit
):
    url = reverse(name, args=args_of(estate))
    with django_assert_max_num_queries(_with_session_read(limit)):
        assert client.get(url).status_code == 200


def test_cluster_page_query_count_is_the_same_with_15_readers(client, viewer):
    small = f.make_aurora_family(readers=1)
    big = f.make_aurora_family(readers=15)
    one = _queries(client, reverse("cluster", args=[small["cluster"].pk]))
    many = _queries(client, reverse("cluster", args=[big["cluster"].pk]))
    assert one == many
    one = _queries(client, reverse("topology_cluster", args=[small["cluster"].pk]))
    many = _queries(client, reverse("topology_cluster", args=[big["cluster"].pk]))
    assert one == many


def _pending_estate(account, n: int) -> None:
    """n instances and n clusters with pending changes, and as many of each without."""
    for _ in range(n):
        f.make_instance(account, pending_modified_values={"DBInstanceClass": "db.r6g.large"})
        f.make_instance(account)
        f.make_cluster(account, pending_modified_values={"EngineVersion": "16.6"})
        f.make_cluster(account)
        f.make_replication_group(account)


def test_inventory_filters_resources_with_pending_changes(client, viewer):
    # Given instances and clusters with and without pending changes, and a cache
    account = f.make_account()
    waiting = f.make_instance(account, pending_modified_values={"AllocatedStorage": 500})
    f.make_instance(account)
    cluster = f.make_cluster(account, pending_modified_values={"EngineVersion": "16.6"})
    f.make_cluster(account)
    f.make_replication_group(account)
    # When the inventory is filtered on pending changes
    response = client.get(reverse("inventory"), {"pending_changes": "1"})
    # Then only the resources with changes waiting are listed
    rows = response.context["rows"]
    assert sorted(r["identifier"] for r in rows) == sorted([waiting.identifier, cluster.identifier])
    # And the same filter with only a kind that has no pending values lists nothing
    response = client.get(reverse("inventory"), {"pending_changes": "1", "kind": "cache-group"})
    assert list(response.context["rows"]) == []


def test_inventory_pending_changes_filter_query_count_does_not_grow(
    client, viewer, django_assert_max_num_queries
):
    account = f.make_account()
    _pending_estate(account, 1)
    with CaptureQueriesContext(connection) as one:
        response = client.get(reverse("inventory"), {"pending_changes": "1"})
    assert len(response.context["rows"]) == 2
    _pending_estate(account, 30)
    with django_assert_max_num_queries(len(one.captured_queries)):
        response = client.get(reverse("inventory"), {"pending_changes": "1"})
    assert len(response.context["rows"]) == 50  # a page of the 62
