"""What each page shows and how it behaves: filters, empty states, sync progress,
details, topology, diffs, snapshots."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from estate import models
from estate.roles import OPERATOR, VIEWER
from tests.factories import estate as f

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def estate() -> dict[str, Any]:
    return f.make_demo_estate()


@pytest.fixture
def viewer(client):
    user = f.make_user(role=VIEWER)
    client.force_login(user)
    return user


def _rows(response) -> list[str]:
    return [r["identifier"] for r in response.context["rows"]]


# --- Inventory -----------------------------------------------------------------------


def test_inventory_lists_every_kind_in_one_table(client, viewer, estate):
    response = client.get(reverse("inventory"))

    kinds = {r["kind"] for r in response.context["rows"]}
    assert kinds == {
        "cluster",
        "instance",
        "global-cluster",
        "proxy",
        "cache-group",
        "cache-cluster",
        "dms-task",
    }
    # Replication group members are shown through their group, not as rows.
    assert not any(i.startswith("web-sessions-0001") for i in _rows(response))


def test_inventory_filters_by_kind_and_region_together(client, viewer, estate):
    response = client.get(reverse("inventory"), {"kind": "instance", "region": "eu-west-1"})

    assert sorted(_rows(response)) == ["ledger-euw1-1", "ledger-euw1-2", "legacy-mysql-replica"]


def test_inventory_filters_by_account_environment_engine_and_status(client, viewer, estate):
    dev = estate["dev"]
    by_account = client.get(reverse("inventory"), {"account": dev.pk})
    by_env = client.get(reverse("inventory"), {"environment": "development"})
    by_engine = client.get(reverse("inventory"), {"engine": "mysql"})
    by_status = client.get(reverse("inventory"), {"status": "stopped"})

    assert sorted(_rows(by_account)) == ["orders-clone-qa", "page-cache", "reporting-pg"]
    assert sorted(_rows(by_env)) == sorted(_rows(by_account))
    assert sorted(_rows(by_engine)) == ["legacy-mysql", "legacy-mysql-replica"]
    assert _rows(by_status) == ["reporting-pg"]


def test_inventory_filters_by_tag_key_value_or_key_alone(client, viewer, estate):
    f.make_instance(estate["dev"], identifier="untagged-team", tags={"team": ""})

    billing = client.get(reverse("inventory"), {"tag": "team=billing"})
    any_team = client.get(reverse("inventory"), {"tag": "team"})

    assert sorted(_rows(billing)) == ["legacy-mysql", "legacy-mysql-replica"]
    assert "untagged-team" in _rows(any_team)
    assert "web-sessions" not in _rows(any_team)  # tagged purpose=..., not team


def test_inventory_search_matches_identifier_or_arn(client, viewer, estate):
    by_name = client.get(reverse("inventory"), {"q": "LEDGER-use1"})
    by_arn = client.get(reverse("inventory"), {"q": f":{estate['dev'].account_id}:"})

    assert sorted(_rows(by_name)) == ["ledger-use1", "ledger-use1-1", "ledger-use1-2"]
    assert sorted(_rows(by_arn)) == ["orders-clone-qa", "page-cache", "reporting-pg"]


def test_inventory_shows_gone_resources_only_when_asked(client, viewer, estate):
    f.make_instance(estate["prod"], identifier="decommissioned", gone_at=timezone.now())

    live = client.get(reverse("inventory"))
    gone = client.get(reverse("inventory"), {"lifecycle": "gone"})
    everything = client.get(reverse("inventory"), {"lifecycle": "all"})

    assert "decommissioned" not in _rows(live)
    assert _rows(gone) == ["decommissioned"]
    assert "decommissioned" in _rows(everything)
    assert ">gone<" in gone.content.decode()  # the badge says so


def test_inventory_sorts_by_a_column_in_both_directions(client, viewer, estate):
    asc = client.get(reverse("inventory"), {"kind": "instance", "sort": "region"})
    desc = client.get(reverse("inventory"), {"kind": "instance", "sort": "-region"})

    regions = [r["region"] for r in asc.context["rows"]]
    assert regions == sorted(regions)
    assert [r["region"] for r in desc.context["rows"]] == sorted(regions, reverse=True)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"sort": "password"}, "Cannot sort by"),
        ({"account": "abc"}, "account"),
        ({"kind": "spaceship"}, "kind"),
        ({"lifecycle": "undead"}, "lifecycle"),
        ({"tag": "=x"}, "Tag filter needs a key"),
        ({"environment": "moon"}, "environment"),
    ],
)
def test_inventory_bad_filter_gives_a_clear_400_not_a_500(client, viewer, estate, params, message):
    response = client.get(reverse("inventory"), params)
    partial = client.get(reverse("inventory"), params, **HTMX)

    assert response.status_code == 400
    assert "could not be read" in response.content.decode()
    assert message in response.content.decode()
    assert partial.status_code == 400
    assert "<html" not in partial.content.decode()


def test_inventory_paginates_and_tolerates_a_bad_page_number(client, viewer):
    account = f.make_account()
    for _ in range(55):
        f.make_instance(account)

    first = client.get(reverse("inventory"))
    second = client.get(reverse("inventory"), {"page": 2})
    nonsense = client.get(reverse("inventory"), {"page": "999"})

    assert len(first.context["rows"]) == 50
    assert len(second.context["rows"]) == 5
    assert nonsense.context["page"].number == 2  # the last page, not an error
    assert 'rel="next"' in first.content.decode()


def test_inventory_htmx_swap_returns_the_table_only(client, viewer, estate):
    response = client.get(reverse("inventory"), {"kind": "cluster"}, **HTMX)

    html = response.content.decode()
    assert html.lstrip().startswith('<div id="inventory-table">')
    assert 'id="inventory-filters"' not in html


def test_inventory_history_restore_gets_the_whole_page(client, viewer, estate):
    response = client.get(
        reverse("inventory"),
        {"kind": "cluster"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_HISTORY_RESTORE_REQUEST="true",
    )

    assert "<html" in response.content.decode()


def test_inventory_csv_exports_the_whole_filtered_set_not_one_page(client, viewer):
    account = f.make_account(name="bulk")
    for n in range(60):
        f.make_instance(account, identifier=f"bulk-{n:02d}", region="eu-west-1")
    f.make_instance(account, identifier="elsewhere", region="us-east-1")

    response = client.get(reverse("inventory_csv"), {"region": "eu-west-1"})

    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 60
    assert rows[0]["identifier"] == "bulk-00"
    assert rows[0]["account"] == "bulk"
    assert rows[0]["kind"] == "instance"
    assert {r["region"] for r in rows} == {"eu-west-1"}


def test_inventory_csv_rejects_bad_filters_with_a_message(client, viewer):
    response = client.get(reverse("inventory_csv"), {"sort": "nope"})

    assert response.status_code == 400
    assert b"Cannot sort by" in response.content


def test_empty_states_say_what_to_do(client, viewer):
    assert "No accounts yet" in client.get(reverse("inventory")).content.decode()
    assert "No accounts yet" in client.get(reverse("home")).content.decode()
    assert "No accounts yet" in client.get(reverse("caches")).content.decode()
    f.make_account()
    assert "Nothing mirrored yet" in client.get(reverse("inventory")).content.decode()
    assert "No sync has run yet" in client.get(reverse("sync_runs")).content.decode()
    filtered = client.get(reverse("inventory"), {"q": "zzz"}).content.decode()
    assert "No resources match these filters" in filtered


# --- Overview and Sync now -----------------------------------------------------------


def test_overview_counts_and_lists_what_is_not_available_first(client, viewer, estate):
    response = client.get(reverse("home"))

    totals = response.context["totals"]
    assert dict(totals["kind"])["DB instance"] == 10
    assert dict(totals["environment"]) == {"production": 16, "development": 3}
    assert dict(totals["region"])["eu-west-1"] == 4
    attention = [r["identifier"] for r in response.context["attention"]]
    assert attention == ["reporting-pg"]
    findings = response.context["findings"]
    assert findings == {"unencrypted": 1, "public": 1}
    # backup retention is counted by the posture rule, per environment's policy
    from guard import rules

    short = sum(f.rule.id == "RDS-BACKUP-RETENTION" for f in rules.evaluate())
    assert short
    assert (
        f'Backup retention below policy</a><span class="badge tone-warn">{short}</span>'
        in response.content.decode()
    )


def test_sync_now_needs_the_operator_role(client, viewer, estate):
    assert "Sync now" not in client.get(reverse("home")).content.decode()

    response = client.post(reverse("sync_now"), **HTMX)

    assert response.status_code == 403
    assert not models.SyncRun.objects.filter(status="queued").exists()


def test_sync_now_queues_a_run_and_shows_polling_progress(client, estate):
    client.force_login(f.make_user("olga", role=OPERATOR))
    assert 'hx-post="/sync/now/"' in client.get(reverse("home")).content.decode()

    response = client.post(reverse("sync_now"), **HTMX)

    run = models.SyncRun.objects.get(status="queued")
    assert run.triggered_by == "olga"
    html = response.content.decode()
    assert f'hx-get="{reverse("sync_progress", args=[run.pk])}"' in html
    assert 'hx-trigger="every 2s"' in html
    assert "<html" not in html


def test_sync_now_as_a_plain_post_redirects_home(client, estate):
    client.force_login(f.make_user(role=OPERATOR))

    response = client.post(reverse("sync_now"))

    assert response.status_code == 302
    assert response["Location"] == reverse("home")
    assert client.get(reverse("sync_now")).status_code == 405


def test_sync_progress_stops_polling_and_refreshes_numbers_when_done(client, viewer):
    running = f.make_sync_run(status="running", finished_at=None)
    done = f.make_sync_run(status="succeeded")

    polling = client.get(reverse("sync_progress", args=[running.pk]), **HTMX)
    finished = client.get(reverse("sync_progress", args=[done.pk]), **HTMX)

    assert 'hx-trigger="every 2s"' in polling.content.decode()
    assert "HX-Trigger" not in polling
    assert 'hx-trigger="every 2s"' not in finished.content.decode()
    assert finished["HX-Trigger"] == "estate-synced"


def test_overview_numbers_refresh_when_the_sync_ends(client, viewer, estate):
    html = client.get(reverse("home")).content.decode()

    assert 'hx-trigger="estate-synced from:body"' in html


# --- Details ------------------------------------------------------------------------


def test_cluster_page_shows_members_endpoints_proxies_and_facts(client, viewer, estate):
    orders = estate["orders"]
    cluster = orders["cluster"]
    cluster.members[1]["parameter_group_status"] = "pending-reboot"
    cluster.backtrack_window = 86400
    cluster.serverless_v2_min_acu, cluster.serverless_v2_max_acu = 0.5, 16
    cluster.domain_memberships = [{"Domain": "d-9067012345", "Status": "kerberos-enabled"}]
    cluster.save()

    response = client.get(reverse("cluster", args=[cluster.pk]))

    html = response.content.decode()
    assert [i.identifier for i in response.context["instances"]] == [
        "orders-1",
        "orders-2",
        "orders-3",
    ]
    assert "orders-analytics" in html
    assert "static:" in html
    assert "orders-proxy" in html
    assert "max connections 90%" in html
    assert "pending reboot (1)" in html
    assert "0.5 – 16 ACU" in html
    assert "d-9067012345" in html
    assert "kerberos-enabled" in html
    assert "1 day, 0:00:00" in html  # backtrack window
    assert 'class="span"' in html  # restorable window bar
    assert "orders-clone-qa" in html  # clones
    assert response.context["tls_enforced"] is True  # rds.force_ssl=1 in orders-pg16
    assert "operations/_resource_actions.html" in [t.name for t in response.templates]


def _window_around_now(weekly: bool = False) -> str:
    now = timezone.now()
    fmt = "%a:%H:%M" if weekly else "%H:%M"
    start, end = now - timedelta(minutes=10), now + timedelta(minutes=20)
    return f"{start:{fmt}}-{end:{fmt}}".lower()


def test_resource_pages_show_their_windows_and_flag_one_that_is_running(client, viewer, estate):
    # Given a cluster whose backup window is running now and whose maintenance window
    # is not, and a standalone instance whose maintenance window is running now
    cluster = estate["orders"]["cluster"]
    cluster.preferred_backup_window = _window_around_now()
    cluster.preferred_maintenance_window = "sun:05:00-sun:05:30"
    if timezone.now().weekday() == 6:  # (a Sunday: keep it away from now)
        cluster.preferred_maintenance_window = "wed:05:00-wed:05:30"
    cluster.save()
    html = client.get(reverse("cluster", args=[cluster.pk])).content.decode()
    # Then the cluster page shows both, the backup one marked as running
    now_badge = '<span class="badge tone-warn" title="This window is running right now">now</span>'
    assert (
        f"<dt>Backup window</dt><dd>{cluster.preferred_backup_window} UTC {now_badge}</dd>" in html
    )
    assert f"<dt>Maintenance</dt><dd>{cluster.preferred_maintenance_window} UTC</dd>" in html
    instance = models.DbInstance.objects.filter(cluster__isnull=True).first()
    instance.preferred_maintenance_window = _window_around_now(weekly=True)
    instance.preferred_backup_window = ""
    instance.save()
    html = client.get(reverse("instance", args=[instance.pk])).content.decode()
    assert f"{instance.preferred_maintenance_window} UTC {now_badge}" in html
    assert '<dt>Backup window</dt><dd><span class="muted">—</span></dd>' in html


def test_instance_page_marks_cross_region_replicas_and_responsibility(client, viewer, estate):
    legacy = client.get(reverse("instance", args=[estate["legacy"].pk])).content.decode()
    replica = client.get(reverse("instance", args=[estate["replica"].pk])).content.decode()

    assert "legacy-mysql-replica" in legacy
    assert "cross-region · eu-west-1" in legacy
    assert "cross-region from us-east-1" in replica
    assert "standby in us-east-1b" in legacy


def test_rds_custom_instance_shows_who_is_responsible_while_paused(client, viewer):
    custom = f.make_instance(
        identifier="custom-oracle",
        engine="custom-oracle-ee",
        is_custom=True,
        automation_mode="all-paused",
        resume_full_automation_mode_time=timezone.now() + timedelta(hours=2),
        ca_certificate_valid_till=timezone.now() + timedelta(days=20),
    )

    response = client.get(reverse("instance", args=[custom.pk]))

    html = response.content.decode()
    assert "automation is <strong>paused</strong>" in html
    assert 'RDS Custom <span class="pill writer">this instance</span>' in html
    assert "Resumes full automation" in html
    assert "in 19 days" in html or "in 20 days" in html  # CA expiry warning


def test_global_database_page_highlights_the_writer_region(client, viewer, estate):
    html = client.get(
        reverse("global_cluster", args=[estate["global_cluster"].pk])
    ).content.decode()

    assert html.index("us-east-1") < html.index("eu-west-1")
    assert "primary · writer" in html
    assert "ledger-euw1" in html


def test_cache_page_warns_when_a_session_store_can_evict_sessions(client, viewer, estate):
    models.Parameter.objects.filter(name="maxmemory-policy").update(value="allkeys-lru")

    html = client.get(reverse("cache_group", args=[estate["sessions"].pk])).content.decode()

    assert "Used as a session store" in html
    assert "allkeys-lru" in html
    assert "Sessions can be evicted" in html
    assert html.count("pill writer") == 1  # one primary in the one shard


def test_dms_page_shows_task_progress(client, viewer, estate):
    html = client.get(reverse("dms")).content.decode()

    assert '<progress max="100" value="42">' in html
    assert "legacy-source" in html
    assert "aurora-target" in html


# --- Topology -----------------------------------------------------------------------


def test_cluster_topology_draws_members_endpoints_proxy_and_clones(client, viewer, estate):
    cluster = estate["orders"]["cluster"]

    diagram = client.get(reverse("topology_cluster", args=[cluster.pk])).context["diagram"]

    labels = {n.label for n in diagram.nodes.values()}
    assert {"orders", "orders-1", "orders-2", "orders-3", "orders-proxy"} <= labels
    assert {"orders-analytics", "Cluster writer", "Cluster reader", "orders-clone-qa"} <= labels
    custom = next(n for n in diagram.nodes.values() if n.label == "orders-analytics")
    members = {diagram.nodes[e.src].label for e in diagram.edges if e.dst == custom.key}
    assert members == {"orders-2", "orders-3"}
    assert any(e.kind == "clone" for e in diagram.edges)
    writer = next(n for n in diagram.nodes.values() if n.label == "orders-1")
    assert writer.url == reverse("instance", args=[estate["orders"]["writer"].pk])


def test_instance_topology_labels_cross_region_replica_edges(client, viewer, estate):
    diagram = client.get(reverse("topology_instance", args=[estate["replica"].pk])).context[
        "diagram"
    ]

    (edge,) = [e for e in diagram.edges if e.kind == "replica"]
    assert edge.cross_region
    assert edge.label == "cross-region"
    assert edge.title == "replica us-east-1 → eu-west-1"


def test_aurora_member_topology_redirects_to_its_cluster(client, viewer, estate):
    response = client.get(reverse("topology_instance", args=[estate["orders"]["writer"].pk]))

    assert response.status_code == 302
    assert response["Location"] == reverse(
        "topology_cluster", args=[estate["orders"]["cluster"].pk]
    )


def test_topology_index_lists_globals_families_and_clusters(client, viewer, estate):
    response = client.get(reverse("topology"))

    assert [g.identifier for g in response.context["globals"]] == ["ledger-global"]
    assert [i.identifier for i in response.context["families"]] == ["legacy-mysql"]
    clusters = [c.identifier for c in response.context["page"].object_list]
    assert clusters == ["orders", "orders-clone-qa"]  # ledger-* are drawn with their global


def test_topology_stays_readable_at_15_readers_and_5_regions(client, viewer):
    gc = f.make_global_cluster()
    regions = ["us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-southeast-2"]
    for n, region in enumerate(regions):
        f.make_aurora_family(
            gc.account, region=region, readers=15, global_cluster=gc, is_global_writer=n == 0
        )

    diagram = client.get(reverse("topology_global", args=[gc.pk])).context["diagram"]

    assert [b.region for b in diagram.bands][0] == "us-east-1"  # writer region first
    assert sorted(b.region for b in diagram.bands) == sorted(regions)
    boxes = [(n.x, n.y) for n in diagram.nodes.values()]
    assert len(boxes) == len(set(boxes)), "no two nodes share a place"
    instances = [n for n in diagram.nodes.values() if n.layer == "instance"]
    assert len(instances) == 80
    for band in diagram.bands:  # every node sits inside its region's band
        for n in diagram.nodes.values():
            if n.region == band.region and n.layer != "global":
                assert band.y <= n.y < band.y + band.height


# --- Parameter groups, snapshots, sync history ---------------------------------------


def test_parameter_group_page_filters_to_modified_parameters(client, viewer):
    group = f.make_parameter_group(
        parameters={"work_mem": "64MB", "max_connections": "100"}, modified=["work_mem"]
    )

    everything = client.get(reverse("parameter_group", args=[group.pk]))
    modified = client.get(reverse("parameter_group", args=[group.pk]), {"modified": "1"})

    assert [p.name for p in everything.context["parameters"]] == ["max_connections", "work_mem"]
    assert [p.name for p in modified.context["parameters"]] == ["work_mem"]


def test_parameter_group_list_shows_who_uses_each_group(client, viewer, estate):
    response = client.get(reverse("parameter_groups"))

    used = {
        r["group"].identifier: [u["identifier"] for u in r["used_by"]]
        for r in response.context["rows"]
    }
    assert used["default.aurora-postgresql16"] == ["ledger-use1"]
    assert used["orders-pg16"] == ["orders"]
    assert used["default.redis7"] == ["web-sessions"]


def test_parameter_diff_shows_only_differences(client, viewer):
    account = f.make_account()
    a = f.make_parameter_group(account, parameters={"x": "1", "same": "s", "only_a": "a"})
    b = f.make_parameter_group(account, parameters={"x": "2", "same": "s", "only_b": "b"})

    response = client.get(reverse("parameter_diff"), {"a": a.pk, "b": b.pk})

    assert [r["name"] for r in response.context["rows"]] == ["only_a", "only_b", "x"]


def test_parameter_diff_against_engine_family_defaults(client, viewer, estate):
    group = models.ParameterGroup.objects.get(identifier="orders-pg16")

    response = client.get(reverse("parameter_diff"), {"a": group.pk})

    assert response.context["right"].identifier == "default.aurora-postgresql16"
    assert [r["name"] for r in response.context["rows"]] == [
        "log_min_duration_statement",
        "rds.force_ssl",
        "work_mem",
    ]


def test_parameter_diff_with_unknown_group_is_a_clear_400(client, viewer):
    response = client.get(reverse("parameter_diff"), {"a": "999999"})

    assert response.status_code == 400
    assert "Pick existing groups" in response.content.decode()


def test_option_diff_shows_only_options_that_differ(client, viewer):
    account = f.make_account()
    ssl = {"name": "SSL", "version": "1", "port": None, "settings": {"FIPS": "false"}}
    a = f.make_option_group(
        account, options=[ssl, {"name": "TDE", "settings": {}}, {"name": "AUDIT", "settings": {}}]
    )
    b = f.make_option_group(
        account, options=[{**ssl, "settings": {"FIPS": "true"}}, {"name": "TDE", "settings": {}}]
    )

    response = client.get(reverse("option_diff"), {"a": a.pk, "b": b.pk})
    bad = client.get(reverse("option_diff"), {"a": a.pk})

    assert [r["name"] for r in response.context["rows"]] == ["AUDIT", "SSL"]
    assert "FIPS=true" in response.content.decode()
    assert bad.status_code == 400


def test_snapshot_copies_are_grouped_under_their_source(client, viewer, estate):
    source = estate["orders"]["cluster"].snapshots.get(identifier="orders-before-migration")
    f.make_snapshot(
        cluster=estate["orders"]["cluster"],
        identifier="orders-before-migration-eu",
        region="eu-west-1",
        source_snapshot_arn=source.arn,
    )

    response = client.get(reverse("snapshots"))

    rows = {
        r["snapshot"].identifier: [c.identifier for c in r["copies"]]
        for r in response.context["rows"]
    }
    assert rows["orders-before-migration"] == ["orders-before-migration-eu"]
    assert "orders-before-migration-eu" not in rows


def test_snapshot_filters_by_type_age_encryption_and_sharing(client, viewer):
    old = f.make_snapshot(
        instance=f.make_instance(),
        snapshot_type="automated",
        created_time=timezone.now() - timedelta(days=40),
        encrypted=False,
    )
    shared = f.make_snapshot(instance=f.make_instance(), shared_with=["222222222222"])
    public = f.make_snapshot(instance=f.make_instance(), is_public=True)

    def ids(**params: Any) -> set[str]:
        return {
            r["snapshot"].identifier
            for r in client.get(reverse("snapshots"), params).context["rows"]
        }

    assert ids(snapshot_type="automated") == {old.identifier}
    assert ids(older_than_days=30) == {old.identifier}
    assert ids(newer_than_days=30) == {shared.identifier, public.identifier}
    assert ids(encrypted="no") == {old.identifier}
    assert ids(exposure="shared") == {shared.identifier}
    assert ids(exposure="public") == {public.identifier}
    assert client.get(reverse("snapshots"), {"older_than_days": "soon"}).status_code == 400


def test_sync_run_page_shows_a_failed_kinds_error_in_full(client, viewer):
    message = "AccessDenied: User is not authorized to perform rds:DescribeDBProxies " * 5
    run = f.make_sync_run(status="partial", errors={"111111111111/us-east-1/db_proxy": message})

    listing = client.get(reverse("sync_runs")).content.decode()
    detail = client.get(reverse("sync_run", args=[run.pk])).content.decode()

    assert "partial" in listing
    assert message.strip() in detail
