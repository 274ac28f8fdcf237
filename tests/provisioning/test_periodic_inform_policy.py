"""The tenant's periodic inform interval, applied at first contact and on bootstrap."""

from __future__ import annotations

import pytest
from django.test import Client

from cwmp.protocol import codec
from cwmp.protocol import messages as m
from devices.models import Device, Parameter
from provisioning import services
from provisioning.models import Task, TaskState
from tests.cwmp.cpe import IGD, ScriptedCPE, inform_body
from tests.factories import DeviceFactory, ParameterFactory, TenantFactory
from tests.querycounts import pinned

pytestmark = pytest.mark.django_db
ENABLE = f"{IGD}.ManagementServer.PeriodicInformEnable"
INTERVAL = f"{IGD}.ManagementServer.PeriodicInformInterval"


@pytest.fixture
def tenant():
    return TenantFactory(slug="isp", periodic_inform_interval=300)


@pytest.fixture
def cpe(tenant):
    return ScriptedCPE(Client(), "/cwmp/isp/")


def run_tasks(cpe, body):
    """A whole session that answers every SetParameterValues; returns the RPCs sent."""
    first = cpe.inform(body)
    assert first.status_code == 200
    sent = []
    response = cpe.post(b"")
    while response.status_code == 200:
        envelope = codec.parse(response.content)
        sent.append(envelope.body)
        assert isinstance(envelope.body, m.SetParameterValues)
        reply = m.Envelope(
            body=m.SetParameterValuesResponse(status=0), cwmp_ns=m.CWMP_NS_1_0, id=envelope.id
        )
        response = cpe.post(codec.serialize(reply))
    assert response.status_code == 204
    return sent


def values_of(spv):
    return {(p.name, p.value, p.type) for p in spv.parameter_list}


def test_first_contact_gets_the_tenants_interval(cpe):
    sent = run_tasks(cpe, inform_body("SN1", ("1 BOOT",)))
    assert len(sent) == 1
    assert values_of(sent[0]) == {
        (ENABLE, "true", "xsd:boolean"),
        (INTERVAL, "300", "xsd:unsignedInt"),
    }
    task = Task.objects.get()
    assert task.requested_via == "tenant-policy" and task.state == TaskState.DONE
    device = Device.objects.get()
    assert Parameter.objects.get(device=device, path=INTERVAL).value == "300"
    assert device.has_tasks is False


def test_a_device_already_on_the_interval_is_left_alone(cpe):
    params = {INTERVAL: "300", ENABLE: "1"}
    assert run_tasks(cpe, inform_body("SN1", ("0 BOOTSTRAP", "1 BOOT"), params=params)) == []
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    "params",
    [{INTERVAL: "86400"}, {INTERVAL: "300", ENABLE: "false"}, {}],
    ids=["other-interval", "disabled", "not-reported"],
)
def test_a_differing_or_unknown_setting_is_corrected(cpe, params):
    sent = run_tasks(cpe, inform_body("SN1", ("0 BOOTSTRAP", "1 BOOT"), params=params))
    # (Typed as the device reported them: this scripted CPE says xsd:string.)
    assert [{(name, value) for name, value, _ in values_of(s)} for s in sent] == [
        {(ENABLE, "true"), (INTERVAL, "300")}
    ]


def test_bootstrap_of_a_known_device_applies_it_again(cpe):
    run_tasks(cpe, inform_body("SN1", ("1 BOOT",)))
    assert run_tasks(cpe, inform_body("SN1", ("2 PERIODIC",))) == []
    # A factory reset brings the vendor's interval back.
    Parameter.objects.filter(path=INTERVAL).update(value="86400")
    sent = run_tasks(cpe, inform_body("SN1", ("0 BOOTSTRAP", "1 BOOT")))
    assert len(sent) == 1 and Task.objects.filter(requested_via="tenant-policy").count() == 2


def test_what_the_acs_stored_counts_when_the_inform_is_silent(tenant):
    device = DeviceFactory(tenant=tenant, data_model=IGD)
    ParameterFactory(device=device, path=INTERVAL, value="300", type="xsd:unsignedInt")
    assert services.provision_periodic_inform(device=device, interval=300, reported={}) is None
    task = services.provision_periodic_inform(device=device, interval=600, reported={})
    assert task is not None and task.args["values"][1] == [INTERVAL, "600", "xsd:unsignedInt"]
    # A second bootstrap before it ran queues nothing more.
    assert services.provision_periodic_inform(device=device, interval=600, reported={}) is None


def test_tr181_paths_and_interval_zero(tenant):
    device = DeviceFactory(tenant=tenant, data_model="Device")
    task = services.provision_periodic_inform(device=device, interval=60, reported={})
    assert [v[0] for v in task.args["values"]] == [
        "Device.ManagementServer.PeriodicInformEnable",
        "Device.ManagementServer.PeriodicInformInterval",
    ]
    other = DeviceFactory(tenant=tenant, data_model="Device")
    assert services.provision_periodic_inform(device=other, interval=0, reported={}) is None


def test_interval_zero_tenant_queues_nothing(tenant, cpe):
    tenant.periodic_inform_interval = 0
    tenant.save()
    assert run_tasks(cpe, inform_body("SN1", ("0 BOOTSTRAP", "1 BOOT"))) == []


def test_periodic_session_of_a_known_device_costs_nothing_more(cpe, settings):
    settings.CWMP_TENANT_CACHE_SECONDS = 30  # as deployed
    run_tasks(cpe, inform_body("SN1", ("1 BOOT",)))
    Parameter.objects.filter(path=INTERVAL).update(value="86400")  # drifted: still no query
    # The periodic session's pinned statements, the policy's check costing none.
    with pinned("cwmp.periodic_session"):
        cpe.session(inform_body("SN1", ("2 PERIODIC",)))
    assert Task.objects.count() == 1
