"""Connection-request allow-lists: who may open the ACS's own host and network.

Issue 10: a new tenant starts with no allow-list; loopback, link-local
(metadata addresses included), their IPv4-mapped and NAT64 spellings,
multicast, unspecified and reserved addresses are the platform superuser's
to allow, enforced in the model's validation that every entry point (the
service, the admin's form) goes through.
"""

from __future__ import annotations

import ipaddress

import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError

from tenants.models import Tenant
from tenants.networks import opened_block, policy_address, policy_network
from tenants.services import tenant_create, tenant_set_connection_request_networks
from tests.factories import TenantFactory

pytestmark = pytest.mark.django_db

SPECIAL = [
    ("127.0.0.0/8", "loopback"),
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
    ("::ffff:127.0.0.0/104", "loopback"),
    ("64:ff9b::7f00:1", "loopback"),  # NAT64 (RFC 6052)
    ("169.254.0.0/16", "link-local"),
    ("fe80::/64", "link-local"),
    ("::ffff:169.254.1.1", "link-local"),
    ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("64:ff9b::a9fe:a9fe", "cloud metadata"),  # 169.254.169.254 through NAT64
    ("100.100.100.200", "cloud metadata"),
    ("224.0.0.0/4", "multicast"),
    ("ff02::1", "multicast"),
    ("0.0.0.0/8", "unspecified"),
    ("::", "unspecified"),
    ("255.255.255.255", "reserved"),
]
ORDINARY = ["203.0.113.0/24", "10.0.0.0/8", "0.0.0.0/0", "::/0", "fd00::/8", "64:ff9b::/96"]


def user(*, superuser: bool, active: bool = True):
    return get_user_model().objects.create_user(
        username=f"u{superuser}{active}", is_superuser=superuser, is_active=active
    )


def test_a_new_tenant_starts_with_no_allowlist():
    assert Tenant().connection_request_networks == ""
    tenant = tenant_create(slug="fresh", name="Fresh ISP")
    assert tenant.connection_request_allowlist() == []


@pytest.mark.parametrize(("entry", "label"), SPECIAL)
def test_special_entries_are_recognised_in_every_spelling(entry, label):
    opened = opened_block(ipaddress.ip_network(entry, strict=False))
    assert opened is not None and opened[0] == label


@pytest.mark.parametrize("entry", ORDINARY)
def test_wider_or_public_entries_open_no_special_block(entry):
    assert opened_block(ipaddress.ip_network(entry)) is None


def test_embedded_ipv4_forms():
    assert policy_address(ipaddress.ip_address("64:ff9b::cb00:7105")) == ipaddress.ip_address(
        "203.0.113.5"
    )
    assert policy_address(ipaddress.ip_address("::ffff:10.1.2.3")) == ipaddress.ip_address(
        "10.1.2.3"
    )
    assert policy_network(ipaddress.ip_network("64:ff9b::/96")) == ipaddress.ip_network("0.0.0.0/0")
    assert policy_network(ipaddress.ip_network("2001:db8::/96")).version == 6


@pytest.mark.parametrize(("entry", "label"), SPECIAL)
def test_a_tenant_admin_cannot_add_a_special_entry(entry, label):
    tenant = TenantFactory()
    with pytest.raises(ValidationError) as caught:
        tenant_set_connection_request_networks(
            tenant=tenant, networks=f"203.0.113.0/24\n{entry}", by=user(superuser=False)
        )
    message = caught.value.message_dict["connection_request_networks"][0]
    assert "only the platform superuser" in message and label in message
    tenant.refresh_from_db()
    assert tenant.connection_request_networks == ""


def test_an_inactive_superuser_or_nobody_cannot_either():
    tenant = TenantFactory()
    for by in (user(superuser=True, active=False), None):
        with pytest.raises(ValidationError):
            tenant_set_connection_request_networks(tenant=tenant, networks="127.0.0.0/8", by=by)


def test_the_platform_superuser_can_add_special_entries():
    tenant = TenantFactory()
    tenant_set_connection_request_networks(
        tenant=tenant, networks=["127.0.0.0/8", "169.254.169.254/32"], by=user(superuser=True)
    )
    tenant.refresh_from_db()
    assert tenant.connection_request_networks == "127.0.0.0/8\n169.254.169.254/32"


def test_a_tenant_admin_keeps_or_removes_what_the_platform_allowed():
    tenant = TenantFactory()
    tenant_set_connection_request_networks(
        tenant=tenant, networks="127.0.0.0/8", by=user(superuser=True)
    )
    admin = user(superuser=False)
    tenant_set_connection_request_networks(
        tenant=tenant, networks="127.0.0.0/8 203.0.113.0/24", by=admin
    )
    tenant_set_connection_request_networks(tenant=tenant, networks="203.0.113.0/24", by=admin)
    with pytest.raises(ValidationError):  # removed: adding it back is the platform's again
        tenant_set_connection_request_networks(tenant=tenant, networks="127.0.0.0/8", by=admin)


@pytest.mark.parametrize("entry", ORDINARY)
def test_a_tenant_admin_can_add_ordinary_entries(entry):
    tenant = TenantFactory()
    tenant_set_connection_request_networks(tenant=tenant, networks=entry, by=user(superuser=False))
    tenant.refresh_from_db()
    assert tenant.connection_request_networks == entry


def test_the_models_validation_refuses_without_the_service():
    """What the admin's form (full_clean) meets when nobody vouched for the change."""
    tenant = TenantFactory()
    tenant.connection_request_networks = "::ffff:127.0.0.1"
    with pytest.raises(ValidationError):
        tenant.full_clean()
    tenant.permit_special_networks(user(superuser=True))
    tenant.full_clean()
    with pytest.raises(ValidationError):  # the permission was for one validation
        tenant.full_clean()


def test_creating_a_tenant_with_special_networks_needs_the_superuser():
    with pytest.raises(ValidationError):
        tenant_create(slug="lab", name="Lab", connection_request_networks="127.0.0.0/8")
    tenant = tenant_create(
        slug="lab", name="Lab", connection_request_networks="127.0.0.0/8", by=user(superuser=True)
    )
    assert tenant.connection_request_networks == "127.0.0.0/8"


def test_an_invalid_entry_is_a_validation_error():
    with pytest.raises(ValidationError):
        tenant_set_connection_request_networks(
            tenant=TenantFactory(), networks="10.0.0.0/33", by=user(superuser=True)
        )
