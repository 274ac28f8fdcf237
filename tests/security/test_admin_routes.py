"""Every route, two tenants, every role: nothing of tenant B is shown, listed, offered or changed.

Tenant A's staff (admin, operator, helpdesk, viewer, and a helpdesk agent
limited to one granted device) walk every page the admin has for every
registered model: lists, searches, filters, add forms (their choices),
autocompletes, and B's objects' change, delete and history pages, which
must be 404 and leave B's rows as they were. Then each role gets exactly
the permissions it should on A's own objects.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import RequestFactory
from django.urls import NoReverseMatch, reverse

from devices.models import Device
from provisioning.models import Task
from tenants.models import Membership, Tenant
from tests.security.tenancy import (
    MARK_B,
    ROLES,
    all_routes,
    assert_hidden,
    build_world,
    client_for,
    route_kind,
)

pytestmark = pytest.mark.django_db
STAFF = [str(role) for role in ROLES] + ["limited"]
# Models of the platform, not of a tenant: only the platform superuser reaches them.
PLATFORM_MODELS = {
    "auth.user",
    "auth.group",
    "django_tasks_database.dbtaskresult",
    # Two tenants' claims on one DeviceId: the platform operator's to settle.
    "devices.identityconflict",
    # django-axes: staff login attempts, lock-outs and their log.
    "axes.accessattempt",
    "axes.accesslog",
    "axes.accessfailurelog",
}


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return build_world()


def _label(model) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def _url(model, view: str, *args) -> str | None:
    try:
        return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)
    except NoReverseMatch:
        return None


def test_every_route_is_classified():
    # A new URL must say how the tenant boundary is proved for it (tenancy.ROUTE_KINDS).
    unclassified = [pattern for pattern, _ in all_routes() if route_kind(pattern) is None]
    assert not unclassified, unclassified


def test_every_admin_model_is_of_a_tenant_or_of_the_platform(world):
    for model in admin.site._registry:
        label = _label(model)
        assert label in PLATFORM_MODELS or model._meta.model_name in world.b.rows, label


@pytest.mark.parametrize("role", STAFF)
def test_no_admin_page_shows_lists_or_offers_another_tenants_objects(world, role):
    client = client_for(world.users[role])
    assert_hidden(client.get("/admin/"))
    for app_label in {model._meta.app_label for model in admin.site._registry}:
        assert_hidden(client.get(f"/admin/{app_label}/"))
    for model, model_admin in admin.site._registry.items():
        changelist = _url(model, "changelist")
        # The search term is part of the mark, not all of it: the page echoes it.
        for query in ("", f"?q={MARK_B[2:-2]}", f"?tenant__id__exact={world.b.tenant.pk}"):
            response = client.get(changelist + query)
            assert response.status_code in (200, 302, 403), (changelist, response.status_code)
            assert_hidden(response)
        add = client.get(_url(model, "add"))
        assert add.status_code in (200, 403), (model, add.status_code)
        assert_hidden(add)
        for name in getattr(model_admin, "autocomplete_fields", ()):
            response = client.get(
                "/admin/autocomplete/",
                {
                    "app_label": model._meta.app_label,
                    "model_name": model._meta.model_name,
                    "field_name": name,
                    "term": MARK_B[:4],
                },
            )
            assert response.status_code in (200, 403)
            assert_hidden(response)
        if _label(model) in PLATFORM_MODELS:
            assert client.get(changelist).status_code == 403
            continue
        other = world.b.rows[model._meta.model_name]
        before = model._default_manager.filter(pk=other.pk).values().first()
        for view in ("change", "delete", "history"):
            url = _url(model, view, other.pk)
            assert client.get(url).status_code == 404, url
        assert client.post(_url(model, "change", other.pk), {"name": "x"}).status_code == 404
        assert client.post(_url(model, "delete", other.pk), {"post": "yes"}).status_code == 404
        assert model._default_manager.filter(pk=other.pk).values().first() == before


@pytest.mark.parametrize("role", ["admin", "operator", "helpdesk"])
def test_a_task_on_another_tenants_device_is_refused(world, role):
    # Seen before the fix: an operator of A queued a task on B's device.
    client = client_for(world.users[role])
    response = client.post(
        _url(Task, "add"),
        {"device": world.b.device.pk, "type": "reboot", "arguments": "{}"},
    )
    assert response.status_code == 200  # the form again, with its error
    assert_hidden(response)
    assert not Task.objects.filter(device=world.b.device).exclude(pk=world.b.rows["task"].pk)


def test_roles_queue_the_task_types_they_may(world):
    device = world.a.device
    for role, type_, allowed in [
        ("helpdesk", "reboot", True),
        ("helpdesk", "set_parameter_values", False),
        ("limited", "reboot", True),
        ("operator", "set_parameter_values", True),
        ("operator", "set_parameter_values-bad", False),
        ("viewer", "reboot", False),
    ]:
        client = client_for(world.users[role])
        args = '{"values": {"InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID": "x"}}'
        before = Task.objects.filter(device=device).count()
        bad = type_.endswith("-bad")
        type_ = type_.removesuffix("-bad")
        response = client.post(
            _url(Task, "add"),
            {
                "device": device.pk,
                "type": type_,
                "arguments": args if "set" in type_ and not bad else "{}",
            },
        )
        assert response.status_code in (200, 302, 403), (role, type_, response.status_code)
        created = Task.objects.filter(device=device).count() - before
        assert created == (1 if allowed else 0), (role, type_, response.status_code)
        if allowed:
            task = Task.objects.filter(device=device).latest("pk")
            assert task.requested_by == world.users[role] and task.requested_via == "admin"


def test_limited_helpdesk_sees_only_its_granted_device(world):
    client = client_for(world.users["limited"])
    listing = client.get(_url(Device, "changelist")).content.decode()
    assert world.a.device.device_id in listing
    assert world.a.other_device.device_id not in listing
    assert client.get(_url(Device, "change", world.a.other_device.pk)).status_code == 404
    # A tenant-wide page needs a tenant-wide membership.
    assert ">a-admin<" not in client.get(_url(Membership, "changelist")).content.decode()
    assert (
        ">a-admin<"
        in client_for(world.users["viewer"]).get(_url(Membership, "changelist")).content.decode()
    )


def test_only_tenant_admins_change_memberships_and_security_settings(world):
    # Seen before the fix: an operator made another user a tenant admin and
    # edited the tenant's connection-request allow-list.
    tenant = world.a.tenant
    viewer_membership = Membership.objects.get(user=world.users["viewer"])
    for role in ("operator", "helpdesk", "viewer"):
        client = client_for(world.users[role])
        response = client.post(
            _url(Membership, "change", viewer_membership.pk),
            {"user": world.users["viewer"].pk, "tenant": tenant.pk, "role": "admin"},
        )
        assert response.status_code == 403, role
        assert (
            client.post(
                _url(Tenant, "change", tenant.pk), {"connection_request_networks": "0.0.0.0/0"}
            ).status_code
            == 403
        ), role
    viewer_membership.refresh_from_db()
    tenant.refresh_from_db()
    assert viewer_membership.role == "viewer"
    assert "0.0.0.0/0" not in tenant.connection_request_networks
    admin_client = client_for(world.users["admin"])
    assert admin_client.get(_url(Tenant, "change", tenant.pk)).status_code == 200
    assert admin_client.get(_url(Membership, "add")).status_code == 200


@pytest.mark.parametrize(
    ("label", "role", "view", "add", "change", "delete"),
    [
        ("devices.device", "admin", True, True, True, True),
        ("devices.device", "operator", True, True, True, False),
        ("devices.device", "helpdesk", True, False, False, False),
        ("devices.device", "viewer", True, False, False, False),
        ("provisioning.task", "helpdesk", True, True, False, False),
        ("provisioning.task", "viewer", True, False, False, False),
        ("provisioning.task", "admin", True, True, False, True),
        ("devices.sessionlog", "admin", True, False, False, False),
        ("provisioning.fault", "operator", True, False, False, False),
        ("provisioning.file", "operator", True, True, True, False),
        ("provisioning.file", "admin", True, True, True, True),
        ("tenants.tenant", "admin", True, False, True, False),
        ("tenants.tenant", "operator", True, False, False, False),
        ("tenants.membership", "admin", True, True, True, True),
        ("tenants.membership", "operator", True, False, False, False),
    ],
)
def test_each_role_gets_exactly_its_permissions(world, label, role, view, add, change, delete):
    model = next(m for m in admin.site._registry if _label(m) == label)
    model_admin = admin.site._registry[model]
    request = RequestFactory().get("/admin/")
    request.user = world.users[role]
    obj = world.a.rows[model._meta.model_name]
    assert (
        model_admin.has_view_permission(request, obj),
        model_admin.has_add_permission(request),
        model_admin.has_change_permission(request, obj),
        model_admin.has_delete_permission(request, obj),
    ) == (view, add, change, delete)


def test_special_allow_list_entries_are_the_platforms_to_add(world):
    tenant = world.a.tenant
    data = {
        "slug": tenant.slug,
        "name": tenant.name,
        "cpe_auth_methods": tenant.cpe_auth_methods,
        "periodic_inform_interval": tenant.periodic_inform_interval,
        "connection_request_networks": "127.0.0.0/8",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
    }
    refused = client_for(world.users["admin"]).post(_url(Tenant, "change", tenant.pk), data)
    assert refused.status_code == 200  # the form again, with the reason
    tenant.refresh_from_db()
    assert "127.0.0.0/8" not in tenant.connection_request_networks
    accepted = client_for(world.users["platform"]).post(_url(Tenant, "change", tenant.pk), data)
    assert accepted.status_code == 302, accepted.content.decode()[:2000]
    tenant.refresh_from_db()
    assert "127.0.0.0/8" in tenant.connection_request_networks
