"""Task types: how each task becomes RPCs, and what each answer means.

Every CPE RPC of TR-069 Amendment 6 is a task type (snake_case of the RPC
name), plus composite types that take several RPCs (``refresh``,
``set_and_verify``). A type turns a task into its next request and reads the
answer: the task is then done, needs another RPC (composite), or waits for
the device to report back later (a Download waits for TransferComplete).

Types are small classes in one registry so the API, the portal and the
command line validate arguments the same way (``validate``) before a task is
ever stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from cwmp.protocol import messages as m
from devices import services as device_services
from provisioning import datamodel
from provisioning.values import InvalidValue, check_value

# Names per GetParameterValues in a refresh; big enough to be quick, small
# enough that no CPE chokes on the response (many cap near 200).
REFRESH_BATCH = 100


class InvalidTask(ValueError):
    """Arguments a task type cannot accept; the message says which and why."""


@dataclass(slots=True)
class Outcome:
    """What an answer did to the task."""

    # "done", "error" (done, but the device reports failure), "continue" (send
    # the next RPC), "waiting" (the CPE reports later, e.g. TransferComplete),
    # "transferred" (a transfer the CPE says it finished at once: confirm it)
    status: str
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Context:
    """What a type may read while building or completing (no queries of its own)."""

    device_pk: int
    now: datetime
    types: dict[str, str] = field(default_factory=dict)  # known path -> xsd type
    root: str = ""  # the device's data model root: InternetGatewayDevice or Device
    # Fresh transfer fields made when the RPC is sent: a new signed link for a
    # Download naming one of our Files, or our upload URL for an Upload.
    transfer: dict[str, Any] | None = None


def _str_list(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidTask(f"{what} must be a list of parameter paths")
    return value


def _path(value: Any, what: str, *, obj: bool = False, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidTask(f"{what} must be a parameter path")
    if obj and value and not value.endswith("."):
        raise InvalidTask(f"{what} must name an object (end with '.')")
    if any(c in value for c in " \t\r\n"):
        raise InvalidTask(f"{what} must not contain white space")
    return value


def _int(value: Any, what: str, default: int = 0, low: int = 0, high: int = 2**32 - 1) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidTask(f"{what} must be an integer") from None
    if not low <= number <= high:
        raise InvalidTask(f"{what} must be between {low} and {high}")
    return number


class TaskType:
    name: ClassVar[str]
    method: ClassVar[str]  # the CWMP method it sends first (for the 9000 memory)
    waits_for_transfer: ClassVar[bool] = False

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Normalised arguments, or InvalidTask."""
        return {}

    def build(
        self, args: dict[str, Any], progress: dict[str, Any], ctx: Context, *, command_key: str
    ) -> Any:
        raise NotImplementedError

    def complete(
        self, args: dict[str, Any], progress: dict[str, Any], response: Any, ctx: Context
    ) -> Outcome:
        return Outcome("done")


class GetRPCMethodsType(TaskType):
    name, method = "get_rpc_methods", "GetRPCMethods"

    def build(self, args, progress, ctx, *, command_key):
        return m.GetRPCMethods()

    def complete(self, args, progress, response, ctx):
        return Outcome("done", {"methods": list(response.method_list)})


class GetParameterNamesType(TaskType):
    name, method = "get_parameter_names", "GetParameterNames"

    def validate(self, args):
        return {
            "path": _path(args.get("path", ""), "path", allow_empty=True),
            "next_level": bool(args.get("next_level", False)),
        }

    def build(self, args, progress, ctx, *, command_key):
        return m.GetParameterNames(parameter_path=args["path"], next_level=args["next_level"])

    def complete(self, args, progress, response, ctx):
        names = [(p.name, p.writable) for p in response.parameter_list]
        device_services.parameters_write_names(device_pk=ctx.device_pk, names=names, now=ctx.now)
        return Outcome("done", {"parameters": [[n, w] for n, w in names]})


def _store_values(response: Any, ctx: Context) -> dict[str, str]:
    values = [(p.name, p.value, p.type or "xsd:string") for p in response.parameter_list]
    device_services.parameters_write_values(device_pk=ctx.device_pk, values=values, now=ctx.now)
    return {name: value for name, value, _ in values}


class GetParameterValuesType(TaskType):
    name, method = "get_parameter_values", "GetParameterValues"

    def validate(self, args):
        names = _str_list(args.get("names"), "names")
        if not names:
            raise InvalidTask("names must not be empty")
        return {"names": [_path(n, "names[]", allow_empty=True) for n in names]}

    def build(self, args, progress, ctx, *, command_key):
        return m.GetParameterValues(parameter_names=args["names"])

    def complete(self, args, progress, response, ctx):
        return Outcome("done", {"values": _store_values(response, ctx)})


