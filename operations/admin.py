"""Operations in the admin: read-only (operations change only through the engine)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from operations.models import Operation, OperationEvent


class OperationEventInline(admin.TabularInline):
    model = OperationEvent
    extra = 0
    can_delete = False
    fields = ("at", "step", "level", "message")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Operation)
class OperationAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "target_label", "state", "requested_by", "created_at")
    list_filter = ("state", "kind")
    search_fields = ("target_arn", "target_label")
    list_select_related = ("requested_by",)
    inlines = [OperationEventInline]

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> list[str]:
        return [f.name for f in Operation._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
