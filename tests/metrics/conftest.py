"""Fixtures for the metrics tests: the sandbox's CloudWatch with Estate's speedups, and a
helper that publishes points for a mirrored resource."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import pytest
from django.utils import timezone

from estate import aws
from estate.models import Account
from sandbox.metrics_seed import install_cloudwatch_speedups

Publish = Callable[..., None]


@pytest.fixture
def cw_sandbox(sandbox):
    """The sandbox, with GetMetricData indexed and paginated like AWS (moto's own
    rescans every point for every query and period, and ignores NextToken)."""
    install_cloudwatch_speedups()
    return sandbox


@pytest.fixture
def now() -> datetime:
    # A fixed minute boundary a little in the past: runs in one test share it.
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=1)


@pytest.fixture
def publish(cw_sandbox) -> Publish:
    def _publish(
        account: Account,
        region: str,
        namespace: str,
        metric: str,
        dimensions: dict[str, str],
        points: Iterable[tuple[datetime, float]],
    ) -> None:
        client = aws.client(account, region, "cloudwatch", paced=False)
        data = [
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                "Timestamp": ts,
                "Value": value,
            }
            for ts, value in points
        ]
        for i in range(0, len(data), 1000):
            client.put_metric_data(Namespace=namespace, MetricData=data[i : i + 1000])

    return _publish


def minutes_before(now: datetime, count: int) -> list[datetime]:
    """The ``count`` minutes ending one minute before ``now``, oldest first."""
    return [now - timedelta(minutes=count - i) for i in range(count)]
