"""The overview's "Needs attention": a resource that is not available, a metric past
its threshold and an open critical or high finding all count, each linked to its page,
in a number of queries that does not grow with the estate."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from estate import models as m
from estate.roles import VIEWER
from guard import rules
from metrics.catalog import SPECS
from metrics.models import Series
from metrics.sync import write_points
from tests.factories import estate as factories
from tests.factories import guard as builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer_client(client, settings):
    settings.GUARD_COUNTS_CACHE_SECONDS = 0  # counts as of this request
    user = User.objects.create_user("attention-viewer")
    user.groups.add(Group.objects.get(name=VIEWER))
    client.force_login(user)
    return client


def _lagging(reader: m.DbInstance, seconds: float) -> None:
    """The reader's latest AuroraReplicaLag point, stored the way the sync stores it."""
    now = timezone.now()
    series = Series.objects.create(
        resource_arn=reader.arn,
        metric="AuroraReplicaLag",
        account=reader.account,
        region=reader.region,
        namespace=SPECS["AuroraReplicaLag"].namespace,
    )
    at = now - timedelta(minutes=1)
    write_points({series.pk: {at: seconds}})
    Series.objects.filter(pk=series.pk).update(last_point_at=at, last_value=seconds)


def _secure_estate(n: int = 1) -> list[m.DbCluster]:
    acct = builders.account()
    builders.security_group(acct, builders.SECURE_SG, None)
    return [builders.cluster(acct) for _ in range(n)]


def _attention(client) -> str:
    body = client.get(reverse("home")).content.decode()
    return body[body.index("<h2>Needs attention</h2>") : body.index('aria-label="Operations"')]


def test_nothing_needs_attention_only_when_nothing_does(viewer_client):
    _secure_estate()
    assert rules.evaluate() == []
    section = _attention(viewer_client)
    assert "Nothing needs attention" in section


def test_a_reader_lagging_past_its_threshold_needs_attention(viewer_client):
    # given an available, secure estate whose reader lags 58 s against the 30 s threshold
    (cluster,) = _secure_estate()
    reader = cluster.instances.get(is_cluster_writer=False)
    _lagging(reader, 58.0)
    # then the overview no longer says all is well: the breach is listed and linked
    section = _attention(viewer_client)
    assert "Nothing needs attention" not in section
    assert "Every resource is available." in section
    assert f'href="{reverse("inventory")}?past_threshold=1"' in section
    assert f'<a href="{reverse("instance", args=[reader.pk])}">{reader.identifier}</a>' in section
    assert "Reader lag 58.0 s (above 30.0 s)" in section


def test_critical_and_high_findings_need_attention_and_link_to_the_findings(viewer_client):
    acct = builders.account()
    builders.security_group(acct, builders.SECURE_SG, None)
    builders.snapshot(acct, is_public=True)  # critical
    builders.instance(acct, publicly_accessible=True)  # high
    builders.instance(acct, storage_encrypted=False)  # high
    builders.instance(acct, auto_minor_version_upgrade=False)  # low: not attention
    section = _attention(viewer_client)
    findings = reverse("findings")
    assert (
        '<span class="badge tone-bad">1</span> '
        f'<a href="{findings}?severity=critical">critical security finding</a>'
    ) in section
    assert (
        '<span class="badge tone-bad">2</span> '
        f'<a href="{findings}?severity=high">high security findings</a>'
    ) in section
    assert "severity=low" not in section
    assert "severity=medium" not in section


def test_the_overview_needs_the_same_queries_for_a_small_and_a_large_estate(
    viewer_client, django_assert_max_num_queries
):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert viewer_client.get(reverse("home")).status_code == 200
        return len(captured.captured_queries)

    # given one lagging reader, one unavailable cluster and one public snapshot
    (cluster,) = _secure_estate()
    _lagging(cluster.instances.get(is_cluster_writer=False), 58.0)
    factories.make_cluster(status="failing-over")
    builders.snapshot(is_public=True)
    small = queries()
    # when the estate grows twentyfold in every way that counts as attention
    for c in _secure_estate(20):
        _lagging(c.instances.get(is_cluster_writer=False), 90.0)
        factories.make_cluster(status="failing-over")
        builders.snapshot(is_public=True)
    # then the overview needs no more queries
    with django_assert_max_num_queries(small):
        section = _attention(viewer_client)
    assert "21 more" not in section
    assert f"{21 - 5} more" in section
