"""The Inform a CPE opens every session with: DeviceId, events, and the parameters it reports.

Which parameters go in is a rule of its own (the standard ones of the data
model, those the ACS asked for through InformParameter, the UDP
connection-request address, values changed under notification), and so are
the quirks that bend the message (event case, vendor events, no header).
Here the device's state becomes bytes; the session only sends them.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from .quirks import Quirks
from .rpc import pvs
from .soap import array, envelope, esc
from .tree import DeviceTree


def parameters(tree: DeviceTree, *, udp: bool, changed: Iterable[str]) -> list[str]:
    """The names the Inform's ParameterList carries, in order."""
    names = [p for p in tree.model.inform_paths if tree.exists(p)]
    # TR-181 ManagementServer.InformParameter.{i}: extra parameters the ACS asked for.
    table = tree.root + "ManagementServer.InformParameter."
    if tree.exists(table):
        for inst in tree.children(table):
            if tree.get_or(inst + "Enable", "false").lower() in ("1", "true"):
                name = tree.get_or(inst + "ParameterName")
                if name and tree.exists(name) and not name.endswith(".") and name not in names:
                    names.append(name)
    if udp:
        # With UDP connection requests on, the ACS learns where to send them from the Inform.
        address = tree.root + "ManagementServer.UDPConnectionRequestAddress"
        if tree.get_or(address) and address not in names:
            names.append(address)
    for name in sorted(changed):
        if name not in names and tree.exists(name):
            names.append(name)
    return names


def current_time(quirks: Quirks) -> str:
    now = datetime.now(UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S")
    if "time-micro" in quirks:
        stamp += now.strftime(".%f")
    if "time-naive" not in quirks:
        stamp += "Z"
    return stamp


def event_code(code: str, quirks: Quirks) -> str:
    if "event-case" in quirks and code[:1].isdigit():
        number, _, words = code.partition(" ")
        return f"{number} {words.title()}"
    return code


def build(
    tree: DeviceTree,
    quirks: Quirks,
    events: list[tuple[str, str]],
    *,
    names: list[str],
    retries: int,
    msg_id: str | None,
    ns: str,
    supported_versions: str | None = None,
) -> bytes:
    """The Inform envelope (`msg_id` None: no SOAP Header at all)."""
    q = quirks
    info = tree.root + "DeviceInfo."
    bad = "bad-arraytype" in q
    device_id = (
        f"<DeviceId><Manufacturer>{esc(tree.get_or(info + 'Manufacturer'))}</Manufacturer>"
        f"<OUI>{esc(tree.get_or(info + 'ManufacturerOUI'))}</OUI>"
        f"<ProductClass>{esc(tree.get_or(info + 'ProductClass'))}</ProductClass>"
        f"<SerialNumber>{esc(tree.get_or(info + 'SerialNumber'))}</SerialNumber></DeviceId>"
    )
    codes = list(events)
    if "vendor-event" in q:
        codes.append((f"X {tree.get_or(info + 'ManufacturerOUI') or '000000'} VENDOR EVENT", ""))
    event_items = [
        f"<EventStruct><EventCode>{esc(event_code(c, q))}</EventCode><CommandKey>{esc(k)}</CommandKey></EventStruct>"
        for c, k in codes
    ]
    params = [pvs(n, tree.get(n), tree.type_of(n), q) for n in names]
    body = (
        f"<cwmp:Inform>{device_id}{array('Event', 'cwmp:EventStruct', event_items, bad_count=bad)}"
        f"<MaxEnvelopes>1</MaxEnvelopes><CurrentTime>{current_time(q)}</CurrentTime>"
        f"<RetryCount>{retries}</RetryCount>"
        f"{array('ParameterList', 'cwmp:ParameterValueStruct', params, bad_count=bad)}</cwmp:Inform>"
    )
    extra = ""
    if supported_versions and msg_id is not None:
        extra = (
            f"<cwmp:SupportedCWMPVersions>{esc(supported_versions)}</cwmp:SupportedCWMPVersions>"
        )
    return envelope(
        body, cwmp_ns=ns, msg_id=msg_id, prefix=q.prefix, header_extra=extra, pretty="pretty" in q
    )