def _values_arg(args: dict[str, Any]) -> list[list[str]]:
    raw = args.get("values")
    if isinstance(raw, dict):
        raw = [[k, v] for k, v in raw.items()]
    if not isinstance(raw, list) or not raw:
        raise InvalidTask(
            "values must be a non-empty {path: value} object or [[path, value, type?]] list"
        )
    out = []
    for item in raw:
        if not isinstance(item, (list, tuple)) or len(item) not in (2, 3):
            raise InvalidTask("each value must be [path, value] or [path, value, type]")
        path = _path(item[0], "value path")
        if path.endswith("."):
            raise InvalidTask(f"{path} is an object, not a parameter")
        type_ = item[2] if len(item) == 3 else None
        out.append([path, item[1], type_])
    return out


class SetParameterValuesType(TaskType):
    name, method = "set_parameter_values", "SetParameterValues"

    def validate(self, args):
        return {"values": _values_arg(args)}

    def _typed(self, args: dict[str, Any], ctx: Context) -> list[tuple[str, str, str]]:
        """Each value checked against its type before anything is sent.

        The type is the one the device reported, else the BBF data model's,
        else the caller's; where the model knows the parameter and agrees on
        the type, its range, length and enumeration are checked too.
        """
        typed = []
        errors = []
        for path, value, given in args["values"]:
            model_type = datamodel.xsd_type(path)
            xsd = ctx.types.get(path) or model_type or given or "xsd:string"
            if not xsd.startswith("xsd:"):
                xsd = "xsd:" + xsd
            try:
                text = check_value(value, xsd)
                if model_type == xsd:
                    datamodel.check(path, text)
                typed.append((path, text, xsd))
            except InvalidValue as exc:
                errors.append(f"{path}: {exc}")
        if errors:
            raise InvalidTask("; ".join(errors))
        return typed

    def build(self, args, progress, ctx, *, command_key):
        typed = self._typed(args, ctx)
        return m.SetParameterValues(
            parameter_list=[m.ParameterValueStruct(name=p, value=v, type=t) for p, v, t in typed],
            parameter_key=command_key,
        )

    def complete(self, args, progress, response, ctx):
        typed = self._typed(args, ctx)
        device_services.parameters_write_values(device_pk=ctx.device_pk, values=typed, now=ctx.now)
        # Status 1: applied, but takes effect after a reboot (TR-069 A.3.2.1).
        return Outcome("done", {"status": response.status, "values": {p: v for p, v, _ in typed}})


class GetParameterAttributesType(TaskType):
    name, method = "get_parameter_attributes", "GetParameterAttributes"

    def validate(self, args):
        return {
            "names": [
                _path(n, "names[]", allow_empty=True) for n in _str_list(args.get("names"), "names")
            ]
        }

    def build(self, args, progress, ctx, *, command_key):
        return m.GetParameterAttributes(parameter_names=args["names"])

    def complete(self, args, progress, response, ctx):
        attrs = [(a.name, a.notification, ",".join(a.access_list)) for a in response.parameter_list]
        device_services.parameters_write_attributes(
            device_pk=ctx.device_pk, attributes=attrs, now=ctx.now
        )
        return Outcome(
            "done",
            {
                "attributes": {
                    n: {"notification": no, "access_list": acl.split(",") if acl else []}
                    for n, no, acl in attrs
                }
            },
        )


class SetParameterAttributesType(TaskType):
    name, method = "set_parameter_attributes", "SetParameterAttributes"

    def validate(self, args):
        items = args.get("attributes")
        if not isinstance(items, list) or not items:
            raise InvalidTask("attributes must be a non-empty list")
        out = []
        for item in items:
            if not isinstance(item, dict):
                raise InvalidTask("each attribute must be an object")
            entry: dict[str, Any] = {"name": _path(item.get("name"), "attributes[].name")}
            if "notification" in item:
                entry["notification"] = _int(item["notification"], "notification", high=6)
            if "access_list" in item:
                entry["access_list"] = _str_list(item["access_list"], "access_list")
            out.append(entry)
        return {"attributes": out}

    def build(self, args, progress, ctx, *, command_key):
        return m.SetParameterAttributes(
            parameter_list=[
                m.SetParameterAttributesStruct(
                    name=a["name"],
                    notification_change="notification" in a,
                    notification=a.get("notification", 0),
                    access_list_change="access_list" in a,
                    access_list=a.get("access_list", []),
                )
                for a in args["attributes"]
            ]
        )

    def complete(self, args, progress, response, ctx):
        attrs = [
            (a["name"], a["notification"], ",".join(a.get("access_list", [])))
            for a in args["attributes"]
            if "notification" in a
        ]
        device_services.parameters_write_attributes(
            device_pk=ctx.device_pk, attributes=attrs, now=ctx.now
        )
        return Outcome("done")


