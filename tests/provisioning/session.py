"""Driving provisioning's session side as the CWMP host does, for the provisioning tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from provisioning import task_session
from provisioning.visit import Visit
from tests.cwmp.cpe import IGD


def visit(device: Any, session: str = "S1", events: Sequence[str] = ()) -> Visit:
    """What the host hands provisioning for ``device`` in ``session``."""
    device.refresh_from_db()
    return Visit(
        tenant=device.tenant,
        device_pk=device.pk,
        session_id=session,
        events=events,
        unsupported=device.unsupported_methods,
        data_model=IGD,
    )


def next_rpc(device: Any, session: str = "S1", **kw: Any) -> Any:
    """The RPC the ACS would send ``device`` next in ``session``."""
    return task_session.session_next_rpc(visit(device, session), **kw)


def answer(device: Any, ref: Any, response: Any, session: str = "S1", **kw: Any) -> Any:
    """The CPE's ``response`` to the RPC ``ref``, handed to provisioning."""
    return task_session.session_rpc_answered(
        visit(device, session), ref=ref, response=response, **kw
    )


def transfer_completed(
    device: Any, command_key: str, session: str = "S1", events: Sequence[str] = (), **kw: Any
) -> Any:
    """A TransferComplete naming ``command_key``, as the task source takes it."""
    kw.setdefault("fault_code", 0)
    kw.setdefault("fault_string", "")
    kw.setdefault("result", {})
    return task_session.task_transfer_completed(
        visit(device, session, events), command_key=command_key, **kw
    )
