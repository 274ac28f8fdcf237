"""Chores of the CWMP side that no request asks for: closing the books of abandoned sessions.

A CPE that goes silent in mid-session (power cut, a crash after the
InformResponse) never sends the empty POST that closes its session; its
state expires from the session store after ``CWMP_SESSION_TIMEOUT`` and
its device is free again, but its session log would stay "open" for ever.
The store keeps each expired session's id until ``take_expired`` hands it
over, and ``close_abandoned`` marks those logs abandoned.

It runs on the side of the CWMP path, at most once per
``CWMP_HOUSEKEEPING_INTERVAL`` seconds in each server process (one store
round trip and, when something expired, one UPDATE), and from
``manage.py acs_housekeeping`` for installations that want it on a timer.
"""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings

from cwmp.endpoint.store import SessionStore, get_store
from devices import services as device_services

log = logging.getLogger("acsportal.cwmp.housekeeping")

_lock = threading.Lock()
_next_run = 0.0


def close_abandoned(store: SessionStore | None = None, *, batch: int = 1000) -> int:
    """Mark the logs of sessions the store saw expire abandoned; how many were."""
    store = store or get_store()
    closed = 0
    while True:
        sids = store.take_expired(batch)
        if sids:
            closed += device_services.session_logs_abandon(
                session_ids=sids, detail="the CPE went silent; the session timed out"
            )
        if len(sids) < batch:
            break
    if closed:
        log.info("housekeeping: %d abandoned session(s) closed", closed)
    return closed


def maybe_run(store: SessionStore | None = None) -> None:
    """``close_abandoned`` when this process has not run it for a while; never raises."""
    global _next_run
    now = time.monotonic()
    if now < _next_run or not _lock.acquire(blocking=False):
        return
    try:
        _next_run = now + settings.CWMP_HOUSEKEEPING_INTERVAL
        close_abandoned(store)
    except Exception:
        log.warning("housekeeping failed", exc_info=True)
    finally:
        _lock.release()
