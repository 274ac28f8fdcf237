"""Queue any task for a device from the shell, optionally wake it and wait.

    python manage.py device_task TENANT DEVICE_ID TYPE [--args JSON]
        [--connection-request] [--wait SECONDS]

Prints the task as JSON (state, result, fault). Exit status: 0 done (or
queued without --wait), 1 fault/cancelled/expired, 2 bad arguments, 3 still
open when --wait ran out. Operators script with it. DEVICE_ID is taken
escaped, as this ACS lists it, or as the device reports it (the raw
OUI-ProductClass-SerialNumber on its label or web page).
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devices.models import Device
from devices.selectors import devices_matching_id
from provisioning.management.acting import acting_user, add_acting_argument, scope
from provisioning.management.taskjson import task_as_json
from provisioning.models import TaskState
from provisioning.services import task_run
from provisioning.tasktypes import TASK_TYPES, InvalidTask, action_for
from tenants.models import Tenant


class Command(BaseCommand):
    help = (
        "Queue a task for a device; optionally send a connection request and wait for the result."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("tenant", help="tenant slug")
        parser.add_argument(
            "device_id",
            help="OUI-ProductClass-SerialNumber, as escaped in the device list or as the device"
            " reports it",
        )
        parser.add_argument("type", help=f"task type: {', '.join(sorted(TASK_TYPES))}")
        parser.add_argument(
            "--args", dest="task_args", default="{}", help="task arguments as a JSON object"
        )
        parser.add_argument(
            "--connection-request", action="store_true", help="ask the device to call in now"
        )
        parser.add_argument(
            "--wait", type=float, default=0, help="seconds to wait for the task to finish"
        )
        add_acting_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        user = acting_user(options["acting_as"])
        tenant = scope(Tenant.objects.all(), user, "view").filter(slug=options["tenant"]).first()
        if tenant is None:
            raise CommandError(f"no tenant {options['tenant']!r}", returncode=2)
        matches = devices_matching_id(tenant=tenant, device_id=options["device_id"])
        if user is not None:
            # A device the person may not act on is not there for them; one
            # they may see but not configure gets a clear refusal.
            visible = scope(Device.objects.all(), user, "view").filter(
                pk__in=[d.pk for d in matches]
            )
            matches = [d for d in matches if d in set(visible)]
            allowed = scope(Device.objects.all(), user, action_for(options["type"]))
            if matches and not allowed.filter(pk__in=[d.pk for d in matches]).exists():
                raise CommandError(
                    f"{user.username}'s role does not allow {options['type']} on this device",
                    returncode=2,
                )
        if not matches:
            raise CommandError(f"no device {options['device_id']!r} in {tenant.slug}", returncode=2)
        if len(matches) > 1:
            names = ", ".join(d.device_id for d in matches)
            raise CommandError(
                f"{options['device_id']!r} names several devices ({names}): give the escaped id",
                returncode=2,
            )
        device = matches[0]
        try:
            task_args = json.loads(options["task_args"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--args is not JSON: {exc}", returncode=2) from None
        if not isinstance(task_args, dict):
            raise CommandError("--args must be a JSON object", returncode=2)
        try:
            task, ticket = task_run(
                device=device,
                type=options["type"],
                args=task_args,
                requested_by=user,
                via="cli",
                connection_request=options["connection_request"],
                wait=options["wait"],
                inline=True,
            )
        except InvalidTask as exc:
            raise CommandError(str(exc), returncode=2) from None
        if ticket is not None:
            self.stderr.write(f"connection request: {ticket.status} {ticket.result or ''}")
        self.stdout.write(json.dumps(task_as_json(task), indent=2))
        if task.state == TaskState.DONE or (options["wait"] <= 0 and task.is_open):
            return
        sys.exit(3 if task.is_open else 1)
