"""Answers to the RPCs an ACS sends, as a real CPE gives them (TR-069 Annex A.3.2, A.4.1).

Each handler reads the request element and the device's tree and returns the
response body, or raises `CwmpFault`. Actions that a CPE performs only after
the session ends (Reboot, FactoryReset, transfers, ScheduleInform,
ChangeDUState) are returned as follow-ups for the session to run later.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from lxml import etree

from . import diagnostics
from .httpclient import Url
from .options import CPEOptions
from .quirks import Quirks
from .soap import array, child, children, esc, fault_body, parse_bool, text
from .transfer import Transfer
from .tree import DeviceTree
from .values import UNKNOWN_TIME, type_name, utc_now, validate_value

MAX_TRANSFERS = 16

#: Every RPC the simulated CPE implements; GetRPCMethods lists them minus the unsupported ones.
CPE_METHODS = (
    "GetRPCMethods",
    "SetParameterValues",
    "GetParameterValues",
    "GetParameterNames",
    "SetParameterAttributes",
    "GetParameterAttributes",
    "AddObject",
    "DeleteObject",
    "Reboot",
    "Download",
    "Upload",
    "FactoryReset",
    "GetQueuedTransfers",
    "GetAllQueuedTransfers",
    "ScheduleInform",
    "ScheduleDownload",
    "CancelTransfer",
    "ChangeDUState",
    "GetOptions",
    "SetVouchers",
)


class CwmpFault(Exception):
    """A CWMP fault to send instead of a response (a value, not an error of the simulator)."""

    def __init__(
        self,
        code: int,
        message: str | None = None,
        spv_faults: list[tuple[str, int, str]] | None = None,
    ) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message
        self.spv_faults = spv_faults or []


#: A follow-up: what to do after the session, e.g. ("reboot", "key").
FollowUp = tuple


class RpcDevice(diagnostics.DiagnosticsDevice, Protocol):
    """What the handlers need from the device they answer for (a `SimulatedCPE` has it)."""

    options: CPEOptions

    @property
    def transfers(self) -> list[Transfer]: ...

    def parameter_written(self, path: str) -> None: ...

    def set_parameter_key(self, key: str) -> None: ...

    def fault_injected(self, method: str, limit: int) -> bool: ...

    def cancel_transfer(self, t: Transfer) -> None: ...


def fmt_bool(flag: bool, q: Quirks) -> str:
    """Protocol booleans (Writable, IsDownload): words by default, digits with `bool-digits`."""
    if "bool-digits" in q:
        return "1" if flag else "0"
    return "true" if flag else "false"


def fmt_value(value: str, xsd_type: str, q: Quirks) -> str:
    """A parameter value as the device writes it, with the boolean quirks applied."""
    if type_name(xsd_type) == "boolean":
        truth = value.strip().lower() in ("1", "true")
        if "bool-digits" in q:
            return "1" if truth else "0"
        if "bool-words" in q:
            return "true" if truth else "false"
    return value


def pvs(name: str, value: str, xsd_type: str, q: Quirks) -> str:
    """One ParameterValueStruct."""
    shown = esc(fmt_value(value, xsd_type, q))
    if "no-xsi-type" in q:
        return f"<ParameterValueStruct><Name>{esc(name)}</Name><Value>{shown}</Value></ParameterValueStruct>"
    return (
        f"<ParameterValueStruct><Name>{esc(name)}</Name>"
        f'<Value xsi:type="{esc(xsd_type)}">{shown}</Value></ParameterValueStruct>'
    )


def _expand(tree: DeviceTree, name: str) -> list[str]:
    """A full or partial path to the leaves it names; fault 9005 when it names nothing."""
    if name == "":
        return list(tree.leaves(tree.root))
    if tree.node(name) is None:
        raise CwmpFault(9005, f"Invalid parameter name {name}")
    if name.endswith("."):
        return list(tree.leaves(name))
    return [name]


def _strings(el: etree._Element | None) -> list[str]:
    return [(c.text or "").strip() for c in children(el)]


def _int(el: etree._Element | None, name: str, default: int = 0) -> int:
    raw = text(el, name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise CwmpFault(9003, f"{name} is not an integer") from exc


# -- handlers --------------------------------------------------------------------


def get_rpc_methods(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    methods = [m for m in CPE_METHODS if m not in cpe.options.unsupported]
    items = [f"<string>{m}</string>" for m in methods]
    bad = "bad-arraytype" in q
    return (
        f"<cwmp:GetRPCMethodsResponse>{array('MethodList', 'xsd:string', items, bad_count=bad)}</cwmp:GetRPCMethodsResponse>",
        None,
    )


def get_parameter_names(
    cpe: RpcDevice, el: etree._Element, q: Quirks
) -> tuple[str, FollowUp | None]:
    tree = cpe.tree
    path = text(el, "ParameterPath").strip()
    next_level = parse_bool(text(el, "NextLevel"))
    if path == "":
        names = [tree.root] if next_level else list(tree.walk(tree.root))
    else:
        if tree.node(path) is None:
            raise CwmpFault(9005, f"Invalid parameter name {path}")
        if path.endswith("."):
            names = tree.children(path) if next_level else list(tree.walk(path))
        elif next_level:
            raise CwmpFault(9003, "NextLevel true with a parameter name")  # TR-069 A.3.2.3
        else:
            names = [path]
    items = [
        f"<ParameterInfoStruct><Name>{esc(n)}</Name><Writable>{fmt_bool(tree.node(n)[0], q)}</Writable>"  # type: ignore[index]
        "</ParameterInfoStruct>"
        for n in names
    ]
    body = array("ParameterList", "cwmp:ParameterInfoStruct", items, bad_count="bad-arraytype" in q)
    return f"<cwmp:GetParameterNamesResponse>{body}</cwmp:GetParameterNamesResponse>", None


def get_parameter_values(
    cpe: RpcDevice, el: etree._Element, q: Quirks
) -> tuple[str, FollowUp | None]:
    tree = cpe.tree
    items = []
    for name in _strings(child(el, "ParameterNames")):
        for path in _expand(tree, name):
            items.append(pvs(path, tree.get(path), tree.type_of(path), q))
    body = array(
        "ParameterList", "cwmp:ParameterValueStruct", items, bad_count="bad-arraytype" in q
    )
    return f"<cwmp:GetParameterValuesResponse>{body}</cwmp:GetParameterValuesResponse>", None


def set_parameter_values(
    cpe: RpcDevice, el: etree._Element, q: Quirks
) -> tuple[str, FollowUp | None]:
    tree = cpe.tree
    faults: list[tuple[str, int, str]] = []
    updates: list[tuple[str, str]] = []
    seen: set[str] = set()
    for st in children(child(el, "ParameterList"), "ParameterValueStruct"):
        name = text(st, "Name").strip()
        value = text(st, "Value")
        if name in seen:
            faults.append((name, 9003, "Parameter appears more than once"))
            continue
        seen.add(name)
        node = tree.node(name)
        if node is None or name.endswith("."):
            faults.append((name, 9005, "Invalid parameter name"))
        elif not node[0]:
            faults.append((name, 9008, "Attempt to set a non-writable parameter"))
        elif diagnostics.is_state(name) and value.strip() != "Requested":
            # TR-098 / TR-181: "When writing, the only allowed value is Requested."
            faults.append((name, 9007, "Invalid parameter value: only Requested may be written"))
        else:
            try:
                updates.append((name, validate_value(node[1], value)))
            except ValueError as exc:
                faults.append((name, 9007, f"Invalid parameter value: {exc}"))
    if faults:
        # TR-069 A.3.2.1: all or nothing; one SetParameterValuesFault per bad parameter.
        raise CwmpFault(9003, "Invalid arguments", faults)
    for name, value in updates:
        tree.set(name, value)
        cpe.parameter_written(name)
    cpe.set_parameter_key(text(el, "ParameterKey"))
    requested = diagnostics.after_set(cpe, updates)
    return (
        "<cwmp:SetParameterValuesResponse><Status>0</Status></cwmp:SetParameterValuesResponse>",
        ("diagnostics", requested) if requested else None,
    )


def get_parameter_attributes(
    cpe: RpcDevice, el: etree._Element, q: Quirks
) -> tuple[str, FollowUp | None]:
    tree = cpe.tree
    bad = "bad-arraytype" in q
    items = []
    for name in _strings(child(el, "ParameterNames")):
        for path in _expand(tree, name):
            level, access = tree.attributes(path)
            acl = array(
                "AccessList",
                "xsd:string",
                [f"<string>{esc(a)}</string>" for a in access],
                bad_count=bad,
            )
            items.append(
                f"<ParameterAttributeStruct><Name>{esc(path)}</Name>"
                f"<Notification>{level}</Notification>{acl}</ParameterAttributeStruct>"
            )
    body = array("ParameterList", "cwmp:ParameterAttributeStruct", items, bad_count=bad)
    return (
        f"<cwmp:GetParameterAttributesResponse>{body}</cwmp:GetParameterAttributesResponse>",
        None,
    )


def set_parameter_attributes(
    cpe: RpcDevice, el: etree._Element, q: Quirks
) -> tuple[str, FollowUp | None]:
    tree = cpe.tree
    changes: list[tuple[list[str], int | None, tuple[str, ...] | None]] = []
    for st in children(child(el, "ParameterList")):
        name = text(st, "Name").strip()
        paths = _expand(tree, name)
        level: int | None = None
        access: tuple[str, ...] | None = None
        if parse_bool(text(st, "NotificationChange")):
            level = _int(st, "Notification")
            if level not in (0, 1, 2):
                raise CwmpFault(9003, f"Notification {level} is not 0, 1 or 2")
        if parse_bool(text(st, "AccessListChange")):
            access = tuple(s for s in _strings(child(st, "AccessList")) if s)
        changes.append((paths, level, access))
    for paths, level, access in changes:
        for path in paths:
            tree.set_attributes(path, level, access)
    return "<cwmp:SetParameterAttributesResponse/>", None


def add_object(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    tree = cpe.tree
    name = text(el, "ObjectName").strip()
    node = tree.node(name)
    if node is None or not name.endswith(".") or not tree.is_table(name) or not node[0]:
        raise CwmpFault(9005, f"Invalid object name {name}")
    number = tree.add_object(name)
    cpe.set_parameter_key(text(el, "ParameterKey"))
    return (
        f"<cwmp:AddObjectResponse><InstanceNumber>{number}</InstanceNumber><Status>0</Status></cwmp:AddObjectResponse>",
        None,
    )


def delete_object(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    name = text(el, "ObjectName").strip()
    try:
        cpe.tree.delete_object(name)
    except KeyError as exc:
        raise CwmpFault(9005, f"Invalid object name {name}") from exc
    cpe.set_parameter_key(text(el, "ParameterKey"))
    return "<cwmp:DeleteObjectResponse><Status>0</Status></cwmp:DeleteObjectResponse>", None


def reboot(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    return "<cwmp:RebootResponse/>", ("reboot", text(el, "CommandKey"))


def factory_reset(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    return "<cwmp:FactoryResetResponse/>", ("factory_reset",)


def _new_transfer(
    cpe: RpcDevice, el: etree._Element, *, download: bool, event: str, delay: float
) -> Transfer:
    url = text(el, "URL").strip()
    try:
        Url.parse(url)
    except ValueError as exc:
        raise CwmpFault(9013, f"Unsupported protocol for file transfer: {url}") from exc
    if len(cpe.transfers) >= MAX_TRANSFERS:
        raise CwmpFault(9004, "Too many queued transfers")
    transfer = Transfer(
        is_download=download,
        command_key=text(el, "CommandKey"),
        file_type=text(el, "FileType").strip(),
        url=url,
        username=text(el, "Username"),
        password=text(el, "Password"),
        file_size=_int(el, "FileSize"),
        target_file=text(el, "TargetFileName"),
        delay=float(max(delay, 0)),
        event=event,
    )
    cpe.transfers.append(transfer)
    return transfer


_PENDING_TIMES = f"<StartTime>{UNKNOWN_TIME}</StartTime><CompleteTime>{UNKNOWN_TIME}</CompleteTime>"


def download(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    if "download-no-fetch" in q:
        # Status 0 claims the file is downloaded and applied (A.3.2.8); this CPE never fetched it.
        url = text(el, "URL").strip()
        try:
            Url.parse(url)
        except ValueError as exc:
            raise CwmpFault(9013, f"Unsupported protocol for file transfer: {url}") from exc
        now = utc_now()
        return (
            f"<cwmp:DownloadResponse><Status>0</Status><StartTime>{now}</StartTime>"
            f"<CompleteTime>{now}</CompleteTime></cwmp:DownloadResponse>",
            None,
        )
    t = _new_transfer(cpe, el, download=True, event="M Download", delay=_int(el, "DelaySeconds"))
    # Status 1: the download will happen after the session; TransferComplete reports it.
    return f"<cwmp:DownloadResponse><Status>1</Status>{_PENDING_TIMES}</cwmp:DownloadResponse>", (
        "transfer",
        t,
    )


def upload(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    t = _new_transfer(cpe, el, download=False, event="M Upload", delay=_int(el, "DelaySeconds"))
    return f"<cwmp:UploadResponse><Status>1</Status>{_PENDING_TIMES}</cwmp:UploadResponse>", (
        "transfer",
        t,
    )


def schedule_download(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    windows = children(child(el, "TimeWindowList"))
    if not windows:
        raise CwmpFault(9003, "TimeWindowList is empty")
    start = _int(windows[0], "WindowStart")
    t = _new_transfer(cpe, el, download=True, event="M ScheduleDownload", delay=start)
    return "<cwmp:ScheduleDownloadResponse/>", ("transfer", t)


def cancel_transfer(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    key = text(el, "CommandKey")
    matching = [t for t in cpe.transfers if t.command_key == key]
    if not matching:
        raise CwmpFault(9003, f"No transfer with CommandKey {key!r}")
    if any(t.state != 1 for t in matching):
        raise CwmpFault(9021)
    for t in matching:
        cpe.cancel_transfer(t)
    return "<cwmp:CancelTransferResponse/>", None


def get_queued_transfers(
    cpe: RpcDevice, el: etree._Element, q: Quirks
) -> tuple[str, FollowUp | None]:
    items = [
        f"<QueuedTransferStruct><CommandKey>{esc(t.command_key)}</CommandKey><State>{t.state}</State></QueuedTransferStruct>"
        for t in cpe.transfers
    ]
    body = array("TransferList", "cwmp:QueuedTransferStruct", items, bad_count="bad-arraytype" in q)
    return f"<cwmp:GetQueuedTransfersResponse>{body}</cwmp:GetQueuedTransfersResponse>", None


def get_all_queued_transfers(
    cpe: RpcDevice, el: etree._Element, q: Quirks
) -> tuple[str, FollowUp | None]:
    items = [
        f"<AllQueuedTransferStruct><CommandKey>{esc(t.command_key)}</CommandKey><State>{t.state}</State>"
        f"<IsDownload>{fmt_bool(t.is_download, q)}</IsDownload><FileType>{esc(t.file_type)}</FileType>"
        f"<FileSize>{t.file_size}</FileSize><TargetFileName>{esc(t.target_file)}</TargetFileName>"
        "</AllQueuedTransferStruct>"
        for t in cpe.transfers
    ]
    body = array(
        "TransferList", "cwmp:AllQueuedTransferStruct", items, bad_count="bad-arraytype" in q
    )
    return f"<cwmp:GetAllQueuedTransfersResponse>{body}</cwmp:GetAllQueuedTransfersResponse>", None


def schedule_inform(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    delay = _int(el, "DelaySeconds")
    if delay < 0:
        raise CwmpFault(9003, "DelaySeconds must not be negative")
    return "<cwmp:ScheduleInformResponse/>", ("schedule_inform", delay, text(el, "CommandKey"))


def change_du_state(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    results = []
    for op in children(child(el, "Operations")):
        kind = op.tag.rpartition("}")[2] if isinstance(op.tag, str) else ""
        uuid = text(op, "UUID")
        results.append(
            {
                "uuid": uuid,
                "url": text(op, "URL"),
                "version": text(op, "Version") or "1.0",
                "state": "Uninstalled" if kind == "UninstallOpStruct" else "Installed",
            }
        )
    return "<cwmp:ChangeDUStateResponse/>", ("du_state", results, text(el, "CommandKey"))


def du_state_change_complete(results: list[dict[str, str]], key: str, q: Quirks) -> str:
    """The DUStateChangeComplete that reports a ChangeDUState, once the device has done it."""
    now = utc_now()
    items = [
        f"<OpResultStruct><UUID>{esc(r['uuid'])}</UUID><DeploymentUnitRef></DeploymentUnitRef>"
        f"<Version>{esc(r['version'])}</Version><CurrentState>{r['state']}</CurrentState>"
        f"<Resolved>{fmt_bool(True, q)}</Resolved><ExecutionUnitRefList></ExecutionUnitRefList>"
        f"<StartTime>{now}</StartTime><CompleteTime>{now}</CompleteTime>"
        "<Fault><FaultCode>0</FaultCode><FaultString></FaultString></Fault></OpResultStruct>"
        for r in results
    ]
    return (
        f"<cwmp:DUStateChangeComplete>{array('Results', 'cwmp:OpResultStruct', items, bad_count='bad-arraytype' in q)}"
        f"<CommandKey>{esc(key)}</CommandKey></cwmp:DUStateChangeComplete>"
    )


def get_options(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    body = array("OptionList", "cwmp:OptionStruct", [], bad_count="bad-arraytype" in q)
    return f"<cwmp:GetOptionsResponse>{body}</cwmp:GetOptionsResponse>", None


def set_vouchers(cpe: RpcDevice, el: etree._Element, q: Quirks) -> tuple[str, FollowUp | None]:
    return "<cwmp:SetVouchersResponse/>", None


Handler = Callable[[RpcDevice, etree._Element, Quirks], tuple[str, FollowUp | None]]

HANDLERS: dict[str, Handler] = {
    "GetRPCMethods": get_rpc_methods,
    "GetParameterNames": get_parameter_names,
    "GetParameterValues": get_parameter_values,
    "SetParameterValues": set_parameter_values,
    "GetParameterAttributes": get_parameter_attributes,
    "SetParameterAttributes": set_parameter_attributes,
    "AddObject": add_object,
    "DeleteObject": delete_object,
    "Reboot": reboot,
    "FactoryReset": factory_reset,
    "Download": download,
    "Upload": upload,
    "ScheduleDownload": schedule_download,
    "CancelTransfer": cancel_transfer,
    "GetQueuedTransfers": get_queued_transfers,
    "GetAllQueuedTransfers": get_all_queued_transfers,
    "ScheduleInform": schedule_inform,
    "ChangeDUState": change_du_state,
    "GetOptions": get_options,
    "SetVouchers": set_vouchers,
}


def handle(
    cpe: RpcDevice, method: str, el: etree._Element, q: Quirks
) -> tuple[str, int | None, FollowUp | None]:
    """Answer one ACS request: (body, fault code or None, follow-up or None)."""
    handler = HANDLERS.get(method)
    try:
        if handler is None or method in cpe.options.unsupported:
            raise CwmpFault(9000, f"Method not supported: {method}")
        if q.fault is not None and q.fault[0] == method and cpe.fault_injected(method, q.fault[2]):
            # `fault=METHOD:CODE:N`: a device busy or short of memory the first N times.
            raise CwmpFault(q.fault[1])
        body, follow_up = handler(cpe, el, q)
        return body, None, follow_up
    except CwmpFault as fault:
        return (
            fault_body(fault.code, fault.message, fault.spv_faults, prefix=q.prefix),
            fault.code,
            None,
        )
