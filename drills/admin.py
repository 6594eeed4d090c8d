from django.contrib import admin

from drills.models import BackupPolicy, DrillRun, DrillSchedule
from estate.roles import MANAGE_DRILLS


@admin.register(DrillSchedule)
class DrillScheduleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "target_label",
        "drill_type",
        "cron",
        "timezone",
        "slo_seconds",
        "enabled",
    )
    list_filter = ("drill_type", "enabled")
    search_fields = ("name", "target_label", "target_arn")
    readonly_fields = ("periodic_task", "created_by", "created_at")

    # The Operator role's permission (MANAGE_DRILLS), not Django's model perms.
    def has_module_permission(self, request) -> bool:
        return request.user.has_perm(MANAGE_DRILLS)

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(MANAGE_DRILLS)

    def has_add_permission(self, request) -> bool:
        return request.user.has_perm(MANAGE_DRILLS)

    def has_change_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(MANAGE_DRILLS)

    def has_delete_permission(self, request, obj=None) -> bool:
        return request.user.has_perm(MANAGE_DRILLS)


@admin.register(BackupPolicy)
class BackupPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "environment",
        "min_retention_days",
        "max_snapshot_age_hours",
        "cross_region_copy_required",
        "encryption_required",
        "restore_drill_every_days",
    )


@admin.register(DrillRun)
class DrillRunAdmin(admin.ModelAdmin):
    list_display = (
        "pk",
        "drill_type",
        "target_label",
        "status",
        "client_downtime_seconds",
        "created_at",
    )
    list_filter = ("drill_type", "status")
    search_fields = ("target_label", "target_arn")
    # Runs are records: read them here, never edit them.
    readonly_fields = [f.name for f in DrillRun._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
