"""TR-143 diagnostics as tasks: ping, traceroute, download and upload tests.

A diagnostic is set up with one SetParameterValues (its inputs plus
``DiagnosticsState = Requested``); the CPE runs it on its own and calls back
with ``8 DIAGNOSTICS COMPLETE`` (TR-069 3.7.1.5); the task then reads the
result object with GetParameterValues. The same task types work on TR-098
(``InternetGatewayDevice.IPPingDiagnostics.``) and TR-181
(``Device.IP.Diagnostics.IPPing.``) trees.

Hosts typed by staff go to the device only as parameter values, and only
after validation as a host name or an address: nothing here is ever run on
the ACS.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any
from urllib.parse import urlsplit

from cwmp.protocol import messages as m
from provisioning.tasktypes.base import Context, InvalidTask, Outcome, TaskType, _int, _store_values

# Object path per data model root.
OBJECTS = {
    "ping": {
        "InternetGatewayDevice": "InternetGatewayDevice.IPPingDiagnostics.",
        "Device": "Device.IP.Diagnostics.IPPing.",
    },
    "traceroute": {
        "InternetGatewayDevice": "InternetGatewayDevice.TraceRouteDiagnostics.",
        "Device": "Device.IP.Diagnostics.TraceRoute.",
    },
    "download_diagnostics": {
        "InternetGatewayDevice": "InternetGatewayDevice.DownloadDiagnostics.",
        "Device": "Device.IP.Diagnostics.DownloadDiagnostics.",
    },
    "upload_diagnostics": {
        "InternetGatewayDevice": "InternetGatewayDevice.UploadDiagnostics.",
        "Device": "Device.IP.Diagnostics.UploadDiagnostics.",
    },
}
_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def validate_host(value: Any) -> str:
    """A host name (RFC 1123) or an IPv4/IPv6 address, else InvalidTask."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidTask("host must be a host name or an IP address")
    host = value.strip()
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    name = host[:-1] if host.endswith(".") else host
    if len(name) > 253 or not all(_LABEL.match(label) for label in name.split(".")):
        raise InvalidTask(f"{value!r} is not a valid host name or IP address")
    if name.replace(".", "").isdigit():
        raise InvalidTask(f"{value!r} is not a valid IP address")
    return name


def validate_url(value: Any, *, schemes: tuple[str, ...] = ("http", "ftp")) -> str:
    if not isinstance(value, str):
        raise InvalidTask("url must be a URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in schemes or not parts.hostname:
        raise InvalidTask(f"url must be {' or '.join(schemes)} with a host (TR-143)")
    validate_host(parts.hostname)
    if any(c in value for c in " \t\r\n"):
        raise InvalidTask("url must not contain white space")
    return value.strip()


class DiagnosticType(TaskType):
    """Set up, wait for ``8 DIAGNOSTICS COMPLETE``, read the results."""

    method = "SetParameterValues"
    kind: str

    def inputs(self, args: dict[str, Any]) -> list[tuple[str, str, str]]:
        raise NotImplementedError

    def build(self, args, progress, ctx, *, command_key):
        base = self.object_for(ctx)
        if progress.get("phase") == "read":
            return m.GetParameterValues(parameter_names=[base])
        values = [(base + name, value, type_) for name, value, type_ in self.inputs(args)]
        values.append((base + "DiagnosticsState", "Requested", "xsd:string"))
        return m.SetParameterValues(
            parameter_list=[m.ParameterValueStruct(name=p, value=v, type=t) for p, v, t in values],
            parameter_key=command_key,
        )

    def object_for(self, ctx: Context) -> str:
        try:
            return OBJECTS[self.kind][ctx.root]
        except KeyError:
            raise InvalidTask(f"no {self.kind} object known for data model {ctx.root!r}") from None

    def complete(self, args, progress, response, ctx):
        if isinstance(response, m.SetParameterValuesResponse):
            progress["phase"] = "requested"
            progress["diagnostics"] = True
            return Outcome("waiting")
        values = _store_values(response, ctx)
        base = self.object_for(ctx)
        results = {
            path[len(base) :]: value for path, value in values.items() if path.startswith(base)
        }
        state = results.get("DiagnosticsState", "")
        outcome = Outcome("done", {"diagnostics_state": state, "results": results})
        if state.startswith("Error"):
            outcome.status = "error"
        return outcome


class PingType(DiagnosticType):
    name, kind = "ping", "ping"

    def validate(self, args):
        return {
            "host": validate_host(args.get("host")),
            "count": _int(args.get("count"), "count", default=4, low=1, high=100),
            "timeout_ms": _int(
                args.get("timeout_ms"), "timeout_ms", default=1000, low=1, high=60000
            ),
            "size": _int(args.get("size"), "size", default=64, low=1, high=65535),
        }

    def inputs(self, args):
        return [
            ("Host", args["host"], "xsd:string"),
            ("NumberOfRepetitions", str(args["count"]), "xsd:unsignedInt"),
            ("Timeout", str(args["timeout_ms"]), "xsd:unsignedInt"),
            ("DataBlockSize", str(args["size"]), "xsd:unsignedInt"),
        ]


class TraceRouteType(DiagnosticType):
    name, kind = "traceroute", "traceroute"

    def validate(self, args):
        return {
            "host": validate_host(args.get("host")),
            "tries": _int(args.get("tries"), "tries", default=3, low=1, high=3),
            "timeout_ms": _int(
                args.get("timeout_ms"), "timeout_ms", default=5000, low=1, high=60000
            ),
            "max_hops": _int(args.get("max_hops"), "max_hops", default=30, low=1, high=64),
        }

    def inputs(self, args):
        return [
            ("Host", args["host"], "xsd:string"),
            ("NumberOfTries", str(args["tries"]), "xsd:unsignedInt"),
            ("Timeout", str(args["timeout_ms"]), "xsd:unsignedInt"),
            ("MaxHopCount", str(args["max_hops"]), "xsd:unsignedInt"),
        ]


class DownloadDiagnosticsType(DiagnosticType):
    name, kind = "download_diagnostics", "download_diagnostics"

    def validate(self, args):
        return {"url": validate_url(args.get("url"))}

    def inputs(self, args):
        return [("DownloadURL", args["url"], "xsd:string")]


class UploadDiagnosticsType(DiagnosticType):
    name, kind = "upload_diagnostics", "upload_diagnostics"

    def validate(self, args):
        return {
            "url": validate_url(args.get("url")),
            "length": _int(args.get("length"), "length", default=1_000_000, low=1),
        }

    def inputs(self, args):
        return [
            ("UploadURL", args["url"], "xsd:string"),
            ("TestFileLength", str(args["length"]), "xsd:unsignedInt"),
        ]


DIAGNOSTIC_TYPES = [
    PingType(),
    TraceRouteType(),
    DownloadDiagnosticsType(),
    UploadDiagnosticsType(),
]
