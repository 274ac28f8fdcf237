"""Simulated CPEs from real dumps hold full sessions with the real server.

Every field behaviour of issue 3 is exercised here over real HTTP by a
simulated device switched to behave that way, and its session must complete
on both sides: the simulator sees 204 at the end, the server logs it done.
"""

from __future__ import annotations

import asyncio

import pytest

from cpesim import SimulatedCPE
from devices.models import Device, Parameter, SessionLog

pytestmark = pytest.mark.e2e

DUMPS = {
    # name: (data model root, manufacturer as the dump reports it)
    "huawei-eg8145v5": "InternetGatewayDevice",
    "zte-h199a": "InternetGatewayDevice",
    "nokia-g1425ga": "InternetGatewayDevice",
    "tplink-ex220": "Device",
    "tplink-ec220-v3": "Device",
}


def run(coro):
    return asyncio.run(coro)


def cpe_for(server, dump="huawei-eg8145v5", *, serial=None, quirks=None, **kwargs):
    return SimulatedCPE(
        dump,
        acs_url=server.cwmp_url("e2e"),
        username=kwargs.pop("username", "cpe"),
        password=kwargs.pop("password", "cpe-secret"),
        serial=serial,
        quirks=quirks,
        **kwargs,
    )


def assert_completed(result, server):
    assert result.ok, f"{result}\n{result.transcript}\n--- server log ---\n{server.log()[-3000:]}"
    assert result.statuses[-1] == 204, result.transcript


@pytest.mark.parametrize("dump", sorted(DUMPS))
def test_boot_session_of_each_dump(e2e_tenant, acs_server, dump):
    cpe = cpe_for(acs_server, dump)
    result = run(cpe.boot())
    assert_completed(result, acs_server)
    device = Device.objects.get(serial_number=cpe.serial)
    assert device.data_model == DUMPS[dump]
    root = DUMPS[dump]
    assert device.software_version == cpe.get(f"{root}.DeviceInfo.SoftwareVersion")
    assert device.connection_request_url == cpe.get(f"{root}.ManagementServer.ConnectionRequestURL")
    assert device.product_class == cpe.model.product_class
    log = SessionLog.objects.get(device=device)
    assert log.outcome == "ok"
    assert "1 BOOT" in log.events
    assert log.rpcs[:2] == ["Inform", "InformResponse"]
    assert Parameter.objects.filter(device=device).count() >= 5


def test_periodic_sessions_of_a_small_fleet(e2e_tenant, acs_server):
    async def fleet():
        cpes = [
            cpe_for(acs_server, dump, serial=f"FLEET{i:04d}")
            for i, dump in enumerate(sorted(DUMPS))
        ]
        boots = await asyncio.gather(*(c.boot() for c in cpes))
        periodic = await asyncio.gather(*(c.run_session(["2 PERIODIC"]) for c in cpes))
        return boots + periodic

    results = run(fleet())
    for result in results:
        assert_completed(result, acs_server)
    assert SessionLog.objects.filter(outcome="ok").count() == 10


QUIRKS = [
    "no-cookies",
    "cookie-attrs",
    "cookie-comma",
    "preemptive-basic",
    "nonce-reuse",
    "event-case",
    "vendor-event",
    "no-header",
    "pretty",
    "no-xsi-type",
    "bool-words",
    "bool-digits",
    "time-naive",
    "time-micro",
    "bad-arraytype",
    "empty-envelope",
    "empty-whitespace",
    "gzip",
    "first-boot-periodic",
    "first-boot-boot",
    "prefix=SOAP-ENV",
    "prefix=soap_env",
    "prefix=soapenv",
    "prefix=soap",
    "ns=cwmp-1-3",
    "ns=cwmp-1-2",
    "soapaction=missing",
    "soapaction=empty",
    "soapaction=quoted-empty",
    "soapaction=unquoted",
    "content-type=text/xml",
    "content-type=text/html",
    "content-type=none",
    "content-type=empty",
    "no-cookies,nonce-reuse",
]


