"""``manage.py`` commands acting for a person (``--as``) see and do only what the person may."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from provisioning.models import Task, TaskState
from tests.security.tenancy import build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return build_world()


def _device_task(*args: str) -> None:
    call_command("device_task", *args, stdout=open("/dev/null", "w"))


def test_another_tenant_is_not_found_for_a_person(world):
    b = world.b
    with pytest.raises(CommandError, match="no tenant"):
        _device_task("--as", "a-operator", b.tenant.slug, b.device.device_id, "reboot")
    with pytest.raises(CommandError, match="no tenant"):
        call_command("task_cancel", "--as", "a-admin", b.tenant.slug, str(b.rows["task"].pk))
    assert Task.objects.filter(device=b.device).count() == 1


def test_a_granted_helpdesk_agent_reaches_only_its_device(world):
    a = world.a
    with pytest.raises(CommandError, match="no device"):
        _device_task("--as", "a-limited", a.tenant.slug, a.other_device.device_id, "reboot")
    _device_task("--as", "a-limited", a.tenant.slug, a.device.device_id, "reboot")
    task = Task.objects.filter(device=a.device).latest("pk")
    assert task.requested_by == world.users["limited"]


def test_roles_decide_what_a_person_may_queue_and_cancel(world):
    a = world.a
    with pytest.raises(CommandError, match="does not allow"):
        _device_task("--as", "a-viewer", a.tenant.slug, a.device.device_id, "reboot")
    with pytest.raises(CommandError, match="does not allow"):
        _device_task(
            "--as",
            "a-helpdesk",
            a.tenant.slug,
            a.device.device_id,
            "factory_reset",
        )
    with pytest.raises(CommandError, match="does not allow"):
        call_command("task_cancel", "--as", "a-viewer", a.tenant.slug, str(a.rows["task"].pk))
    call_command("task_cancel", "--as", "a-helpdesk", a.tenant.slug, str(a.rows["task"].pk))
    assert Task.objects.get(pk=a.rows["task"].pk).state == TaskState.CANCELLED


def test_without_as_the_platform_reaches_every_tenant(world):
    b = world.b
    _device_task(b.tenant.slug, b.device.device_id, "reboot")
    assert Task.objects.filter(device=b.device).count() == 2
