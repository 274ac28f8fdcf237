"""Tenancy scoping shared by every tenant-owned model.

The querysets of tenant-owned models offer ``Model.objects.restrict(user,
action)`` for what a person may see, and ``for_tenant`` where the tenant is
already known (as on the CWMP path). Today the admin's tenant-scoped pages
(``tenants.admin_mixins``) use ``restrict``; the CWMP path and the
``manage.py`` commands filter by tenant themselves. Issue 10 makes
``restrict`` the one mechanism every person-facing query goes through, with
object grants, and a test that enumerates every route to prove it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser, AnonymousUser

# Which roles may do what. "view" is every member; "change" adds work on
# devices (tasks, parameters); "delete" and "admin" are tenant admins only.
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"view"}),
    "operator": frozenset({"view", "change", "add"}),
    "admin": frozenset({"view", "change", "add", "delete", "admin"}),
}


def roles_for(action: str) -> list[str]:
    return [role for role, actions in ROLE_ACTIONS.items() if action in actions]


class TenantScopedQuerySet(models.QuerySet):
    """QuerySet of a model with a non-null ``tenant`` foreign key."""

    tenant_field = "tenant"

    def for_tenant(self, tenant: models.Model | int) -> TenantScopedQuerySet:
        """Rows of ``tenant``, a Tenant or its pk.

        Typed as any model because ``tenants.models`` imports this module: naming
        Tenant here, even for type checkers only, would make the two a cycle.
        """
        return self.filter(**{self.tenant_field: tenant})

    def restrict(
        self, user: AbstractUser | AnonymousUser, action: str = "view"
    ) -> TenantScopedQuerySet:
        """Rows of the tenants in which ``user`` holds a role allowing ``action``."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self.all()
        lookup: dict[str, Any] = {
            f"{self.tenant_field}__memberships__user": user,
            f"{self.tenant_field}__memberships__role__in": roles_for(action),
        }
        return self.filter(**lookup).distinct()


TenantScopedManager = models.Manager.from_queryset(TenantScopedQuerySet)
