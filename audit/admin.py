from django.contrib import admin

from audit.models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail can be looked at here, never added to, changed or deleted."""

    list_display = ["at", "username", "action", "target", "outcome", "source_ip"]
    list_filter = ["outcome", "action"]
    search_fields = ["username", "action", "target"]
    date_hierarchy = "at"
    list_select_related = ["actor"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        return {}
