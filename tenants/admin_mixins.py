"""Admin scoping: staff see only their tenants' rows, through ``restrict``."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from tenants.models import Tenant, TenantQuerySet
from tenants.querysets import TenantScopedQuerySet


class TenantScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose querysets and tenant choices follow the user's roles."""

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        assert isinstance(qs, TenantScopedQuerySet | TenantQuerySet)  # every model admin'd here
        return qs.restrict(request.user, "view")

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.related_model is Tenant:
            kwargs["queryset"] = Tenant.objects.restrict(request.user, "change")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _member_allows(self, request: HttpRequest, action: str, obj: Any = None) -> bool:
        user = request.user
        if user.is_superuser:
            return True
        assert user.is_authenticated  # has_module_permission let only active staff through
        memberships = user.memberships.all()
        if obj is not None:
            tenant_id = self._tenant_id(obj)
            memberships = memberships.filter(tenant_id=tenant_id)
        return any(ms.allows(action) for ms in memberships)

    def _tenant_id(self, obj: Any) -> int:
        return obj.tenant_id

    def has_module_permission(self, request: HttpRequest) -> bool:
        return (
            request.user.is_active
            and request.user.is_staff
            and self._member_allows(request, "view")
        )

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request) and self._member_allows(request, "view", obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request) and self._member_allows(request, "change", obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self.has_module_permission(request) and self._member_allows(request, "add")

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self.has_module_permission(request) and self._member_allows(request, "delete", obj)
