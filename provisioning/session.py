"""What a device gets in its session: the one interface the CWMP endpoint asks.

The session engine (``cwmp.protocol.engine``) decides *when* the ACS may
send a request; this module decides *what*. The endpoint's host calls only
the functions at the top of this module, with a :class:`Visit` that carries
what the session knows about the device (and the device row when the
request already loaded it, so no service fetches it again). Each source of
work (tasks today; profiles and campaign steps next) implements
:class:`WorkSource` and is listed in ``SOURCES``, in the order their work is
sent: a later source is asked only when the earlier ones have nothing left.

Everything here runs under the device's session lock (the session store's),
so two sessions never work one device at once.
"""

from __future__ import annotations

import logging
from typing import Any

from provisioning.task_session import TaskSource
from provisioning.visit import Visit, WorkSource

__all__ = [
    "SOURCES",
    "Visit",
    "WorkSource",
    "inform",
    "next_rpc",
    "rpc_answered",
    "transfer_completed",
]

log = logging.getLogger("acsportal.tasks")

# -- the interface ------------------------------------------------------------


def inform(visit: Visit, *, created: bool, reported: dict[str, str]) -> bool:
    """The Inform of ``visit`` was stored; True when the device may have work this session."""
    has_work = False
    for source in SOURCES:
        has_work = source.on_inform(visit, created=created, reported=reported) or has_work
    return has_work


def next_rpc(visit: Visit) -> tuple[Any, dict[str, Any]] | None:
    """The next RPC for this session and a reference to match its answer, or None."""
    for source in SOURCES:
        found = source.next_rpc(visit)
        if found is not None:
            request, ref = found
            return request, {**ref, "source": source.name}
    return None


def rpc_answered(visit: Visit, ref: dict[str, Any], response: Any) -> None:
    """Hand the CPE's answer to the source whose request it answers."""
    name = ref.get("source", TaskSource.name)
    for source in SOURCES:
        if source.name == name:
            source.on_answer(visit, ref, response)
            return
    log.warning("session %s: answer for unknown source %r dropped", visit.session_id, name)


def transfer_completed(
    visit: Visit, *, command_key: str, fault_code: int, fault_string: str, result: dict[str, Any]
) -> None:
    """A transfer or DU change the device reports, matched by CommandKey by each source."""
    for source in SOURCES:
        source.on_transfer_complete(
            visit,
            command_key=command_key,
            fault_code=fault_code,
            fault_string=fault_string,
            result=result,
        )


SOURCES: tuple[WorkSource, ...] = (TaskSource(),)
