from django.contrib import admin

from provisioning.models import Fault, Task
from tenants.admin_mixins import TenantScopedAdmin


@admin.register(Task)
class TaskAdmin(TenantScopedAdmin):
    list_display = [
        "id",
        "device",
        "type",
        "state",
        "attempts",
        "fault_code",
        "created",
        "finished",
    ]
    list_filter = ["state", "type", "tenant"]
    search_fields = ["device__device_id", "command_key"]
    list_select_related = ["device"]
    raw_id_fields = ["device", "requested_by"]
    readonly_fields = ["progress", "result", "session_id", "started", "finished", "created"]


@admin.register(Fault)
class FaultAdmin(TenantScopedAdmin):
    list_display = ["device", "method", "code", "string", "task", "created"]
    list_filter = ["code", "method", "tenant"]
    search_fields = ["device__device_id"]
    list_select_related = ["device", "task"]
    raw_id_fields = ["device", "task"]
