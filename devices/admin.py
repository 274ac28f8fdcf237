from django.contrib import admin

from devices.models import CpeRequest, Device, Parameter, SessionLog
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
