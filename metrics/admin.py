from django.contrib import admin

from metrics.models import AccountThresholds, Series


@admin.register(AccountThresholds)
class AccountThresholdsAdmin(admin.ModelAdmin):
    list_display = [
        "account",
        "replica_lag_seconds",
        "global_rpo_lag_seconds",
        "free_storage_percent",
        "cache_hit_rate_percent",
        "evictions_per_minute",
    ]
    autocomplete_fields: list[str] = []


@admin.register(Series)
class SeriesAdmin(admin.ModelAdmin):
    """Read-only: only the metrics sync writes series."""

    list_display = ["metric", "label", "resource_arn", "region", "last_point_at", "active"]
    list_filter = ["metric", "active", "region"]
    search_fields = ["resource_arn", "label"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
