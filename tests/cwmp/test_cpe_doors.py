"""Issue 10's CPE doors through Django's test client: identity, shares, rates, backoff, Basic.

The same doors are driven over real HTTP in tests/e2e/test_cpe_doors.py.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.test import Client

from cwmp.protocol.digest import DigestAuthority
from devices import services
from devices.models import Device, IdentityConflict, Parameter, Registration, SessionLog
from provisioning import files
from provisioning import services as task_services
from provisioning.models import Task
from tests.cwmp.cpe import ScriptedCPE, basic, digest_answer, inform_body
from tests.factories import DeviceFactory, TenantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def a():
    return TenantFactory(slug="isp-a")


@pytest.fixture
def b():
    return TenantFactory(slug="isp-b")


def cpe(tenant, *, address="198.51.100.7", port=40001, **kwargs) -> ScriptedCPE:
    return ScriptedCPE(Client(), f"/cwmp/{tenant.slug}/", address=address, port=port, **kwargs)


def half_open(tenant, serial, **kwargs):
    """An Inform answered, then silence: a session that holds its place until it times out."""
    return cpe(tenant, **kwargs).inform(inform_body(serial))


def preregister(tenant, serial):
    return services.device_preregister(
        tenant=tenant, oui="00259E", product_class="EG8145V5", serial=serial
    )


# ----------------------------------------------------------------- identity


def test_a_squatted_serial_does_not_lock_out_the_owners_device(a, b):
    squatter = cpe(a, address="203.0.113.66")
    squatter.session(inform_body("SQUAT1", ("0 BOOTSTRAP",)))
    theirs = Device.objects.get(tenant=a)
    assert theirs.registration == Registration.PROVISIONAL
    task_services.task_enqueue(device=theirs, type="reboot")

    # The owner pre-registers the serial; its genuine device is served by it.
    preregister(b, "SQUAT1")
    genuine = cpe(b, address="192.0.2.10")
    first, last = genuine.session(inform_body("SQUAT1", ("0 BOOTSTRAP",)))
    assert (first.status_code, last.status_code) == (200, 204)
    mine = Device.objects.get(tenant=b)
    assert mine.registration == Registration.CONFIRMED
    assert SessionLog.objects.filter(device=mine, outcome="ok").count() == 1

    # The first tenant's row is served no more, and nothing of it moved.
    refused = squatter.inform(inform_body("SQUAT1"))
    assert refused.status_code == 403
    assert b"registered to another tenant" in refused.content
    assert SessionLog.objects.filter(device=theirs).count() == 1
    assert Task.objects.filter(device=theirs).count() == 1
    assert not Task.objects.filter(device=mine).exists()
    assert set(Parameter.objects.filter(device=mine).values_list("device", flat=True)) == {mine.pk}
    conflict = IdentityConflict.objects.get(kind=IdentityConflict.Kind.SUPERSEDED)
    assert (conflict.tenant, conflict.owner, conflict.remote_address) == (a, b, "203.0.113.66")


def test_a_provisional_row_elsewhere_blocks_nobody(a, b):
    cpe(a).session(inform_body("SHARED1"))
    first, _ = cpe(b, address="192.0.2.10").session(inform_body("SHARED1"))
    assert first.status_code == 200
    assert (
        list(Device.objects.values_list("registration", flat=True))
        == [Registration.PROVISIONAL] * 2
    )


def test_an_id_confirmed_elsewhere_is_refused_and_recorded(a, b):
    DeviceFactory(tenant=b, serial_number="OWNED1")
    response = cpe(a, address="203.0.113.9").inform(inform_body("OWNED1"))
    assert response.status_code == 403
    assert not Device.objects.filter(tenant=a).exists() and SessionLog.objects.count() == 0
    conflict = IdentityConflict.objects.get()
    assert (conflict.kind, conflict.tenant, conflict.owner) == ("refused", a, b)
    assert conflict.remote_address == "203.0.113.9"


def test_a_tenant_may_take_pre_registered_devices_only(a):
    a.accept_unknown_devices = False
    a.save()
    response = cpe(a).inform(inform_body("UNKNOWN1", ("0 BOOTSTRAP",)))
    assert response.status_code == 403
    assert b"registered devices only" in response.content
    assert Device.objects.count() == 0 and SessionLog.objects.count() == 0
    preregister(a, "KNOWN1")
    first, last = cpe(a).session(inform_body("KNOWN1", ("0 BOOTSTRAP",)))
    assert (first.status_code, last.status_code) == (200, 204)
    # A row left provisional from before the switch is not served either.
    DeviceFactory(tenant=a, serial_number="OLD1", registration=Registration.PROVISIONAL)
    assert cpe(a).inform(inform_body("OLD1")).status_code == 403


# ------------------------------------------------------------- availability


def test_each_tenant_has_its_own_share_of_the_sessions(a, b, settings):
    settings.CWMP_MAX_SESSIONS = 10
    settings.CWMP_MAX_SESSIONS_PER_TENANT = 3
    settings.CWMP_MAX_SESSIONS_PER_ADDRESS = 0
    for n in range(3):
        assert half_open(a, f"A{n}", port=41000 + n).status_code == 200
    refused = half_open(a, "A3", port=41003)
    assert refused.status_code == 503 and refused["Retry-After"]
    assert b"this tenant" in refused.content
    for n in range(3):
        assert half_open(b, f"B{n}", port=42000 + n).status_code == 200


def test_each_address_has_its_own_share_of_the_sessions(a, b, settings):
    settings.CWMP_MAX_SESSIONS_PER_ADDRESS = 2
    for n in range(2):
        assert half_open(a, f"A{n}", address="203.0.113.5", port=41000 + n).status_code == 200
    refused = half_open(b, "B0", address="203.0.113.5", port=41002)
    assert refused.status_code == 503 and refused["Retry-After"]
    assert b"this address" in refused.content
    assert half_open(b, "B1", address="203.0.113.6").status_code == 200


def test_new_devices_are_rate_limited_per_tenant(a, b, settings):
    settings.CWMP_NEW_DEVICES_PER_MINUTE = 3
    known = cpe(a)
    known.session(inform_body("KNOWN"))
    for n in range(2):
        cpe(a).session(inform_body(f"NEW{n}"))
    refused = cpe(a).inform(inform_body("NEW2"))
    assert refused.status_code == 503 and 1 <= int(refused["Retry-After"]) <= 60
    assert not Device.objects.filter(serial_number="NEW2").exists()
    # Known and pre-registered devices of the tenant, and other tenants' new ones, pass.
    known.session(inform_body("KNOWN"))
    preregister(a, "PRE1")
    cpe(a).session(inform_body("PRE1"))
    cpe(b).session(inform_body("NEW-B"))


def test_provisional_devices_are_capped_per_tenant(a, b, settings):
    settings.CWMP_MAX_PROVISIONAL_DEVICES = 2
    for n in range(2):
        cpe(a).session(inform_body(f"P{n}"))
    refused = cpe(a).inform(inform_body("P2"))
    assert refused.status_code == 503 and refused["Retry-After"]
    assert Device.objects.filter(tenant=a).count() == 2
    services.device_confirm(Device.objects.get(serial_number="P0"))
    cpe(a).session(inform_body("P2"))  # confirmed devices do not count
    cpe(b).session(inform_body("P3"))


# -------------------------------------------------------------- credentials


def test_wrong_digest_passwords_back_off_per_device(a, settings):
    settings.CWMP_AUTH_FAILURES_PER_DEVICE = 3
    settings.CWMP_AUTH_FAILURES_PER_ADDRESS = 0
    statuses = []
    for n in range(5):  # from five addresses: the identity is what is counted
        guesser = cpe(a, address=f"203.0.113.{n + 1}", auth="digest", password="wrong")
        statuses.append(guesser.inform(inform_body("VICTIM")).status_code)
    assert statuses == [401, 401, 429, 429, 429]
    right = cpe(a, address="192.0.2.10", auth="digest")
    refused = right.inform(inform_body("VICTIM"))
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 300
    assert Device.objects.count() == 0
    cpe(a, auth="digest").session(inform_body("OTHER"))  # another device is not held back


def test_wrong_passwords_back_off_per_address(a, settings):
    settings.CWMP_AUTH_FAILURES_PER_DEVICE = 0
    settings.CWMP_AUTH_FAILURES_PER_ADDRESS = 3
    statuses = [
        cpe(a, address="203.0.113.1", password="wrong").inform(inform_body(f"ID{n}")).status_code
        for n in range(4)
    ]
    assert statuses == [401, 401, 429, 429]
    assert cpe(a, address="203.0.113.1").inform(inform_body("ID9")).status_code == 429
    cpe(a, address="203.0.113.2").session(inform_body("ID9"))


def test_a_session_resets_the_devices_failures(a, settings):
    settings.CWMP_AUTH_FAILURES_PER_DEVICE = 3
    for _ in range(2):
        assert cpe(a, password="wrong").inform(inform_body("SN1")).status_code == 401
    cpe(a).session(inform_body("SN1"))
    for _ in range(2):
        assert cpe(a, password="wrong").inform(inform_body("SN1")).status_code == 401


def test_a_stale_nonce_is_no_failure(a, settings):
    settings.CWMP_AUTH_FAILURES_PER_DEVICE = 1
    # A challenge the ACS issued long ago, answered with the right password.
    old = DigestAuthority(
        settings.SECRET_KEY.encode(), a.cpe_realm, clock=lambda: time.time() - 3600
    )
    device = cpe(a)
    device.authorization = digest_answer(old.challenge(), "cpe", "cpe-secret", uri=device.url)
    response = device.post(inform_body("SN1"))
    assert response.status_code == 401 and "stale=true" in response["WWW-Authenticate"]
    cpe(a, auth="digest").session(inform_body("SN1"))  # not backed off


def test_a_client_certificate_is_not_held_back_by_password_failures(a, settings):
    settings.CWMP_TRUSTED_PROXIES = ["127.0.0.1/32"]
    settings.CWMP_AUTH_FAILURES_PER_DEVICE = 2
    a.cpe_auth_methods, a.cpe_cert_issuer = "certificate,digest", "CN=Lab CA"
    a.save()
    for _ in range(2):
        cpe(a, auth="digest", password="wrong").inform(inform_body("CERT1"))
    assert cpe(a, auth="digest").inform(inform_body("CERT1")).status_code == 429
    certified = cpe(a, address="127.0.0.1")
    certified.authorization = None
    first = certified.post(
        inform_body("CERT1"),
        HTTP_X_SSL_CLIENT_VERIFY="SUCCESS",
        HTTP_X_SSL_CLIENT_S_DN="CN=00259E-EG8145V5-CERT1",
        HTTP_X_SSL_CLIENT_I_DN="CN=Lab CA",
        HTTP_X_FORWARDED_FOR="192.0.2.77",
    )
    assert first.status_code == 200


def test_basic_is_refused_over_plain_http(a):
    response = cpe(a, tls=False).inform(inform_body("SN1"))
    # Challenged with Digest instead, which the CPE may answer.
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Digest ")
    assert b"needs HTTPS" in response.content
    assert Device.objects.count() == 0
    cpe(a, tls=False, auth="digest").session(inform_body("SN1"))


def test_basic_over_plain_http_from_the_tenants_networks(a):
    a.basic_over_http_networks = "127.0.0.0/8\n192.0.2.0/24"
    a.save()
    cpe(a, tls=False, address="192.0.2.44").session(inform_body("SN1"))
    assert cpe(a, tls=False, address="198.51.100.7").inform(inform_body("SN1")).status_code == 401


def test_a_basic_only_tenant_refuses_plain_http_outright(a):
    a.cpe_auth_methods = "basic"
    a.save()
    device = cpe(a, tls=False)
    assert device.inform(inform_body("SN1")).status_code == 403
    # Not even a Basic challenge, which would ask for the password in clear.
    device.authorization = None
    first = device.post(inform_body("SN1"))
    assert first.status_code == 403 and "WWW-Authenticate" not in first
    cpe(a).session(inform_body("SN1"))  # over TLS


def test_tls_is_believed_from_a_trusted_proxy_only(a, settings):
    settings.CWMP_TRUSTED_PROXIES = ["127.0.0.1/32"]
    https = {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_FOR": "198.51.100.50"}
    proxied = cpe(a, tls=False, address="127.0.0.1")
    proxied.authorization = basic("cpe", "cpe-secret")
    assert proxied.post(inform_body("SN1"), **https).status_code == 200
    direct = cpe(a, tls=False, address="198.51.100.9")
    direct.authorization = basic("cpe", "cpe-secret")
    assert direct.post(inform_body("SN2"), HTTP_X_FORWARDED_PROTO="https").status_code == 401


# ------------------------------------------------------------ the file door


@pytest.fixture
def firmware(a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return files.file_create(
        tenant=a, name="fw.bin", file_type="1 Firmware Upgrade Image", content=b"x" * 100
    )


def test_the_file_server_refuses_basic_over_plain_http(firmware):
    uri = f"/files/{firmware.token}/fw.bin"
    client = Client()
    response = client.get(uri, HTTP_AUTHORIZATION=basic("cpe", "cpe-secret"))
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Digest ")
    assert (
        client.get(uri, HTTP_AUTHORIZATION=basic("cpe", "cpe-secret"), secure=True).status_code
        == 200
    )


def test_the_file_server_backs_off_an_address(firmware, settings):
    settings.CWMP_AUTH_FAILURES_PER_ADDRESS = 2
    uri = f"/files/{firmware.token}/fw.bin"
    client = Client()

    def get(password):
        first = client.get(uri)
        answer = digest_answer(first["WWW-Authenticate"], "cpe", password, uri=uri, method="GET")
        return client.get(uri, HTTP_AUTHORIZATION=answer)

    assert [get("wrong").status_code for _ in range(3)] == [401, 429, 429]
    refused = get("cpe-secret")  # the right password too, until the window ends
    assert refused.status_code == 429 and refused["Retry-After"]


# ------------------------------------------------------------ the hot path


@pytest.mark.skipif(not settings.REDIS_URL, reason="REDIS_URL not set")
@pytest.mark.parametrize(("auth", "round_trips"), [("digest", 5), ("basic", 4)])
def test_a_periodic_session_costs_no_redis_round_trip_more(a, monkeypatch, auth, round_trips):
    """Shares, rates and backoff ride in the scripts a session already runs.

    begin and save (the Inform), load and finish (the empty POST), and with
    Digest the nonce check of the empty POST, which this CPE authenticates
    too: as many as before issue 10.
    """
    from acsportal.infra import redisclient

    device = cpe(a, auth=auth)
    device.session(inform_body("SN1"))
    sent: list[str] = []
    real = redisclient.Connection.execute

    def counting(self, *args):
        sent.append(" ".join(str(a)[:12] for a in args[:4]))
        return real(self, *args)

    monkeypatch.setattr(redisclient.Connection, "execute", counting)
    monkeypatch.setattr(
        "redis.Redis.execute_command", lambda *args, **kw: pytest.fail(f"redis-py: {args[1:]}")
    )
    device.session(inform_body("SN1"))
    assert len(sent) == round_trips, sent
