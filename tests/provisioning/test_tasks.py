"""Task lifecycle rules, driven through the session-side services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from cwmp.protocol import messages as m
from devices.models import Device, Parameter
from provisioning import services, task_session
from provisioning.models import Fault, Task, TaskState
from provisioning.tasktypes import InvalidTask
from provisioning.tasktypes.diagnostics import validate_host
from provisioning.values import InvalidValue, check_value
from tests.factories import DeviceFactory, ParameterFactory
from tests.provisioning.session import answer, next_rpc, transfer_completed

pytestmark = pytest.mark.django_db
IGD = "InternetGatewayDevice"


@pytest.fixture
def device():
    return DeviceFactory(data_model=IGD)


def test_enqueue_validates_and_sets_hint(device):
    with pytest.raises(InvalidTask, match="unknown task type"):
        services.task_enqueue(device=device, type="explode")
    with pytest.raises(InvalidTask, match="names"):
        services.task_enqueue(device=device, type="get_parameter_values", args={})
    task = services.task_enqueue(device=device, type="reboot")
    device.refresh_from_db()
    assert device.has_tasks and task.state == TaskState.QUEUED and task.command_key


def test_hint_cleared_when_nothing_is_left(device):
    services.task_enqueue(device=device, type="reboot")
    message, ref = next_rpc(device)
    assert isinstance(message, m.Reboot)
    answer(device, ref, m.RebootResponse())
    assert next_rpc(device) is None
    device.refresh_from_db()
    assert device.has_tasks is False


def test_tasks_run_in_order_and_one_per_rpc(device):
    a = services.task_enqueue(device=device, type="get_rpc_methods")
    b = services.task_enqueue(device=device, type="factory_reset")
    first, ref = next_rpc(device)
    assert ref["task"] == a.pk and isinstance(first, m.GetRPCMethods)
    answer(device, ref, m.GetRPCMethodsResponse(method_list=["Inform"]))
    second, ref = next_rpc(device)
    assert ref["task"] == b.pk


def test_retryable_fault_backs_off_then_gives_up(device):
    task = services.task_enqueue(device=device, type="reboot", max_attempts=2)
    _, ref = next_rpc(device)
    answer(device, ref, m.Fault(fault_code=9002, fault_string="Internal error"))
    task.refresh_from_db()
    assert task.state == TaskState.QUEUED and task.not_before > timezone.now()
    assert next_rpc(device) is None  # backing off
    later = timezone.now() + timedelta(hours=2)
    _, ref = next_rpc(device, now=later)
    answer(device, ref, m.Fault(fault_code=9002, fault_string="Internal error"), now=later)
    task.refresh_from_db()
    assert task.state == TaskState.FAULT and task.attempts == 2
    assert Fault.objects.filter(task=task).count() == 2


def test_non_retryable_fault_ends_at_once(device):
    task = services.task_enqueue(device=device, type="get_parameter_values", args={"names": ["X."]})
    _, ref = next_rpc(device)
    answer(device, ref, m.Fault(fault_code=9005, fault_string="Invalid parameter name"))
    task.refresh_from_db()
    assert task.state == TaskState.FAULT and task.fault_code == 9005 and task.attempts == 1


def test_9000_is_learned_and_respected(device):
    first = services.task_enqueue(device=device, type="factory_reset")
    _, ref = next_rpc(device)
    answer(device, ref, m.Fault(fault_code=9000, fault_string="Method not supported"))
    first.refresh_from_db()
    assert first.state == TaskState.FAULT
    assert Device.objects.get(pk=device.pk).unsupported_methods == ["FactoryReset"]
    second = services.task_enqueue(device=device, type="factory_reset")
    assert next_rpc(device) is None
    second.refresh_from_db()
    assert second.state == TaskState.FAULT and second.fault_code == 9000 and second.attempts == 0


def test_task_in_flight_when_session_breaks_is_sent_once_more(device):
    task = services.task_enqueue(device=device, type="reboot")
    next_rpc(device, session="S1")  # the session breaks before the answer
    message, ref = next_rpc(device, session="S2")
    assert isinstance(message, m.Reboot)
    task.refresh_from_db()
    assert task.attempts == 1 and task.progress["resent"] == 1
    # ...and breaks again: the task ends instead of looping.
    assert next_rpc(device, session="S3") is None
    task.refresh_from_db()
    assert task.state == TaskState.FAULT and "two sessions" in task.fault_string


def test_answer_for_a_cancelled_task_changes_nothing(device):
    task = services.task_enqueue(device=device, type="reboot")
    _, ref = next_rpc(device)
    Task.objects.filter(pk=task.pk).update(state=TaskState.CANCELLED)
    answer(device, ref, m.RebootResponse())
    task.refresh_from_db()
    assert task.state == TaskState.CANCELLED


def test_set_value_checked_against_reported_type(device):
    ParameterFactory(
        device=device, path=f"{IGD}.ManagementServer.PeriodicInformInterval", type="xsd:unsignedInt"
    )
    good = services.task_enqueue(
        device=device,
        type="set_parameter_values",
        args={"values": {f"{IGD}.ManagementServer.PeriodicInformInterval": " 300 "}},
    )
    message, _ = next_rpc(device)
    (value,) = message.parameter_list
    assert (value.value, value.type) == ("300", "xsd:unsignedInt")
    assert message.parameter_key == good.command_key


def test_transfer_complete_matches_by_command_key(device):
    task = services.task_enqueue(
        device=device,
        type="download",
        args={"url": "http://127.0.0.1/fw.bin", "file_type": "1 Firmware Upgrade Image"},
    )
    _, ref = next_rpc(device)
    answer(device, ref, m.DownloadResponse(status=1))
    task.refresh_from_db()
    assert task.state == TaskState.RUNNING and task.progress["waiting"]
    assert next_rpc(device, session="S2") is None  # waiting, not resent
    other = transfer_completed(device, "nope", session="S3")
    assert other is None
    done = transfer_completed(device, task.command_key, session="S3")
    assert done.pk == task.pk and done.state == TaskState.DONE


def test_refresh_walks_level_by_level_when_root_gpn_faults(device):
    task = services.task_enqueue(device=device, type="refresh", args={"path": f"{IGD}."})
    message, ref = next_rpc(device)
    assert message.parameter_path == f"{IGD}." and message.next_level is False
    answer(device, ref, m.Fault(fault_code=9002, fault_string="too big"))
    message, ref = next_rpc(device)
    assert message.next_level is True
    answer(
        device,
        ref,
        m.GetParameterNamesResponse(
            parameter_list=[
                m.ParameterInfoStruct(name=f"{IGD}.DeviceInfo.", writable=False),
                m.ParameterInfoStruct(name=f"{IGD}.UpTime", writable=False),
            ]
        ),
    )
    message, ref = next_rpc(device)
    assert message.parameter_path == f"{IGD}.DeviceInfo." and message.next_level is True
    answer(
        device,
        ref,
        m.GetParameterNamesResponse(
            parameter_list=[
                m.ParameterInfoStruct(name=f"{IGD}.DeviceInfo.SerialNumber", writable=False),
            ]
        ),
    )
    message, ref = next_rpc(device)
    assert sorted(message.parameter_names) == [f"{IGD}.DeviceInfo.SerialNumber", f"{IGD}.UpTime"]
    answer(
        device,
        ref,
        m.GetParameterValuesResponse(
            parameter_list=[
                m.ParameterValueStruct(
                    name=f"{IGD}.DeviceInfo.SerialNumber", value="SN", type="xsd:string"
                ),
                m.ParameterValueStruct(name=f"{IGD}.UpTime", value="5", type="xsd:unsignedInt"),
            ]
        ),
    )
    task.refresh_from_db()
    assert task.state == TaskState.DONE and task.result["parameters"] == 2
    assert Parameter.objects.get(device=device, path=f"{IGD}.UpTime").type == "xsd:unsignedInt"


def test_ping_sets_up_waits_for_event_and_reads_results(device):
    task = services.task_enqueue(
        device=device, type="ping", args={"host": "example.net", "count": 3}
    )
    message, ref = next_rpc(device)
    sent = {p.name: p.value for p in message.parameter_list}
    assert sent[f"{IGD}.IPPingDiagnostics.Host"] == "example.net"
    assert sent[f"{IGD}.IPPingDiagnostics.DiagnosticsState"] == "Requested"
    answer(device, ref, m.SetParameterValuesResponse(status=0))
    assert next_rpc(device, session="S2") is None  # waiting for 8 DIAGNOSTICS COMPLETE
    assert task_session.diagnostics_completed(tenant_id=device.tenant_id, device_pk=device.pk) == 1
    message, ref = next_rpc(device, session="S3")
    assert message.parameter_names == [f"{IGD}.IPPingDiagnostics."]
    answer(
        device,
        ref,
        m.GetParameterValuesResponse(
            parameter_list=[
                m.ParameterValueStruct(
                    name=f"{IGD}.IPPingDiagnostics.DiagnosticsState", value="Complete"
                ),
                m.ParameterValueStruct(name=f"{IGD}.IPPingDiagnostics.SuccessCount", value="3"),
            ]
        ),
        session="S3",
    )
    task.refresh_from_db()
    assert task.state == TaskState.DONE
    assert task.result["results"]["SuccessCount"] == "3"


@pytest.mark.parametrize(
    "host",
    ["8.8.8.8", "2001:db8::1", "example.net", "a-b.example.", "localhost"],
)
def test_valid_hosts(host):
    assert validate_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "",
        "a b",
        "example.net; rm -rf /",
        "$(reboot)",
        "-bad.example",
        "x" * 64 + ".net",
        "1.2.3.4.5",
        "`id`",
        "a\nb",
    ],
)
def test_hosts_refused(host):
    with pytest.raises(InvalidTask):
        validate_host(host)


@pytest.mark.parametrize(
    ("value", "xsd", "expected"),
    [
        ("5", "xsd:unsignedInt", "5"),
        ("TRUE", "xsd:boolean", "true"),
        ("-1", "xsd:int", "-1"),
        ("2024-01-01T00:00:00Z", "xsd:dateTime", "2024-01-01T00:00:00Z"),
        ("abc", "xsd:string", "abc"),
    ],
)
def test_values_accepted(value, xsd, expected):
    assert check_value(value, xsd) == expected


@pytest.mark.parametrize(
    ("value", "xsd"),
    [
        ("-1", "xsd:unsignedInt"),
        ("yes", "xsd:boolean"),
        ("4294967296", "xsd:unsignedInt"),
        ("x", "xsd:int"),
        ("2024-13-01T00:00:00Z", "xsd:dateTime"),
        ("zz", "xsd:hexBinary"),
        ("***", "xsd:base64"),
    ],
)
def test_values_refused(value, xsd):
    with pytest.raises(InvalidValue):
        check_value(value, xsd)


def test_transfer_complete_in_a_later_session_without_the_event(client):
    from django.test import Client

    from cwmp.protocol import codec
    from tests.cwmp.cpe import ScriptedCPE, inform_body
    from tests.factories import TenantFactory

    tenant = TenantFactory(slug="isp")
    cpe = ScriptedCPE(Client(), "/cwmp/isp/")
    cpe.session(inform_body("SN1"))
    device = Device.objects.get()
    task = services.task_enqueue(
        device=device,
        type="download",
        args={"url": "http://127.0.0.1/fw", "file_type": "1 Firmware Upgrade Image"},
    )
    cpe.inform(inform_body("SN1", ("6 CONNECTION REQUEST",)))
    sent = codec.parse(cpe.post(b"").content)
    assert isinstance(sent.body, m.Download)
    reply = m.Envelope(body=m.DownloadResponse(status=1), cwmp_ns=m.CWMP_NS_1_0, id=sent.id)
    assert cpe.post(codec.serialize(reply)).status_code == 204
    # Two sessions later, a plain periodic Inform, then the TransferComplete.
    cpe.session(inform_body("SN1", ("2 PERIODIC",)))
    cpe.inform(inform_body("SN1", ("2 PERIODIC",)))
    tc = m.TransferComplete(command_key=task.command_key)
    response = cpe.post(codec.serialize(m.Envelope(body=tc, cwmp_ns=m.CWMP_NS_1_0, id="9")))
    assert isinstance(codec.parse(response.content).body, m.TransferCompleteResponse)
    assert cpe.post(b"").status_code == 204
    task.refresh_from_db()
    assert task.state == TaskState.DONE
    assert tenant.pk == device.tenant_id


@pytest.mark.parametrize(
    ("path", "value", "reason"),
    [
        (f"{IGD}.LANDevice.1.WLANConfiguration.1.SSID", "x" * 33, "longer than the 32"),
        (f"{IGD}.LANDevice.1.WLANConfiguration.1.BeaconType", "WPA4", "not one of"),
        ("Device.WiFi.Radio.1.Channel", "300", "above the maximum 255"),
        (f"{IGD}.ManagementServer.PeriodicInformInterval", "0", "below the minimum 1"),
        (f"{IGD}.LANDevice.1.WLANConfiguration.1.Enable", "maybe", "not a boolean"),
    ],
)
def test_values_checked_against_the_bbf_data_model(device, path, value, reason):
    task = services.task_enqueue(
        device=device, type="set_parameter_values", args={"values": {path: value}}
    )
    assert next_rpc(device) is None
    task.refresh_from_db()
    assert task.state == TaskState.FAULT and reason in task.fault_string


def test_data_model_types_used_when_the_device_reported_none(device):
    services.task_enqueue(
        device=device,
        type="set_parameter_values",
        args={
            "values": {
                f"{IGD}.LANDevice.1.WLANConfiguration.1.Enable": "1",
                f"{IGD}.LANDevice.1.WLANConfiguration.1.BeaconType": "X_ACME_Custom",
            }
        },
    )
    message, _ = next_rpc(device)
    types = {p.name.rsplit(".", 1)[1]: p.type for p in message.parameter_list}
    assert types == {"Enable": "xsd:boolean", "BeaconType": "xsd:string"}


def test_admin_cancel_and_retry_actions(device):
    from django.contrib.auth import get_user_model
    from django.test import Client

    admin = get_user_model().objects.create_superuser("root", password="pw-root-123")
    client = Client()
    client.force_login(admin)
    queued = services.task_enqueue(device=device, type="reboot")
    url = "/admin/provisioning/task/"
    client.post(url, {"action": "cancel_tasks", "_selected_action": [queued.pk]})
    queued.refresh_from_db()
    assert queued.state == TaskState.CANCELLED
    client.post(url, {"action": "retry_tasks", "_selected_action": [queued.pk]})
    queued.refresh_from_db()
    assert queued.state == TaskState.QUEUED and queued.attempts == 0
