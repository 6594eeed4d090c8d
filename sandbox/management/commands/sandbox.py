"""``manage.py sandbox``: the embedded fake AWS, seeded and registered, until stopped."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser


class Command(BaseCommand):
    help = (
        "Run the sandbox (moto + Estate's extensions) on 127.0.0.1, seed it, register its "
        "accounts in Estate's database, optionally run a first sync, and serve until "
        "SIGINT/SIGTERM."
    )
    # call_command(..., restore_signals=True) puts the previous handlers back afterwards
    # (tests); from the command line ours stay, so that the second signal of a Ctrl-C
    # under honcho (SIGINT from the terminal, then SIGTERM from honcho) is a no-op
    # instead of killing the process as it exits.
    stealth_options = ("restore_signals",)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=5055, help="TCP port (default 5055)")
        parser.add_argument(
            "--seed",
            choices=["demo", "none"],
            default="demo",
            help="what to create in the sandbox (default: the demo estate)",
        )
        parser.add_argument(
            "--scale",
            type=int,
            default=0,
            metavar="N",
            help="also add N DB instances and N/10 clusters (benchmarks)",
        )
        parser.add_argument(
            "--throttle",
            action="store_true",
            help="enforce AWS's RDS API token bucket (burst 300, 12/s per account+region)",
        )
        parser.add_argument(
            "--throttle-burst", type=int, default=300, help="bucket size with --throttle"
        )
        parser.add_argument(
            "--throttle-rate", type=float, default=12.0, help="refill per second with --throttle"
        )
        parser.add_argument(
            "--sync", action="store_true", help="run a first sync of every account once seeded"
        )
        parser.add_argument(
            "--transition-seconds",
            type=float,
            default=None,
            metavar="S",
            help=(
                "how long transitional states (creating, failing-over, backtracking, ...) "
                "last once seeded (default: SANDBOX_TRANSITION_SECONDS, else 0)"
            ),
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from sandbox.server import SandboxServer

        port: int = options["port"]
        if not 0 <= port <= 65535:
            raise CommandError(f"--port {port}: use 0-65535")
        if options["scale"] < 0:
            raise CommandError(f"--scale {options['scale']}: use a number >= 0")
        if options["throttle_burst"] < 1 or options["throttle_rate"] <= 0:
            raise CommandError("--throttle-burst must be >= 1 and --throttle-rate > 0")
        if options["transition_seconds"] is not None and options["transition_seconds"] < 0:
            raise CommandError("--transition-seconds must be >= 0")

        server = SandboxServer(port=port, host="127.0.0.1")
        try:
            server.start()
        except OSError as exc:
            raise CommandError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}") from exc
        stop = threading.Event()
        serving = threading.Event()
        interrupted = False

        def on_signal(signum: int, _frame: Any) -> None:
            stop.set()
            if not serving.is_set():
                # Seeding or syncing: interrupt it (and shut down below).
                raise KeyboardInterrupt

        # On Ctrl-C under honcho every process gets SIGINT from the terminal *and*
        # SIGTERM from honcho: the second one must not kill the shutdown half-way.
        previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
        publisher = None
        try:
            self._prepare(server, options)
            if options["seed"] == "demo":
                from sandbox.listeners import back_demo_estate

                # Failover targets answer on loopback listeners that go dark while the
                # sandbox fails them over, so the demo's drills measure a real outage.
                backed = back_demo_estate()
                self._say(f"Drill probes: {len(backed)} endpoints backed by loopback listeners.")
                publisher = self._start_metrics(server.url, first_sync=options["sync"])
            serving.set()
            self._say("Serving until Ctrl-C (SIGINT) or SIGTERM.")
            # A timeout keeps the main thread responsive to signals on every platform.
            while not stop.wait(timeout=1.0):
                pass
        except KeyboardInterrupt:
            interrupted = True
            self._say("Interrupted.")
        finally:
            serving.set()
            if publisher is not None:
                publisher.stop()
            if options["seed"] == "demo":
                from sandbox.listeners import stop_all

                stop_all()
            server.stop()
            self._say("Sandbox stopped.")
            if options.get("restore_signals"):
                for sig, old in previous.items():
                    signal.signal(sig, old)
        if interrupted and not options.get("restore_signals"):
            # An interrupted seed or first sync may leave worker threads retrying
            # against the stopped server, and Python would wait for them at exit.
            sys.stdout.flush()
            os._exit(130)

    # --- steps -----------------------------------------------------------------------

    def _prepare(self, server: Any, options: dict[str, Any]) -> None:
        from sandbox.accounts import register_demo_accounts
        from sandbox.seed import SeedError, seed_demo, seed_scale

        self._say(f"Sandbox (fake AWS) listening on {server.url}")
        if options["throttle"]:
            burst, rate = options["throttle_burst"], options["throttle_rate"]
            try:
                server.faults.throttle(burst=burst, rate=rate, service="rds")
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self._say(f"Throttling RDS: burst {burst}, {rate:g} requests/s per account+region.")
        # The seed waits for nothing: everything it creates must be available at once.
        _set_transition_seconds(0.0)
        if options["seed"] == "demo":
            started = time.monotonic()
            try:
                summary = seed_demo(server.url)
            except SeedError as exc:
                raise CommandError(str(exc)) from exc
            self._say(f"Seeded the demo estate in {time.monotonic() - started:.1f} s:")
            for line in summary.lines():
                self._say(f"  {line}")
        if options["scale"]:
            started = time.monotonic()
            summary = seed_scale(options["scale"])
            self._say(
                f"Added {options['scale']} instances at scale in {time.monotonic() - started:.1f} s."
            )
        if options["seed"] == "demo" or options["scale"]:
            # The demo accounts hold what was seeded (the scale seed uses them too).
            accounts = register_demo_accounts()
            self._say(
                "Registered accounts: "
                + ", ".join(f"{a.name} ({a.account_id}, {a.environment})" for a in accounts)
            )
        else:
            # An empty sandbox is for one's own estate built through boto3: registering
            # the demo accounts would put accounts nobody asked for into Estate (and
            # every sync would sync them).
            self._say("No accounts registered (--seed none): add your own in the admin.")
        configured = settings.AWS_ENDPOINT_URL
        if configured and configured.rstrip("/") != server.url:
            self._say(
                f"Note: AWS_ENDPOINT_URL is {configured}, not this sandbox ({server.url}); "
                "other processes will not reach it."
            )
        _set_transition_seconds(options["transition_seconds"])
        if options["transition_seconds"] is not None:
            self._say(f"Transitional states last {options['transition_seconds']:g} s.")
        if options["sync"]:
            self._first_sync(server.url)
        if options["seed"] == "demo":
            self._announce_demo_logins()

    def _start_metrics(self, url: str, *, first_sync: bool) -> Any:
        """Publish the demo's metrics and keep publishing once a minute, so charts move.
        After a first sync the backfill and one metrics fetch run now, so the charts and
        the threshold list are filled before the scheduler's first metrics round."""
        from datetime import UTC, datetime

        from sandbox.metrics_seed import DemoPublisher

        publisher = DemoPublisher(url)
        if first_sync:
            from metrics.sync import sync_metrics

            started = time.monotonic()
            points = publisher.tick(datetime.now(UTC))
            totals = sync_metrics()
            self._say(
                f"Metrics: published {points} points, fetched {totals.get('points_written', 0)} "
                f"in {time.monotonic() - started:.1f} s."
            )
        return publisher.start()

    def _first_sync(self, url: str) -> None:
        from estate.sync import sync_scope

        # This process's sync must reach this sandbox whatever the environment said.
        settings.AWS_ENDPOINT_URL = url
        started = time.monotonic()
        run = sync_scope(triggered_by="sandbox")
        counts = run.counts or {}
        created = sum(int(c.get("created", 0)) for c in counts.values())
        self._say(
            f"First sync: {run.status} in {time.monotonic() - started:.1f} s, "
            f"{created} resources created, {run.api_calls} API calls, "
            f"{run.throttle_retries} throttle retries."
        )
        for scope, message in sorted((run.errors or {}).items()):
            self._say(f"  error {scope}: {message}")

    def _announce_demo_logins(self) -> None:
        """Repeat the demo's URL and logins last, where they do not scroll away among
        the other demo processes' output (only if ``demo_users`` created them)."""
        from django.contrib.auth import get_user_model

        from estate.management.commands.demo_users import DEMO_URL, DEMO_USERS, login_lines

        names = [u.username for u in DEMO_USERS]
        if get_user_model().objects.filter(username__in=names).count() != len(names):
            return
        self._say(f"Estate demo is ready: open {DEMO_URL} and log in as")
        for line in login_lines():
            self._say(line)

    def _say(self, message: str) -> None:
        self.stdout.write(message)
        self.stdout.flush()


def _set_transition_seconds(seconds: float | None) -> None:
    """Transition durations of the lifecycle extension: ``None`` = back to its default
    (the SANDBOX_TRANSITION_SECONDS environment variable)."""
    try:
        from sandbox.extensions import lifecycle_core
    except ImportError:  # no lifecycle extension: everything is immediate anyway
        return
    lifecycle_core.reset_durations()
    if seconds is not None:
        lifecycle_core.set_durations(default=seconds)
