"""Chart endpoints and template tags."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import connection
from django.template import Context, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from estate import roles
from metrics import queries
from metrics.catalog import HIT_RATE
from tests.factories import estate as factories
from tests.metrics.test_queries import minutes, store

pytestmark = pytest.mark.django_db


@pytest.fixture
def viewer(client):
    user = get_user_model().objects.create_user("viewer", password="x")
    user.groups.add(Group.objects.get(name=roles.VIEWER))
    client.force_login(user)
    return client


def test_anonymous_users_are_sent_to_login(client):
    db = factories.make_instance()
    for name in ("metrics:charts", "metrics:data"):
        response = client.get(reverse(name, args=["instance", db.pk]))
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))


def test_users_without_the_viewer_role_are_refused(client):
    db = factories.make_instance()
    client.force_login(get_user_model().objects.create_user("nobody", password="x"))
    assert client.get(reverse("metrics:data", args=["instance", db.pk])).status_code == 403


def test_data_endpoint_returns_the_ranges_series(viewer):
    # Given a replica with lag points in the last hour
    source = factories.make_instance()
    replica = factories.make_instance(
        replica_source=source, replica_source_identifier=source.identifier
    )
    store(
        replica, "ReplicaLag", minutes(10, 4.0, end=timezone.now().replace(second=0, microsecond=0))
    )
    # When the 1 h data is requested
    response = viewer.get(reverse("metrics:data", args=["instance", replica.pk]) + "?range=1h")
    # Then it has 60 one-minute slots with the points at the end
    assert response.status_code == 200
    payload = response.json()
    lag = {c["key"]: c for c in payload["charts"]}["ReplicaLag"]
    assert payload["range"] == "1h"
    assert payload["points"] == 60
    assert payload["step"] == 60
    assert queries.decode_line(lag["data"][0])[-10:] == [4.0] * 10
    assert lag["threshold"] == 30.0


def test_an_unknown_range_or_kind_is_a_bad_request(viewer):
    db = factories.make_instance()
    assert (
        viewer.get(reverse("metrics:data", args=["instance", db.pk]) + "?range=2y").status_code
        == 400
    )
    assert viewer.get(reverse("metrics:data", args=["nope", db.pk])).status_code == 400
    assert viewer.get(reverse("metrics:data", args=["instance", db.pk + 1000])).status_code == 404


def test_range_switch_is_a_partial_on_htmx_and_a_page_otherwise(viewer):
    cluster = factories.make_cluster(serverless_v2_min_acu=0.5, serverless_v2_max_acu=4)
    url = reverse("metrics:charts", args=["cluster", cluster.pk]) + "?range=7d"
    partial = viewer.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in partial
    assert f'data-metrics-src="/metrics/cluster/{cluster.pk}/charts/data.json?range=7d"' in partial
    assert f'hx-get="/metrics/cluster/{cluster.pk}/charts/?range=30d"' in partial
    # The range's data rides along: the swap draws without another request
    assert 'data-metrics="{&quot;range&quot;: &quot;7d&quot;' in partial
    assert "Capacity (ACU)" in partial
    assert "range 0.5–4.0 ACU" in partial
    page = viewer.get(url).content.decode()
    assert "<html" in page
    assert "metrics/charts.js" in page


def test_chart_endpoints_query_count_does_not_grow_with_resources_or_points(viewer):
    def count(readers: int, points: int) -> tuple[int, int]:
        family = factories.make_aurora_family(readers=readers, with_proxy=False)
        now = timezone.now().replace(second=0, microsecond=0)
        for reader in family["readers"]:
            store(reader, "AuroraReplicaLag", minutes(points, 0.5, end=now))
        pk = family["cluster"].pk
        counts = []
        for name in ("metrics:data", "metrics:charts"):
            with CaptureQueriesContext(connection) as ctx:
                assert viewer.get(reverse(name, args=["cluster", pk])).status_code == 200
            counts.append(len(ctx.captured_queries))
        return counts[0], counts[1]

    assert count(readers=1, points=2) == count(readers=8, points=1_400)


def test_metric_charts_tag_renders_the_kinds_charts_with_assets(rf):
    group = factories.make_replication_group(replicas=1)
    html = Template("{% load metrics_tags %}{% metric_charts group %}").render(
        Context({"group": group, "request": rf.get("/")})
    )
    assert f'id="metric-charts-cache-group-{group.pk}"' in html
    assert "vendor/uplot-1.6.32.iife.min.js" in html
    assert "Hit rate" in html
    assert "threshold: below 80.0 %" in html
    assert "<script>" not in html
    assert " on" not in html.replace(" one", "")


def test_sparkline_tag_draws_svg_for_every_row_with_one_query():
    now = timezone.now()
    groups = [factories.make_replication_group(replicas=0) for _ in range(5)]
    for g in groups[:4]:
        store(g, HIT_RATE, minutes(120, 90.0, end=now - timedelta(minutes=1)))
    template = Template(
        "{% load metrics_tags %}{% for g in rows %}<td>{% sparkline g rows %}</td>{% endfor %}"
    )
    with CaptureQueriesContext(connection) as ctx:
        html = template.render(Context({"rows": groups}))
    assert len(ctx.captured_queries) == 1
    assert html.count('<svg class="sparkline"') == 4
    assert "Hit rate, last 24 h: 90.0 %" in html


def test_overview_table_links_the_worst_resource_first():
    now = timezone.now()
    source = factories.make_instance()
    worse = factories.make_instance(
        replica_source=source, replica_source_identifier=source.identifier
    )
    bad = factories.make_instance(
        replica_source=source, replica_source_identifier=source.identifier
    )
    store(bad, "ReplicaLag", minutes(2, 45.0, end=now))
    store(worse, "ReplicaLag", minutes(2, 300.0, end=now))
    html = Template("{% load metrics_tags %}{% metrics_past_threshold %}").render(Context({}))
    assert html.index(worse.identifier) < html.index(bad.identifier)
    assert f'href="{reverse("instance", args=[worse.pk])}"' in html
    assert "300.0 s" in html
    assert "above 30.0 s" in html