class AddObjectType(TaskType):
    name, method = "add_object", "AddObject"

    def validate(self, args):
        return {"object_name": _path(args.get("object_name"), "object_name", obj=True)}

    def build(self, args, progress, ctx, *, command_key):
        return m.AddObject(object_name=args["object_name"], parameter_key=command_key)

    def complete(self, args, progress, response, ctx):
        instance = f"{args['object_name']}{response.instance_number}."
        device_services.parameters_write_names(
            device_pk=ctx.device_pk, names=[(instance, True)], now=ctx.now
        )
        return Outcome(
            "done",
            {
                "instance_number": response.instance_number,
                "object": instance,
                "status": response.status,
            },
        )


class DeleteObjectType(TaskType):
    name, method = "delete_object", "DeleteObject"

    def validate(self, args):
        return {"object_name": _path(args.get("object_name"), "object_name", obj=True)}

    def build(self, args, progress, ctx, *, command_key):
        return m.DeleteObject(object_name=args["object_name"], parameter_key=command_key)

    def complete(self, args, progress, response, ctx):
        deleted = device_services.parameters_delete_subtree(
            device_pk=ctx.device_pk, prefix=args["object_name"]
        )
        return Outcome("done", {"status": response.status, "forgotten": deleted})


class RebootType(TaskType):
    name, method = "reboot", "Reboot"

    def build(self, args, progress, ctx, *, command_key):
        return m.Reboot(command_key=command_key)


class FactoryResetType(TaskType):
    name, method = "factory_reset", "FactoryReset"

    def build(self, args, progress, ctx, *, command_key):
        return m.FactoryReset()


class ScheduleInformType(TaskType):
    name, method = "schedule_inform", "ScheduleInform"

    def validate(self, args):
        return {"delay_seconds": _int(args.get("delay_seconds"), "delay_seconds", default=0, low=1)}

    def build(self, args, progress, ctx, *, command_key):
        return m.ScheduleInform(delay_seconds=args["delay_seconds"], command_key=command_key)


def _transfer_args(args: dict[str, Any], *, upload: bool = False) -> dict[str, Any]:
    url = args.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://", "ftp://")):
        raise InvalidTask("url must be an http(s) or ftp URL")
    file_type = args.get("file_type")
    if not isinstance(file_type, str) or not file_type:
        raise InvalidTask("file_type must be a TR-069 FileType such as '1 Firmware Upgrade Image'")
    out = {
        "url": url,
        "file_type": file_type,
        "username": str(args.get("username", "")),
        "password": str(args.get("password", "")),
        "delay_seconds": _int(args.get("delay_seconds"), "delay_seconds"),
    }
    if not upload:
        out.update(
            file_size=_int(args.get("file_size"), "file_size"),
            target_file_name=str(args.get("target_file_name", "")),
            success_url=str(args.get("success_url", "")),
            failure_url=str(args.get("failure_url", "")),
        )
    return out


class DownloadType(TaskType):
    name, method = "download", "Download"
    waits_for_transfer = True

    def validate(self, args):
        extra = {k: args[k] for k in ("file_id", "expected_version") if args.get(k)}
        if "file_id" in extra:
            # The URL is made fresh (a signed, expiring link) when the RPC is sent.
            args = {"url": "http://placeholder/", **args}
        return {**_transfer_args(args), **extra}

    def build(self, args, progress, ctx, *, command_key):
        fields = {k: v for k, v in args.items() if k not in ("file_id", "expected_version")}
        fields.update(ctx.transfer or {})
        return m.Download(command_key=command_key, **fields)

    def complete(self, args, progress, response, ctx):
        # Status 0: done already; 1: the CPE will send TransferComplete later
        # (TR-069 A.3.2.8), matched by CommandKey.
        if response.status == 0:
            return Outcome("transferred", {"status": 0, "completed": _iso(response.complete_time)})
        return Outcome("waiting", {"status": 1})


