"""The list queries and the pure helpers behind the pages."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from estate import queries, status
from tests.factories import estate as f


@pytest.mark.parametrize(
    ("aws_status", "tone"),
    [
        ("available", "ok"),
        ("Available", "ok"),
        ("failing-over", "busy"),
        ("backtracking", "busy"),
        ("storage-full", "warn"),
        ("incompatible-parameters", "warn"),
        ("failed", "bad"),
        ("inaccessible-encryption-credentials", "bad"),
        ("stopped", "off"),
        ("load complete", "ok"),  # DMS spells it with a space
        ("something-aws-adds-tomorrow", "unknown"),
        ("", "unknown"),
        (None, "unknown"),
    ],
)
def test_status_mapping_gives_one_tone_per_aws_status(aws_status, tone):
    assert status.tone(aws_status) == tone


def test_gone_resources_are_badged_gone_whatever_their_last_status():
    assert status.badge("available", gone=True) == {"text": "gone", "tone": "off"}
    assert status.badge("modifying") == {"text": "modifying", "tone": "busy"}


def test_restore_window_is_placed_on_a_scale_that_ends_now():
    now = timezone.now()

    window = queries.restore_window(now - timedelta(days=7), now - timedelta(minutes=5), now)

    assert window is not None
    assert window["scale_start"] == now - timedelta(days=35)
    assert window["x"] == pytest.approx(80.0, abs=0.01)
    assert window["x"] + window["width"] == pytest.approx(100.0, abs=0.05)
    assert window["gap"] == timedelta(minutes=5)
    assert queries.restore_window(None, now) is None


def test_restore_window_longer_than_35_days_starts_the_scale_at_its_start():
    now = timezone.now()

    window = queries.restore_window(now - timedelta(days=60), now, now)

    assert window is not None
    assert window["x"] == 0.0


@pytest.mark.django_db
def test_inventory_union_is_one_query_across_all_kinds():
    estate = f.make_demo_estate()
    rows_query = queries.inventory_rows(queries.InventoryFilters())

    with CaptureQueriesContext(connection) as ctx:
        rows = list(rows_query)

    assert len(ctx.captured_queries) == 1
    assert {r["kind"] for r in rows} >= {"cluster", "instance", "dms-task", "proxy"}
    by_id = {(r["kind"], r["id"]): r for r in rows}
    legacy = by_id[("instance", estate["legacy"].pk)]
    assert legacy["engine_name"] == "mysql"
    assert legacy["account_name"] == "payments-prod"
    assert legacy["environment"] == "production"
    assert legacy["size"] == "db.r6g.large"


@pytest.mark.django_db
def test_inventory_filters_are_applied_per_kind_before_the_union():
    f.make_demo_estate()

    rows = list(
        queries.inventory_rows(
            queries.InventoryFilters(kinds=("cluster", "dms-task"), regions=("us-east-1",))
        )
    )

    assert {r["kind"] for r in rows} == {"cluster", "dms-task"}
    assert {r["region"] for r in rows} == {"us-east-1"}


@pytest.mark.django_db
def test_attention_rows_skip_healthy_and_normally_stopped_resources():
    f.make_demo_estate()
    f.make_dms_task(status="stopped", identifier="finished-full-load")
    f.make_cluster(status="failing-over", identifier="busy-cluster")

    names = [r["identifier"] for r in queries.attention_rows()]

    assert sorted(names) == ["busy-cluster", "finished-full-load", "reporting-pg"]


@pytest.mark.django_db
def test_default_group_prefers_the_same_account_and_region():
    account = f.make_account()
    other = f.make_account()
    f.make_parameter_group(other, identifier="default.postgres16")
    mine = f.make_parameter_group(account, identifier="default.postgres16")
    custom = f.make_parameter_group(account, identifier="app-pg16")

    assert queries.default_group_for(custom) == mine
    assert queries.default_group_for(mine) is None


@pytest.mark.django_db
def test_a_cache_on_a_default_parameter_group_has_elasticaches_default_eviction_policy():
    # Given Redis and Valkey groups on default parameter groups (never mirrored: they
    # cannot be modified) and a Memcached cluster, which has no such policy
    from estate import queries
    from tests.factories import estate as factories

    valkey = factories.make_replication_group(
        engine="valkey", parameter_group_name="default.valkey8"
    )
    redis = factories.make_replication_group(engine="redis", parameter_group_name="default.redis7")
    memcached = factories.make_cache_cluster(
        engine="memcached", parameter_group_name="default.memcached1.6"
    )
    # Then the Redis-family ones report volatile-lru, and Memcached nothing
    assert queries.eviction_policy(valkey) == "volatile-lru"
    assert queries.eviction_policy(redis) == "volatile-lru"
    assert queries.eviction_policy(memcached) is None
