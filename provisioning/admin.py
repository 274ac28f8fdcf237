from django.contrib import admin

from provisioning import services
from provisioning.models import OPEN_STATES, Fault, Task, TaskState
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
    actions = ["cancel_tasks", "retry_tasks"]

    @admin.action(description="Cancel the selected queued tasks")
    def cancel_tasks(self, request, queryset):  # type: ignore[no-untyped-def]
        done = 0
        for task in queryset.filter(state=TaskState.QUEUED):
            services.task_cancel(task=task)
            done += 1
        self.message_user(request, f"{done} task(s) cancelled; running ones cannot be recalled.")

    @admin.action(description="Queue the selected finished tasks again")
    def retry_tasks(self, request, queryset):  # type: ignore[no-untyped-def]
        done = 0
        for task in queryset.exclude(state__in=OPEN_STATES):
            services.task_retry(task=task)
            done += 1
        self.message_user(request, f"{done} task(s) queued again.")


@admin.register(Fault)
class FaultAdmin(TenantScopedAdmin):
    list_display = ["device", "method", "code", "string", "task", "created"]
    list_filter = ["code", "method", "tenant"]
    search_fields = ["device__device_id"]
    list_select_related = ["device", "task"]
    raw_id_fields = ["device", "task"]