@pytest.mark.parametrize("quirk", QUIRKS)
def test_field_behaviour_completes(e2e_tenant, acs_server, quirk):
    cpe = cpe_for(acs_server, quirks=quirk)
    first = run(cpe.boot())
    assert_completed(first, acs_server)
    second = run(cpe.run_session(["2 PERIODIC"]))
    assert_completed(second, acs_server)
    device = Device.objects.get(serial_number=cpe.serial)
    logs = list(SessionLog.objects.filter(device=device).order_by("started"))
    assert [log.outcome for log in logs] == ["ok", "ok"]
    assert logs[1].events[0] == "2 PERIODIC"


def test_event_codes_in_other_case_are_stored_standard(e2e_tenant, acs_server):
    cpe = cpe_for(acs_server, quirks="event-case,vendor-event")
    assert_completed(run(cpe.boot()), acs_server)
    log = SessionLog.objects.get()
    assert "1 BOOT" in log.events
    assert any(code.startswith("X ") for code in log.events)


def test_preemptive_basic_gets_no_challenge(e2e_tenant, acs_server):
    cpe = cpe_for(acs_server, quirks="preemptive-basic")
    result = run(cpe.boot())
    assert_completed(result, acs_server)
    assert 401 not in result.statuses


def test_preemptive_basic_but_digest_only_cpe_on_digest_tenant(e2e_tenant, acs_server):
    e2e_tenant.cpe_auth_methods = "digest"
    e2e_tenant.save()
    cpe = cpe_for(acs_server, quirks="preemptive-basic-digest-only")
    result = run(cpe.boot())
    assert_completed(result, acs_server)
    assert result.statuses[0] == 401  # challenged with Digest, which it answers


def test_no_cookies_session_follows_the_connection(e2e_tenant, acs_server):
    cpe = cpe_for(acs_server, quirks="no-cookies")
    result = run(cpe.boot())
    assert_completed(result, acs_server)
    assert result.connections == 1


def test_stale_cookie_on_the_next_inform(e2e_tenant, acs_server):
    cpe = cpe_for(acs_server, quirks="stale-cookie")
    first = run(cpe.boot())
    second = run(cpe.run_session(["2 PERIODIC"]))
    assert_completed(first, acs_server)
    assert_completed(second, acs_server)
    assert first.cookies["cwmpsid"] != second.cookies["cwmpsid"]
    assert SessionLog.objects.filter(outcome="ok").count() == 2


def test_same_cwmp_id_on_every_inform(e2e_tenant, acs_server):
    cpe = cpe_for(acs_server, quirks="same-id")
    for events in (None, ["2 PERIODIC"], ["2 PERIODIC"]):
        assert_completed(run(cpe.run_session(events)), acs_server)
    assert SessionLog.objects.filter(outcome="ok").count() == 3


def test_abandoned_session_leaves_the_device_unlocked(e2e_tenant, acs_server):
    cpe = cpe_for(acs_server, quirks="abandon-after-inform")
    run(cpe.boot())
    # The same device comes back at once, behaving normally this time.
    again = cpe_for(acs_server, serial=cpe.serial)
    result = run(again.run_session(["2 PERIODIC"]))
    assert_completed(result, acs_server)
    outcomes = sorted(SessionLog.objects.values_list("outcome", flat=True))
    assert outcomes == ["abandoned", "ok"]


def test_inform_resent_after_a_dropped_connection(e2e_tenant, acs_server):
    cpe = cpe_for(acs_server, quirks="resend-inform")
    result = run(cpe.boot())
    assert_completed(result, acs_server)
    assert result.connections == 2
    assert SessionLog.objects.filter(outcome="ok").count() == 1


def test_identity_with_unsafe_characters(e2e_tenant, acs_server):
    cpe = cpe_for(acs_server, "nokia-g1425ga", serial="AL CL/FC!01")
    assert_completed(run(cpe.boot()), acs_server)
    device = Device.objects.get()
    assert device.device_id == "9075BC-G%2D1425G%2DA-AL%20CL%2FFC%2101"
    assert device.serial_number == "AL CL/FC!01"


def test_wrong_password_is_refused_over_http(e2e_tenant, acs_server):
    cpe = cpe_for(acs_server, password="wrong")
    result = run(cpe.boot())
    assert not result.ok
    assert 401 in result.statuses
    assert not Device.objects.exists()


