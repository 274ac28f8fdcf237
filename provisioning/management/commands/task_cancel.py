"""Cancel a task from the shell: what the admin's cancel action does, for scripts.

    python manage.py task_cancel TENANT TASK_ID

TASK_ID is the ``id`` device_task printed. Prints the task as JSON, as
device_task does. Exit status: 0 cancelled (now or before), 1 not
cancellable (its RPC is out in a session right now, or it already
finished), 2 bad arguments.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from provisioning import services
from provisioning.management.acting import acting_user, add_acting_argument, scope
from provisioning.management.taskjson import task_as_json
from provisioning.models import Task, TaskState
from provisioning.tasktypes import InvalidTask, action_for
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Cancel a queued task, or one that waits for the device's report (transfers, diagnostics)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument("task_id", type=int, help="the task's id (device_task prints it)")
        add_acting_argument(parser)

    def handle(self, *args: Any, tenant: str, task_id: int, **options: Any) -> None:
        user = acting_user(options["acting_as"])
        found = scope(Tenant.objects.all(), user, "view").filter(slug=tenant).first()
        if found is None:
            raise CommandError(f"no tenant {tenant!r}", returncode=2)
        tasks = scope(Task.objects.for_tenant(found), user, "view")
        task = tasks.select_related("device").filter(pk=task_id).first()
        if task is None:
            raise CommandError(f"no task {task_id} in {found.slug}", returncode=2)
        if not scope(Task.objects.all(), user, action_for(task.type)).filter(pk=task.pk).exists():
            raise CommandError(
                f"{user.username}'s role does not allow cancelling a {task.type} task", returncode=2
            )
        refused = ""
        try:
            task = services.task_cancel(task=task)
        except InvalidTask as exc:
            refused = str(exc)
        if not refused and task.state != TaskState.CANCELLED:
            refused = f"the task already finished ({task.state})"
        self.stdout.write(json.dumps(task_as_json(task), indent=2))
        if refused:
            self.stderr.write(f"not cancelled: {refused}")
            sys.exit(1)
