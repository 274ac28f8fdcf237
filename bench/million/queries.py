"""The issue's questions as SQL, and the data they are asked about.

Shared by ``measure`` and the index experiments so that "with" and "without"
an index time exactly the same SQL; the filters and sample devices are picked
from whatever was loaded, so the questions have answers at any size.
"""

# SQL here is built from fixed table and column names (and the ORM's own SQL); every
# value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any


def sample_devices(cur: Any, n: int, where: str = "", params: Sequence[Any] = ()) -> list[tuple]:
    """Random devices (id, tenant_id, device_id, serial, oui, product_class)."""
    cur.execute(f"SELECT min(id), max(id) FROM devices_device {where}", params)
    lo, hi = cur.fetchone()
    if lo is None:
        return []
    rnd = random.Random(n)
    picks = sorted({rnd.randint(lo, hi) for _ in range(n * 3)})
    cur.execute(
        "SELECT id, tenant_id, device_id, serial_number, oui, product_class FROM devices_device"
        f" WHERE id = ANY(%s) {where.replace('WHERE', 'AND', 1)} ORDER BY random() LIMIT %s",
        [picks, *params, n],
    )
    return list(cur.fetchall())


SSID_PATHS = (
    "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID",
    "Device.WiFi.SSID.1.SSID",
)
SW_PATHS = ("InternetGatewayDevice.DeviceInfo.SoftwareVersion", "Device.DeviceInfo.SoftwareVersion")
CHANNEL_PATHS = (  # the 2.4 GHz radio's channel: '6' is about a fifth of the fleet
    "InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.Channel",
    "Device.WiFi.Radio.1.Channel",
)


def match_queries(ssid: str, searchable: bool = True) -> list[tuple[str, str, str, bool]]:
    """(key, label, SQL, needs tenant) of the "devices whose parameter matches" questions.

    ``searchable`` adds the predicate of the partial index ``parameter_search``
    (what ``Parameter.objects.searchable()`` adds), without which the planner
    may not use it.
    """
    from devices.models import SEARCHABLE_VALUE_LENGTH

    pred = f" AND length(p.value) <= {SEARCHABLE_VALUE_LENGTH}" if searchable else ""
    return [
        (
            "match_ssid",
            f"count devices of a tenant with SSID = {ssid!r}",
            "SELECT count(*) FROM devices_parameter p JOIN devices_device d"
            " ON d.id = p.device_id WHERE d.tenant_id = %s AND p.path = ANY(%s)"
            f" AND p.value = %s{pred}",
            True,
        ),
        (
            "match_channel",
            "count devices whose 2.4 GHz channel = '6' (a fifth of the fleet)",
            f"SELECT count(*) FROM devices_parameter p WHERE p.path = ANY(%s) AND p.value = %s{pred}",
            False,
        ),
        (
            "match_sw_like",
            "count devices with SoftwareVersion LIKE '%V5%'",
            f"SELECT count(*) FROM devices_parameter p WHERE p.path = ANY(%s) AND p.value LIKE %s{pred}",
            False,
        ),
    ]


def match_params(key: str, tenant: int, ssid: str) -> tuple:
    return {
        "match_ssid": (tenant, list(SSID_PATHS), ssid),
        "match_channel": (list(CHANNEL_PATHS), "6"),
        "match_sw_like": (list(SW_PATHS), "%V5%"),
    }[key]


def choose_filters(cur: Any) -> dict[str, Any]:
    """The list filter (tenant X, product class Y, version != Z) and a ~10% bulk filter."""
    cur.execute(
        "SELECT tenant_id, product_class, count(*) FROM devices_device"
        " GROUP BY 1, 2 ORDER BY 3 DESC"
    )
    groups = cur.fetchall()
    cur.execute("SELECT count(*) FROM devices_device")
    total = cur.fetchone()[0]
    tenant, pclass, _ = groups[0]
    cur.execute(
        "SELECT software_version FROM devices_device WHERE tenant_id = %s AND product_class = %s"
        " GROUP BY 1 ORDER BY count(*) DESC LIMIT 1",
        [tenant, pclass],
    )
    latest = cur.fetchone()[0]
    # Bulk: the (tenant, product class) whose size is closest to 10% of the fleet.
    bulk = min(groups, key=lambda g: abs(g[2] - total / 10))
    rare = groups[-1]
    return {
        "tenant": tenant,
        "product_class": pclass,
        "latest": latest,
        "bulk_tenant": bulk[0],
        "bulk_product_class": bulk[1],
        "bulk_expected": bulk[2],
        "rare_tenant": rare[0],
        "rare_product_class": rare[1],
        "total": total,
    }


LIST_COLUMNS = (
    "id, device_id, serial_number, product_class, software_version, ip_address, last_inform"
)