def test_overload_returns_503_with_retry_after(transactional_db, tmp_path):
    from tests.e2e.conftest import start_server, stop_server
    from tests.factories import TenantFactory

    TenantFactory(slug="e2e")
    server = start_server(tmp_path, CWMP_MAX_SESSIONS="1")
    try:
        holder = cpe_for(server, quirks="abandon-after-inform")
        run(holder.boot())  # leaves one session open on the server
        late = cpe_for(server)
        result = run(late.boot())
        assert not result.ok
        assert result.statuses == [503] or result.statuses[-1] == 503
        assert result.retry_after and result.retry_after > 0
    finally:
        stop_server(server)


IGD = "InternetGatewayDevice"
MS = f"{IGD}.ManagementServer."
WLAN = f"{IGD}.LANDevice.1.WLANConfiguration.1."


def _enqueue(device, type_, **args):
    from provisioning import services as task_services

    return task_services.task_enqueue(device=device, type=type_, args=args, via="test")


@pytest.mark.parametrize(
    ("quirk", "true", "false"), [("bool-words", "true", "false"), ("bool-digits", "1", "0")]
)
def test_booleans_in_either_spelling_are_read_and_written(
    e2e_tenant, acs_server, quirk, true, false
):
    from provisioning.models import TaskState

    cpe = cpe_for(acs_server, quirks=quirk)
    assert_completed(run(cpe.boot()), acs_server)
    device = Device.objects.get(serial_number=cpe.serial)
    read = _enqueue(device, "get_parameter_values", names=[f"{MS}PeriodicInformEnable"])
    names = _enqueue(device, "get_parameter_names", path=WLAN, next_level=True)
    write = _enqueue(device, "set_and_verify", values={f"{WLAN}Enable": False})
    result = run(cpe.run_session(["2 PERIODIC"]))
    assert_completed(result, acs_server)
    assert result.rpcs == [
        "GetParameterValues",
        "GetParameterNames",
        "SetParameterValues",
        "GetParameterValues",
    ]
    for task in (read, names, write):
        task.refresh_from_db()
        assert task.state == TaskState.DONE, (task.type, task.fault_string)
    # Values are kept as the device spelled them, typed boolean.
    assert read.result["values"] == {f"{MS}PeriodicInformEnable": true}
    stored = Parameter.objects.get(device=device, path=f"{MS}PeriodicInformEnable")
    assert (stored.value, stored.type) == (true, "xsd:boolean")
    # GetParameterNames' Writable flags in the device's spelling became booleans.
    writable = dict(names.result["parameters"])
    assert writable[f"{WLAN}Enable"] is True and writable[f"{WLAN}TotalBytesSent"] is False
    assert Parameter.objects.get(device=device, path=f"{WLAN}SSID").writable is True
    # False went out, the device took it, and its read-back in its own spelling verified.
    assert write.result["verified"] is True
    assert cpe.get(f"{WLAN}Enable") in ("false", "0")
    enable = Parameter.objects.get(device=device, path=f"{WLAN}Enable")
    assert (enable.value, enable.type) == (false, "xsd:boolean")


@pytest.mark.parametrize("quirk", ["cookie-attrs", "cookie-comma"])
def test_cookie_forms_alone_carry_the_session(e2e_tenant, acs_server, quirk):
    """Each request on a new connection: nothing but the echoed cookie finds the session."""
    from provisioning.models import TaskState

    cpe = cpe_for(acs_server, quirks=f"{quirk},connection-per-request")
    boot = run(cpe.boot())
    assert_completed(boot, acs_server)
    device = Device.objects.get(serial_number=cpe.serial)
    task = _enqueue(device, "get_parameter_values", names=[f"{WLAN}SSID"])
    result = run(cpe.run_session(["2 PERIODIC"]))
    assert_completed(result, acs_server)
    assert result.rpcs == ["GetParameterValues"]
    for done in (boot, result):
        assert done.connections == len(done.statuses) >= 3  # one connection per request
    task.refresh_from_db()
    assert task.state == TaskState.DONE
    logs = SessionLog.objects.filter(device=device).order_by("started")
    assert [log.outcome for log in logs] == ["ok", "ok"]


