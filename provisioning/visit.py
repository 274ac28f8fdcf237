"""What provisioning knows of a device's session, and what a source of work answers.

``provisioning.session`` asks every :class:`WorkSource` for the device's
work through a :class:`Visit`; the CWMP host builds one per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from devices.models import Device
from tenants.models import Tenant


@dataclass(slots=True)
class Visit:
    """One device's session as provisioning sees it, for one HTTP request.

    ``device`` is the row when the request loaded it (the Inform's); later
    requests of the session load it only if a source needs it, once
    (:meth:`row`).
    """

    tenant: Tenant
    device_pk: int
    session_id: str
    events: Sequence[str] = ()
    unsupported: list[str] = field(default_factory=list)
    data_model: str = ""
    device: Device | None = None

    @property
    def tenant_id(self) -> int:
        return self.tenant.pk

    def row(self) -> Device:
        if self.device is None:
            self.device = Device.objects.get(pk=self.device_pk)
        return self.device


class WorkSource(Protocol):
    """A source of RPCs for a device's session (tasks, profiles, campaign steps)."""

    name: str

    def on_inform(self, visit: Visit, *, created: bool, reported: dict[str, str]) -> bool:
        """The session's Inform was stored: queue what it calls for; True if work waits."""

    def next_rpc(self, visit: Visit) -> tuple[Any, dict[str, Any]] | None:
        """The next request to send and a reference to match its answer, or None."""

    def on_answer(self, visit: Visit, ref: dict[str, Any], response: Any) -> None:
        """The CPE answered this source's request (a response message or a Fault)."""

    def on_transfer_complete(
        self,
        visit: Visit,
        *,
        command_key: str,
        fault_code: int,
        fault_string: str,
        result: dict[str, Any],
    ) -> None:
        """A TransferComplete or DUStateChangeComplete arrived (TR-069 A.3.3.2)."""
