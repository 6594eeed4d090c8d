"""Real processes for integration tests: Celery workers, a private Redis server, and
ways to make PostgreSQL look restarted to them.

Workers share the test database (PostgreSQL only: SQLite cannot be shared between
processes; such tests are marked ``postgres``) and a Redis broker. A private ``redis-server`` on its own port can be
restarted without disturbing anything else on the machine.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def redis_url(db: int) -> str | None:
    """``REDIS_URL`` (or Redis on 127.0.0.1:6379) with database ``db``, if reachable."""
    base = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    parts = urlsplit(base)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{db}", "", ""))
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001 - any failure means "no Redis here"
        return None
    return url


def database_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{connection.settings_dict['NAME']}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(condition: Any, timeout: float, what: str, *logs: Path) -> Any:
    """Poll ``condition`` until it is truthy (returned) or fail after ``timeout`` s
    with the tail of each log."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        pause.wait(0.1)
    tails = "\n".join(f"--- {log.name}\n{log.read_text()[-3000:]}" for log in logs)
    raise AssertionError(f"timed out waiting for {what}\n{tails}")


class RedisServer:
    """A private ``redis-server`` on a free port, restartable on the same port."""

    def __init__(self, tmp_path: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("needs redis-server on PATH (apt-get install redis-server)")
        self.binary = binary
        self.port = free_port()
        self.dir = tmp_path / "redis"
        self.dir.mkdir(exist_ok=True)
        self.log = tmp_path / "redis.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        # As a production Redis would be: persistence on, so a restart keeps the queue.
        self.process = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--save",
                "",
            ],
            stdout=self.log.open("a"),
            stderr=subprocess.STDOUT,
        )
        import redis

        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.exceptions.ConnectionError:
                return False

        wait_for(up, 15, "redis-server to start", self.log)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis flushes its append-only file
            self.process.wait(timeout=15)
        self.process = None

    def restart(self, down_seconds: float) -> None:
        self.stop()
        threading.Event().wait(down_seconds)  # the outage itself
        self.start()


class Worker:
    """A ``celery worker`` (with an embedded beat running the reaper) in its own
    process group, so that SIGKILL takes the pool's children down with it. An empty
    ``broker`` is the demo's filesystem broker (in ``tmp_path``)."""

    def __init__(
        self,
        tmp_path: Path,
        name: str,
        broker: str,
        sandbox_url: str,
        *,
        concurrency: int = 2,
        **env_overrides: str,
    ) -> None:
        self.log = tmp_path / f"{name}.log"
        if not broker:
            # The demo's broker: kombu's filesystem transport under ESTATE_VAR_DIR.
            for folder in ("queue", "processed", "control"):
                (tmp_path / "var" / "broker" / folder).mkdir(parents=True, exist_ok=True)
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "estate.settings",
            "DEBUG": "1",
            "DATABASE_URL": database_url(),
            "REDIS_URL": broker,
            "AWS_ENDPOINT_URL": sandbox_url,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "ESTATE_VAR_DIR": str(tmp_path / "var"),
            # A dead worker's claim, and a call's, run out within seconds here.
            "OPERATIONS_STEP_LEASE_SECONDS": "3",
            "AWS_CONNECT_TIMEOUT": "1",
            "AWS_READ_TIMEOUT": "2",
            "OPERATIONS_POLL_SECONDS": "0.2",
            "OPERATIONS_TYPICAL_SCALE": "0.05",
            "OPERATIONS_REAPER_INTERVAL_SECONDS": "0.5",
            "OPERATIONS_REAPER_GRACE_SECONDS": "0.5",
            "PYTHONPATH": str(ROOT),
            **env_overrides,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "estate.celery",
                "worker",
                "-c",
                str(concurrency),
                "-B",
                "--scheduler",
                "celery.beat:PersistentScheduler",
                "-s",
                str(tmp_path / f"{name}-beat"),
                "-n",
                f"{name}@%h",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