def test_without_cookies_a_new_connection_finds_no_session(e2e_tenant, acs_server):
    """The counter-proof of the cookie tests: the connection key cannot have helped them."""
    cpe = cpe_for(acs_server, quirks="no-cookies,connection-per-request")
    result = run(cpe.boot())
    assert not result.ok and result.statuses[-1] == 400


def test_cpe_matching_the_cwmp_prefix_as_text(e2e_tenant, acs_server):
    """Every message the ACS writes has the literal `cwmp:` prefix and bare inner elements."""
    from provisioning.models import TaskState

    async def scenario():
        cpe = cpe_for(acs_server, quirks="literal-cwmp-prefix", history=5)
        boot = await cpe.boot()
        device = await asyncio.to_thread(Device.objects.get, serial_number=cpe.serial)

        def queue():
            return [
                _enqueue(device, "get_rpc_methods"),
                _enqueue(device, "get_parameter_values", names=[f"{WLAN}SSID", f"{IGD}.No.Such"]),
                _enqueue(device, "get_parameter_values", names=[f"{WLAN}SSID"]),
                _enqueue(device, "set_parameter_values", values={f"{WLAN}SSID": "text-cpe"}),
                _enqueue(device, "get_parameter_names", path=WLAN, next_level=True),
                _enqueue(device, "get_parameter_attributes", names=[f"{WLAN}SSID"]),
                _enqueue(
                    device,
                    "set_parameter_attributes",
                    attributes=[{"name": f"{WLAN}SSID", "notification": 1}],
                ),
                _enqueue(device, "add_object", object_name=f"{IGD}.LANDevice.1.WLANConfiguration."),
                _enqueue(device, "schedule_inform", delay_seconds=3600),
                _enqueue(
                    device,
                    "download",
                    url="http://127.0.0.1:9/missing.cfg",
                    file_type="3 Vendor Configuration File",
                ),
            ]

        tasks = await asyncio.to_thread(queue)
        mark = cpe.sessions_completed
        session = await cpe.run_session(["6 CONNECTION REQUEST"])
        later = await cpe.wait_session(timeout=20, after=mark + 1)  # with its TransferComplete
        return boot, session, later, tasks

    boot, session, later, tasks = run(scenario())
    for result in (boot, session, later):
        assert_completed(result, acs_server)
    assert len(session.rpcs) == 10 and session.faults_sent == [("GetParameterValues", 9005)]
    assert "7 TRANSFER COMPLETE" in later.events
    states = []
    for task in tasks:
        task.refresh_from_db()
        states.append((task.type, task.state, task.fault_code))
    assert states[1] == ("get_parameter_values", TaskState.FAULT, 9005)
    assert states[-1] == ("download", TaskState.FAULT, 9010)
    assert all(state == TaskState.DONE for _, state, _ in states[:1] + states[2:-1]), states


@pytest.mark.parametrize("dump", ["huawei-eg8145v5", "tplink-ex220"])
def test_tenant_periodic_inform_interval_applied_at_first_contact(e2e_tenant, acs_server, dump):
    from provisioning.models import Task, TaskState

    e2e_tenant.periodic_inform_interval = 900
    e2e_tenant.save()
    cpe = cpe_for(acs_server, dump, bootstrap=True)
    root = DUMPS[dump]
    assert cpe.get(f"{root}.ManagementServer.PeriodicInformInterval") != "900"
    boot = run(cpe.boot())
    assert_completed(boot, acs_server)
    # Its own connection-request credentials, then the tenant's interval.
    assert boot.rpcs == ["SetParameterValues", "SetParameterValues"]
    assert cpe.get(f"{root}.ManagementServer.PeriodicInformInterval") == "900"
    assert cpe.get(f"{root}.ManagementServer.PeriodicInformEnable") in ("true", "1")
    policy = Task.objects.get(requested_via="tenant-policy")
    assert policy.state == TaskState.DONE
    # Known now, and on the interval: later sessions carry nothing more.
    assert run(cpe.run_session(["2 PERIODIC"])).rpcs == []
