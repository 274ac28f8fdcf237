"""Issue 10's CPE doors over real HTTP: squatting, floods between tenants, backoff, Basic.

One server for the module, as deployed behind nginx: the test stands in for
the trusted proxy (``X-Forwarded-For``, ``X-Forwarded-Proto``), so that each
simulated client has an address of its own. The session and new-device
limits are the defaults except for the shares of the sessions, made small
enough to fill quickly.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from cpesim import SimulatedCPE
from devices import services
from devices.models import Device, IdentityConflict, Registration, SessionLog
from tests.cwmp.cpe import basic, digest_answer, inform_body
from tests.e2e.conftest import Server, start_server, stop_server
from tests.factories import TenantFactory

pytestmark = pytest.mark.e2e

_addresses = (f"198.18.{n // 250}.{n % 250 + 1}" for n in itertools.count())


@pytest.fixture(scope="module")
def doors_server(django_db_setup, tmp_path_factory):
    server = start_server(
        tmp_path_factory.mktemp("doors"),
        CWMP_TRUSTED_PROXIES="127.0.0.1/32",
        CWMP_MAX_SESSIONS="40",
        CWMP_MAX_SESSIONS_PER_TENANT="20",
        CWMP_MAX_SESSIONS_PER_ADDRESS="10",
        CWMP_SESSION_TIMEOUT="10",
    )
    yield server
    stop_server(server)


@pytest.fixture
def tenants(transactional_db, doors_server):
    return TenantFactory(slug="door-a"), TenantFactory(slug="door-b")


def proxied(address: str, *, tls: bool = True) -> dict[str, str]:
    headers = {"X-Forwarded-For": address, "X-Client-Port": "40000", "Content-Type": "text/xml"}
    if tls:
        headers["X-Forwarded-Proto"] = "https"
    return headers


def inform(
    server: Server,
    tenant,
    serial: str,
    *,
    address: str,
    complete: bool = True,
    password: str = "cpe-secret",
) -> int:
    """One session of a device (Basic over the proxy's TLS); the Inform's status."""
    with httpx.Client(timeout=20) as client:
        headers = proxied(address) | {"Authorization": basic("cpe", password)}
        first = client.post(
            server.cwmp_url(tenant.slug), content=inform_body(serial), headers=headers
        )
        if first.status_code == 200 and complete:
            last = client.post(
                server.cwmp_url(tenant.slug),
                content=b"",
                headers=proxied(address) | {"Cookie": f"cwmpsid={first.cookies['cwmpsid']}"},
            )
            assert last.status_code == 204, last.text
        return first.status_code


def simulated(server: Server, tenant, serial: str) -> SimulatedCPE:
    return SimulatedCPE(
        "huawei-eg8145v5",
        acs_url=server.cwmp_url(tenant.slug),
        username="cpe",
        password="cpe-secret",
        serial=serial,
    )


# ----------------------------------------------------------------- identity


def test_a_squatted_serial_no_longer_locks_out_its_owner(tenants, doors_server):
    squatter, owner = tenants
    genuine = simulated(doors_server, owner, "48575443A94196A5SQ")
    # Tenant A's CPE (or anyone with A's credentials) informs first with the serial.
    assert inform(doors_server, squatter, genuine.serial, address="203.0.113.66") == 200
    theirs = Device.objects.get(tenant=squatter)
    assert theirs.registration == Registration.PROVISIONAL

    services.device_preregister(
        tenant=owner,
        oui=genuine.model.oui,
        product_class=genuine.model.product_class,
        serial=genuine.serial,
    )
    result = asyncio.run(genuine.boot())
    assert result.ok and result.statuses[-1] == 204, f"{result}\n{doors_server.log()[-3000:]}"
    mine = Device.objects.get(tenant=owner)
    assert mine.device_id == theirs.device_id
    assert SessionLog.objects.filter(device=mine, outcome="ok").count() == 1
    assert SessionLog.objects.filter(device=theirs).count() == 1  # nothing moved

    assert inform(doors_server, squatter, genuine.serial, address="203.0.113.66") == 403
    conflict = IdentityConflict.objects.get()
    assert (conflict.tenant, conflict.owner, conflict.kind) == (squatter, owner, "superseded")
    assert conflict.remote_address == "203.0.113.66"


def test_unknown_devices_refused_where_the_tenant_takes_registered_ones_only(tenants, doors_server):
    closed, _ = tenants
    closed.accept_unknown_devices = False
    closed.save()
    assert inform(doors_server, closed, "NOBODY1", address=next(_addresses)) == 403
    assert not Device.objects.exists()
    assert "not pre-registered, refused" in doors_server.log()


# ------------------------------------------------------------- availability


def test_half_open_sessions_of_one_tenant_leave_the_others_room(tenants, doors_server):
    flooder, other = tenants
    # Known devices, so that only the sessions are limited, not their creation.
    for n in range(30):
        services.device_preregister(
            tenant=flooder, oui="00259E", product_class="EG8145V5", serial=f"HALF{n}"
        )

    def half_open(n: int) -> int:
        return inform(doors_server, flooder, f"HALF{n}", address=next(_addresses), complete=False)

    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(half_open, range(30)))
    # The flooding tenant has its share (20 of 40), and no more ...
    assert statuses.count(200) == 20 and statuses.count(503) == 10
    # ... and every other tenant's devices still get sessions.
    for n in range(5):
        assert inform(doors_server, other, f"OTHER{n}", address=next(_addresses)) == 200
    assert "the tenant's 20 sessions are open" in doors_server.log()


def test_sessions_of_one_address_leave_the_others_room(tenants, doors_server):
    a, b = tenants
    crowded, elsewhere = next(_addresses), next(_addresses)
    statuses = [
        inform(doors_server, (a, b)[n % 2], f"ADDR{n}", address=crowded, complete=False)
        for n in range(12)
    ]
    # CWMP_MAX_SESSIONS_PER_ADDRESS, whatever the tenants.
    assert statuses == [200] * 10 + [503, 503]
    assert inform(doors_server, b, "ELSEWHERE", address=elsewhere) == 200
    assert "sessions from that address are open" in doors_server.log()


def test_a_flood_of_invented_serials_is_stopped_by_the_defaults(tenants, doors_server):
    flooder, other = tenants

    def invent(n: int) -> int:
        return inform(doors_server, flooder, f"INVENTED{n:04d}", address=next(_addresses))

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        statuses = list(pool.map(invent, range(200)))
    assert time.monotonic() - started < 60, "the flood outlasted the rate's minute"
    # At most CWMP_NEW_DEVICES_PER_MINUTE (60) new devices a minute, the rest 503.
    assert Device.objects.filter(tenant=flooder).count() == 60
    assert statuses.count(200) == 60 and statuses.count(503) == 140
    # The flooding tenant's known devices, and the other tenant's new ones, still get in.
    assert inform(doors_server, flooder, "INVENTED0000", address=next(_addresses)) == 200
    assert inform(doors_server, other, "NEW-ELSEWHERE", address=next(_addresses)) == 200
    assert "new devices this minute (CWMP_NEW_DEVICES_PER_MINUTE)" in doors_server.log()


# -------------------------------------------------------------- credentials


def test_three_hundred_wrong_digest_passwords_are_throttled(tenants, doors_server):
    tenant, _ = tenants
    url = doors_server.cwmp_url(tenant.slug)
    guesser = next(_addresses)
    statuses = []
    with httpx.Client(timeout=20) as client:
        challenge = client.post(url, content=inform_body("VICTIM1"), headers=proxied(guesser))
        assert challenge.status_code == 401
        www = challenge.headers["WWW-Authenticate"]
        for n in range(300):  # one nonce, many guesses: what a brute force sends
            answer = digest_answer(www, "cpe", f"guess{n}", uri="/cwmp/door-a/", cnonce=f"{n:08x}")
            response = client.post(
                url,
                content=inform_body("VICTIM1"),
                headers=proxied(guesser) | {"Authorization": answer},
            )
            statuses.append(response.status_code)
        assert response.headers["Retry-After"]
    # CWMP_AUTH_FAILURES_PER_DEVICE (10): nine more challenges, then 429 to the end.
    assert statuses[:9] == [401] * 9 and set(statuses[9:]) == {429}
    # The victim's right password is refused too until the window ends ...
    assert inform(doors_server, tenant, "VICTIM1", address=next(_addresses)) == 429
    # ... while other devices are not held back.
    assert inform(doors_server, tenant, "BYSTANDER", address=next(_addresses)) == 200
    assert "too many failed authentications" in doors_server.log()


def test_wrong_passwords_for_many_ids_back_off_the_address(tenants, doors_server):
    tenant, _ = tenants
    guesser = next(_addresses)
    statuses = [
        inform(doors_server, tenant, f"ROTATE{n}", address=guesser, password="nope")
        for n in range(101)
    ]
    # CWMP_AUTH_FAILURES_PER_ADDRESS (100): the hundredth failure and after get 429.
    assert set(statuses[:99]) == {401} and statuses[99:] == [429, 429]
    assert inform(doors_server, tenant, "ROTATE0", address=guesser) == 429
    assert inform(doors_server, tenant, "ROTATE0", address=next(_addresses)) == 200


def test_basic_over_plain_http_is_refused(tenants, doors_server):
    tenant, lab = tenants
    lab.basic_over_http_networks = "127.0.0.0/8"
    lab.save()
    with httpx.Client(timeout=20) as client:
        auth = {"Authorization": basic("cpe", "cpe-secret"), "Content-Type": "text/xml"}
        # Straight to the server, not through the TLS proxy: plain HTTP.
        refused = client.post(
            doors_server.cwmp_url(tenant.slug), content=inform_body("B1"), headers=auth
        )
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith(
            "Digest"
        )
        # The proxy's word for TLS counts; so do the networks a tenant lists.
        proxied_tls = client.post(
            doors_server.cwmp_url(tenant.slug),
            content=inform_body("B1"),
            headers=proxied(next(_addresses)) | auth,
        )
        assert proxied_tls.status_code == 200
        from_the_lab = client.post(
            doors_server.cwmp_url(lab.slug), content=inform_body("B2"), headers=auth
        )
        assert from_the_lab.status_code == 200
    assert Device.objects.filter(serial_number="B1", tenant=tenant).exists()
