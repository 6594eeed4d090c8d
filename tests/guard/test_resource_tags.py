"""The include tags resource pages use for their own audit events and findings."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from audit.services import record
from tests.factories.guard import SECURE_SG, account, instance, security_group

pytestmark = pytest.mark.django_db


def test_audit_trail_tag_lists_only_that_resources_events(django_assert_max_num_queries):
    record("operation.requested", target="arn:aws:rds:us-east-1:1:cluster:a")
    record("operation.requested", target="arn:aws:rds:us-east-1:1:cluster:b")
    template = Template("{% load audit_tags %}{% audit_trail arn %}")
    with django_assert_max_num_queries(1):
        html = template.render(Context({"arn": "arn:aws:rds:us-east-1:1:cluster:a"}))
    assert html.count("<li>") == 1
    assert "target=arn%3Aaws%3Ards%3Aus-east-1%3A1%3Acluster%3Aa" in html


def test_resource_findings_tag_shows_the_resources_findings():
    acct = account()
    security_group(acct, SECURE_SG, None)
    db = instance(acct, publicly_accessible=True)
    html = Template("{% load guard_tags %}{% resource_findings arn %}").render(
        Context({"arn": db.arn})
    )
    assert "Publicly accessible" in html
    assert "No findings" not in html
