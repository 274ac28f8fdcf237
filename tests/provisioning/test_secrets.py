"""A connection-request password set by the ACS is kept only encrypted on the device row."""

from __future__ import annotations

import pytest
from django.db import connection

from cwmp.protocol import messages as m
from devices.models import Device, Parameter
from provisioning import services
from provisioning.models import Task, TaskState
from tests.factories import DeviceFactory
from tests.provisioning.session import answer, next_rpc

pytestmark = pytest.mark.django_db
PASSWORD_PATH = "InternetGatewayDevice.ManagementServer.ConnectionRequestPassword"


def test_the_provisioned_password_leaves_no_clear_copy_behind():
    device = DeviceFactory(data_model="InternetGatewayDevice")
    task = services.provision_connection_request_credentials(device=device)
    sent = dict((path, value) for path, value, *_ in task.args["values"])[PASSWORD_PATH]
    assert sent  # the RPC still needs it until it goes out
    message, ref = next_rpc(device)
    assert isinstance(message, m.SetParameterValues)
    assert {p.name: p.value for p in message.parameter_list}[PASSWORD_PATH] == sent
    answer(device, ref, m.SetParameterValuesResponse(status=0))

    task.refresh_from_db()
    assert task.state == TaskState.DONE
    assert sent not in str(task.args) and sent not in str(task.result)
    assert Device.objects.get(pk=device.pk).connection_request_password == sent
    stored = Parameter.objects.filter(device=device, path=PASSWORD_PATH).first()
    assert stored is None or stored.value == ""
    # Nowhere in the rows of the task, the parameters or the device in clear.
    with connection.cursor() as cursor:
        for table in ("provisioning_task", "devices_parameter", "devices_device"):
            cursor.execute(f"SELECT * FROM {table}")
            assert not any(sent in str(row) for row in cursor.fetchall()), table
    assert Task.objects.count() == 1
