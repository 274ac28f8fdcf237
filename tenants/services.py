"""Writes to tenants and memberships."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction

from tenants.models import CpeAuth, Membership, Role, Tenant

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser


@transaction.atomic
def tenant_create(
    *,
    slug: str,
    name: str,
    cpe_username: str = "",
    cpe_password: str = "",
    cpe_auth_methods: str = CpeAuth.DIGEST_BASIC,
    connection_request_networks: str = "",
) -> Tenant:
    tenant = Tenant(
        slug=slug,
        name=name,
        cpe_auth_methods=cpe_auth_methods,
        connection_request_networks=connection_request_networks,
    )
    if cpe_username:
        tenant.set_cpe_credentials(cpe_username, cpe_password)
    tenant.full_clean()
    tenant.save()
    return tenant


def membership_grant(*, tenant: Tenant, user: object, role: str = Role.VIEWER) -> Membership:
    membership, _ = Membership.objects.update_or_create(
        tenant=tenant, user=user, defaults={"role": role}
    )
    return membership


def staff_user_ensure(
    *, username: str, password: str | None, superuser: bool = False
) -> tuple[AbstractBaseUser, bool]:
    """Create a staff user, or keep the existing one (its password too unless given)."""
    User = get_user_model()
    user, created = User.objects.get_or_create(username=username, defaults={"is_staff": True})
    changed = created
    if password is not None and (created or not user.check_password(password)):
        user.set_password(password)
        changed = True
    if not user.is_staff or user.is_superuser != superuser:
        user.is_staff, user.is_superuser = True, superuser
        changed = True
    if changed:
        user.save()
    return user, created
