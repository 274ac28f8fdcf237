"""The CPE's events: which ones the next Inform reports, in what order, which survive a restart.

TR-069 3.7.1.5: a single event (`1 BOOT`) is reported once however often it
happened, an `M <method>` one once per CommandKey; every event waits until an
InformResponse acknowledges it, and the device's own requests
(TransferComplete, DUStateChangeComplete) bring theirs along. These rules are
pure functions on plain lists: a device keeps no event object of its own
until it has an event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .quirks import Quirks

#: Order of the single events in an Inform; other numbered events follow, `M`/`X` ones last.
SINGLE_EVENTS_ORDER = ("0 BOOTSTRAP", "1 BOOT", "2 PERIODIC", "3 SCHEDULED", "4 VALUE CHANGE")

#: Events a CPE keeps across a power cycle until an InformResponse acknowledges them: each
#: reports something the ACS ordered and still waits for. `1 BOOT` comes anew with every
#: start; `2 PERIODIC`, `6 CONNECTION REQUEST` and the like are stale after one. (`0 BOOTSTRAP`
#: is kept as the device's bootstrap flag, not as an event.)
KEPT_ACROSS_RESTART = frozenset(
    {
        "7 TRANSFER COMPLETE",
        "11 DU STATE CHANGE COMPLETE",
        "M Reboot",
        "M Download",
        "M Upload",
        "M ScheduleDownload",
        "M ChangeDUState",
    }
)

Event = tuple[str, str]  # (event code, CommandKey)


@dataclass(slots=True)
class CpeRequest:
    """A request the CPE sends after the InformResponse (TransferComplete, DUStateChangeComplete)."""

    method: str
    body: str
    events: tuple[Event, ...]


def _multiple(code: str) -> bool:
    """`M <method>` and vendor `X …` events are kept once per CommandKey, not once per code."""
    return code[:2] in ("M ", "X ")


def add(events: list[Event] | None, code: str, command_key: str = "") -> list[Event]:
    """`events` with one more, unless it is already there; returns the (possibly new) list."""
    if events is None:
        events = []
    if _multiple(code):
        if (code, command_key) not in events:
            events.append((code, command_key))
    elif all(c != code for c, _ in events):
        events.append((code, command_key))
    return events


def for_inform(pending: Iterable[Event], requests: Iterable[CpeRequest]) -> list[Event]:
    """The pending events plus those the queued requests bring, in Inform order."""
    events = list(pending)
    for req in requests:
        for ev in req.events:
            if ev not in events and (_multiple(ev[0]) or all(c != ev[0] for c, _ in events)):
                events.append(ev)
    order = {code: i for i, code in enumerate(SINGLE_EVENTS_ORDER)}
    events.sort(key=lambda e: order.get(e[0], 50 if e[0][:1].isdigit() else 90))
    return events


def boot_events(quirks: Quirks, *, bootstrap: bool, booted: bool) -> list[str]:
    """The events of a start-up Inform.

    `bootstrap`: the device is factory-fresh (no `0 BOOTSTRAP` acknowledged
    since) or the option forces one; `booted`: it has reached the ACS since
    it started. The `first-boot-*` quirks are devices that get this wrong.
    """
    if "first-boot-periodic" in quirks and not booted:
        return ["2 PERIODIC"]
    if "first-boot-boot" in quirks:
        return ["1 BOOT"]
    if bootstrap and not booted:
        return ["0 BOOTSTRAP", "1 BOOT"]
    return ["1 BOOT"]


def kept(events: Iterable[Event]) -> list[Event]:
    """The events a restarted CPE still owes the ACS."""
    return [e for e in events if e[0] in KEPT_ACROSS_RESTART]
