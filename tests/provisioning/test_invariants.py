"""A task, fault or device's file belongs to its device's tenant; arguments pass one validation.

Issue 10: the database refuses another tenant's device on PostgreSQL (a
composite foreign key), the model layer refuses it on both databases, a
session only ever sends, answers or finishes the tasks of its own tenant
and device, and every way of storing a task goes through the task type's
``validate``.
"""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction

from cwmp.protocol import messages as m
from devices.models import Device, TenantMismatch
from provisioning import services
from provisioning.models import Fault, File, Task, TaskState
from provisioning.tasktypes import TASK_TYPES, InvalidTask, validated_args
from tests.factories import DeviceFactory
from tests.provisioning.session import answer, next_rpc, transfer_completed
from tests.rawsql import copy_row, forge, update_row

pytestmark = pytest.mark.django_db
postgres_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the composite foreign keys are PostgreSQL's"
)
# What either database says: PostgreSQL's key by name, the model layer in words.
REFUSED = r"device_tenant_fk|not a device of this|belongs to tenant"


@pytest.fixture
def ours():
    return DeviceFactory(data_model="InternetGatewayDevice")


@pytest.fixture
def theirs():
    return DeviceFactory(data_model="InternetGatewayDevice")


def _fault(device, task=None, **fields):
    return Fault.objects.create(
        tenant=device.tenant, device=device, task=task, method="Reboot", code=9002, **fields
    )


def _file(device):
    return File.objects.create(
        tenant=device.tenant,
        device=device,
        name="backup.cfg",
        file_type="1 Vendor Configuration File",
        content="files/backup.cfg",
        token=f"tok{device.pk}",
    )


# -- the database (PostgreSQL) ---------------------------------------------------


@postgres_only
@pytest.mark.parametrize("model", [Task, Fault, File])
def test_postgres_refuses_a_raw_insert_naming_another_tenants_device(model, ours, theirs):
    row = {
        Task: lambda: services.task_enqueue(device=ours, type="reboot"),
        Fault: lambda: _fault(ours),
        File: lambda: _file(ours),
    }[model]()
    with pytest.raises(IntegrityError, match="device_tenant_fk"), transaction.atomic():
        copy_row(model, row.pk, tenant_id=theirs.tenant_id, **_unique(model))
    with pytest.raises(IntegrityError, match="device_tenant_fk"), transaction.atomic():
        copy_row(model, row.pk, device_id=theirs.pk, **_unique(model))
    copy_row(model, row.pk, **_unique(model))  # the same copy, consistent, goes in


def _unique(model):
    return {"token": "copy"} if model is File else {}


@postgres_only
@pytest.mark.parametrize("column", ["tenant_id", "device_id"])
def test_postgres_refuses_a_raw_update_to_another_tenants_device(column, ours, theirs):
    task = services.task_enqueue(device=ours, type="reboot")
    fault = _fault(ours, task)
    upload = _file(ours)
    value = theirs.tenant_id if column == "tenant_id" else theirs.pk
    for model, pk in ((Task, task.pk), (Fault, fault.pk), (File, upload.pk)):
        with pytest.raises(IntegrityError, match="device_tenant_fk"), transaction.atomic():
            update_row(model, pk, **{column: value})


@postgres_only
def test_postgres_lets_a_file_have_no_device(ours):
    # MATCH SIMPLE: a NULL device is not checked (a tenant's own firmware image).
    upload = _file(ours)
    update_row(File, upload.pk, device_id=None)
    File.objects.create(
        tenant=ours.tenant, name="fw.bin", file_type="1 Firmware Upgrade Image", token="fw"
    )


# -- the model layer (both databases) ---------------------------------------------


def test_a_task_for_another_tenants_device_is_refused(ours, theirs):
    with pytest.raises(TenantMismatch, match="belongs to tenant"):
        Task.objects.create(tenant=theirs.tenant, device=ours, type="reboot")
    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        Task.objects.create(tenant_id=theirs.tenant_id, device_id=ours.pk, type="reboot")
    assert not Task.objects.exists()


def test_moving_a_task_to_another_tenant_is_refused(ours, theirs):
    task = services.task_enqueue(device=ours, type="reboot")
    task.tenant_id = theirs.tenant_id
    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        task.save()
    task = Task.objects.get()
    task.device = theirs
    with pytest.raises(TenantMismatch):
        task.save()
    assert Task.objects.get().device_id == ours.pk


