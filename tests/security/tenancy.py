"""Two tenants, every role, and every route: the kit the tenant-boundary tests share.

``build_world`` makes tenants A and B with one of everything each owns
(device, parameters, session log, CPE request, task, fault, file, fetch,
membership), and in A one staff user per role plus a helpdesk agent
limited to one granted device. Every row of B carries ``MARK_B`` somewhere
a page would print it, so "B shows nowhere" is one substring check of a
response. The API, portal and self-service issues reuse it: their routes
join ``classify_routes`` and their tests call the same assertions.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from guardian.shortcuts import assign_perm

from devices.models import CpeRequest, Device, SessionLog
from provisioning.models import Fault, File, FileFetch, Task
from tenants.models import Membership, Role, Scope, Tenant
from tests.factories import DeviceFactory, ParameterFactory, TenantFactory

MARK_A = "zzalphaqq"
MARK_B = "zzbravoqq"
ROLES = (Role.ADMIN, Role.OPERATOR, Role.HELPDESK, Role.VIEWER)
PASSWORD = "pw-tenancy-1"


@dataclass
class TenantRows:
    tenant: Tenant
    device: Device
    other_device: Device
    rows: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    a: TenantRows
    b: TenantRows
    users: dict[str, Any]  # "admin", "operator", "helpdesk", "viewer", "limited", "platform"


def _rows(slug: str, mark: str) -> TenantRows:
    tenant = TenantFactory.create(slug=slug, name=f"ISP {mark}")
    device = DeviceFactory.create(tenant=tenant, serial_number=f"{mark.upper()}001")
    other = DeviceFactory.create(tenant=tenant, serial_number=f"{mark.upper()}002")
    now = timezone.now()
    rows: dict[str, Any] = {
        "device": device,
        "parameter": ParameterFactory(
            device=device, path=f"InternetGatewayDevice.{mark}.P", value=mark
        ),
        "sessionlog": SessionLog.objects.create(
            tenant=tenant, device=device, session_id=f"{mark}-sid", started=now, detail=mark
        ),
        "cperequest": CpeRequest.objects.create(
            tenant=tenant,
            device=device,
            method="Kicked",
            command_key=mark,
            payload={},
            received=now,
        ),
        "task": Task.objects.create(
            tenant=tenant, device=device, type="reboot", args={}, command_key=f"{mark}-ck"
        ),
        "file": File.objects.create(
            tenant=tenant,
            name=f"{mark}.bin",
            file_type="1 Firmware Upgrade Image",
            version=mark,
            size=3,
            sha256=hashlib.sha256(mark.encode()).hexdigest(),
            md5=hashlib.md5(mark.encode()).hexdigest(),
            token=f"{mark}token",
            content=f"{slug}/{mark}.bin",
        ),
    }
    rows["fault"] = Fault.objects.create(
        tenant=tenant, device=device, task=rows["task"], method="Reboot", code=9002, string=mark
    )
    rows["filefetch"] = FileFetch.objects.create(
        file=rows["file"], device=device, remote_address="192.0.2.1", status=200
    )
    return TenantRows(tenant=tenant, device=device, other_device=other, rows=rows)


def build_world() -> World:
    User = get_user_model()
    a, b = _rows("ta", MARK_A), _rows("tb", MARK_B)
    users: dict[str, Any] = {}
    for role in ROLES:
        user = User.objects.create_user(f"a-{role}", password=PASSWORD, is_staff=True)
        Membership.objects.create(user=user, tenant=a.tenant, role=role)
        users[str(role)] = user
    limited = User.objects.create_user("a-limited", password=PASSWORD, is_staff=True)
    Membership.objects.create(
        user=limited, tenant=a.tenant, role=Role.HELPDESK, scope=Scope.GRANTED
    )
    assign_perm("devices.view_device", limited, a.device)
    users["limited"] = limited
    b_admin = User.objects.create_user(f"b-admin-{MARK_B}", password=PASSWORD, is_staff=True)
    Membership.objects.create(user=b_admin, tenant=b.tenant, role=Role.ADMIN)
    b.rows["membership"] = Membership.objects.get(user=b_admin)
    a.rows["membership"] = Membership.objects.get(user=users["admin"])
    a.rows["tenant"], b.rows["tenant"] = a.tenant, b.tenant
    users["platform"] = User.objects.create_superuser("platform", password=PASSWORD)
    return World(a=a, b=b, users=users)


def client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def assert_hidden(response: Any, mark: str = MARK_B) -> None:
    """Nothing of the other tenant in the page: not its rows, names, choices or counts."""
    body = response.content.decode(errors="replace")
    assert mark not in body and mark.upper() not in body, (
        f"{response.request['PATH_INFO']} shows {mark}"
    )


# ---------------------------------------------------------------- routes


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    found: list[tuple[str, Any]] = []
    for entry in patterns:
        if isinstance(entry, URLResolver):
            found += _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            found.append((prefix + str(entry.pattern), entry))
    return found


def all_routes() -> list[tuple[str, Any]]:
    """Every URL pattern of the project, with its full pattern text."""
    return _walk(get_resolver().url_patterns)


# How each route is proved safe across tenants. A route of no kind fails
# test_every_route_is_classified: a new URL must say which test covers it.
ROUTE_KINDS = {
    # The staff admin: tests/security/test_admin_routes.py walks every
    # registered model's pages with both tenants and every role.
    "admin": ("admin/",),
    # CPE doors, authenticated by CPE credentials or signed links per
    # tenant: tests/cwmp/test_view.py, tests/provisioning/test_files.py,
    # tests/e2e/test_files.py (another tenant's realm, link or file is 404).
    "cpe": ("cwmp/", "files/"),
    # The start page: shows paths only, never a tenant (tests/acsportal/test_home.py).
    "public": ("",),
}


def route_kind(pattern: str) -> str | None:
    if pattern in ("", "^$"):
        return "public"
    for kind, prefixes in ROUTE_KINDS.items():
        if any(prefix and pattern.startswith(prefix) for prefix in prefixes):
            return kind
    return None
