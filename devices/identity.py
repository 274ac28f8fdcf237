"""Device identity: ``OUI-ProductClass-SerialNumber``, escaped.

Each part is percent-encoded outside ``[A-Za-z0-9_.~]`` (``-`` included, so
the separator stays unambiguous): a ProductClass like ``G-1425G-A`` or a
serial with spaces, ``!`` or ``/`` still yields one id that is safe in a URL
path and parses back. The form matches what other ACSes export for the common
cases (``ZXHN%20H199A``, ``G%2D1425G%2DA``), which eases migrations.
"""

from __future__ import annotations

import re
from urllib.parse import quote, unquote

_SAFE = "_.~"
_SPLIT = re.compile(r"^([^-]*)-([^-]*)-([^-]*)$")


def escape_part(part: str) -> str:
    return quote(part, safe=_SAFE).replace("-", "%2D")


def make_device_id(oui: str, product_class: str, serial_number: str) -> str:
    return "-".join(escape_part(p) for p in (oui, product_class, serial_number))


def split_device_id(device_id: str) -> tuple[str, str, str]:
    """Inverse of ``make_device_id``; raises ValueError for a malformed id."""
    match = _SPLIT.match(device_id)
    if not match:
        raise ValueError(f"not a device id: {device_id!r}")
    oui, product_class, serial = (unquote(p) for p in match.groups())
    return oui, product_class, serial


def device_id_readings(typed: str) -> list[str]:
    """The escaped ids a device id typed by a person may stand for.

    People copy ids from wherever they see them: from this ACS (escaped) or
    from the device's own pages and labels, which show the three parts as
    reported (``00040E-FRITZ!Box-…``). The raw form cannot be split
    unambiguously when the ProductClass or serial holds a ``-``, so every
    split is a reading; the typed text itself comes first. Lookups compare
    these with the stored, escaped ``device_id``.
    """
    readings = [typed]
    dashes = [i for i, char in enumerate(typed) if char == "-"]
    for n, first in enumerate(dashes):
        for second in dashes[n + 1 :]:
            escaped = make_device_id(typed[:first], typed[first + 1 : second], typed[second + 1 :])
            if escaped not in readings:
                readings.append(escaped)
    return readings