def test_faults_and_files_follow_their_devices_tenant(ours, theirs):
    with pytest.raises(TenantMismatch):
        Fault.objects.create(tenant=theirs.tenant, device=ours, method="Reboot", code=9002)
    with pytest.raises(IntegrityError, match=REFUSED), transaction.atomic():
        Fault.objects.create(
            tenant_id=theirs.tenant_id, device_id=ours.pk, method="Reboot", code=9002
        )
    with pytest.raises(TenantMismatch):
        File.objects.create(
            tenant=theirs.tenant, device=ours, name="x", file_type="2 Vendor Log File", token="x"
        )
    assert not Fault.objects.exists() and not File.objects.exists()


def test_clean_tells_a_form_which_field_is_wrong(ours, theirs):
    task = Task(tenant=theirs.tenant, device=ours, type="reboot")
    with pytest.raises(ValidationError) as caught:
        task.full_clean()
    assert "device" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        Fault(tenant=theirs.tenant, device=ours, method="Reboot", code=1).full_clean()
    assert "device" in caught.value.message_dict


def test_an_unchanged_row_is_saved_without_a_check(ours, django_assert_num_queries):
    task = Task.objects.get(pk=services.task_enqueue(device=ours, type="reboot").pk)
    task.state = TaskState.RUNNING
    with django_assert_num_queries(1):  # the UPDATE alone
        task.save()


# -- a session's dispatch ---------------------------------------------------------


def test_a_task_moved_to_another_tenant_is_not_sent(ours, theirs):
    # Forged round the model and, on PostgreSQL, round the dropped key: the
    # session of the device still selects by its own tenant and device.
    task = services.task_enqueue(device=ours, type="reboot")
    forge(Task, task.pk, tenant_id=theirs.tenant_id)
    assert next_rpc(ours) is None
    ours.refresh_from_db()
    assert ours.has_tasks is False  # a forged row does not hold the hint up either
    assert next_rpc(theirs) is None


def test_another_tenants_task_pointed_at_our_device_is_not_sent(ours, theirs):
    task = services.task_enqueue(device=theirs, type="factory_reset")
    forge(Task, task.pk, device_id=ours.pk)
    Device.objects.filter(pk=ours.pk).update(has_tasks=True)
    assert next_rpc(ours) is None
    assert Task.objects.get(pk=task.pk).state == TaskState.QUEUED


def test_a_session_does_not_answer_or_finish_another_tenants_task(ours, theirs):
    task = services.task_enqueue(device=ours, type="reboot")
    message, ref = next_rpc(ours)
    assert isinstance(message, m.Reboot)
    forge(Task, task.pk, tenant_id=theirs.tenant_id)
    assert answer(ours, ref, m.RebootResponse()) is None
    assert Task.objects.get(pk=task.pk).state == TaskState.RUNNING

    download = services.task_enqueue(
        device=ours,
        type="download",
        args={"url": "http://files.example/fw.bin", "file_type": "1 Firmware Upgrade Image"},
        command_key="fw-1",
    )
    message, ref = next_rpc(ours)
    answer(ours, ref, m.DownloadResponse(status=1))
    forge(Task, download.pk, tenant_id=theirs.tenant_id)
    assert transfer_completed(ours, "fw-1", session="S2") is None
    assert Task.objects.get(pk=download.pk).state == TaskState.RUNNING


def test_the_tenants_own_tasks_are_still_sent(ours, theirs):
    services.task_enqueue(device=theirs, type="reboot")
    mine = services.task_enqueue(device=ours, type="reboot")
    message, ref = next_rpc(ours)
    assert ref["task"] == mine.pk


# -- one validation of the arguments ----------------------------------------------


def test_the_model_validates_a_task_nobody_validated(ours):
    with pytest.raises(InvalidTask, match="unknown task type"):
        Task.objects.create(tenant=ours.tenant, device=ours, type="explode")
    with pytest.raises(InvalidTask, match="values"):
        Task.objects.create(
            tenant=ours.tenant, device=ours, type="set_parameter_values", args={"values": 5}
        )
    task = Task.objects.create(
        tenant=ours.tenant,
        device=ours,
        type="set_parameter_values",
        args={"values": {"InternetGatewayDevice.X.Y": "1"}},
    )
    # Stored as the type normalises it, exactly what task_enqueue stores.
    queued = services.task_enqueue(
        device=ours,
        type="set_parameter_values",
        args={"values": {"InternetGatewayDevice.X.Y": "1"}},
    )
    assert Task.objects.get(pk=task.pk).args == Task.objects.get(pk=queued.pk).args


