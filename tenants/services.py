"""Writes to tenants and memberships."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.contrib.auth import get_user_model
from django.db import transaction

from tenants.models import CpeAuth, Membership, Role, Tenant

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser


@transaction.atomic
def tenant_create(
    *,
    slug: str,
    name: str,
    cpe_username: str = "",
    cpe_password: str = "",
    cpe_auth_methods: str = CpeAuth.DIGEST_BASIC,
    connection_request_networks: str = "",
    by: AbstractBaseUser | AnonymousUser | None = None,
) -> Tenant:
    """A new tenant; its connection-request allow-list is empty unless given.

    Special networks in ``connection_request_networks`` (loopback,
    link-local, …: ``tenants.networks``) need ``by`` to be the platform
    superuser, as in ``tenant_set_connection_request_networks``.
    """
    tenant = Tenant(
        slug=slug,
        name=name,
        cpe_auth_methods=cpe_auth_methods,
        connection_request_networks=connection_request_networks,
    )
    if cpe_username:
        tenant.set_cpe_credentials(cpe_username, cpe_password)
    tenant.permit_special_networks(by)
    tenant.full_clean()
    tenant.save()
    return tenant


def tenant_set_connection_request_networks(
    *, tenant: Tenant, networks: str | Iterable[str], by: AbstractBaseUser | AnonymousUser | None
) -> Tenant:
    """Replace the tenant's connection-request allow-list, as ``by`` may.

    ``networks`` is CIDR text (whitespace or one per line) or a list of
    entries; it is stored one per line. Raises ``ValidationError`` for an
    entry that is not a network, and for one that opens a special block
    (``tenants.networks``: loopback, link-local and metadata addresses,
    their IPv4-mapped and NAT64 forms, multicast, unspecified, reserved)
    and was not there before, unless ``by`` is an active superuser: those
    addresses are the ACS's own host and network, which no tenant may ask
    the ACS to contact. Who may call this at all (tenant admins, the
    platform) is the caller's check; this one is about what.
    """
    entries = networks.split() if isinstance(networks, str) else [n.strip() for n in networks]
    tenant.connection_request_networks = "\n".join(e for e in entries if e)
    tenant.permit_special_networks(by)
    tenant.full_clean()
    tenant.save(update_fields=["connection_request_networks"])
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
