"""Security posture: the EC2 security groups in front of mirrored databases, and the
suppressions that hide a finding for a while (with a reason, until an expiry)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from estate.models import Account


class SecurityGroup(models.Model):
    """An EC2 security group referenced by a mirrored database, proxy or cache.

    ``ingress`` is AWS's IpPermissions, normalised:
    [{"protocol": "tcp"|"-1"|..., "from_port": int|None, "to_port": int|None,
      "cidrs": [...], "ipv6_cidrs": [...], "groups": [...]}].
    """

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=32)
    group_id = models.CharField(max_length=64)
    name = models.CharField(max_length=255, blank=True)
    vpc_id = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)
    ingress = models.JSONField(default=list, blank=True)
    last_synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["group_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["account", "region", "group_id"], name="uniq_security_group"
            )
        ]

    def __str__(self) -> str:
        return f"{self.group_id} ({self.name})" if self.name else self.group_id

    def open_to_world(self, port: int | None) -> list[dict]:
        """The ingress rules that let anyone on the internet (0.0.0.0/0 or ::/0) reach
        ``port`` (any port when ``port`` is None)."""
        hits = []
        for rule in self.ingress:
            world = [c for c in rule.get("cidrs", []) if c == "0.0.0.0/0"] + [
                c for c in rule.get("ipv6_cidrs", []) if c == "::/0"
            ]
            if not world:
                continue
            protocol = str(rule.get("protocol", ""))
            if protocol == "-1":
                hits.append(rule)
                continue
            if protocol not in ("tcp", "6"):
                continue
            low, high = rule.get("from_port"), rule.get("to_port")
            if port is None or low is None or high is None or low <= port <= high:
                hits.append(rule)
        return hits


class SuppressionQuerySet(models.QuerySet):
    def active(self, now=None) -> SuppressionQuerySet:
        now = now or timezone.now()
        return self.filter(revoked_at__isnull=True, expires_at__gt=now)


class FindingSuppression(models.Model):
    """Hides one rule's finding on one resource until ``expires_at``; after that (or
    once revoked) the finding is back. Creating and revoking are audited."""

    rule_id = models.CharField(max_length=32, db_index=True)
    resource_arn = models.CharField(max_length=1024, db_index=True)
    reason = models.TextField()
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = SuppressionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.rule_id} on {self.resource_arn} until {self.expires_at:%Y-%m-%d}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
