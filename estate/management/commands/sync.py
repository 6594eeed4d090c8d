"""``manage.py sync [--account ID] [--region R] [--kind K]``: sync now, print a summary.

``--kind metrics`` also (or only, when it is the sole kind) fetches new CloudWatch points
into the metrics store; without ``--kind`` every mirror kind is synced and metrics keep
their own schedule."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from estate.models import SyncRun
from estate.sync import KINDS, ScopeError, resolve_scope, sync_scope
from estate.sync.store import COUNT_KEYS

# Not a mirror kind: the CloudWatch points of the metrics app.
METRICS_KIND = "metrics"


class Command(BaseCommand):
    help = "Sync the mirror from AWS now and print what changed."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--account", action="append", dest="accounts", metavar="ID", help="repeatable"
        )
        parser.add_argument(
            "--region", action="append", dest="regions", metavar="R", help="repeatable"
        )
        parser.add_argument(
            "--kind",
            action="append",
            dest="kinds",
            metavar="K",
            help=f"repeatable; one of {', '.join(KINDS)}, {METRICS_KIND}",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        kinds = options["kinds"]
        with_metrics = bool(kinds) and METRICS_KIND in kinds
        mirror_kinds = [k for k in kinds or () if k != METRICS_KIND] or None
        run = None
        if not with_metrics or mirror_kinds:
            try:
                run = sync_scope(
                    account_ids=options["accounts"],
                    regions=options["regions"],
                    kinds=mirror_kinds,
                    triggered_by="manage.py sync",
                )
            except ScopeError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(render_summary(run))
        if with_metrics:
            self._sync_metrics(options)
        if run is not None and run.status == SyncRun.Status.FAILED:
            raise CommandError(f"Sync failed: {run.message or 'every kind failed'}")

    def _sync_metrics(self, options: dict[str, Any]) -> None:
        from metrics.sync import sync_metrics

        try:
            resolve_scope(options["accounts"], options["regions"])
        except ScopeError as exc:
            raise CommandError(str(exc)) from exc
        totals = sync_metrics(account_ids=options["accounts"], regions=options["regions"])
        self.stdout.write(
            f"metrics: {totals.get('series', 0)} series, {totals.get('points_written', 0)} new "
            f"points in {totals.get('api_calls', 0)} calls, {totals.get('seconds', 0.0):.1f}s"
        )
        for scope, message in sorted((totals.get("errors") or {}).items()):
            self.stdout.write(f"  metrics error {scope}: {message}")


def render_summary(run: SyncRun) -> str:
    """The run as a plain-text table (also used by the sandbox command)."""
    error_kinds: dict[str, int] = {}
    for key in run.errors:
        kind = key.rsplit("/", 1)[-1]
        error_kinds[kind] = error_kinds.get(kind, 0) + 1
    kinds = list(dict.fromkeys([*run.counts, *error_kinds]))
    header = ["kind", *COUNT_KEYS, "errors"]
    rows = [
        [
            kind,
            *(str(run.counts.get(kind, {}).get(k, 0)) for k in COUNT_KEYS),
            str(error_kinds.get(kind, 0)),
        ]
        for kind in kinds
    ]
    rows.append(["total", *(str(run.total(k)) for k in COUNT_KEYS), str(len(run.errors))])
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    out = [f"SyncRun {run.pk}: {run.status}", line(header), *(line(r) for r in rows)]
    duration = run.duration_seconds or 0.0
    out.append(
        f"calls {run.api_calls}, throttles {run.throttle_retries}, "
        f"paced {run.paced_seconds:.1f}s, duration {duration:.1f}s"
    )
    if run.message:
        out.append(run.message)
    for key, message in sorted(run.errors.items()):
        out.append(f"error {key}: {message}")
    return "\n".join(out) + "\n"
