"""Tags on every mirrored kind: read with one tagging-API pass per account/region, equal
to AWS's (unicode, path-like keys), kept current by resyncs, read per resource when the
tagging API is refused, and marked "not read" — never "no tags" — when nothing could
read them. Through boto3 against the sandbox."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from estate import aws, queries
from estate.models import (
    CacheCluster,
    CacheReplicationGroup,
    DbEndpoint,
    DbProxy,
    EndpointKind,
    Mirrored,
    OptionGroup,
    ParameterGroup,
    ServerlessCache,
    SyncRun,
)
from estate.roles import VIEWER
from estate.sync import sync_scope
from estate.sync.rds import GLOBAL_CLUSTERS
from estate.sync.store import Lookups, PartWriter
from tests.factories import estate as f
from tests.factories.sandbox import PROD, REGION, capture, make_account, mirror_writes
from tests.factories.sandbox import client as aws_client
from tests.sandbox import tagged_estate
from tests.sandbox.tagged_estate import TAGS

pytestmark = pytest.mark.django_db

# Every concrete mirrored kind.
MIRRORED: list[type[Mirrored]] = list(Mirrored.__subclasses__())


@pytest.fixture
def clients(sandbox):
    built: dict[str, Any] = {}

    def get(service: str) -> Any:
        if service not in built:
            built[service] = aws_client(PROD, REGION, service)
        return built[service]

    return get


@pytest.fixture
def estate(clients) -> dict[str, str]:
    make_account(PROD)
    return tagged_estate.build(clients, REGION)


@pytest.fixture
def calls(monkeypatch) -> Counter:
    """AWS operations sync made (by name), counted as estate.aws counts them."""
    seen: Counter = Counter()
    count_call = aws.CallStats.count_call

    def counting(self: aws.CallStats, operation: str, waited: float) -> None:
        seen[operation] += 1
        count_call(self, operation, waited)

    monkeypatch.setattr(aws.CallStats, "count_call", counting)
    return seen


def mirrored(arn: str) -> Mirrored:
    for model in MIRRORED:
        row = model.objects.filter(arn=arn).first()
        if row is not None:
            return row
    raise AssertionError(f"{arn} is not mirrored")


def member_arns(clients: Any) -> list[str]:
    group = clients("elasticache").describe_replication_groups(ReplicationGroupId="carts")
    members = group["ReplicationGroups"][0]["MemberClusters"]
    return [CacheCluster.objects.get(identifier=m).arn for m in members]


def assert_mirror_equals_aws(clients: Any, arns: list[str]) -> None:
    for arn in arns:
        row = mirrored(arn)
        assert (row.tags, row.tags_error) == (tagged_estate.aws_tags(clients, arn), ""), arn


def test_a_sync_leaves_every_kinds_tags_equal_to_awss(estate, clients, calls):
    run = sync_scope()
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    arns = [*estate.values(), *member_arns(clients)]
    for arn in arns:
        assert mirrored(arn).tags == TAGS, arn
    assert_mirror_equals_aws(clients, arns)
    # Endpoints AWS gives no ARN (writer, reader, instance, proxy default) have no tags.
    derived = DbEndpoint.objects.exclude(
        kind__in=[EndpointKind.CUSTOM, EndpointKind.PROXY_ENDPOINT]
    )
    assert derived.exists()
    assert all(e.tags == {} and e.tags_error == "" for e in derived)
    # Fewest calls: one GetResources page for every kind of the account/region (fewer
    # than 100 tagged resources), TagList for the rest, no call per resource.
    assert calls["GetResources"] == 1
    assert calls["ListTagsForResource"] == 0


def test_every_kinds_page_shows_its_tags(estate, client):
    assert sync_scope().status == SyncRun.Status.SUCCEEDED
    client.force_login(f.make_user(role=VIEWER))
    pages = {
        "cluster": mirrored(estate["cluster"]),  # + its custom endpoint
        "instance": mirrored(estate["instance"]),
        "global_cluster": mirrored(estate["global_cluster"]),
        "proxy": mirrored(estate["proxy"]),  # + its proxy endpoint
        "cache_group": mirrored(estate["replication_group"]),
        "cache_cluster": mirrored(estate["cache_cluster"]),
        "serverless_cache": mirrored(estate["serverless_cache"]),
        "dms_task": mirrored(estate["dms_task"]),
        "parameter_group": mirrored(estate["parameter_group"]),
        "option_group": mirrored(estate["option_group"]),
    }
    pill = '<span class="pill">ünïcødé=välüé ✓ 東京</span>'
    for name, row in pages.items():
        page = client.get(reverse(name, args=[row.pk])).content.decode()
        assert pill in page, name
    # Sub-resources in their owner's tables: the cluster's custom endpoint and snapshot,
    # the proxy's endpoint
    cluster_page = client.get(reverse("cluster", args=[pages["cluster"].pk])).content.decode()
    assert cluster_page.count(pill) == 3
    proxy_page = client.get(reverse("proxy", args=[pages["proxy"].pk])).content.decode()
    assert proxy_page.count(pill) == 2
    # Lists: snapshots (both kinds), DMS instances, endpoints and tasks, the inventory
    assert client.get(reverse("snapshots")).content.decode().count(pill) >= 2
    assert client.get(reverse("dms")).content.decode().count(pill) == 4
    assert pill in client.get(reverse("inventory")).content.decode()


def test_resync_reflects_tags_added_changed_and_removed_on_every_kind(estate, clients):
    assert sync_scope().status == SyncRun.Status.SUCCEEDED
    arns = [*estate.values(), *member_arns(clients)]
    # When every resource gains a tag, changes one and loses one, and one loses all
    for arn in arns:
        tagged_estate.add_tags(clients, arn, {"added/ключ": "1", "team/owner": "ops"})
        tagged_estate.remove_tags(clients, arn, ["with space"])
    bare = estate["serverless_cache"]
    tagged_estate.remove_tags(clients, bare, [*TAGS, "added/ключ"])
    with capture() as ctx:
        run = sync_scope()
    # Then each change is mirrored, and only the changed rows were written
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert run.total("updated") == len(arns)
    assert run.total("created") == 0
    assert mirror_writes(ctx)
    assert_mirror_equals_aws(clients, arns)
    expected = {**TAGS, "added/ключ": "1", "team/owner": "ops"}
    del expected["with space"]
    assert mirrored(estate["dms_task"]).tags == expected
    assert mirrored(bare).tags == {}
    # And a resync of the unchanged estate writes nothing
    with capture() as ctx:
        again = sync_scope()
    assert mirror_writes(ctx) == []
    assert again.total("updated") == again.total("created") == 0


def test_a_sync_of_some_kinds_asks_the_tagging_api_for_their_types_only(estate, clients):
    sent: list[list[str]] = []

    def record(params: dict, **kwargs: Any) -> None:
        sent.append(list(params.get("ResourceTypeFilters") or []))

    original = aws.client

    def watching(*args: Any, **kwargs: Any) -> Any:
        boto_client = original(*args, **kwargs)
        if boto_client.meta.service_model.service_name == "resourcegroupstaggingapi":
            boto_client.meta.events.register("provide-client-params.*.GetResources", record)
        return boto_client

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(aws, "client", watching)
        run = sync_scope(kinds=["dms", "instances"])
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert sent == [["dms:rep", "dms:endpoint", "dms:task"]]
    assert mirrored(estate["dms_task"]).tags == TAGS


def test_without_the_tagging_api_each_resource_is_read_from_its_own_service(
    sandbox, estate, clients, calls
):
    sandbox.faults.deny(service="tagging")
    run = sync_scope()
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    arns = [*estate.values(), *member_arns(clients)]
    assert_mirror_equals_aws(clients, arns)
    # One ListTagsForResource per mirrored RDS/ElastiCache resource whose describe has no
    # TagList (default parameter and option groups included); DMS answers a whole
    # listing in one call (instances, endpoints, tasks).
    per_resource = sum(
        model.objects.count()
        for model in (ParameterGroup, OptionGroup, DbProxy, CacheReplicationGroup, CacheCluster)
    )
    per_resource += ServerlessCache.objects.count()
    per_resource += DbEndpoint.objects.filter(
        kind__in=[EndpointKind.CUSTOM, EndpointKind.PROXY_ENDPOINT]
    ).count()
    assert calls["ListTagsForResource"] == per_resource + 3
    assert calls["GetResources"] == 1  # refused once, not retried


def test_tags_that_cannot_be_read_are_marked_not_read_and_kept_as_last_read(
    sandbox, estate, clients, client
):
    assert sync_scope().status == SyncRun.Status.SUCCEEDED
    # Given a role that may read neither the tagging API nor ElastiCache's tags
    sandbox.faults.deny(service="tagging")
    sandbox.faults.deny(service="elasticache", action_prefix="ListTagsForResource")
    tagged_estate.add_tags(clients, estate["replication_group"], {"purpose": "sessions"})
    clients("elasticache").create_serverless_cache(
        ServerlessCacheName="new-flags", Engine="valkey", Tags=[{"Key": "team", "Value": "web"}]
    )
    # When the estate is resynced
    run = sync_scope()
    # Then each refusing API was asked once (not once per resource)
    assert sandbox.faults.denied_requests == 2
    # And the run says which tags it could not read
    assert run.status == SyncRun.Status.PARTIAL
    [(where, message)] = run.errors.items()
    assert where.endswith("/caches")
    assert re.match(r"tags not read for \d+ resources: GetResources: AccessDenied", message)
    assert "ListTagsForResource: AccessDenied" in message
    # And those resources are "not read", keeping the tags last read
    group = CacheReplicationGroup.objects.get(identifier="carts")
    assert group.tags == TAGS
    assert group.tags_error.startswith("GetResources: AccessDenied")
    assert not group.tags_read
    new = ServerlessCache.objects.get(identifier="new-flags")
    assert (new.tags, new.tags_read) == ({}, False)
    cache_groups = ParameterGroup.objects.filter(scope=ParameterGroup.Scope.CACHE)
    assert all(g.tags_error for g in cache_groups)
    # While the other services' tags were read, one resource at a time
    assert_mirror_equals_aws(clients, [estate["proxy"], estate["dms_task"]])
    # And nothing is rewritten while it stays so
    with capture() as ctx:
        sync_scope()
    assert mirror_writes(ctx) == []

    # The pages say "tags not read", never "no tags"
    client.force_login(f.make_user(role=VIEWER))
    for url in (
        reverse("cache_group", args=[group.pk]),
        reverse("serverless_cache", args=[new.pk]),
    ):
        page = client.get(url).content.decode()
        assert "tags not read: GetResources: AccessDenied" in page
        assert "no tags" not in page
    listing = client.get(reverse("inventory"), {"kind": "serverless-cache"}).content.decode()
    assert "tags not read" in listing

    # When the role may read tags again, the next sync reads them and clears the mark
    sandbox.faults.clear()
    assert sync_scope().status == SyncRun.Status.SUCCEEDED
    group.refresh_from_db()
    assert (group.tags, group.tags_error) == ({**TAGS, "purpose": "sessions"}, "")
    assert ServerlessCache.objects.get(identifier="new-flags").tags == {"team": "web"}


def test_the_inventory_tag_filter_keeps_resources_whose_tags_were_not_read(
    django_assert_max_num_queries,
):
    account = f.make_account()
    tagged = f.make_dms_task(account, tags={"team": "payments"})
    f.make_dms_task(account, tags={"team": "search"})
    untagged = f.make_dms_task(account, tags={})
    unread = f.make_dms_task(account, tags={}, tags_error="ListTagsForResource: AccessDenied")
    stale = f.make_dms_task(account, tags={"team": "search"}, tags_error="Throttling")

    def matching(**filters: Any) -> set[str]:
        rows = queries.inventory_rows(queries.InventoryFilters(kinds=("dms-task",), **filters))
        return {r["identifier"] for r in rows}

    # "Not read" is not "no tags": a tag filter keeps them (they may match), marked.
    assert matching(tag_key="team", tag_value="payments") == {
        tagged.identifier,
        unread.identifier,
        stale.identifier,
    }
    assert untagged.identifier not in matching(tag_key="team")
    with django_assert_max_num_queries(1):
        rows = list(queries.inventory_rows(queries.InventoryFilters(tag_key="team")))
    marks = {r["identifier"]: r["tags_error"] for r in rows}
    assert marks[unread.identifier] == "ListTagsForResource: AccessDenied"
    assert marks[tagged.identifier] == ""


def test_a_row_synced_before_tags_error_existed_is_not_rewritten_for_it():
    account = make_account(PROD)
    row = {
        "arn": f"arn:aws:rds::{PROD}:global-cluster:payments",
        "identifier": "payments",
        "status": "available",
        "tags": {"team": "payments"},
        "engine": "aurora-postgresql",
        "members": [],
    }
    # Given a row written by a sync that had no tags_error column
    before = PartWriter(GLOBAL_CLUSTERS, Lookups(account, REGION), timezone.now())
    before.add([row])
    # When a sync that reads its tags writes tags_error ""
    after = PartWriter(GLOBAL_CLUSTERS, Lookups(account, REGION), timezone.now())
    with capture() as ctx:
        after.add([{**row, "tags_error": ""}])
    # Then the row is unchanged, and nothing is written
    assert after.counts["unchanged"] == 1
    assert mirror_writes(ctx) == []
    # While a tag that could not be read is a change
    unread = PartWriter(GLOBAL_CLUSTERS, Lookups(account, REGION), timezone.now())
    unread.add([{k: v for k, v in row.items() if k != "tags"} | {"tags_error": "Throttling"}])
    assert unread.counts["updated"] == 1
