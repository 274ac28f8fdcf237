"""Tenancy: restrict() is the one way to a queryset, and it holds."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from devices.models import Device, SessionLog
from tenants.models import Membership, Role, Tenant
from tests.factories import DeviceFactory, TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def world():
    a, b = TenantFactory(slug="a"), TenantFactory(slug="b")
    da, db = DeviceFactory(tenant=a), DeviceFactory(tenant=b)
    User = get_user_model()
    viewer = User.objects.create_user("viewer", password="pw-viewer-1", is_staff=True)
    operator = User.objects.create_user("operator", password="pw-operator-1", is_staff=True)
    Membership.objects.create(user=viewer, tenant=a, role=Role.VIEWER)
    Membership.objects.create(user=operator, tenant=a, role=Role.OPERATOR)
    Membership.objects.create(user=operator, tenant=b, role=Role.VIEWER)
    return a, b, da, db, viewer, operator


def test_restrict_by_role_and_tenant(world):
    a, b, da, db, viewer, operator = world
    assert list(Device.objects.restrict(viewer, "view")) == [da]
    assert list(Device.objects.restrict(viewer, "change")) == []
    assert set(Device.objects.restrict(operator, "view")) == {da, db}
    assert list(Device.objects.restrict(operator, "change")) == [da]
    assert list(Tenant.objects.restrict(viewer)) == [a]


def test_anonymous_and_inactive_see_nothing(world):
    from django.contrib.auth.models import AnonymousUser

    *_, viewer, _ = world
    assert not Device.objects.restrict(AnonymousUser()).exists()
    viewer.is_active = False
    assert not Device.objects.restrict(viewer).exists()


def test_superuser_sees_all(world):
    User = get_user_model()
    root = User.objects.create_superuser("root", password="pw-root-123")
    assert Device.objects.restrict(root).count() == 2


def test_for_tenant(world):
    a, b, da, db, *_ = world
    assert list(Device.objects.for_tenant(a)) == [da]
    assert list(Device.objects.for_tenant(b.pk)) == [db]


def test_admin_lists_only_own_tenant_and_404s_others(world):
    a, b, da, db, viewer, _ = world
    client = Client()
    client.force_login(viewer)
    listing = client.get("/admin/devices/device/")
    assert listing.status_code == 200
    assert da.device_id.encode() in listing.content
    assert db.device_id.encode() not in listing.content
    # Another tenant's device: not found, not forbidden (no existence leak).
    other = client.get(f"/admin/devices/device/{db.pk}/change/")
    assert other.status_code in (302, 404)
    if other.status_code == 302:  # the admin redirects "does not exist" to the index
        assert "/admin/" in other["Location"]
    own = client.get(f"/admin/devices/device/{da.pk}/change/")
    assert own.status_code == 200


def test_admin_session_logs_scoped(world):
    a, b, da, db, viewer, _ = world
    from django.utils import timezone

    SessionLog.objects.create(tenant=b, device=db, session_id="x" * 24, started=timezone.now())
    client = Client()
    client.force_login(viewer)
    listing = client.get("/admin/devices/sessionlog/")
    assert listing.status_code == 200
    assert db.device_id.encode() not in listing.content
    assert b"0 session logs" in listing.content
