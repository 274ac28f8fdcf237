from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from devices.models import CpeRequest, Device, IdentityConflict, Parameter, SessionLog
from tenants.admin_mixins import ReadOnlyAdmin, TenantScopedAdmin

# Shown, all read-only, in the inlines. Tuples: one value that both ``fields``
# and ``readonly_fields`` take (as lists, their element types differ).
_PARAMETER_FIELDS = ("path", "value", "type", "writable", "notification", "updated")
_SESSION_LOG_FIELDS = ("started", "events", "outcome", "rpcs", "remote_address", "duration_ms")


class ParameterInline(admin.TabularInline):
    model = Parameter
    extra = 0
    fields = _PARAMETER_FIELDS
    readonly_fields = _PARAMETER_FIELDS
    ordering = ["path"]
    max_num = 0
    show_change_link = False


class SessionLogInline(admin.TabularInline):
    model = SessionLog
    extra = 0
    fields = _SESSION_LOG_FIELDS
    readonly_fields = _SESSION_LOG_FIELDS
    max_num = 0
    ordering = ["-started"]


@admin.register(Device)
class DeviceAdmin(TenantScopedAdmin):
    list_display = [
        "device_id",
        "tenant",
        "manufacturer",
        "product_class",
        "software_version",
        "ip_address",
        "last_inform",
        "last_events",
    ]
    list_filter = ["tenant", "manufacturer", "product_class", "data_model"]
    search_fields = ["device_id", "serial_number", "mac_address", "ip_address"]
    readonly_fields = ["cwmp_ha1_md5", "cwmp_ha1_sha256", "inform_digest", "created"]
    date_hierarchy = "last_inform"
    ordering = ["device_id"]  # stable pages (and autocompletes) over millions of rows
    inlines = [SessionLogInline, ParameterInline]


@admin.register(Parameter)
class ParameterAdmin(ReadOnlyAdmin):
    # Values are what the device reported; they change through tasks, never by hand.
    list_display = ["device", "path", "value", "type", "writable", "updated"]
    search_fields = ["path", "value", "device__device_id"]
    list_select_related = ["device"]
    autocomplete_fields = ["device"]


@admin.register(SessionLog)
class SessionLogAdmin(ReadOnlyAdmin):
    list_display = [
        "device",
        "started",
        "events",
        "outcome",
        "rpcs",
        "remote_address",
        "duration_ms",
    ]
    list_filter = ["outcome", "tenant"]
    search_fields = ["device__device_id", "session_id"]
    list_select_related = ["device"]
    autocomplete_fields = ["device"]


@admin.register(CpeRequest)
class CpeRequestAdmin(ReadOnlyAdmin):
    list_display = ["device", "method", "command_key", "fault_code", "received", "handled"]
    list_filter = ["method", "tenant"]
    search_fields = ["device__device_id", "command_key"]
    list_select_related = ["device"]
    autocomplete_fields = ["device"]


@admin.register(IdentityConflict)
class IdentityConflictAdmin(admin.ModelAdmin):
    """DeviceIds two tenants claimed: the platform operator's to settle, nobody else's to see.

    A row names both tenants, so no tenant's staff may read it; it is written
    by the CWMP endpoint and never edited by hand.
    """

    list_display = ["device_id", "kind", "tenant", "owner", "count", "last_seen", "remote_address"]
    list_filter = ["kind"]
    search_fields = ["device_id"]
    ordering = ["-last_seen"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_superuser)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request)
