"""Tenants (ISPs, resellers) and the people who work in them."""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from acsportal.infra.fieldcrypt import EncryptedTextField
from tenants.networks import parse_networks, special_entries
from tenants.querysets import (
    ROLE_ACTIONS,
    SCOPE_GRANTED,
    SCOPE_TENANT,
    TenantScopedManager,
    roles_for,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AbstractUser, AnonymousUser


class CpeAuth(models.TextChoices):
    DIGEST = "digest", "Digest"
    BASIC = "basic", "Basic"
    DIGEST_BASIC = "digest,basic", "Digest or Basic"


CPE_AUTH_METHODS = ("digest", "basic", "certificate")


def validate_auth_methods(value: str) -> None:
    methods = [m.strip() for m in value.split(",") if m.strip()]
    if not methods or any(m not in CPE_AUTH_METHODS for m in methods):
        raise ValidationError(
            f"a comma-separated list of {', '.join(CPE_AUTH_METHODS)}, not {value!r}"
        )


def validate_networks(value: str) -> None:
    for line in value.split():
        try:
            ipaddress.ip_network(line, strict=False)
        except ValueError as exc:
            raise ValidationError(f"{line!r} is not a network (CIDR)") from exc


def _networks_or_empty(text: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    try:
        return parse_networks(text)
    except ValueError:
        return []  # the field's own validator reports it


class TenantQuerySet(models.QuerySet):
    def restrict(self, user: AbstractUser | AnonymousUser, action: str = "view") -> TenantQuerySet:
        """The tenants in which ``user`` may ``action`` (whatever the scope of the membership)."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self.all()
        memberships = user.memberships.filter(role__in=roles_for(action))  # type: ignore[attr-defined]
        if action != "view":
            # Tenant-wide work (settings, memberships) needs a tenant-wide
            # membership: one limited to granted devices only reads the tenant.
            memberships = memberships.filter(scope=SCOPE_TENANT)
        return self.filter(pk__in=memberships.values("tenant_id"))


class Tenant(models.Model):
    """An ISP or reseller; everything else in the system belongs to one."""

    slug = models.SlugField(max_length=63, unique=True)
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    # CPE-facing settings (TR-069 3.4.4 authentication).
    # Any of digest, basic, certificate (TLS client certificate verified by
    # the proxy in front: TR-069 3.4.4 allows it in place of HTTP auth).
    cpe_auth_methods = models.CharField(
        max_length=40, default=CpeAuth.DIGEST_BASIC, validators=[validate_auth_methods]
    )
    cpe_cert_issuer = models.CharField(
        max_length=512,
        blank=True,
        help_text="Issuer DN (RFC 2253, as the proxy reports it) of the CA whose client "
        "certificates identify this tenant's CPEs.",
    )
    # Fixed when the tenant is created: stored HA1 values depend on it.
    cpe_realm = models.CharField(max_length=100, blank=True)
    cpe_username = models.CharField(
        max_length=128, blank=True, help_text="Default CPE username for the tenant."
    )
    # Passwords are never stored, only the Digest HA1 per algorithm; Basic is
    # checked by hashing what the CPE sends.
    cpe_ha1_md5 = models.CharField(max_length=32, blank=True)
    cpe_ha1_sha256 = models.CharField(max_length=64, blank=True)
    per_device_credentials = models.BooleanField(
        default=True,
        help_text="Devices may have their own CWMP credentials, bound to their identity.",
    )
    periodic_inform_interval = models.PositiveIntegerField(default=3600)
    # Connection-request credentials (ACS -> CPE, TR-069 3.2.2). With
    # provisioning on, each new device gets its own random pair by
    # SetParameterValues at first contact; these are the fallback.
    provision_cr_credentials = models.BooleanField(
        default=True,
        help_text="Give each new device its own random connection-request credentials.",
    )
    connection_request_username = models.CharField(max_length=256, blank=True)
    # Encrypted at rest (ACS_FIELD_KEYS): the ACS needs it in clear to answer.
    connection_request_password = EncryptedTextField(max_length=256, blank=True)
    connection_request_networks = models.TextField(
        blank=True,
        validators=[validate_networks],
        help_text="Networks (CIDR, one per line) that connection requests may be sent to.",
    )
    # Identity (issue 10): whether a CPE this tenant never heard of gets a
    # session (and a provisional device) at first contact, or only the serials
    # pre-registered through devices.services.device_preregister do.
    accept_unknown_devices = models.BooleanField(
        default=True,
        help_text="Give a session to CPEs that were not pre-registered (their device is "
        "provisional until confirmed); off: pre-registered devices only.",
    )
    # Basic sends the password in clear: over plain HTTP it is refused except
    # from these client networks (a lab, the simulator on loopback).
    basic_over_http_networks = models.TextField(
        blank=True,
        validators=[validate_networks],
        help_text="Client networks (CIDR, one per line) from which Basic authentication is "
        "accepted over plain HTTP; elsewhere Basic needs HTTPS.",
    )

    objects = TenantQuerySet.as_manager()

    # Set by permit_special_networks for the next full_clean; never stored.
    _special_networks_by_platform = False

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.cpe_realm:
            self.cpe_realm = f"acsportal/{self.slug}"
        super().save(*args, **kwargs)

    def permit_special_networks(self, by: AbstractBaseUser | AnonymousUser | None) -> None:
        """Let the next ``full_clean`` (one) accept special allow-list entries if ``by`` may add them.

        Loopback, link-local, metadata, multicast, unspecified and reserved
        blocks (``tenants.networks``) are the platform's to open: only an
        active superuser may add them. Call it with the acting user before
        validating a change of ``connection_request_networks``
        (``tenants.services.tenant_set_connection_request_networks`` does).
        """
        self._special_networks_by_platform = bool(
            by is not None and by.is_active and getattr(by, "is_superuser", False)
        )

    def permit_special_networks_as_platform(self) -> None:
        """``permit_special_networks`` for code that runs as the platform, with no user to name.

        For what the machine's operator runs directly (the benchmark's
        throw-away tenant); never for anything a person's request reaches.
        """
        self._special_networks_by_platform = True

    def special_networks_added(self) -> list[str]:
        """Entries that open a special block and were not in the saved list, with their label.

        What a tenant admin may not do. Entries the platform put there
        (the demo tenant's loopback) may be kept or removed by anyone.
        """
        saved = ""
        if self.pk is not None:
            saved = (
                Tenant.objects.filter(pk=self.pk)
                .values_list("connection_request_networks", flat=True)
                .first()
                or ""
            )
        before = set(_networks_or_empty(saved))
        return [
            f"{network} ({label})"
            for network, label in special_entries(
                _networks_or_empty(self.connection_request_networks)
            )
            if network not in before
        ]

    def clean(self) -> None:
        """Special connection-request networks are added by the platform superuser only."""
        super().clean()
        permitted, self._special_networks_by_platform = self._special_networks_by_platform, False
        if permitted:
            return
        added = self.special_networks_added()
        if added:
            raise ValidationError(
                {
                    "connection_request_networks": (
                        f"only the platform superuser can allow {', '.join(added)}: connection"
                        " requests to such addresses reach the ACS's own host or network"
                    )
                }
            )

    @property
    def allows_digest(self) -> bool:
        return "digest" in self.cpe_auth_methods

    @property
    def allows_basic(self) -> bool:
        return "basic" in self.cpe_auth_methods

    @property
    def allows_certificate(self) -> bool:
        return "certificate" in self.cpe_auth_methods and bool(self.cpe_cert_issuer)

    def set_cpe_credentials(self, username: str, password: str) -> None:
        """Set the tenant-wide CPE credentials (caller saves)."""
        from cwmp.protocol.digest import make_ha1_set

        if not self.cpe_realm:
            self.cpe_realm = f"acsportal/{self.slug}"
        ha1 = make_ha1_set(username, self.cpe_realm, password)
        self.cpe_username = username
        self.cpe_ha1_md5 = ha1["MD5"]
        self.cpe_ha1_sha256 = ha1["SHA-256"]

    def has_cpe_credentials(self, username: str, password: str) -> bool:
        """Whether these are the tenant-wide CPE credentials (only their HA1 is kept)."""
        from cwmp.protocol.digest import make_ha1

        return bool(
            self.cpe_username
            and self.cpe_username == username
            and self.cpe_ha1_md5 == make_ha1(username, self.cpe_realm, password)
        )

    def cpe_ha1(self, algorithm: str) -> str:
        return self.cpe_ha1_sha256 if algorithm.upper().startswith("SHA-256") else self.cpe_ha1_md5

    def basic_over_http_allowlist(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return [
            ipaddress.ip_network(line, strict=False)
            for line in self.basic_over_http_networks.split()
        ]

    def connection_request_allowlist(self) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
        return parse_networks(self.connection_request_networks)


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    OPERATOR = "operator", "Operator"
    HELPDESK = "helpdesk", "Helpdesk"
    VIEWER = "viewer", "Viewer"


class Scope(models.TextChoices):
    TENANT = SCOPE_TENANT, "The whole tenant"
    GRANTED = SCOPE_GRANTED, "Only the devices granted to the person"


class Membership(models.Model):
    """A person's role in one tenant; a person may work in several."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    scope = models.CharField(
        max_length=10,
        choices=Scope.choices,
        default=Scope.TENANT,
        help_text="Granted: the role applies only to the devices granted to the person "
        "(object permissions), e.g. a helpdesk agent for some customers.",
    )

    objects = TenantScopedManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_user_tenant")
        ]

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"

    def allows(self, action: str) -> bool:
        return action in ROLE_ACTIONS.get(self.role, frozenset())
