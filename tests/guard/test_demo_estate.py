"""The posture, drift and audit pages over a realistic estate (tests/factories.py)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from guard import rules
from tests.factories.estate import make_demo_estate

pytestmark = pytest.mark.django_db


def test_pages_render_over_the_demo_estate(client, admin):
    # given the shared demo estate (Aurora, global, replicas, proxies, caches, DMS)
    make_demo_estate()
    findings = rules.evaluate()
    # then the rules run over every kind without error and find something to say
    assert findings
    assert {f.resource_kind for f in findings} >= {"instance", "cluster"}
    for finding in findings:
        assert finding.rule.id in rules.RULES
        assert finding.evidence
    client.force_login(admin)
    for name, params in [
        ("findings", {}),
        ("findings", {"status": "all", "severity": "high"}),
        ("drift", {}),
        ("audit", {"q": "orders"}),
        ("users", {}),
    ]:
        response = client.get(reverse(name), params)
        assert response.status_code == 200, (name, params)
