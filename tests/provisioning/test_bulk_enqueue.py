"""task_enqueue_bulk: one task for every device a filter matches, set-based."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from cwmp.protocol import messages as m
from devices.models import Device, Parameter
from provisioning import services
from provisioning.models import Task, TaskState
from provisioning.tasktypes import InvalidTask
from tests.factories import DeviceFactory, ParameterFactory, TenantFactory
from tests.provisioning.session import next_rpc

pytestmark = pytest.mark.django_db
IGD = "InternetGatewayDevice"
SPV = {"values": [[f"{IGD}.ManagementServer.PeriodicInformInterval", "1800", "xsd:unsignedInt"]]}


@pytest.fixture
def fleet():
    """Tenant A: 5 EG8145V5 and 3 HG8245H; tenant B: 4 EG8145V5."""
    a, b = TenantFactory(), TenantFactory()
    return {
        "a": a,
        "b": b,
        "a_eg": [DeviceFactory(tenant=a, data_model=IGD) for _ in range(5)],
        "a_hg": [DeviceFactory(tenant=a, product_class="HG8245H") for _ in range(3)],
        "b_eg": [DeviceFactory(tenant=b) for _ in range(4)],
    }


def _pks(devices):
    return sorted(d.pk for d in devices)


def test_one_task_per_matched_device_and_hint_set(fleet):
    created = services.task_enqueue_bulk(
        tenant=fleet["a"],
        devices=Device.objects.filter(product_class="EG8145V5"),
        type="set_parameter_values",
        args=SPV,
        via="campaign",
    )
    assert created == 5
    tasks = Task.objects.order_by("id")
    assert sorted(tasks.values_list("device_id", flat=True)) == _pks(fleet["a_eg"])
    assert list(tasks.values_list("device_id", flat=True)) == _pks(fleet["a_eg"])  # in id order
    assert set(Device.objects.filter(has_tasks=True).values_list("pk", flat=True)) == set(
        _pks(fleet["a_eg"])
    )
    keys = list(tasks.values_list("command_key", flat=True))
    assert len(set(keys)) == 5
    assert all(re.fullmatch(r"acs-[0-9a-f]{12}", k) for k in keys)


@pytest.mark.parametrize(
    "devices",
    [
        Q(product_class="EG8145V5"),
        {"product_class": "EG8145V5"},
        "queryset",
    ],
    ids=["q", "mapping", "queryset"],
)
def test_never_touches_another_tenants_devices(fleet, devices):
    if devices == "queryset":
        devices = Device.objects.filter(product_class="EG8145V5")
    assert services.task_enqueue_bulk(tenant=fleet["b"], devices=devices, type="reboot") == 4
    assert _pks(Device.objects.filter(tasks__isnull=False)) == _pks(fleet["b_eg"])
    assert set(Task.objects.values_list("tenant_id", flat=True)) == {fleet["b"].pk}
    assert not Device.objects.filter(tenant=fleet["a"], has_tasks=True).exists()


def test_a_filter_naming_only_other_tenants_devices_queues_nothing(fleet):
    other = Device.objects.filter(pk__in=_pks(fleet["b_eg"]))
    assert services.task_enqueue_bulk(tenant=fleet["a"], devices=other, type="reboot") == 0
    assert not Task.objects.exists()
    assert not Device.objects.filter(has_tasks=True).exists()
    # Every device of the tenant, and only those, when the filter is everything.
    assert (
        services.task_enqueue_bulk(
            tenant=fleet["a"].pk, devices=Device.objects.all(), type="reboot"
        )
        == 8
    )
    assert set(Task.objects.values_list("tenant_id", flat=True)) == {fleet["a"].pk}


def test_a_filter_through_a_join_queues_each_device_once(fleet):
    device = fleet["a_eg"][0]
    for path in ("X.1.SSID", "X.2.SSID"):  # two rows of one device match
        ParameterFactory(device=device, path=path, value="home")
    ParameterFactory(device=fleet["b_eg"][0], path="X.1.SSID", value="home")
    created = services.task_enqueue_bulk(
        tenant=fleet["a"], devices=Q(parameters__value="home"), type="reboot"
    )
    assert created == 1
    assert list(Task.objects.values_list("device_id", flat=True)) == [device.pk]


def test_rows_have_the_shape_task_enqueue_writes(fleet):
    user = get_user_model().objects.create_user("ops", password="x")
    expires = timezone.now() + timedelta(days=2)
    kwargs = dict(
        type="set_parameter_values",
        args=SPV,
        requested_by=user,
        via="api",
        expires=expires,
        max_attempts=5,
    )
    single = services.task_enqueue(device=fleet["a_eg"][0], **kwargs)
    before = timezone.now()
    services.task_enqueue_bulk(
        tenant=fleet["a"], devices=Device.objects.filter(pk=fleet["a_eg"][1].pk), **kwargs
    )
    bulk = Task.objects.exclude(pk=single.pk).get()
    single.refresh_from_db()
    skip = {"id", "device", "command_key", "created"}
    fields = [f.attname for f in Task._meta.concrete_fields if f.name not in skip]
    assert {f: getattr(bulk, f) for f in fields} == {f: getattr(single, f) for f in fields}
    assert bulk.state == TaskState.QUEUED and bulk.attempts == 0 and bulk.progress == {}
    assert bulk.args == {"values": [[SPV["values"][0][0], "1800", "xsd:unsignedInt"]]}
    assert bulk.requested_by_id == user.pk and bulk.expires == expires
    assert before - timedelta(seconds=1) <= bulk.created <= timezone.now()
    assert len(bulk.command_key) == len(single.command_key)


def test_bulk_tasks_run_in_the_session_like_any_other(fleet):
    device = fleet["a_eg"][2]
    services.task_enqueue_bulk(
        tenant=fleet["a"], devices={"pk": device.pk}, type="set_parameter_values", args=SPV
    )
    message, ref = next_rpc(device)
    assert isinstance(message, m.SetParameterValues)
    task = Task.objects.get(device=device)
    assert message.parameter_key == task.command_key
    assert ref["task"] == task.pk


def test_given_command_key_is_shared_and_flagged_devices_are_not_written_again(fleet):
    services.task_enqueue_bulk(
        tenant=fleet["a"], devices={"product_class": "HG8245H"}, type="reboot"
    )
    created = services.task_enqueue_bulk(
        tenant=fleet["a"], devices=Device.objects.all(), type="reboot", command_key="wave-1"
    )
    assert created == 8
    assert Task.objects.filter(command_key="wave-1").count() == 8
    assert Device.objects.filter(tenant=fleet["a"], has_tasks=True).count() == 8
    assert Task.objects.count() == 11


def test_invalid_requests_write_nothing(fleet):
    with pytest.raises(InvalidTask, match="unknown task type"):
        services.task_enqueue_bulk(tenant=fleet["a"], devices={}, type="explode")
    with pytest.raises(InvalidTask, match="names"):
        services.task_enqueue_bulk(tenant=fleet["a"], devices={}, type="get_parameter_values")
    with pytest.raises(TypeError):
        services.task_enqueue_bulk(
            tenant=fleet["a"], devices=Parameter.objects.all(), type="reboot"
        )
    with pytest.raises(TypeError):
        services.task_enqueue_bulk(tenant=fleet["a"], devices=[1, 2], type="reboot")
    assert not Task.objects.exists()
    assert not Device.objects.filter(has_tasks=True).exists()
