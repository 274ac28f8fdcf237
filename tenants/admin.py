from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tenants.admin_mixins import TenantScopedAdmin
from tenants.models import Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    list_display = ["slug", "name", "is_active", "cpe_auth_methods", "periodic_inform_interval"]
    search_fields = ["slug", "name"]
    readonly_fields = ["cpe_realm", "cpe_ha1_md5", "cpe_ha1_sha256", "created"]
    inlines = [MembershipInline]

    def _tenant_id(self, obj: Tenant) -> int:
        return obj.pk

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "tenant", "role"]
    list_filter = ["role"]
    autocomplete_fields = ["user"]

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request) and self._member_allows(request, "admin", obj)
