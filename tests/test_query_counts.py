"""Every pinned path of ``tests/query_counts.json``, driven as in production.

The CWMP paths go through the real endpoint (Django's test client, the
scripted CPE); the others call the service the entry points call.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from cwmp.protocol import codec
from cwmp.protocol import messages as m
from cwmp.wakeup import stun
from devices.models import Device, SessionLog
from provisioning import services
from provisioning.models import Task, TaskState
from tests.cwmp.cpe import IGD, ScriptedCPE, inform_body
from tests.factories import DeviceFactory, TenantFactory
from tests.querycounts import CONTROL, TABLE, pinned

pytestmark = pytest.mark.django_db


@pytest.fixture
def cpe(settings):
    settings.CWMP_TENANT_CACHE_SECONDS = 30  # as deployed: the tenant is cached
    TenantFactory(slug="isp")
    return ScriptedCPE(Client(), "/cwmp/isp/")


def test_every_pinned_path_has_both_databases():
    assert TABLE and all(set(counts) == {"postgresql", "sqlite"} for counts in TABLE.values())


@pytest.mark.parametrize(
    ("path", "extra"),
    [("cwmp.periodic_session", 0), ("cwmp.periodic_session.300_parameters", 300)],
)
def test_periodic_session(cpe, path, extra):
    # A known device whose values did not change: SELECT device, UPDATE
    # device + INSERT session log (one statement on PostgreSQL), UPDATE
    # session log; whatever the number of parameters.
    params = {f"{IGD}.X_Extra.{i}": str(i) for i in range(extra)}
    cpe.session(inform_body("SN1", params=params))
    with pinned(path) as ctx:
        cpe.session(inform_body("SN1", params=params))
    if connection.vendor == "postgresql":  # no transaction of its own either
        assert not [q for q in ctx.captured_queries if CONTROL.match(q["sql"])]


def test_periodic_session_with_changed_values(cpe):
    params = {f"{IGD}.X_Extra.{i}": str(i) for i in range(300)}
    cpe.session(inform_body("SN1", params=params))
    changed = {k: v + "x" for k, v in params.items()}
    with pinned("cwmp.periodic_session.changed_values"):
        cpe.session(inform_body("SN1", ("4 VALUE CHANGE",), params=changed))


def test_bootstrap_inform(cpe):
    # A device never seen: created, its values stored, the tenant's
    # connection-request credentials and periodic-inform policy queued.
    with pinned("cwmp.bootstrap_inform"):
        assert cpe.inform(inform_body("SN1", ("0 BOOTSTRAP", "1 BOOT"))).status_code == 200


def test_task_dispatch(cpe):
    cpe.session(inform_body("SN1"))
    device = Device.objects.get()
    task = services.task_enqueue(
        device=device,
        type="set_parameter_values",
        args={"values": {f"{IGD}.LANDevice.1.WLANConfiguration.1.SSID": "home"}},
    )
    assert cpe.inform(inform_body("SN1")).status_code == 200
    with pinned("cwmp.task_dispatch.send"):
        sent = codec.parse(cpe.post(b"").content)
    assert isinstance(sent.body, m.SetParameterValues)
    answer = m.Envelope(
        body=m.SetParameterValuesResponse(status=0), cwmp_ns=sent.cwmp_ns, id=sent.id
    )
    with pinned("cwmp.task_dispatch.answer"):
        assert cpe.post(codec.serialize(answer)).status_code == 204
    task.refresh_from_db()
    assert task.state == TaskState.DONE


@pytest.mark.parametrize("devices", [1, 40])
def test_task_enqueue_bulk(devices):
    tenant = TenantFactory()
    for _ in range(devices):
        DeviceFactory(tenant=tenant)
    with pinned("provisioning.task_enqueue_bulk"):
        assert services.task_enqueue_bulk(tenant=tenant, devices={}, type="reboot") == devices
    assert Task.objects.count() == devices


def test_stun_binding_unchanged():
    device = DeviceFactory()
    SessionLog.objects.create(
        tenant=device.tenant,
        device=device,
        session_id="s1",
        started=timezone.now(),
        remote_address="203.0.113.5",  # unsigned bindings count from the last Inform's address
    )
    event = stun.BindingEvent(
        username=device.device_id,
        host="203.0.113.5",
        port=40000,
        binding_change=False,
        authenticated=False,
        classic=False,
    )
    assert stun.record_binding(event)
    # The lookup (device, STUNPassword known, last Inform's address: one
    # query), an UPDATE matching no row.
    with pinned("wakeup.stun_binding_unchanged"):
        assert stun.record_binding(event)
