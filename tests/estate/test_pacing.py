"""One API budget per account, region and service, shared by every process."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from estate import aws, pacing
from tests.processes import ROOT, RedisServer


def test_estate_spends_only_its_share_of_each_budget(settings):
    settings.AWS_RATE_SHARE = 0.5
    settings.AWS_BUDGETS = {}
    assert pacing.budget_for("rds") == pacing.Budget(150, 6.0)
    assert pacing.budget_for("cloudwatch") == pacing.Budget(25, 25.0)
    settings.AWS_BUDGETS = {"elasticache": [40, 4]}
    assert pacing.budget_for("elasticache") == pacing.Budget(20, 2.0)


def test_background_calls_leave_a_reserve_that_urgent_calls_may_take():
    bucket = pacing.TokenBucket(capacity=5, rate=0.001)
    reserve = pacing.Budget(5, 0.001).reserve
    assert reserve == 1.0
    # Background takes what lies above the reserve
    assert [bucket.take(reserve) for _ in range(4)] == [0.0] * 4
    assert bucket.take(reserve) > 0
    # while an operation's call still gets the last token
    assert bucket.take(0.0) == 0.0


def test_a_waiting_background_caller_is_served_after_aging(settings, monkeypatch):
    # Given an empty bucket that refills fast, and urgent callers taking every token
    monkeypatch.setattr(pacing, "AGING_SECONDS", 0.2)
    settings.REDIS_URL = ""
    settings.AWS_RATE_BURST, settings.AWS_RATE_PER_SECOND = 5, 50.0
    pacer = pacing.Pacer()
    key = ("111111111111", "us-east-1", "rds")
    for _ in range(5):
        pacer.acquire(*key, priority=pacing.URGENT)
    # When a background caller waits behind the reserve, it is not starved
    started = time.monotonic()
    waited = pacer.acquire(*key, priority=pacing.BACKGROUND)
    assert waited > 0
    assert time.monotonic() - started < 2


def test_a_throttle_halves_the_rate_and_is_counted(settings):
    settings.REDIS_URL = ""
    pacer = pacing.Pacer()
    pacer.throttled("111111111111", "us-east-1", "rds")
    pacer.throttled("111111111111", "us-east-1", "rds")
    bucket = pacer._bucket(("111111111111", "us-east-1", "rds"))
    assert bucket.factor == 0.25
    assert pacer.state().throttles == {"111111111111:us-east-1:rds": 2}


# --- across processes, against the sandbox's throttle ------------------------------

_CALLER = """
import os, sys, time, json
import django
django.setup()
from estate import aws
ref = aws.AccountRef("111111111111")
rds = aws.client(ref, "us-east-1", "rds", stats=(stats := aws.CallStats()))
go = float(sys.argv[1])
while time.time() < go:
    time.sleep(0.01)
throttled = 0
for _ in range(int(sys.argv[2])):
    try:
        aws.call(rds, "describe_db_clusters")
    except aws.AwsThrottled:
        throttled += 1
print(json.dumps({"throttled": throttled, "calls": stats.api_calls}))
"""


def _two_processes(tmp_path: Path, sandbox_url: str, redis_url: str, calls: int) -> list[dict]:
    script = tmp_path / "caller.py"
    script.write_text(_CALLER)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "estate.settings",
        "DEBUG": "1",
        "ESTATE_VAR_DIR": str(tmp_path / "var"),
        "AWS_ENDPOINT_URL": sandbox_url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "REDIS_URL": redis_url,
        # AWS's bucket (what the sandbox enforces) is 4 at once, 8/s; Estate takes 90 %.
        "AWS_RATE_BURST": "4",
        "AWS_RATE_PER_SECOND": "8",
        "AWS_RATE_SHARE": "0.9",
        "AWS_PACER_PROCESSES": "2",
        # A throttled call is reported, not retried: every throttle is seen.
        "AWS_MAX_ATTEMPTS": "1",
    }
    go = time.time() + 4  # both start together, after Django has loaded
    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(go), str(calls)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err[-2000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def test_two_processes_sharing_a_redis_bucket_stay_inside_awss_bucket_together(
    sandbox, private_redis, tmp_path
):
    # Given AWS's bucket of 4 requests at once, refilled 8/s
    sandbox.faults.throttle(burst=4, rate=8.0, service="rds")
    # When two processes make 16 calls each, at once, pacing through one Redis bucket
    started = time.monotonic()
    results = _two_processes(tmp_path, sandbox.url, private_redis.url, 16)
    elapsed = time.monotonic() - started - 4
    # Then AWS throttled none of them: together they kept to the bucket's rate
    assert sandbox.faults.throttled_requests == 0, results
    assert sum(r["calls"] for r in results) == 32
    assert elapsed >= (32 - 3.6) / 7.2 - 0.5


def test_without_a_shared_bucket_the_same_two_processes_are_throttled(sandbox, tmp_path, settings):
    # The control: each process with its own full bucket spends twice AWS's budget.
    sandbox.faults.throttle(burst=4, rate=8.0, service="rds")
    _two_processes(tmp_path, sandbox.url, "", 16)
    assert sandbox.faults.throttled_requests > 0


def test_redis_down_falls_back_to_a_slice_per_process_and_back(
    private_redis, settings, monkeypatch, caplog
):
    settings.REDIS_URL = private_redis.url
    settings.AWS_PACER_PROCESSES = 4
    settings.AWS_RATE_BURST, settings.AWS_RATE_PER_SECOND = 40, 400.0
    monkeypatch.setattr(pacing, "RETRY_REDIS_SECONDS", 0.2)
    pacer = pacing.Pacer()
    key = ("111111111111", "us-east-1", "rds")
    pacer.acquire(*key)
    assert pacer.state().mode == "shared"
    # When Redis goes away, calls are still paced (never raised, never unpaced)
    private_redis.stop()
    with caplog.at_level(logging.WARNING, logger="estate.pacing"):
        for _ in range(3):
            pacer.acquire(*key)
    assert pacer.state().mode == "fallback"
    warnings = [r for r in caplog.records if "falls back" in r.getMessage()]
    assert len(warnings) == 1  # logged once
    # each process keeps to its slice: a quarter of the burst
    assert pacer._bucket(key).capacity == 10
    # Redis back: the shared bucket resumes
    private_redis.start()
    deadline = time.monotonic() + 10
    while pacer.state().mode != "shared" and time.monotonic() < deadline:
        pacer.acquire(*key)
    assert pacer.state().mode == "shared"


def test_the_syncs_page_shows_the_budget_and_its_throttles(client, django_user_model, settings):
    from estate.roles import VIEWER
    from tests.factories.operations import _role

    settings.REDIS_URL = ""
    user = django_user_model.objects.create_user("v", password="pw")
    user.groups.add(_role(VIEWER))
    client.force_login(user)
    aws.reset_pacers()
    pacing.pacer().throttled("111111111111", "eu-west-1", "rds")
    page = client.get("/sync/").content.decode()
    assert "AWS API budget" in page
    assert "eu-west-1" in page
    assert "Throttled by AWS" in page
