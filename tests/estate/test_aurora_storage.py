"""Aurora's storage is the cluster volume: its pages show the volume used (the latest
mirrored VolumeBytesUsed point) and the storage configuration, never the 1 GiB
instance-style allocation AWS reports for Aurora instances."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from estate.roles import VIEWER
from metrics.catalog import SPECS
from metrics.models import Series
from tests.factories import estate as f

pytestmark = pytest.mark.django_db

GIB = 1024**3


@pytest.fixture
def viewer(client):
    client.force_login(f.make_user(role=VIEWER))


def _volume(cluster, used_bytes: float) -> None:
    """The cluster's VolumeBytesUsed series as the metrics sync leaves it."""
    Series.objects.create(
        account=cluster.account,
        region=cluster.region,
        resource_arn=cluster.arn,
        metric="VolumeBytesUsed",
        namespace=SPECS["VolumeBytesUsed"].namespace,
        last_point_at=timezone.now() - timedelta(minutes=3),
        last_value=used_bytes,
    )


def _storage(client, name: str, pk: int) -> str:
    html = client.get(reverse(name, args=[pk])).content.decode()
    start = html.index("<dt>Storage</dt>")
    return html[start : html.index("</dd>", start)]


def test_aurora_cluster_and_its_instances_show_the_volume_used_and_io_optimized(client, viewer):
    # Given an I/O-Optimized Aurora cluster whose instances AWS reports as "gp2 · 1 GiB"
    family = f.make_aurora_family(storage_type="aurora-iopt1", with_proxy=False)
    cluster, writer = family["cluster"], family["writer"]
    writer.storage_type, writer.allocated_storage = "gp2", 1
    writer.save()
    _volume(cluster, 120.4 * GIB)
    # When the cluster's and the writer's pages are opened
    for name, pk in (("cluster", cluster.pk), ("instance", writer.pk)):
        storage = _storage(client, name, pk)
        # Then both show the cluster volume and what it holds, not an allocation
        assert "Aurora I/O-Optimized cluster volume" in storage, name
        assert "120.4 GiB" in storage, name
        assert "gp2" not in storage, name
        assert "1 GiB" not in storage, name


def test_aurora_standard_is_what_aws_leaves_unsaid(client, viewer):
    # AWS omits StorageType for Aurora Standard (the default).
    cluster = f.make_cluster(storage_type="")
    assert "Aurora Standard cluster volume" in _storage(client, "cluster", cluster.pk)
    cluster.storage_type = "aurora"
    cluster.save()
    assert "Aurora Standard cluster volume" in _storage(client, "cluster", cluster.pk)


def test_aurora_volume_not_yet_mirrored_says_so(client, viewer):
    cluster = f.make_cluster(storage_type="aurora-iopt1", allocated_storage=1)
    storage = _storage(client, "cluster", cluster.pk)
    assert "volume used not mirrored yet" in storage
    assert "1 GiB" not in storage


def test_a_standalone_instance_still_shows_its_allocation(client, viewer):
    instance = f.make_instance(storage_type="gp3", allocated_storage=500)
    storage = _storage(client, "instance", instance.pk)
    assert "gp3" in storage
    assert "500 GiB" in storage
    assert "cluster volume" not in storage


def test_a_multi_az_db_cluster_shows_its_provisioned_storage(client, viewer):
    # A Multi-AZ DB cluster (not Aurora) has a real allocation.
    cluster = f.make_cluster(engine="postgres", storage_type="io1", allocated_storage=400)
    storage = _storage(client, "cluster", cluster.pk)
    assert "io1 · 400 GiB" in storage
    assert "cluster volume" not in storage