class UploadType(TaskType):
    name, method = "upload", "Upload"
    waits_for_transfer = True

    def validate(self, args):
        if not args.get("url"):
            # No URL given: the device uploads to the ACS itself, to a signed
            # URL made when the RPC is sent, and the file is kept against it.
            args = {
                "file_type": "1 Vendor Configuration File",
                **args,
                "url": "http://placeholder/",
            }
            return {**_transfer_args(args, upload=True), "acs_upload": True}
        return _transfer_args(args, upload=True)

    def build(self, args, progress, ctx, *, command_key):
        fields = {k: v for k, v in args.items() if k != "acs_upload"}
        fields.update(ctx.transfer or {})
        return m.Upload(command_key=command_key, **fields)

    def complete(self, args, progress, response, ctx):
        if response.status == 0:
            return Outcome("transferred", {"status": 0, "completed": _iso(response.complete_time)})
        return Outcome("waiting", {"status": 1})


class ScheduleDownloadType(TaskType):
    name, method = "schedule_download", "ScheduleDownload"
    waits_for_transfer = True

    def validate(self, args):
        out = _transfer_args(args)
        out.pop("delay_seconds")
        out.pop("success_url")
        out.pop("failure_url")
        windows = args.get("time_windows")
        if not isinstance(windows, list) or not 1 <= len(windows) <= 2:
            raise InvalidTask("time_windows must list one or two windows")
        out["time_windows"] = [
            {
                "window_start": _int(w.get("window_start"), "window_start"),
                "window_end": _int(w.get("window_end"), "window_end"),
                "window_mode": str(w.get("window_mode", "1 At Any Time")),
                "user_message": str(w.get("user_message", "")),
                "max_retries": _int(
                    w.get("max_retries"), "max_retries", default=0, low=-1, high=2**31 - 1
                ),
            }
            for w in windows
        ]
        return out

    def build(self, args, progress, ctx, *, command_key):
        args = dict(args)
        windows = args.pop("time_windows")
        return m.ScheduleDownload(
            command_key=command_key,
            time_window_list=[m.TimeWindowStruct(**w) for w in windows],
            **args,
        )

    def complete(self, args, progress, response, ctx):
        return Outcome("waiting")


class GetQueuedTransfersType(TaskType):
    name, method = "get_queued_transfers", "GetQueuedTransfers"

    def build(self, args, progress, ctx, *, command_key):
        return m.GetQueuedTransfers()

    def complete(self, args, progress, response, ctx):
        return Outcome(
            "done",
            {
                "transfers": [
                    {"command_key": t.command_key, "state": t.state} for t in response.transfer_list
                ]
            },
        )


class GetAllQueuedTransfersType(TaskType):
    name, method = "get_all_queued_transfers", "GetAllQueuedTransfers"

    def build(self, args, progress, ctx, *, command_key):
        return m.GetAllQueuedTransfers()

    def complete(self, args, progress, response, ctx):
        return Outcome(
            "done",
            {
                "transfers": [
                    {
                        "command_key": t.command_key,
                        "state": t.state,
                        "is_download": t.is_download,
                        "file_type": t.file_type,
                        "file_size": t.file_size,
                        "target_file_name": t.target_file_name,
                    }
                    for t in response.transfer_list
                ]
            },
        )


class CancelTransferType(TaskType):
    name, method = "cancel_transfer", "CancelTransfer"

    def validate(self, args):
        key = args.get("command_key")
        if not isinstance(key, str) or not key:
            raise InvalidTask("command_key must name the transfer to cancel")
        return {"command_key": key}

    def build(self, args, progress, ctx, *, command_key):
        return m.CancelTransfer(command_key=args["command_key"])


class ChangeDUStateType(TaskType):
    name, method = "change_du_state", "ChangeDUState"
    waits_for_transfer = True

    def validate(self, args):
        ops = args.get("operations")
        if not isinstance(ops, list) or not ops:
            raise InvalidTask("operations must be a non-empty list of install/update/uninstall")
        out = []
        for op in ops:
            kind = op.get("op") if isinstance(op, dict) else None
            if kind not in ("install", "update", "uninstall"):
                raise InvalidTask("each operation needs op: install, update or uninstall")
            out.append({k: str(v) for k, v in op.items()})
        return {"operations": out}

    def build(self, args, progress, ctx, *, command_key):
        ops = []
        for op in args["operations"]:
            fields = {k: v for k, v in op.items() if k != "op"}
            cls = {
                "install": m.InstallOpStruct,
                "update": m.UpdateOpStruct,
                "uninstall": m.UninstallOpStruct,
            }[op["op"]]
            ops.append(cls(**fields))
        return m.ChangeDUState(operations=ops, command_key=command_key)

    def complete(self, args, progress, response, ctx):
        return Outcome("waiting")


