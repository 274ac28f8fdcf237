"""Admin scoping: every page, list, filter and choice goes through ``restrict``.

A staff member sees and changes only what their roles (and, for a limited
membership, their grants) allow; another tenant's object is a 404, never a
403 that confirms it exists, and never appears in a list, a filter or a
choice. The platform superuser sees everything.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest

from tenants.models import Membership, TenantQuerySet
from tenants.querysets import TenantScopedQuerySet, roles_for


def scoped(model: type[Any], request: HttpRequest, action: str) -> QuerySet[Any] | None:
    """``model``'s rows ``request.user`` may ``action``, or None for an unscoped model."""
    manager = model._default_manager
    if not hasattr(manager, "restrict"):
        return None
    return manager.restrict(request.user, action)


def selectable_users(request: HttpRequest) -> QuerySet[Any]:
    """The people a tenant admin may name: members of their tenants and people of no tenant.

    Never another tenant's members, nor the platform's superusers.
    """
    users = get_user_model()._default_manager.all()
    if not request.user.is_authenticated:
        return users.none()
    if request.user.is_superuser:
        return users
    mine = Membership.objects.filter(user=request.user, role__in=roles_for("admin")).values(
        "tenant_id"
    )
    return users.filter(
        Q(memberships__tenant_id__in=mine) | Q(memberships__isnull=True), is_superuser=False
    ).distinct()


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A list filter on a related field that offers only the rows the user may see."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> list[Any]:
        rows = scoped(field.related_model, request, "view")
        if rows is None:
            return super().field_choices(field, request, model_admin)
        return [(row.pk, str(row)) for row in rows.order_by("pk")]


class TenantScopedAdmin(admin.ModelAdmin):
    """A ModelAdmin whose querysets, filters, choices and permissions follow ``restrict``."""

    # The action each admin operation needs; subclasses raise them (a
    # tenant's security settings need "admin").
    add_action = "add"
    change_action = "change"
    delete_action = "delete"
    # What the rows offered in this admin's choices must allow.
    choice_action = "change"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        qs = super().get_queryset(request)
        assert isinstance(qs, TenantScopedQuerySet | TenantQuerySet)  # every model admin'd here
        return qs.restrict(request.user, "view")

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        # Every object page (change, delete, history) looks its object up
        # here, before any permission check: outside the person's scope it
        # is not there, a 404 like an id that never existed (never a 403 or
        # Django's "doesn't exist" redirect, which would tell the two apart).
        obj = super().get_object(request, object_id, from_field)
        if obj is None:
            raise Http404("no such object")
        return obj

    def get_list_filter(self, request: HttpRequest) -> Any:
        filters = []
        for entry in super().get_list_filter(request):
            if isinstance(entry, str) and self._is_relation(entry):
                entry = (entry, ScopedRelatedFieldListFilter)
            filters.append(entry)
        return filters

    def _is_relation(self, name: str) -> bool:
        try:
            field = self.model._meta.get_field(name)
        except Exception:  # a lookup path or a callable: not ours to scope
            return False
        return bool(field.is_relation)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        rows = scoped(db_field.related_model, request, self.choice_action)
        if rows is not None:
            kwargs["queryset"] = rows
        elif db_field.related_model is get_user_model():
            kwargs["queryset"] = selectable_users(request)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        rows = scoped(db_field.related_model, request, self.choice_action)
        if rows is not None:
            kwargs["queryset"] = rows
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _allows(self, request: HttpRequest, action: str, obj: Any = None) -> bool:
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        if user.is_superuser:
            return True
        if obj is None:
            return Membership.objects.filter(user_id=user.pk, role__in=roles_for(action)).exists()
        rows = scoped(type(obj), request, action)
        return rows is not None and rows.filter(pk=obj.pk).exists()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._allows(request, "view")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allows(request, "view", obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allows(request, self.change_action, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._allows(request, self.add_action)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._allows(request, self.delete_action, obj)


class ReadOnlyAdmin(TenantScopedAdmin):
    """Records the system writes (logs, faults): people read them, never edit them."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
