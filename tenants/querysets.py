"""The one scoping layer: what a person may see or do, for every tenant-owned model.

``Model.objects.restrict(user, action)`` is the only way a person-facing
query gets its rows (the admin, ``manage.py`` commands acting for a person,
and the API, portal and self-service to come); ``for_tenant`` serves the
paths where the tenant is already known and no person is asking (the CWMP
endpoint). It knows the person's role in each tenant (``ROLE_ACTIONS``) and,
for memberships limited to granted objects, their django-guardian object
grants. Another tenant's rows are never in its result.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractUser, AnonymousUser

# Which roles may do what, per tenant:
# - "view": read everything of the tenant (every member);
# - "operate": the safe device actions that change no configuration:
#   refresh, reboot, connection request, diagnostics, reads (helpdesk up);
# - "add" / "change": configuration work: tasks of every kind, device edits,
#   files (operators up);
# - "delete" and "admin": deletions, memberships and roles, the tenant's
#   security settings (auth methods, certificate issuer, allow-lists,
#   credentials): tenant admins (and the platform superuser) only.
ROLE_ACTIONS: dict[str, frozenset[str]] = {
    "viewer": frozenset({"view"}),
    "helpdesk": frozenset({"view", "operate"}),
    "operator": frozenset({"view", "operate", "change", "add"}),
    "admin": frozenset({"view", "operate", "change", "add", "delete", "admin"}),
}
ACTIONS = frozenset().union(*ROLE_ACTIONS.values())
# A membership's scope: the whole tenant, or only the objects granted to the
# person (django-guardian object permissions on devices; a helpdesk agent
# limited to some customers' devices).
SCOPE_TENANT = "tenant"
SCOPE_GRANTED = "granted"


def roles_for(action: str) -> list[str]:
    if action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}; one of {sorted(ACTIONS)}")
    return [role for role, actions in ROLE_ACTIONS.items() if action in actions]


def _memberships(user: AbstractUser, action: str) -> tuple[list[int], list[int]]:
    """The tenants where ``user`` may do ``action``: (on everything, on granted objects)."""
    whole: list[int] = []
    granted: list[int] = []
    rows = user.memberships.filter(role__in=roles_for(action)).values_list(  # type: ignore[attr-defined]
        "tenant_id", "scope"
    )
    for tenant_id, scope in rows:
        (granted if scope == SCOPE_GRANTED else whole).append(tenant_id)
    return whole, granted


def granted_objects(user: AbstractUser, model: type[models.Model]) -> models.QuerySet[Any]:
    """The rows of ``model`` granted to ``user`` (or one of their groups) one by one.

    A grant is django-guardian's ``view_<model>`` object permission; the
    member's role, not the grant, says what they may do with the object.
    """
    from guardian.shortcuts import get_objects_for_user

    opts = model._meta
    return get_objects_for_user(
        user,
        f"{opts.app_label}.view_{opts.model_name}",
        klass=model,
        accept_global_perms=False,
        with_superuser=False,
    )


class TenantScopedQuerySet(models.QuerySet):
    """QuerySet of a tenant-owned model: the one way to what a person may see or do.

    ``tenant_field`` is the path to the owning tenant; ``grant_field`` the
    path to the object a member with granted scope must hold a grant on
    ("pk" for the granted model itself, e.g. "device" for a device's rows),
    or None where grants do not reach (such members see none of it).
    """

    tenant_field = "tenant"
    grant_field: str | None = None

    def for_tenant(self, tenant: models.Model | int) -> TenantScopedQuerySet:
        """Rows of ``tenant``, a Tenant or its pk.

        Typed as any model because ``tenants.models`` imports this module: naming
        Tenant here, even for type checkers only, would make the two a cycle.
        """
        return self.filter(**{self.tenant_field: tenant})

    def restrict(
        self, user: AbstractUser | AnonymousUser, action: str = "view"
    ) -> TenantScopedQuerySet:
        """The rows ``user`` may ``action``: by their roles per tenant, and their grants.

        The platform superuser reaches everything; another tenant's rows are
        never in the result, so a view that looks an object up through it
        answers 404 for them, and a list, filter or choice never offers them.
        """
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self.all()
        whole, granted = _memberships(user, action)
        scope = models.Q(**{f"{self.tenant_field}__in": whole})
        if granted and self.grant_field is not None:
            target = self._granted_model()
            scope |= models.Q(
                **{
                    f"{self.tenant_field}__in": granted,
                    f"{self.grant_field}__in": granted_objects(user, target).values("pk"),
                }
            )
        return self.filter(scope)

    def _granted_model(self) -> type[models.Model]:
        assert self.grant_field is not None
        if self.grant_field == "pk":
            return self.model
        model: Any = self.model
        for name in self.grant_field.split("__"):
            model = model._meta.get_field(name).related_model
        return model


TenantScopedManager = models.Manager.from_queryset(TenantScopedQuerySet)


class GrantedQuerySet(TenantScopedQuerySet):
    """The granted model itself (a device): a grant on the row lets a limited member in."""

    grant_field = "pk"


class DeviceOwnedQuerySet(TenantScopedQuerySet):
    """Rows that belong to one device (its tasks, faults, logs): its grant lets them in."""

    grant_field = "device"


GrantedManager = models.Manager.from_queryset(GrantedQuerySet)
DeviceOwnedManager = models.Manager.from_queryset(DeviceOwnedQuerySet)
