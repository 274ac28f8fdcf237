"""Tenants and memberships in the admin: the platform creates tenants; tenant admins run them.

A tenant's settings (CPE authentication, certificate issuer, connection-
request allow-list, credentials) and its memberships and roles are changed
by the tenant's admins and the platform superuser only; everyone else who
belongs to the tenant may read them.
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from tenants.admin_mixins import TenantScopedAdmin, selectable_users
from tenants.models import Membership, Tenant


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["user", "role", "scope"]

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "user":
            kwargs["queryset"] = selectable_users(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _tenant_admin(self, request: HttpRequest, obj: Any) -> bool:
        if request.user.is_superuser:
            return True
        return (
            obj is not None
            and Tenant.objects.restrict(request.user, "admin").filter(pk=obj.pk).exists()
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return (
            obj is None or Tenant.objects.restrict(request.user, "view").filter(pk=obj.pk).exists()
        )

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._tenant_admin(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._tenant_admin(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._tenant_admin(request, obj)


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    list_display = ["slug", "name", "is_active", "cpe_auth_methods", "periodic_inform_interval"]
    search_fields = ["slug", "name"]
    readonly_fields = ["cpe_realm", "cpe_ha1_md5", "cpe_ha1_sha256", "created"]
    inlines = [MembershipInline]
    change_action = "admin"

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        base: Any = super().get_form(request, obj, change=change, **kwargs)

        class AsThisUser(base):
            # The model's validation of the allow-list asks who is changing
            # it: special blocks (loopback, metadata, ...) are the platform's.
            def __init__(self, *args: Any, **form_kwargs: Any) -> None:
                super().__init__(*args, **form_kwargs)
                self.instance.permit_special_networks(request.user)

        return AsThisUser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser


@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    list_display = ["user", "tenant", "role", "scope"]
    list_filter = ["role", "scope", "tenant"]
    search_fields = ["user__username", "tenant__slug"]
    add_action = change_action = delete_action = choice_action = "admin"
