"""Findings show readable evidence (labels, dates, yes/no, joined lists; no Python
reprs or raw field names) and the findings page is paginated."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from estate import models as m
from guard import rules
from guard.evidence import readable, text
from tests.factories.guard import (
    BUILDERS,
    SECURE_SG,
    WORLD_SG,
    account,
    instance,
    security_group,
    tls_group,
)
from tests.guard.test_rules import TRIGGERS

pytestmark = pytest.mark.django_db

# What a Python repr or a raw field name looks like on a page.
REPR = re.compile(r"[\[\]{}']|datetime\(|\bTrue\b|\bFalse\b|\bNone\b")


def test_every_rules_evidence_reads_as_labels_and_values():
    # given one resource breaking each rule (and an open security group, an expired CA)
    acct = account()
    security_group(acct, SECURE_SG, None)
    security_group(acct, WORLD_SG, "0.0.0.0/0")
    tls_group(acct, "tls-mysql", m.ParameterGroup.Scope.CLUSTER, "require_secure_transport", "ON")
    for _rule_id, kind, change in TRIGGERS:
        BUILDERS[kind](acct, **change)
    instance(acct, vpc_security_group_ids=[WORLD_SG], publicly_accessible=True)
    findings = rules.evaluate()
    assert {f.rule.id for f in findings} == set(rules.RULES)
    # then every piece of evidence has a label without underscores and a plain value
    for finding in findings:
        pairs = readable(finding.evidence)
        assert pairs, finding.rule.id
        for label, value in pairs:
            assert "_" not in label, (finding.rule.id, label)
            assert label[0].isupper(), (finding.rule.id, label)
            assert not REPR.search(value), (finding.rule.id, label, value)


def test_values_read_as_an_operator_would_say_them():
    assert readable(
        {
            "ca_certificate_identifier": "rds-ca-2019",
            "expired_on": date(2024, 8, 22),
            "days_since_expiry": 834,
            "backup_retention_period": 1,
            "multi_az": False,
            "enabled_cloudwatch_logs_exports": [],
            "zones": ["us-east-1a", "us-east-1b"],
            "memberships": [{"domain": "d-1", "status": "failed"}],
        }
    ) == [
        ("CA certificate", "rds-ca-2019"),
        ("Expired on", "2024-08-22"),
        ("Expired for", "834 days"),
        ("Backup retention", "1 day"),
        ("Multi-AZ", "no"),
        ("CloudWatch log exports", "none"),
        ("Availability zones", "us-east-1a, us-east-1b"),
        ("Domain memberships", "d-1 failed"),
    ]
    group = {
        "group_id": "sg-1",
        "group_name": "web",
        "rules": [
            {"protocol": "tcp", "from_port": 0, "to_port": 65535, "cidrs": ["0.0.0.0/0"]},
            {"protocol": "-1", "cidrs": [], "ipv6_cidrs": ["::/0"]},
        ],
    }
    assert text([group]) == "sg-1 (web): tcp 0-65535 from 0.0.0.0/0; all traffic from ::/0"
    assert text(None) == "—"
    # an unknown key still reads as words
    assert readable({"some_new_field": True}) == [("Some new field", "yes")]


@pytest.fixture
def expired(db):
    acct = account()
    security_group(acct, SECURE_SG, None)
    return instance(
        acct,
        identifier="old-ca",
        ca_certificate_identifier="rds-ca-2019",
        ca_certificate_valid_till=timezone.now() - timedelta(days=834, hours=1),
    )


def test_the_findings_page_shows_the_expired_certificate_readably(client, viewer, expired):
    client.force_login(viewer)
    body = client.get(reverse("findings")).content.decode()
    day = timezone.localdate(expired.ca_certificate_valid_till).isoformat()
    assert "<summary>CA certificate expired</summary>" in body
    assert f"<dt>Expired on</dt><dd>{day}</dd>" in body
    assert "<dt>Expired for</dt><dd>834 days</dd>" in body
    assert "<summary>CA certificate expires within 90 days</summary>" not in body
    assert "expired_on" not in body
    assert "datetime" not in body


def test_posture_json_keeps_the_field_names_with_iso_dates(expired):
    import json
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("posture", "--json", stdout=out)
    (line,) = [json.loads(x) for x in out.getvalue().splitlines()]
    assert line["rule"] == "RDS-CA-EXPIRED"
    assert line["severity"] == "critical"
    day = timezone.localdate(expired.ca_certificate_valid_till).isoformat()
    assert line["evidence"]["expired_on"] == day


def test_findings_are_paginated_with_htmx_links_that_keep_the_filters(
    client, viewer, django_assert_max_num_queries
):
    # given 60 unencrypted development instances (60 findings of one rule)
    acct = account(m.Environment.DEVELOPMENT)
    security_group(acct, SECURE_SG, None)
    for _ in range(60):
        instance(acct, storage_encrypted=False)
    client.force_login(viewer)
    params = {"rule": "RDS-ENCRYPTION"}
    # when the first page is asked for: 50 rows and a link to the second
    with django_assert_max_num_queries(20):
        first = client.get(reverse("findings"), params)
    assert len(first.context["findings"]) == 50
    body = first.content.decode()
    assert "Page 1 of 2" in body
    link = "/findings/?rule=RDS-ENCRYPTION&amp;page=2"
    assert f'href="{link}" hx-get="{link}" rel="next"' in body
    # and the links inherit the table as their HTMX target
    assert '<div hx-target="#findings-table" hx-swap="outerHTML" hx-push-url="true">' in body
    # then the second page, as an HTMX swap, is the table partial with the other 10
    with django_assert_max_num_queries(20):
        second = client.get(reverse("findings"), {**params, "page": 2}, HTTP_HX_REQUEST="true")
    assert len(second.context["findings"]) == 10
    assert second.content.decode().strip().startswith('<section id="findings-table">')
    assert "Page 2 of 2" in second.content.decode()


def test_a_resource_page_lists_its_findings_with_readable_evidence(client, viewer, expired):
    client.force_login(viewer)
    body = client.get(reverse("instance", args=[expired.pk])).content.decode()
    day = timezone.localdate(expired.ca_certificate_valid_till).isoformat()
    assert "critical: CA certificate expired" in body
    assert f"Expired on: {day} · Expired for: 834 days" in body
    assert f"expired on {day} <span" in body
