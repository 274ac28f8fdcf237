"""Checking a value against its TR-069 type before it is sent (TR-106 types).

A SetParameterValues with a value the device cannot take would come back as
fault 9007 at best and be half-applied at worst; checking first lets the
caller see the mistake before anything leaves the ACS.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import datetime

_INT_RANGES = {
    "int": (-(2**31), 2**31 - 1),
    "unsignedInt": (0, 2**32 - 1),
    "long": (-(2**63), 2**63 - 1),
    "unsignedLong": (0, 2**64 - 1),
}
_BOOLEAN = {"0": "0", "1": "1", "true": "true", "false": "false"}
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")


class InvalidValue(ValueError):
    pass


def local_type(xsd_type: str | None) -> str:
    """``xsd:unsignedInt`` -> ``unsignedInt``; unknown or empty -> ``string``."""
    if not xsd_type:
        return "string"
    return xsd_type.rpartition(":")[2] or "string"


def check_value(value: object, xsd_type: str | None) -> str:
    """The value as TR-069 text for ``xsd_type``; raises InvalidValue with a reason."""
    kind = local_type(xsd_type)
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    if kind in _INT_RANGES:
        low, high = _INT_RANGES[kind]
        try:
            number = int(text.strip())
        except ValueError:
            raise InvalidValue(f"{text!r} is not an integer ({kind})") from None
        if not low <= number <= high:
            raise InvalidValue(f"{number} is outside {kind} [{low}, {high}]")
        return str(number)
    if kind == "boolean":
        normal = _BOOLEAN.get(text.strip().lower())
        if normal is None:
            raise InvalidValue(f"{text!r} is not a boolean (0, 1, true, false)")
        return normal
    if kind == "dateTime":
        if not _DATETIME.match(text.strip()):
            raise InvalidValue(f"{text!r} is not an ISO 8601 dateTime")
        try:
            datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        except ValueError:
            raise InvalidValue(f"{text!r} is not a valid dateTime") from None
        return text.strip()
    if kind == "base64":
        try:
            base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidValue("not valid base64") from None
        return text
    if kind == "hexBinary":
        if len(text) % 2 or not re.fullmatch(r"[0-9A-Fa-f]*", text):
            raise InvalidValue("not valid hexBinary")
        return text
    if "\x00" in text:
        raise InvalidValue("NUL characters cannot be sent")
    return text
