"""The snapshot page: what a snapshot is, who may restore it, its copies, the
operations that start from it, and the links to it from every list of snapshots."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from estate.roles import OPERATOR, VIEWER
from tests.factories import estate as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client):
    client.force_login(f.make_user(role=VIEWER))


@pytest.fixture
def operator(client):
    client.force_login(f.make_user(role=OPERATOR))


def _page(client, snapshot) -> str:
    response = client.get(reverse("snapshot", args=[snapshot.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_snapshot_page_shows_source_size_encryption_engine_created_sharing_and_tags(client, viewer):
    # Given a manual snapshot of a mirrored instance, shared with one other account
    instance = f.make_instance(engine="postgres", identifier="billing-db")
    created = timezone.now() - timedelta(days=3)
    snapshot = f.make_snapshot(
        instance=instance,
        identifier="billing-before-upgrade",
        engine="postgres",
        engine_version="16.4",
        allocated_storage=250,
        encrypted=True,
        kms_key_id="arn:aws:kms:us-east-1:111111111111:key/abcd",
        created_time=created,
        shared_with=["222222222222"],
        tags={"purpose": "pre-upgrade"},
    )
    # When its page is opened
    html = _page(client, snapshot)
    # Then it names and links its source and says what it holds and who may restore it
    assert f'href="{reverse("instance", args=[instance.pk])}"' in html
    assert "billing-db" in html
    assert "250 GiB" in html
    assert "postgres 16.4" in html
    assert "arn:aws:kms:us-east-1:111111111111:key/abcd" in html
    assert created.strftime("%Y-%m-%d %H:%M") in html
    assert "222222222222" in html
    assert "pre-upgrade" in html
    assert snapshot.arn in html


def test_an_automated_snapshot_is_said_to_be_unshareable(client, viewer):
    snapshot = f.make_snapshot(instance=f.make_instance(), snapshot_type="automated")
    assert "automated snapshots cannot be shared" in _page(client, snapshot)


def test_a_public_snapshot_says_everyone_may_restore_it(client, viewer):
    snapshot = f.make_snapshot(instance=f.make_instance(), is_public=True)
    assert "everyone (public)" in _page(client, snapshot)


def test_snapshot_page_links_copies_and_the_snapshot_a_copy_came_from(client, viewer):
    # Given a cluster snapshot and a cross-region copy of it
    cluster = f.make_cluster(identifier="orders")
    source = f.make_snapshot(cluster=cluster, identifier="orders-nightly")
    copy = f.make_snapshot(
        cluster=cluster,
        identifier="orders-nightly-dr",
        region="eu-west-1",
        source_snapshot_arn=source.arn,
    )
    # Then the source's page links the copy, and the copy's page links the source
    source_html = _page(client, source)
    copy_html = _page(client, copy)
    assert f'href="{reverse("snapshot", args=[copy.pk])}"' in source_html
    assert "eu-west-1" in source_html
    assert f'href="{reverse("cluster", args=[cluster.pk])}"' in source_html
    assert f'href="{reverse("snapshot", args=[source.pk])}"' in copy_html
    assert "an original, not a copy" not in copy_html


def test_a_copy_whose_source_is_not_mirrored_shows_the_source_arn(client, viewer):
    arn = "arn:aws:rds:us-west-2:333333333333:snapshot:elsewhere"
    copy = f.make_snapshot(instance=f.make_instance(), source_snapshot_arn=arn)
    html = _page(client, copy)
    assert arn in html
    assert "(not mirrored)" in html


def test_an_operator_is_offered_restore_and_copy_on_an_instance_snapshot(client, operator):
    snapshot = f.make_snapshot(instance=f.make_instance())
    html = _page(client, snapshot)
    target = f"?target={snapshot.arn}".replace(":", "%3A")
    for kind in ("restore_instance_snapshot", "copy_snapshot"):
        url = reverse("operations:new", args=[kind])
        assert f'href="{url}{target}"' in html, kind
    assert "Restore instance from snapshot" in html
    assert "Copy snapshot" in html


def test_a_cluster_snapshot_is_not_offered_an_instance_restore(client, operator):
    snapshot = f.make_snapshot(cluster=f.make_cluster())
    html = _page(client, snapshot)
    assert "Copy snapshot" in html
    assert reverse("operations:new", args=["restore_instance_snapshot"]) not in html


def test_a_viewer_is_offered_no_operation(client, viewer):
    html = _page(client, f.make_snapshot(instance=f.make_instance()))
    assert reverse("operations:new", args=["copy_snapshot"]) not in html


def test_a_gone_snapshot_is_offered_no_operation(client, operator):
    snapshot = f.make_snapshot(instance=f.make_instance(), gone_at=timezone.now())
    html = _page(client, snapshot)
    assert reverse("operations:new", args=["copy_snapshot"]) not in html


def test_an_unknown_snapshot_is_404(client, viewer):
    assert client.get(reverse("snapshot", args=[999999])).status_code == 404


def test_every_list_of_snapshots_links_to_the_snapshot_page(client, viewer):
    # Given a standalone instance and a cluster, each with a snapshot, and a copy
    instance = f.make_instance()
    cluster = f.make_cluster()
    of_instance = f.make_snapshot(instance=instance)
    of_cluster = f.make_snapshot(cluster=cluster)
    copy = f.make_snapshot(cluster=cluster, region="eu-west-1", source_snapshot_arn=of_cluster.arn)
    listing = client.get(reverse("snapshots")).content.decode()
    instance_page = client.get(reverse("instance", args=[instance.pk])).content.decode()
    cluster_page = client.get(reverse("cluster", args=[cluster.pk])).content.decode()

    def link(s) -> str:
        return f'href="{reverse("snapshot", args=[s.pk])}"'

    assert link(of_instance) in listing
    assert link(of_cluster) in listing
    assert link(copy) in listing
    assert link(of_instance) in instance_page
    assert link(of_cluster) in cluster_page


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_snapshot_page_query_count_does_not_grow_with_copies(
    client, operator, django_assert_max_num_queries
):
    cluster = f.make_cluster()
    source = f.make_snapshot(cluster=cluster)
    url = reverse("snapshot", args=[source.pk])

    def copy(i: int) -> None:
        f.make_snapshot(
            cluster=cluster, region=f"eu-west-{i % 3 + 1}", source_snapshot_arn=source.arn
        )

    copy(0)
    # The page's own queries (user, snapshot, copies, operations, last seen, audit)
    # and 12 for the findings panel, which evaluates the posture rules over the estate;
    # one more when sessions live in the database (no Redis).
    with django_assert_max_num_queries(23):
        one = _queries(client, url)
    for i in range(1, 30):
        copy(i)
    assert _queries(client, url) == one
