"""Task types for the parameter tree: names, values, attributes, objects, and the composites.

``refresh`` and ``set_and_verify`` are here because they are made of the
same parameter RPCs (GetParameterNames, Get/SetParameterValues).
"""

from __future__ import annotations

from typing import Any

from cwmp.protocol import messages as m
from devices import services as device_services
from provisioning import datamodel
from provisioning.tasktypes.base import (
    Context,
    InvalidTask,
    Outcome,
    TaskType,
    _int,
    _path,
    _store_values,
    _str_list,
)
from provisioning.values import InvalidValue, check_value

# Names per GetParameterValues in a refresh; big enough to be quick, small
# enough that no CPE chokes on the response (many cap near 200).
REFRESH_BATCH = 100


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
