"""manage.py posture: list findings, JSON lines, fail a pipeline on severity."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from tests.factories.guard import SECURE_SG, account, instance, security_group, snapshot

pytestmark = pytest.mark.django_db


def test_posture_lists_findings_and_fails_on_the_chosen_severity():
    acct = account()
    security_group(acct, SECURE_SG, None)
    instance(acct, auto_minor_version_upgrade=False, identifier="lazy-db")
    out = StringIO()
    call_command("posture", stdout=out)
    assert "RDS-AUTO-MINOR-UPGRADE" in out.getvalue()
    assert "lazy-db" in out.getvalue()
    # a low finding does not fail a "high" gate, a critical one does
    call_command("posture", "--fail-on", "high", stdout=StringIO())
    snapshot(acct, is_public=True)
    with pytest.raises(CommandError, match="1 open finding"):
        call_command("posture", "--fail-on", "high", stdout=StringIO())


def test_posture_json_lines():
    acct = account()
    security_group(acct, SECURE_SG, None)
    row = snapshot(acct, is_public=True)
    out = StringIO()
    call_command("posture", "--json", stdout=out)
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["rule"] == "SNAPSHOT-PUBLIC"
    assert record["resource"] == row.arn
    assert record["severity"] == "critical"