def test_clean_validates_type_and_arguments(ours):
    with pytest.raises(ValidationError) as caught:
        Task(tenant=ours.tenant, device=ours, type="explode").full_clean()
    assert "type" in caught.value.message_dict
    with pytest.raises(ValidationError) as caught:
        Task(tenant=ours.tenant, device=ours, type="ping", args={"host": "no such"}).full_clean()
    assert "args" in caught.value.message_dict
    task = Task(tenant=ours.tenant, device=ours, type="ping", args={"host": "192.0.2.1"})
    task.full_clean()
    assert task.args["count"] == 4  # the type's defaults, as task_enqueue stores them


def test_enqueue_and_bulk_enqueue_store_the_same_arguments(ours):
    tenant = ours.tenant
    args = {"host": "example.com", "count": "2"}
    one = services.task_enqueue(device=ours, type="ping", args=args)
    assert services.task_enqueue_bulk(tenant=tenant, devices={}, type="ping", args=args) == 1
    bulk = Task.objects.exclude(pk=one.pk).get()
    assert bulk.args == one.args == validated_args("ping", args)
    assert bulk.tenant_id == bulk.device.tenant_id
    with pytest.raises(InvalidTask):
        services.task_enqueue_bulk(tenant=tenant, devices={}, type="ping", args={"host": ""})


def test_bulk_enqueue_never_queues_for_another_tenants_device(ours, theirs):
    devices = Device.objects.filter(pk__in=[ours.pk, theirs.pk])
    assert services.task_enqueue_bulk(tenant=ours.tenant, devices=devices, type="reboot") == 1
    assert list(Task.objects.values_list("tenant_id", "device_id")) == [(ours.tenant_id, ours.pk)]


@pytest.mark.parametrize("type_", sorted(TASK_TYPES))
def test_validation_is_idempotent(type_):
    # A form's clean() on arguments a service stored must keep them as they are.
    path = "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID"
    samples = {
        "get_parameter_names": {"path": "InternetGatewayDevice."},
        "get_parameter_values": {"names": [path]},
        "set_parameter_values": {"values": {path: "x"}},
        "set_and_verify": {"values": {path: "x"}},
        "get_parameter_attributes": {"names": [path]},
        "set_parameter_attributes": {"attributes": [{"name": path, "notification": 2}]},
        "add_object": {"object_name": "InternetGatewayDevice.X."},
        "delete_object": {"object_name": "InternetGatewayDevice.X.1."},
        "download": {"file_id": 3, "file_type": "1 Firmware Upgrade Image"},
        "upload": {},  # to the ACS itself
        "schedule_inform": {"delay_seconds": 5},
        "schedule_download": {
            "url": "http://h/f",
            "file_type": "1 Firmware Upgrade Image",
            "time_windows": [{"window_start": 1, "window_end": 9}],
        },
        "cancel_transfer": {"command_key": "k"},
        "change_du_state": {"operations": [{"op": "install", "url": "http://h/x"}]},
        "refresh": {"path": "InternetGatewayDevice."},
        "ping": {"host": "example.com"},
        "traceroute": {"host": "192.0.2.1"},
        "download_diagnostics": {"url": "http://h/x"},
        "upload_diagnostics": {"url": "http://h/x"},
    }
    once = validated_args(type_, samples.get(type_, {}))
    assert validated_args(type_, once) == once


def test_a_validated_task_is_stored_once_validated(ours, monkeypatch):
    calls = []
    original = TASK_TYPES["reboot"].validate
    monkeypatch.setattr(
        TASK_TYPES["reboot"], "validate", lambda args: calls.append(args) or original(args)
    )
    services.task_enqueue(device=ours, type="reboot")
    assert len(calls) == 1


def test_the_sessions_fault_record_names_its_tenant_and_device(ours):
    task = services.task_enqueue(device=ours, type="reboot")
    _, ref = next_rpc(ours)
    answer(ours, ref, m.Fault(fault_code=9002, fault_string="Internal error"))
    fault = Fault.objects.get()
    assert (fault.tenant_id, fault.device_id, fault.task_id) == (ours.tenant_id, ours.pk, task.pk)
