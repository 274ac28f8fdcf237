"""Parameter values as TR-069 types them: checking what the ACS writes, defaults of new instances.

Kept apart from the tree so the rules a newcomer looks for when a value is
refused with fault 9007 sit in one short file, shared by the RPC handlers,
the device's own writes and AddObject.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

_INT_RE = re.compile(r"^[+-]?\d+$")
_DATETIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
_INT_RANGES = {
    "int": (-(2**31), 2**31 - 1),
    "unsignedint": (0, 2**32 - 1),
    "long": (-(2**63), 2**63 - 1),
    "unsignedlong": (0, 2**64 - 1),
}
UNKNOWN_TIME = "0001-01-01T00:00:00Z"


def type_name(xsd_type: str) -> str:
    """`xsd:unsignedInt` -> `unsignedint`: dumps spell types inconsistently (`xsd:Int`)."""
    return xsd_type.rpartition(":")[2].lower()


def validate_value(xsd_type: str, value: str) -> str:
    """Return the value to store, or raise ValueError when it does not fit the declared type.

    Real CPEs answer SetParameterValues with fault 9007 when a value cannot be
    parsed as the parameter's type; the simulator does the same.
    """
    kind = type_name(xsd_type)
    if kind in ("", "string", "anysimpletype"):
        return value
    if kind == "boolean":
        if value.strip().lower() not in ("true", "false", "1", "0"):
            raise ValueError(f"{value!r} is not a boolean")
        return value.strip()
    if kind in _INT_RANGES:
        text = value.strip()
        if not _INT_RE.match(text):
            raise ValueError(f"{value!r} is not an integer")
        low, high = _INT_RANGES[kind]
        if not low <= int(text) <= high:
            raise ValueError(f"{value!r} is out of range for {kind}")
        return text
    if kind == "datetime":
        match = _DATETIME_RE.match(value.strip())
        if not match:
            raise ValueError(f"{value!r} is not a dateTime")
        try:
            datetime.fromisoformat(match.group(1))
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a dateTime") from exc
        return value.strip()
    if kind == "base64":
        try:
            base64.b64decode(value.strip(), validate=True)
        except ValueError as exc:
            raise ValueError(f"{value!r} is not base64") from exc
        return value.strip()
    if kind == "hexbinary":
        text = value.strip()
        if len(text) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", text):
            raise ValueError(f"{value!r} is not hexBinary")
        return text
    return value


def default_value(xsd_type: str) -> str:
    """The value a freshly created instance has (AddObject)."""
    kind = type_name(xsd_type)
    if kind in _INT_RANGES:
        return "0"
    if kind == "boolean":
        return "false"
    if kind == "datetime":
        return UNKNOWN_TIME
    return ""


def utc_now() -> str:
    """Now as a CPE writes a dateTime it reports (UTC, whole seconds): transfer and DU times."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
