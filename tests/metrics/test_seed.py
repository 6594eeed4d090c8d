"""The sandbox's demo metrics: plausible series that the metrics sync can read back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from metrics import queries
from metrics.catalog import HIT_RATE
from metrics.models import Series
from metrics.sync import sync_metrics
from sandbox.metrics_seed import publish_demo_metrics
from tests.factories import estate as factories

pytestmark = pytest.mark.django_db


def test_demo_series_show_a_lagging_replica_scaling_serverless_and_a_cache(cw_sandbox, now):
    # Given a small mirrored estate
    account = factories.make_account()
    family = factories.make_aurora_family(
        account,
        readers=2,
        serverless_v2_min_acu=0.5,
        serverless_v2_max_acu=8,
    )
    group = factories.make_replication_group(account, replicas=1)
    # When the sandbox publishes 30 minutes of demo metrics and Estate syncs them
    sent = publish_demo_metrics(cw_sandbox.url, now, since=now - timedelta(minutes=30))
    result = sync_metrics(now=now + timedelta(minutes=1))
    # Then every series has its 30 points
    assert sent > 0
    assert result["errors"] == {}
    assert result["points_fetched"] == sent
    # And the first reader lags past the threshold while the other does not
    lags = {s.resource_arn: s.last_value for s in Series.objects.filter(metric="AuroraReplicaLag")}
    first, second = family["readers"]
    assert lags[first.arn] > 30
    assert lags[second.arn] < 1
    # And the Serverless capacity stays within its min and max ACU
    capacity = Series.objects.get(
        resource_arn=family["cluster"].arn, metric="ServerlessDatabaseCapacity"
    )
    values = [v for h in capacity.hours.all() for v in h.values if v is not None]
    assert len(values) == 30
    assert all(0.5 <= v <= 8 for v in values)
    # And the cache has a hit rate
    rate = Series.objects.get(resource_arn=group.arn, metric=HIT_RATE)
    assert 50 <= rate.last_value <= 100
    # And the lagging reader is on the overview's list
    assert first.arn in {
        b.resource_arn for b in queries.past_threshold(now=now + timedelta(minutes=1))
    }


def test_demo_publisher_backfills_once_mirrored_then_publishes_only_new_minutes(cw_sandbox, now):
    from sandbox.metrics_seed import DemoPublisher

    publisher = DemoPublisher(cw_sandbox.url)
    # Given nothing mirrored yet, a round publishes nothing and remembers nothing
    assert publisher.tick(now) == 0
    assert publisher.last is None
    # When the inventory has mirrored an instance (6 series)
    factories.make_instance()
    # Then the next round backfills three hours, and later rounds only the new minutes
    assert publisher.tick(now) == 6 * 180
    assert publisher.tick(now) == 0
    assert publisher.tick(now + timedelta(minutes=2)) == 6 * 2
