"""Every URL of the project, made concrete: one sample object for every URL kwarg.

Shared by the permission matrix (tests/test_permission_matrix.py) and the fuzz test
(tests/test_fuzz.py). ``url_patterns()`` walks the resolver (Django's admin excluded:
it has its own permission system, staff/superuser plus model permissions, and is not
part of the role model). ``build_samples()`` makes a small estate plus one row of each
kind a URL points at, and ``Samples.url(name)`` returns the concrete path (with any
query string the page needs to show something real, e.g. an operation's target).

Adding a URL with kwargs? Add its kwargs to ``_kwargs_for`` below; a URL without a
sample fails both tests with a message that says so.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import SESSION_KEY
from django.contrib.auth.tokens import default_token_generator
from django.db import transaction
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from estate.roles import ADMIN, OPERATOR, VIEWER
from tests.factories import estate as factories

# Who asks: column name -> role (None = anonymous, "" = logged in without a role).
ROLES: dict[str, str | None] = {
    "anon": None,
    "none": "",
    "viewer": VIEWER,
    "operator": OPERATOR,
    "admin": ADMIN,
}

# Namespaces left out of the walk, with the reason.
SKIPPED_NAMESPACES = {
    # Django's admin guards itself (is_staff + per-model permissions) and is tested by
    # Django; Estate's roles are not meant to open it.
    "admin",
}


@dataclass(frozen=True)
class Pattern:
    name: str  # namespaced ("operations:detail"); "" when the pattern has no name
    route: str  # the full route, for messages
    kwargs: tuple[str, ...]  # the URL's keyword arguments


def url_patterns() -> list[Pattern]:
    """Every URL pattern of ROOT_URLCONF (recursively, namespaces joined with ':'),
    except those in SKIPPED_NAMESPACES."""
    found: list[Pattern] = []

    def walk(resolver: URLResolver, prefix: str, namespaces: tuple[str, ...]) -> None:
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                if entry.namespace in SKIPPED_NAMESPACES:
                    continue
                inner = (*namespaces, entry.namespace) if entry.namespace else namespaces
                walk(entry, prefix + str(entry.pattern), inner)
            elif isinstance(entry, URLPattern):
                name = ":".join((*namespaces, entry.name)) if entry.name else ""
                route = prefix + str(entry.pattern)
                regex = entry.pattern.regex
                kwargs = tuple(regex.groupindex) or tuple(
                    f"<positional {i}>" for i in range(regex.groups)
                )
                found.append(Pattern(name=name, route=route, kwargs=kwargs))

    walk(get_resolver(), "", ())
    return found


class MissingSample(LookupError):
    pass


@dataclass
class Samples:
    """The sample rows and, per URL name, its kwargs and query string."""

    objects: dict[str, Any]
    kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    query: dict[str, dict[str, str]] = field(default_factory=dict)

    def url(self, pattern: Pattern) -> str:
        if pattern.kwargs and pattern.name not in self.kwargs:
            raise MissingSample(
                f"URL {pattern.name or pattern.route!r} ({pattern.route}) takes "
                f"{', '.join(pattern.kwargs)}: add a sample for it to _kwargs_for() in "
                "tests/url_samples.py."
            )
        kwargs = self.kwargs.get(pattern.name, {})
        missing = set(pattern.kwargs) - set(kwargs)
        if missing:
            raise MissingSample(
                f"The sample for URL {pattern.name!r} ({pattern.route}) lacks "
                f"{', '.join(sorted(missing))}: complete it in tests/url_samples.py."
            )
        path = reverse(pattern.name, kwargs=kwargs or None)
        query = self.query.get(pattern.name)
        return f"{path}?{urlencode(query)}" if query else path


def build_samples() -> Samples:
    """A demo estate plus one row of every kind a URL points at. Needs the database."""
    from drills.models import DrillRun, DrillSchedule, RunStatus
    from estate import models
    from estate.roles import VIEWER
    from guard.models import FindingSuppression
    from operations.models import Operation, State

    estate = factories.make_demo_estate()
    prod = estate["prod"]
    cluster = estate["orders"]["cluster"]
    instance = estate["orders"]["writer"]
    now = timezone.now()
    objects: dict[str, Any] = {
        **estate,
        "cluster": cluster,
        "instance": instance,
        "proxy": estate["orders"]["proxy"],
        "serverless": factories.make_serverless_cache(prod, identifier="sessions-serverless"),
        "parameter_group": models.ParameterGroup.objects.get(identifier="orders-pg16"),
        "option_group": factories.make_option_group(prod, identifier="legacy-mysql-options"),
        "snapshot": models.DbSnapshot.objects.get(identifier="orders-before-migration"),
        "sync_run": factories.make_sync_run(),
        # Queued and held by no worker: cancelling it is immediate and touches no AWS.
        "operation": Operation.objects.create(
            kind="cluster_failover",
            target_arn=cluster.arn,
            target_label=cluster.identifier,
            account=cluster.account,
            region=cluster.region,
            state=State.QUEUED,
        ),
        "schedule": DrillSchedule.objects.create(
            name="weekly orders failover",
            target_arn=cluster.arn,
            target_label=cluster.identifier,
            cron="0 3 * * 2",
        ),
        "suppression": FindingSuppression.objects.create(
            rule_id="public-instance",
            resource_arn=estate["reporting"].arn,
            reason="a reporting box behind an allow-list",
            expires_at=now + timedelta(days=30),
        ),
        # The subject of the user-management URLs (never the user who is logged in).
        "user": factories.make_user("matrix-subject", role=VIEWER, email="subject@example.com"),
    }
    finished_op = Operation.objects.create(
        kind="cluster_failover",
        target_arn=cluster.arn,
        target_label=cluster.identifier,
        account=cluster.account,
        region=cluster.region,
        state=State.SUCCEEDED,
        finished_at=now,
    )
    objects["drill_run"] = DrillRun.objects.create(
        drill_type="failover",
        operation=finished_op,
        schedule=objects["schedule"],
        target_arn=cluster.arn,
        target_label=cluster.identifier,
        status=RunStatus.PASSED,
        finished_at=now,
        slo_seconds=35,
        client_downtime_seconds=12.5,
        api_failover_seconds=20.0,
    )
    samples = Samples(objects=objects, kwargs=_kwargs_for(objects))
    samples.query = {
        # The start form needs a target; without one the page is a 404 for everybody.
        "operations:new": {"target": cluster.arn},
        "drills:history": {"arn": cluster.arn},
        "drills:history_chart": {"arn": cluster.arn},
    }
    return samples


def _kwargs_for(o: dict[str, Any]) -> dict[str, dict[str, Any]]:
    user = o["user"]
    return {
        "sync_progress": {"pk": o["sync_run"].pk},
        "sync_run": {"pk": o["sync_run"].pk},
        "cluster": {"pk": o["cluster"].pk},
        "topology_cluster": {"pk": o["cluster"].pk},
        "instance": {"pk": o["instance"].pk},
        "topology_instance": {"pk": o["instance"].pk},
        "global_cluster": {"pk": o["global_cluster"].pk},
        "topology_global": {"pk": o["global_cluster"].pk},
        "proxy": {"pk": o["proxy"].pk},
        "cache_group": {"pk": o["sessions"].pk},
        "cache_cluster": {"pk": o["memcached"].pk},
        "serverless_cache": {"pk": o["serverless"].pk},
        "dms_task": {"pk": o["dms_task"].pk},
        "parameter_group": {"pk": o["parameter_group"].pk},
        "option_group": {"pk": o["option_group"].pk},
        "snapshot": {"pk": o["snapshot"].pk},
        "finding_suppression_revoke": {"pk": o["suppression"].pk},
        "user_role": {"pk": user.pk},
        "user_active": {"pk": user.pk},
        "user_unlock": {"pk": user.pk},
        "user_set_password": {
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
        "operations:detail": {"pk": o["operation"].pk},
        "operations:cancel": {"pk": o["operation"].pk},
        "operations:approve": {"pk": o["operation"].pk},
        "operations:reject": {"pk": o["operation"].pk},
        # A non-destructive kind (Operators may start it); the matrix test checks every
        # kind's Operator/Admin split separately.
        "operations:new": {"kind": "cluster_failover"},
        "drills:run": {"pk": o["drill_run"].pk},
        "drills:run_chart": {"pk": o["drill_run"].pk},
        "drills:schedule_edit": {"pk": o["schedule"].pk},
        "drills:schedule_delete": {"pk": o["schedule"].pk},
        "metrics:charts": {"kind": "cluster", "pk": o["cluster"].pk},
        "metrics:data": {"kind": "cluster", "pk": o["cluster"].pk},
    }


@dataclass
class World:
    """Samples plus one user and one logged-in test client per role."""

    samples: Samples
    users: dict[str, Any]
    clients: dict[str, Client]

    def client(self, role: str) -> Client:
        """The role's client, logged in again if a request logged it out."""
        client = self.clients[role]
        if role != "anon" and client.session.get(SESSION_KEY) != str(self.users[role].pk):
            client.force_login(self.users[role])
        return client


@contextmanager
def sample_world(django_db_blocker: Any, aws_endpoint_url: str) -> Iterator[World]:
    """Build the samples once (for a module-scoped fixture) inside a transaction that
    is rolled back at the end; each test's own transaction is a savepoint in it, so
    what one test's POSTs change is gone before the next test.

    "AWS" is the sandbox at ``aws_endpoint_url``, never the real thing. It is not
    reset per test: requests here never get as far as a mutating call."""
    with (
        override_settings(AWS_ENDPOINT_URL=aws_endpoint_url),
        django_db_blocker.unblock(),
        transaction.atomic(),
    ):
        users = {
            column: factories.make_user(f"sample-{column}", role=role or None)
            for column, role in ROLES.items()
            if role is not None
        }
        # One logged-in client per role (a login costs as much as the request after it).
        clients = {column: Client() for column in ROLES}
        for column, user in users.items():
            clients[column].force_login(user)
        yield World(samples=build_samples(), users=users, clients=clients)
        transaction.set_rollback(True)
