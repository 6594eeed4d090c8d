"""``manage.py sandbox``: start, seed, register, first sync, stop on a signal."""

from __future__ import annotations

import io
import os
import signal
import threading

import pytest
from django.core.management import CommandError, call_command

from estate.models import Account, DbInstance, SyncRun
from sandbox.seed import DEMO_REGIONS


def _signal_when(output: io.StringIO, text: str, signum: int) -> threading.Thread:
    """Send ``signum`` to this process once ``text`` shows in the command's output."""

    def watch() -> None:
        deadline = threading.Event()
        for _ in range(600):  # 60 s at most
            if text in output.getvalue():
                os.kill(os.getpid(), signum)
                return
            deadline.wait(0.1)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@pytest.mark.django_db
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_serves_until_a_signal_then_stops_cleanly(sandbox, signum):
    # Given the command running without a seed
    output = io.StringIO()
    watcher = _signal_when(output, "Serving until", signum)
    # When it is signalled
    call_command("sandbox", "--port", "0", "--seed", "none", stdout=output, restore_signals=True)
    watcher.join(timeout=5)
    # Then it has stopped its server, and registered no demo account: nothing was
    # seeded in them
    text = output.getvalue()
    assert "listening on http://127.0.0.1:" in text
    assert text.rstrip().endswith("Sandbox stopped.")
    assert "No accounts registered (--seed none)" in text
    assert not Account.objects.exists()


@pytest.mark.django_db
def test_seed_and_first_sync_fill_the_mirror(sandbox, settings):
    # Given the command with the demo seed, --throttle and --sync, stopped once serving
    output = io.StringIO()
    _signal_when(output, "Serving until", signal.SIGTERM)
    call_command(
        "sandbox", "--port", "0", "--sync", "--throttle", stdout=output, restore_signals=True
    )
    # Then the first sync succeeded and mirrored the demo instances of both accounts
    run = SyncRun.objects.get()
    assert run.status == SyncRun.Status.SUCCEEDED, run.errors
    assert run.triggered_by == "sandbox"
    assert DbInstance.objects.filter(identifier="ledger-pg-dr", region="us-west-2").exists()
    assert DbInstance.objects.filter(account__account_id="222222222222").exists()
    assert "First sync: succeeded" in output.getvalue()
    # And the demo accounts it seeded are registered, pointing at the sandbox's roles
    accounts = {a.account_id: a for a in Account.objects.all()}
    assert accounts["111111111111"].environment == "production"
    assert accounts["222222222222"].role_arn == "arn:aws:iam::222222222222:role/EstateSync"
    assert accounts["222222222222"].regions == list(DEMO_REGIONS)


@pytest.mark.django_db
def test_registering_twice_updates_instead_of_duplicating(sandbox):
    from sandbox.accounts import register_demo_accounts

    Account.objects.create(account_id="111111111111", name="old", enabled=False)
    register_demo_accounts()
    register_demo_accounts()
    account = Account.objects.get(account_id="111111111111")
    assert (account.name, account.enabled) == ("acme-prod", True)
    assert Account.objects.count() == 2


def test_a_busy_port_is_a_clear_error(sandbox_server):
    with pytest.raises(CommandError, match="cannot listen on 127.0.0.1"):
        call_command("sandbox", "--port", str(sandbox_server.port), "--seed", "none")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "--port"),
        (["--scale", "-1"], "--scale"),
        (["--throttle", "--throttle-burst", "0"], "--throttle-burst"),
    ],
)
def test_bad_options_are_refused_before_starting(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("sandbox", *args)


@pytest.mark.django_db
def test_transition_seconds_apply_once_seeded(sandbox):
    from sandbox.extensions import lifecycle_core

    output = io.StringIO()
    _signal_when(output, "Serving until", signal.SIGTERM)
    try:
        call_command(
            "sandbox",
            "--port",
            "0",
            "--seed",
            "none",
            "--transition-seconds",
            "7",
            stdout=output,
            restore_signals=True,
        )
        assert lifecycle_core.duration("failover") == 7.0
        assert "Transitional states last 7 s." in output.getvalue()
    finally:
        lifecycle_core.reset_durations()
