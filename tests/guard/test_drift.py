"""Configuration drift: pending reboots, split clusters, drifted replicas, baseline."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from estate import models as m
from guard.drift import against_baseline, find_drift
from tests.factories.guard import account, cluster, instance

pytestmark = pytest.mark.django_db
SCOPE = m.ParameterGroup.Scope.INSTANCE


def group(acct, name, family="postgres16", region="us-east-1", **params) -> m.ParameterGroup:
    row = m.ParameterGroup.objects.create(
        account=acct,
        region=region,
        identifier=name,
        arn=f"arn:aws:rds:{region}:{acct.account_id}:pg:{name}",
        scope=SCOPE,
        family=family,
    )
    for key, value in params.items():
        m.Parameter.objects.create(group=row, name=key.replace("__", "."), value=value)
    return row


def _uses(name: str, status: str = "in-sync") -> dict:
    return {"parameter_groups": [{"name": name, "status": status}]}


def test_an_instance_waiting_for_a_reboot_is_listed():
    acct = account()
    waiting = instance(acct, **_uses("app-pg", "pending-reboot"))
    instance(acct, **_uses("app-pg"))
    pending = find_drift().pending
    assert [(p.row.identifier, p.groups) for p in pending] == [(waiting.identifier, ["app-pg"])]


def test_cluster_members_with_different_groups_show_the_differing_parameters():
    acct = account()
    group(acct, "pg-a", work_mem="4MB", shared_buffers="1GB")
    group(acct, "pg-b", work_mem="64MB", shared_buffers="1GB", log_statement="all")
    row = cluster(acct, readers=1)
    members = list(row.instances.order_by("identifier"))
    m.DbInstance.objects.filter(pk=members[0].pk).update(**_uses("pg-a"))
    m.DbInstance.objects.filter(pk=members[1].pk).update(**_uses("pg-b"))
    (split,) = find_drift().clusters
    assert split.cluster == row
    diffs = [(d.name, d.left, d.right) for d in split.pairs[0].diffs]
    assert diffs == [("log_statement", None, "all"), ("work_mem", "4MB", "64MB")]


def test_a_cluster_whose_members_agree_is_not_drift():
    acct = account()
    row = cluster(acct, readers=2)
    row.instances.update(**_uses("same"))
    assert find_drift().clusters == []


def test_a_replica_with_different_parameters_from_its_source_is_listed():
    acct = account()
    group(acct, "src-pg", max_connections="500")
    group(acct, "rep-pg", max_connections="100")
    source = instance(acct, **_uses("src-pg"))
    replica = instance(
        acct, replica_source=source, replica_source_identifier=source.identifier, **_uses("rep-pg")
    )
    (item,) = find_drift().replicas
    assert item.replica == replica
    assert [(d.name, d.left, d.right) for d in item.pair.diffs] == [
        ("max_connections", "500", "100")
    ]


def test_a_cross_region_replica_with_equal_parameters_is_not_drift():
    acct = account()
    group(acct, "pg", max_connections="500")
    group(acct, "pg", region="eu-west-1", max_connections="500")
    source = instance(acct, **_uses("pg"))
    instance(
        acct,
        region="eu-west-1",
        arn="arn:aws:rds:eu-west-1:1:db:rep",
        replica_source=source,
        **_uses("pg"),
    )
    assert find_drift().replicas == []


def test_groups_are_compared_with_a_baseline_of_the_same_family():
    acct = account()
    baseline = group(acct, "golden", work_mem="16MB")
    group(acct, "same", work_mem="16MB")
    group(acct, "drifted", work_mem="1MB")
    group(acct, "other-family", family="mysql8.0", work_mem="1MB")
    pairs = against_baseline(baseline)
    assert [p.right.identifier for p in pairs] == ["drifted"]


def test_drift_needs_the_same_queries_for_a_small_and_a_large_estate():
    acct = account()
    group(acct, "a", x="1")
    group(acct, "b", x="2")

    def build() -> None:
        row = cluster(acct, readers=1)
        first, second = row.instances.all()
        m.DbInstance.objects.filter(pk=first.pk).update(**_uses("a", "pending-reboot"))
        m.DbInstance.objects.filter(pk=second.pk).update(**_uses("b"))

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            find_drift()
        return len(captured.captured_queries)

    build()
    small = queries()
    for _ in range(10):
        build()
    assert queries() == small <= 4


def test_drift_page_access_full_page_and_baseline_partial(client, nobody, viewer):
    assert client.get(reverse("drift")).status_code == 302
    client.force_login(nobody)
    assert client.get(reverse("drift")).status_code == 403
    acct = account()
    baseline = group(acct, "golden", work_mem="16MB")
    group(acct, "drifted", work_mem="<b>1MB</b>")
    instance(acct, **_uses("golden", "pending-reboot"))
    client.force_login(viewer)
    page = client.get(reverse("drift"))
    assert page.status_code == 200
    assert "Waiting for a reboot" in page.content.decode()
    assert "pending-reboot" in page.content.decode()
    partial = client.get(reverse("drift"), {"baseline": baseline.pk}, HTTP_HX_REQUEST="true")
    body = partial.content.decode()
    assert partial.status_code == 200
    assert body.strip().startswith('<div id="baseline">')
    assert "&lt;b&gt;1MB&lt;/b&gt;" in body
    assert client.get(reverse("drift"), {"baseline": "999999"}).status_code == 400
    assert client.get(reverse("drift"), {"baseline": "x"}).status_code == 400


def test_a_replica_on_the_same_default_group_as_its_source_is_not_drift():
    acct = account()
    source = instance(acct, **_uses("default.postgres16"))
    instance(
        acct,
        region="eu-west-1",
        arn="arn:aws:rds:eu-west-1:1:db:rep2",
        replica_source=source,
        **_uses("default.postgres16"),
    )
    assert find_drift().replicas == []
