from django.contrib import admin

from guard.models import FindingSuppression, SecurityGroup


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never edited here: security groups are written by sync, suppressions by
    the findings page (which audits them)."""

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SecurityGroup)
class SecurityGroupAdmin(ReadOnlyAdmin):
    list_display = ["group_id", "name", "account", "region", "vpc_id", "last_synced_at"]
    list_filter = ["account", "region"]
    search_fields = ["group_id", "name"]
    list_select_related = ["account"]


@admin.register(FindingSuppression)
class FindingSuppressionAdmin(ReadOnlyAdmin):
    list_display = ["rule_id", "resource_arn", "expires_at", "created_by", "revoked_at"]
    list_filter = ["rule_id"]
    search_fields = ["resource_arn", "reason"]
    list_select_related = ["created_by"]