class RefreshType(TaskType):
    """Re-read a subtree: names first (GetParameterNames), then values in batches.

    Some CPEs refuse GetParameterNames on the root, or crash on
    GetParameterValues of a partial path; so names are walked one level at a
    time when the whole-subtree form faults, and values are always asked by
    leaf name, ``REFRESH_BATCH`` at a time.
    """

    name, method = "refresh", "GetParameterNames"

    def validate(self, args):
        return {"path": _path(args.get("path", ""), "path", allow_empty=True)}

    def build(self, args, progress, ctx, *, command_key):
        if not progress:
            progress.update(
                phase="names", objects=[args["path"]], leaves=[], level_walk=False, offset=0
            )
        if progress["phase"] == "names":
            path = progress["objects"][0]
            return m.GetParameterNames(parameter_path=path, next_level=progress["level_walk"])
        leaves = progress["leaves"][progress["offset"] : progress["offset"] + REFRESH_BATCH]
        return m.GetParameterValues(parameter_names=leaves)

    def complete(self, args, progress, response, ctx):
        if isinstance(response, m.GetParameterNamesResponse):
            names = [(p.name, p.writable) for p in response.parameter_list]
            device_services.parameters_write_names(
                device_pk=ctx.device_pk, names=names, now=ctx.now
            )
            current = progress["objects"].pop(0)
            for name, _ in names:
                if name.endswith("."):
                    if progress["level_walk"] and name != current:
                        progress["objects"].append(name)
                else:
                    progress["leaves"].append(name)
            if progress["objects"]:
                return Outcome("continue")
            progress["phase"] = "values"
            if not progress["leaves"]:
                return Outcome("done", {"parameters": 0})
            return Outcome("continue")
        _store_values(response, ctx)
        progress["offset"] += REFRESH_BATCH
        if progress["offset"] < len(progress["leaves"]):
            return Outcome("continue")
        return Outcome("done", {"parameters": len(progress["leaves"])})

    def on_fault(self, args: dict[str, Any], progress: dict[str, Any], fault: m.Fault) -> bool:
        """Walk level by level when the device refuses the subtree form; True if retried."""
        if progress.get("phase") == "names" and not progress.get("level_walk"):
            progress["level_walk"] = True
            return True
        return False


class SetAndVerifyType(SetParameterValuesType):
    """SetParameterValues, then read the same parameters back and compare."""

    name, method = "set_and_verify", "SetParameterValues"

    def build(self, args, progress, ctx, *, command_key):
        if progress.get("phase") == "verify":
            return m.GetParameterValues(parameter_names=[p for p, _, _ in args["values"]])
        return SetParameterValuesType.build(self, args, progress, ctx, command_key=command_key)

    def complete(self, args, progress, response, ctx):
        if isinstance(response, m.SetParameterValuesResponse):
            progress["phase"] = "verify"
            progress["status"] = response.status
            return Outcome("continue")
        read = _store_values(response, ctx)
        wanted = {p: v for p, v, _ in self._typed(args, ctx)}
        mismatched = {
            p: {"wanted": v, "read": read.get(p)}
            for p, v in wanted.items()
            if not _same(read.get(p), v)
        }
        return Outcome(
            "done",
            {
                "status": progress.get("status", 0),
                "verified": not mismatched,
                "mismatched": mismatched,
            },
        )


def _same(read: str | None, wanted: str) -> bool:
    if read is None:
        return False
    bools = {"1": "true", "0": "false"}
    return (
        bools.get(read.lower(), read.lower()) == bools.get(wanted.lower(), wanted.lower())
        or read == wanted
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _all_types() -> tuple[TaskType, ...]:
    from provisioning.diagnostics import DIAGNOSTIC_TYPES

    return (*_BASE_TYPES, *DIAGNOSTIC_TYPES)


_BASE_TYPES: tuple[TaskType, ...] = (
    GetRPCMethodsType(),
    GetParameterNamesType(),
    GetParameterValuesType(),
    SetParameterValuesType(),
    GetParameterAttributesType(),
    SetParameterAttributesType(),
    AddObjectType(),
    DeleteObjectType(),
    RebootType(),
    FactoryResetType(),
    DownloadType(),
    UploadType(),
    ScheduleInformType(),
    ScheduleDownloadType(),
    GetQueuedTransfersType(),
    GetAllQueuedTransfersType(),
    CancelTransferType(),
    ChangeDUStateType(),
    RefreshType(),
    SetAndVerifyType(),
)
TASK_TYPES: dict[str, TaskType] = {t.name: t for t in _all_types()}
