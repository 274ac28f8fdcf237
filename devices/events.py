"""Session events for live views, published on the channel layer.

Every step of a CWMP session is sent to two groups, ``device.<pk>`` (the
device page) and ``tenant.<id>`` (tenant-wide views), so an open page can
show the session as it happens. Publishing never breaks a session: a channel
layer that is down costs a log line, not a CPE's session.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

log = logging.getLogger("acsportal.events")


def device_group(device_pk: int) -> str:
    return f"device.{device_pk}"


def tenant_group(tenant_id: int) -> str:
    return f"tenant.{tenant_id}"


def publish_session_event(
    *, tenant_id: int, device_pk: int | None, session_id: str, kind: str, **data: Any
) -> None:
    """Send ``{"type": "session.event", ...}`` to the device and tenant groups."""
    if not settings.ACS_LIVE_EVENTS:
        return
    layer = get_channel_layer()
    if layer is None:
        return
    message = {
        "type": "session.event",
        "kind": kind,
        "session_id": session_id,
        "device": device_pk,
        "time": time.time(),
        **data,
    }
    groups = [tenant_group(tenant_id)]
    if device_pk is not None:
        groups.append(device_group(device_pk))
    try:
        async_to_sync(_send)(layer, groups, message)
    except Exception:
        log.warning("could not publish %s for session %s", kind, session_id, exc_info=True)


async def _send(layer: Any, groups: list[str], message: dict[str, Any]) -> None:
    for group in groups:
        await layer.group_send(group, message)
