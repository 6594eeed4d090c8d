"""The permission matrix: every URL of the project, GET and POST, for anonymous, a
logged-in user without a role, Viewer, Operator and Admin, against an explicit table.

URLs are enumerated from the resolver (tests/url_samples.py; Django's admin is left
out: it has its own permission system). A URL without a row in EXPECTED fails, and so
does a row without a URL. POSTs carry an empty body (the test client skips CSRF): they
reach the permission check and then fail validation, or do the harmless thing (cancel a
queued operation nobody holds, revoke a suppression) inside the test's transaction.

The role model the table was reviewed against (estate/roles.py): Viewer reads
everything; Operator also syncs, runs non-destructive operations and drills and manages
drill schedules; Admin also runs destructive operations and manages accounts, policies
(finding suppressions) and users. Anonymous users are sent to the login page except on
the login page and the set-password link. A method a URL does not accept is 405 for
everybody (checked before authentication: it reveals nothing).

A row that the product gets wrong is written as it should be and listed in XFAIL with
the bug, so the lead can fix the view and delete the entry.

Two more columns, for HTMX requests: a signed-out HTMX request (an expired session's
poll) is answered 401 with ``HX-Redirect`` to the login page, coming back to the page
the user was on, never with a login form to swap in (derived from the anonymous
column: wherever a plain anonymous request goes to the login page). And every URL that
answers an HTMX swap with a partial varies on ``HX-Request`` (SERVES_PARTIAL), so a
back/forward restore of a pushed URL never shows a bare fragment.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.urls import reverse

from tests.url_samples import ROLES, World, sample_world, url_patterns

pytestmark = pytest.mark.django_db

METHODS = ("GET", "POST")

# Rows, by what they grant. Any 3xx is written 302.
READ = {"anon": 302, "none": 403, "viewer": 200, "operator": 200, "admin": 200}
# Wrong method: refused before anything else, whoever asks.
NOT_ALLOWED = dict.fromkeys(ROLES, 405)
# A read-only page that redirects a plain request elsewhere (to a fuller page).
READ_REDIRECTS = {"anon": 302, "none": 403, "viewer": 302, "operator": 302, "admin": 302}
# Operator actions whose empty POST is handled (redirect back with a message).
OPERATOR_ACTION = {"anon": 302, "none": 403, "viewer": 403, "operator": 302, "admin": 302}
# Operator forms: the page, and an empty POST that fails validation (422).
OPERATOR_FORM = {"anon": 302, "none": 403, "viewer": 403, "operator": 200, "admin": 200}
OPERATOR_FORM_POST = {"anon": 302, "none": 403, "viewer": 403, "operator": 422, "admin": 422}
# Admin actions (users, policies): redirect back with a message.
ADMIN_ACTION = {"anon": 302, "none": 403, "viewer": 403, "operator": 403, "admin": 302}
ADMIN_PAGE = {"anon": 302, "none": 403, "viewer": 403, "operator": 403, "admin": 200}
# Open to everybody (the login page re-renders an empty form; the link redirects).
PUBLIC_PAGE = dict.fromkeys(ROLES, 200)
PUBLIC_REDIRECT = dict.fromkeys(ROLES, 302)

EXPECTED: dict[str, dict[str, dict[str, int]]] = {
    # --- estate: overview, sync, inventory, resources ---------------------------------
    "home": {"GET": READ, "POST": NOT_ALLOWED},
    "sync_now": {"GET": NOT_ALLOWED, "POST": OPERATOR_ACTION},
    # Without HTMX the progress partial sends the browser to the run's page.
    "sync_progress": {"GET": READ_REDIRECTS, "POST": NOT_ALLOWED},
    "sync_runs": {"GET": READ, "POST": NOT_ALLOWED},
    "sync_run": {"GET": READ, "POST": NOT_ALLOWED},
    "inventory": {"GET": READ, "POST": NOT_ALLOWED},
    "inventory_csv": {"GET": READ, "POST": NOT_ALLOWED},
    "cluster": {"GET": READ, "POST": NOT_ALLOWED},
    "topology_cluster": {"GET": READ, "POST": NOT_ALLOWED},
    "instance": {"GET": READ, "POST": NOT_ALLOWED},
    # The sample is an Aurora member: its family is drawn on its cluster's page.
    "topology_instance": {"GET": READ_REDIRECTS, "POST": NOT_ALLOWED},
    "global_cluster": {"GET": READ, "POST": NOT_ALLOWED},
    "topology_global": {"GET": READ, "POST": NOT_ALLOWED},
    "proxy": {"GET": READ, "POST": NOT_ALLOWED},
    "caches": {"GET": READ, "POST": NOT_ALLOWED},
    "cache_group": {"GET": READ, "POST": NOT_ALLOWED},
    "cache_cluster": {"GET": READ, "POST": NOT_ALLOWED},
    "serverless_cache": {"GET": READ, "POST": NOT_ALLOWED},
    "dms": {"GET": READ, "POST": NOT_ALLOWED},
    "dms_task": {"GET": READ, "POST": NOT_ALLOWED},
    "parameter_groups": {"GET": READ, "POST": NOT_ALLOWED},
    "parameter_diff": {"GET": READ, "POST": NOT_ALLOWED},
    "parameter_group": {"GET": READ, "POST": NOT_ALLOWED},
    "option_groups": {"GET": READ, "POST": NOT_ALLOWED},
    "option_diff": {"GET": READ, "POST": NOT_ALLOWED},
    "option_group": {"GET": READ, "POST": NOT_ALLOWED},
    "snapshots": {"GET": READ, "POST": NOT_ALLOWED},
    "snapshot": {"GET": READ, "POST": NOT_ALLOWED},
    "topology": {"GET": READ, "POST": NOT_ALLOWED},
    # --- audit ------------------------------------------------------------------------
    "audit": {"GET": READ, "POST": NOT_ALLOWED},
    "audit_csv": {"GET": READ, "POST": NOT_ALLOWED},
    # --- guard: findings, drift, users ------------------------------------------------
    "findings": {"GET": READ, "POST": NOT_ALLOWED},
    # Suppressing hides a risk from the whole team: a policy, so Admin only.
    "finding_suppress": {"GET": NOT_ALLOWED, "POST": ADMIN_ACTION},
    "finding_suppression_revoke": {"GET": NOT_ALLOWED, "POST": ADMIN_ACTION},
    "drift": {"GET": READ, "POST": NOT_ALLOWED},
    "users": {"GET": ADMIN_PAGE, "POST": NOT_ALLOWED},
    # An empty invite form is re-rendered with its errors (400).
    "user_invite": {
        "GET": NOT_ALLOWED,
        "POST": {"anon": 302, "none": 403, "viewer": 403, "operator": 403, "admin": 400},
    },
    "user_role": {"GET": NOT_ALLOWED, "POST": ADMIN_ACTION},
    "user_active": {"GET": NOT_ALLOWED, "POST": ADMIN_ACTION},
    "user_unlock": {"GET": NOT_ALLOWED, "POST": ADMIN_ACTION},
    # The invite link: a valid token is swapped for the session-bound form URL.
    "user_set_password": {"GET": PUBLIC_REDIRECT, "POST": PUBLIC_REDIRECT},
    # --- authentication ---------------------------------------------------------------
    "login": {"GET": PUBLIC_PAGE, "POST": PUBLIC_PAGE},
    # The health check: public, GET only, says nothing about the estate.
    "healthz": {"GET": PUBLIC_PAGE, "POST": NOT_ALLOWED},
    # Logging out is a POST (Django 5); everybody ends on the login page.
    "logout": {"GET": NOT_ALLOWED, "POST": PUBLIC_REDIRECT},
    # --- operations ---------------------------------------------------------------------
    "operations:list": {"GET": READ, "POST": NOT_ALLOWED},
    "operations:detail": {"GET": READ, "POST": NOT_ALLOWED},
    # The sample is a queued, non-destructive operation: an Operator may cancel it.
    "operations:cancel": {"GET": NOT_ALLOWED, "POST": OPERATOR_ACTION},
    # Four-eyes decisions are Admin only; the empty POST on the (queued, not awaiting)
    # sample is refused and redirects back to the operation with the error as a message.
    "operations:approve": {"GET": NOT_ALLOWED, "POST": ADMIN_ACTION},
    "operations:reject": {"GET": NOT_ALLOWED, "POST": ADMIN_ACTION},
    # The sample kind is non-destructive; every kind is checked in
    # test_each_operation_kind_is_started_only_by_its_role below.
    "operations:new": {"GET": OPERATOR_FORM, "POST": OPERATOR_FORM_POST},
    # --- drills and backups ----------------------------------------------------------
    "drills:home": {"GET": READ, "POST": NOT_ALLOWED},
    "drills:run": {"GET": READ, "POST": NOT_ALLOWED},
    "drills:run_chart": {"GET": READ, "POST": NOT_ALLOWED},
    "drills:history": {"GET": READ, "POST": NOT_ALLOWED},
    "drills:history_chart": {"GET": READ, "POST": NOT_ALLOWED},
    "drills:schedules": {"GET": READ, "POST": NOT_ALLOWED},
    "drills:schedule_new": {"GET": OPERATOR_FORM, "POST": OPERATOR_FORM_POST},
    "drills:schedule_edit": {"GET": OPERATOR_FORM, "POST": OPERATOR_FORM_POST},
    "drills:schedule_delete": {"GET": NOT_ALLOWED, "POST": OPERATOR_ACTION},
    "drills:backups": {"GET": READ, "POST": NOT_ALLOWED},
    "drills:backups_csv": {"GET": READ, "POST": NOT_ALLOWED},
    # --- metrics ----------------------------------------------------------------------
    "metrics:charts": {"GET": READ, "POST": NOT_ALLOWED},
    "metrics:data": {"GET": READ, "POST": NOT_ALLOWED},
}

# Cases the product gets wrong today: (url name, method, role) -> the bug, file:line
# (strict xfail). The table above says what should happen; delete the entry once the
# view is fixed. (Operations list/detail accepting POST was found and fixed this way.)
XFAIL: dict[tuple[str, str, str], str] = {}

# Public pages: anonymous users are not sent to the login page.
PUBLIC = {"healthz", "login", "logout", "user_set_password"}


def _cases() -> Iterator[Any]:
    for pattern in url_patterns():
        for method in METHODS:
            for role in ROLES:
                key = (pattern.name, method, role)
                marks = [pytest.mark.xfail(strict=True, reason=XFAIL[key])] if key in XFAIL else []
                yield pytest.param(
                    pattern, method, role, marks=marks, id=f"{pattern.name}-{method}-{role}"
                )


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker, sandbox_server) -> Iterator[World]:
    with sample_world(django_db_blocker, sandbox_server.url) as built:
        yield built


def _status(code: int) -> int:
    return 302 if 300 <= code < 400 else code


def test_every_url_has_a_row_and_every_row_a_url():
    patterns = url_patterns()
    unnamed = [p.route for p in patterns if not p.name]
    assert not unnamed, f"Give these URL patterns a name (the matrix keys on names): {unnamed}"
    names = [p.name for p in patterns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    assert not duplicated, f"URL names used by more than one pattern: {duplicated}"
    missing = sorted(set(names) - set(EXPECTED))
    assert not missing, (
        f"URLs without a row in EXPECTED (tests/test_permission_matrix.py): {missing}. "
        "Add GET and POST rows saying what anonymous, no-role, Viewer, Operator and Admin "
        "users must get."
    )
    stale = sorted(set(EXPECTED) - set(names))
    assert not stale, f"Rows in EXPECTED for URLs that no longer exist: {stale}"
    stale_xfail = sorted({k for k in XFAIL if k[0] not in names})
    assert not stale_xfail, f"XFAIL entries for URLs that no longer exist: {stale_xfail}"
    for name, row in EXPECTED.items():
        assert set(row) == set(METHODS), f"EXPECTED[{name!r}] needs exactly {METHODS}"
        for method, by_role in row.items():
            assert set(by_role) == set(ROLES), f"EXPECTED[{name!r}][{method!r}] needs {ROLES}"


@pytest.mark.parametrize(("pattern", "method", "role"), _cases())
def test_permission_matrix(world, pattern, method, role):
    # Given the URL made concrete with sample objects, and a user in the role
    assert pattern.name in EXPECTED, (
        f"No row in EXPECTED for URL {pattern.name!r} ({pattern.route}): add one."
    )
    url = world.samples.url(pattern)
    client = world.client(role)
    # When it asks with an empty body
    response = client.generic(method, url)
    # Then it gets exactly what the table says
    expected = EXPECTED[pattern.name][method][role]
    got = _status(response.status_code)
    assert got == expected, (
        f"{method} {url} as {role}: got {response.status_code}, expected {expected} "
        f"(EXPECTED[{pattern.name!r}][{method!r}][{role!r}])"
    )
    if role == "anon" and got == 302 and pattern.name not in PUBLIC:
        assert response["Location"].startswith(reverse("login") + "?next="), (
            f"anonymous {method} {url} went to {response['Location']}, not the login page"
        )


# --- HTMX: a signed-out request is redirected, a partial varies -------------------------

# The page the signed-out user was on (htmx sends it as HX-Current-URL): where the login
# must bring them back to, rather than to the partial's own URL.
CURRENT_PAGE = "/inventory/?kind=cluster&region=eu-west-1"


def _anon_htmx_cases() -> list[Any]:
    return [
        pytest.param(pattern, method, id=f"{pattern.name}-{method}-anon_htmx")
        for pattern in url_patterns()
        for method in METHODS
    ]


@pytest.mark.parametrize(("pattern", "method"), _anon_htmx_cases())
def test_a_signed_out_htmx_request_is_sent_to_the_login_page(world, pattern, method):
    # Given a signed-out browser whose page makes an HTMX request (a poll, a swap)
    url = world.samples.url(pattern)
    client = world.client("anon")
    # When it asks
    response = client.generic(
        method, url, HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL=f"http://testserver{CURRENT_PAGE}"
    )
    plain = EXPECTED[pattern.name][method]["anon"]
    if plain != 302 or pattern.name in PUBLIC:
        # Then what is not behind the login answers as it does without HTMX
        assert _status(response.status_code) == plain, f"{method} {url}"
        return
    # Then htmx is told to load the login page (a 2xx/3xx would be swapped in or
    # followed), which brings the user back to the page they were on
    assert response.status_code == 401, f"{method} {url}: got {response.status_code}"
    location = urlsplit(response["HX-Redirect"])
    assert location.path == reverse("login")
    assert parse_qs(location.query)["next"] == [CURRENT_PAGE]
    assert b'name="password"' not in response.content, "a login form to swap in"


def test_a_signed_out_htmx_request_without_current_url_comes_back_to_the_request(world):
    # Given a signed-out HTMX request that does not say which page it came from
    url = reverse("inventory") + "?" + urlencode({"kind": "cluster"})
    # When it asks
    response = world.client("anon").get(url, HTTP_HX_REQUEST="true")
    # Then the login brings the user back to what was asked for
    assert response.status_code == 401
    assert parse_qs(urlsplit(response["HX-Redirect"]).query)["next"] == [url]


def test_a_signed_out_history_restore_gets_the_login_page_itself(world):
    # Given a signed-out back/forward restore that missed htmx's history cache: htmx
    # swaps the whole answer into the body and ignores HX-Redirect on it
    response = world.client("anon").get(
        reverse("inventory"), HTTP_HX_REQUEST="true", HTTP_HX_HISTORY_RESTORE_REQUEST="true"
    )
    # Then it is redirected like a page load (and the login page is what gets swapped)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


# Every URL whose answer to an HTMX swap is a partial of the page at the same URL.
SERVES_PARTIAL = {
    "home",
    "sync_progress",  # a plain request is redirected to the run's page
    "sync_runs",
    "sync_run",
    "inventory",
    "cluster",
    "topology_cluster",
    "instance",
    "global_cluster",
    "topology_global",
    "proxy",
    "caches",
    "cache_group",
    "cache_cluster",
    "serverless_cache",
    "dms",
    "dms_task",
    "parameter_groups",
    "parameter_diff",
    "parameter_group",
    "option_groups",
    "option_diff",
    "option_group",
    "snapshots",
    "snapshot",
    "topology",
    "audit",
    "findings",
    "drift",
    "users",
    "operations:list",
    "operations:detail",
    "operations:new",
    "drills:home",
    "drills:run",
    "drills:history",
    "drills:schedules",
    "drills:schedule_new",
    "drills:schedule_edit",
    "drills:backups",
    "metrics:charts",
}
# The query with which an HTMX request gets the partial, where the sample URL's own
# does not: the operation page swaps only its polled status box.
PARTIAL_QUERY = {"operations:detail": {"part": "status"}}
HTMX = {"HTTP_HX_REQUEST": "true"}


def _is_partial(response: Any) -> bool:
    return (
        response.status_code < 300
        and response["Content-Type"].startswith("text/html")
        and b"<html" not in response.content
    )


def _partial_url(world: World, pattern: Any) -> str:
    url = world.samples.url(pattern)
    query = PARTIAL_QUERY.get(pattern.name)
    return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}" if query else url


def _patterns(names: set[str]) -> list[Any]:
    return [pytest.param(p, id=p.name) for p in url_patterns() if p.name in names]


@pytest.mark.parametrize("pattern", _patterns(SERVES_PARTIAL))
def test_a_page_and_its_partial_at_one_url_vary_on_hx_request(world, pattern):
    # Given a page that also answers HTMX swaps with its partial
    url = _partial_url(world, pattern)
    client = world.client("admin")
    # When it is asked for as a page and as a swap
    page = client.get(url)
    swap = client.get(url, **HTMX)
    # Then the swap is a bare fragment, and both answers say that they depend on
    # HX-Request, so no cache (nor the browser's back/forward) hands one out for the other
    assert _is_partial(swap), f"GET {url} with HX-Request: not a partial ({swap.status_code})"
    assert "HX-Request" in swap.get("Vary", ""), f"GET {url} (partial) has no Vary: HX-Request"
    assert page.status_code in (200, 302), f"GET {url}: {page.status_code}"
    if page.status_code == 200:
        assert not _is_partial(page), f"GET {url} without HX-Request is a fragment"
        assert "HX-Request" in page.get("Vary", ""), f"GET {url} (page) has no Vary: HX-Request"


def test_every_url_that_serves_a_partial_is_listed():
    names = {p.name for p in url_patterns()}
    assert not SERVES_PARTIAL - names, f"SERVES_PARTIAL names no URL: {SERVES_PARTIAL - names}"


_NOT_LISTED = {
    p.name
    for p in url_patterns()
    if p.name not in SERVES_PARTIAL and EXPECTED.get(p.name, {}).get("GET", {}).get("admin") != 405
}


@pytest.mark.parametrize("pattern", _patterns(_NOT_LISTED))
def test_a_url_not_listed_as_serving_a_partial_serves_none(world, pattern):
    # Given a URL that SERVES_PARTIAL does not list (and that answers GET); when HTMX
    # asks for it
    response = world.client("admin").get(_partial_url(world, pattern), **HTMX)
    # Then it is no fragment (else list it above, so its Vary header is tested)
    assert not _is_partial(response), (
        f"{pattern.name} answers HTMX with a partial: add it to SERVES_PARTIAL"
    )


# --- operation kinds --------------------------------------------------------------------

# Who may start each kind. Destructive or data-losing kinds (issue 6's four-eyes list:
# unplanned global failover, backtrack, deleting a clone or an endpoint, restore over a
# name, promote) are Admin-only; the rest are Operator kinds.
KIND_ROLE: dict[str, str] = {
    "backtrack": "admin",
    "cache_failover_drill": "operator",
    "cache_test_failover": "operator",
    "clone_cluster": "operator",
    "cluster_failover": "operator",
    "cluster_failover_drill": "operator",
    "cluster_restore_drill": "operator",
    "copy_snapshot": "operator",
    "create_custom_endpoint": "operator",
    "create_read_replica": "operator",
    "delete_clone": "admin",
    "delete_custom_endpoint": "admin",
    "dms_start_task": "operator",
    # reload-target drops or truncates the target's tables.
    "dms_reload_task": "admin",
    "dms_stop_task": "operator",
    "dms_test_connection": "operator",
    "global_failover": "admin",
    "global_switchover": "operator",
    "global_switchover_drill": "operator",
    # Unplanned, data-losing: an Admin's call like the global_failover it wraps.
    "global_failover_drill": "admin",
    "instance_failover": "operator",
    "instance_failover_drill": "operator",
    "instance_restore_drill": "operator",
    "modify_custom_endpoint": "operator",
    # Irreversible (replication cannot be resumed) and on issue 6's four-eyes list.
    "promote_read_replica": "admin",
    "restore_cluster_pitr": "operator",
    "restore_instance_snapshot": "operator",
    "restore_instance_pitr": "operator",
    "serverless_capacity": "operator",
    "snapshot_cluster": "operator",
    "snapshot_instance": "operator",
}
# (kind, role) -> the bug, as XFAIL above. (promote_read_replica being open to
# Operators was found and fixed this way.)
KIND_XFAIL: dict[tuple[str, str], str] = {}


def _kind_names() -> list[str]:
    from operations import registry

    return sorted(registry.all_kinds())


def test_every_operation_kind_has_a_role():
    names = _kind_names()
    missing = sorted(set(names) - set(KIND_ROLE))
    assert not missing, (
        f"Operation kinds without a row in KIND_ROLE (tests/test_permission_matrix.py): "
        f"{missing}. Say whether an Operator or only an Admin may start each."
    )
    assert not sorted(set(KIND_ROLE) - set(names)), "KIND_ROLE names kinds that do not exist"


def _kind_cases() -> Iterator[Any]:
    for name in _kind_names():
        for role in ("viewer", "operator", "admin"):
            marks = (
                [pytest.mark.xfail(strict=True, reason=KIND_XFAIL[(name, role)])]
                if (name, role) in KIND_XFAIL
                else []
            )
            yield pytest.param(name, role, marks=marks, id=f"{name}-{role}")


@pytest.mark.parametrize(("kind", "role"), _kind_cases())
def test_each_operation_kind_is_started_only_by_its_role(world, kind, role):
    # Given a user in the role and the start page of the kind (no target: the
    # permission is checked first, then a missing target is a 404)
    client = world.client(role)
    url = reverse("operations:new", kwargs={"kind": kind})
    allowed = {"operator": ("operator", "admin"), "admin": ("admin",)}[KIND_ROLE[kind]]
    expected = 404 if role in allowed else 403
    # When it opens the form, and when it posts it
    for method in METHODS:
        response = client.generic(method, url)
        # Then only the kind's roles get past the permission check
        assert response.status_code == expected, (
            f"{method} {url} as {role}: got {response.status_code}, expected {expected}"
        )
