"""Driving the session-side task services as the CWMP engine does, for the provisioning tests."""

from __future__ import annotations

from typing import Any

from provisioning import services
from tests.cwmp.cpe import IGD


def next_rpc(device: Any, session: str = "S1", **kw: Any) -> Any:
    """The RPC the ACS would send ``device`` next in ``session``."""
    device.refresh_from_db()
    return services.session_next_rpc(
        device_pk=device.pk,
        tenant_id=device.tenant_id,
        session_id=session,
        unsupported=device.unsupported_methods,
        root=IGD,
        **kw,
    )


def answer(device: Any, ref: Any, response: Any, session: str = "S1", **kw: Any) -> Any:
    """The CPE's ``response`` to the RPC ``ref``, handed to the services."""
    return services.session_rpc_answered(
        ref=ref,
        response=response,
        device_pk=device.pk,
        tenant_id=device.tenant_id,
        session_id=session,
        root=IGD,
        **kw,
    )
