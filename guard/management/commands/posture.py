"""``manage.py posture``: the security findings over the mirror, for a terminal or a
pipeline. ``--fail-on high`` exits 1 when an open finding is at least that severe."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from guard import rules


class Command(BaseCommand):
    help = "List open security findings (suppressed ones with --all)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="one JSON object per line")
        parser.add_argument("--all", action="store_true", help="include suppressed findings")
        parser.add_argument(
            "--fail-on",
            choices=rules.Severity.ORDER,
            help="exit with status 1 when an open finding is this severe or worse",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        findings = rules.evaluate()
        shown = [f for f in findings if options["all"] or not f.suppressed]
        for f in shown:
            if options["json"]:
                self.stdout.write(
                    json.dumps(
                        {
                            "rule": f.rule.id,
                            "severity": f.severity,
                            "title": f.rule.title,
                            "resource": f.resource_arn,
                            "account": f.account_name,
                            "environment": f.environment,
                            "region": f.region,
                            "evidence": f.evidence,
                            "suppressed": f.suppressed,
                        },
                        default=str,
                        sort_keys=True,
                    )
                )
            else:
                mark = " (suppressed)" if f.suppressed else ""
                self.stdout.write(
                    f"{f.severity:8} {f.rule.id:26} {f.resource_label} "
                    f"[{f.account_name}/{f.region}]{mark}"
                )
        threshold = options.get("fail_on")
        if threshold:
            limit = rules.Severity.rank(threshold)
            worst = [
                f for f in findings if not f.suppressed and rules.Severity.rank(f.severity) <= limit
            ]
            if worst:
                raise CommandError(
                    f"{len(worst)} open finding(s) at {threshold} or worse", returncode=1
                )
