"""``manage.py sync``: a summary table, and clear refusals of an unknown scope."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from estate.models import SyncRun
from tests.factories.sandbox import PROD, REGION, client, create_instance, make_account

pytestmark = pytest.mark.django_db


def test_sync_command_prints_a_summary_table(sandbox):
    make_account(PROD)
    create_instance(client(PROD, REGION, "rds"), "billing")
    out = StringIO()
    call_command("sync", "--kind", "instances", "--kind", "clusters", stdout=out)
    lines = out.getvalue().splitlines()
    run = SyncRun.objects.get()
    assert lines[0] == f"SyncRun {run.pk}: succeeded"
    assert lines[1].split() == ["kind", "created", "updated", "unchanged", "gone", "errors"]
    assert lines[2].split() == ["clusters", "0", "0", "0", "0", "0"]
    assert lines[3].split() == ["instances", "1", "0", "0", "0", "0"]
    assert lines[4].split() == ["total", "1", "0", "0", "0", "0"]
    assert lines[5].startswith(f"calls {run.api_calls}, throttles 0, paced ")
    assert "duration" in lines[5]
    assert run.triggered_by == "manage.py sync"


def test_sync_command_lists_errors_per_kind(sandbox):
    make_account(PROD)
    sandbox.faults.deny(account_id=PROD, service="dms")
    out = StringIO()
    call_command("sync", "--kind", "dms", "--kind", "instances", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith(": partial")
    assert [line.split()[-1] for line in lines[2:5]] == ["0", "1", "1"]  # instances, dms, total
    assert any(line.startswith(f"error {PROD}/{REGION}/dms: ") for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "tables"], "Unknown kind(s): tables"),
        (["--account", "999999999999"], "Unknown account(s): 999999999999"),
        (["--region", "eu-central-9"], "Region(s) not configured"),
    ],
)
def test_sync_command_refuses_an_unknown_scope(sandbox, args, message):
    make_account(PROD)
    with pytest.raises(CommandError) as caught:
        call_command("sync", *args, stdout=StringIO())
    assert message in str(caught.value)
    assert not SyncRun.objects.exists()


def test_sync_command_fails_when_every_kind_failed(sandbox):
    make_account(PROD)
    sandbox.faults.deny(account_id=PROD, service="rds")
    with pytest.raises(CommandError) as caught:
        call_command("sync", "--kind", "instances", stdout=StringIO())
    assert "Sync failed" in str(caught.value)
