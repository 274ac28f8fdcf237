"""Task types for file transfers and deployment units: the ones that wait for the CPE.

A Download, Upload, ScheduleDownload or ChangeDUState is finished by a
later TransferComplete or DUStateChangeComplete, matched by CommandKey
(``waits_for_transfer``); the queue and cancel RPCs that manage them live
beside them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cwmp.protocol import messages as m
from provisioning.tasktypes.base import InvalidTask, Outcome, TaskType, _int


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
        if not args.get("url") or args.get("acs_upload"):
            # No URL given: the device uploads to the ACS itself, to a signed
            # URL made when the RPC is sent, and the file is kept against it.
            # (Arguments this returned say so again: validating is idempotent.)
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


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
