"""A million devices in PostgreSQL (issue 5): a loader, the measurements, a layout experiment.

    python -m bench.million load    [--devices N] [--full-trees N] [--reset]
    python -m bench.million measure [--repeat N] [--json PATH] [--no-interned]
    python -m bench.million all     [both sets of options]
    python -m bench.million indexes (the index experiments alone)

Runs on ``DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/acs_million``),
creating that database and migrating it when needed. Method and results:
bench/MILLION.md.

The loader writes straight into the application's tables with ``COPY ... FROM
STDIN`` (psycopg 3), rows generated in Python streams from the simulator's
real dumps (cpesim/dumps): a device row per CPE with its summary columns,
the Inform parameters plus a few dozen refreshed or provisioned ones per
device, one session log per device, and for ``--full-trees`` devices their
whole tree (every object and leaf of the dump). Ordinary devices are loaded
first and full-tree devices after them, with table sizes taken in between,
so bytes per device are measured separately for the two kinds.

``measure`` times the queries of the issue's targets on the current schema
(client wall time and ``EXPLAIN (ANALYZE, BUFFERS)``), then builds the same
parameters in an experimental interned layout (``bench_param_path`` +
``bench_param_interned``) and times the same questions there.

The bulk measurement queues a task for ~100,000 devices through
``provisioning.services.task_enqueue_bulk`` (one INSERT ... SELECT and the
UPDATE of ``Device.has_tasks``), beside ``task_enqueue`` one device at a time.
"""

# SQL here is built from fixed table and column names (and the ORM's own SQL); every
# value is a query parameter.
# ruff: noqa: S608

from __future__ import annotations

import argparse
import base64
import bisect
import json
import os
import queue
import random
import re
import statistics
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/acs_million"
META_TABLE = "bench_million_meta"

# -- what is generated ---------------------------------------------------------


@dataclass(frozen=True)
class TenantSpec:
    slug: str
    name: str
    share: float
    domain: str
    provisioning_codes: tuple[str, ...]


TENANTS = (
    TenantSpec("isp-north", "ISP North", 0.50, "north.example.net", ("RES.FTTH", "BUS.FTTH")),
    TenantSpec("isp-south", "ISP South", 0.35, "south.example.net", ("RES", "RES.VOIP", "BIZ")),
    TenantSpec("fibra-resale", "Fibra Resale", 0.15, "fibra.example.com", ("WHOLESALE",)),
)


@dataclass(frozen=True)
class Profile:
    """One dump and how a fleet of that model looks (share, serials, firmware spread)."""

    dump: str
    share: float
    serial_format: str
    serial_space: int
    # The dump's own version first; the others are plausible older releases.
    versions: tuple[tuple[str, float], ...]
    ssid_prefix: str
    cwmp_version: str


PROFILES = (
    Profile(
        "huawei-eg8145v5",
        0.30,
        "48575443{:08X}",
        16**8,
        (
            ("V5R020C00S280", 0.55),
            ("V5R020C00S270", 0.25),
            ("V5R019C10S115", 0.12),
            ("V5R019C00S100", 0.08),
        ),
        "HUAWEI-",
        "1.0",
    ),
    Profile(
        "nokia-g1425ga",
        0.20,
        "ALCL{:08X}",
        16**8,
        (
            ("3FE49568IJIJ23", 0.50),
            ("3FE49568IJHJ17", 0.30),
            ("3FE49568HJJJ56", 0.15),
            ("3FE49337HJIJ87", 0.05),
        ),
        "ALHN-",
        "1.0",
    ),
    Profile(
        "zte-h199a",
        0.25,
        "ZTEYH86L{:07X}",
        16**7,
        (
            ("V9.1.0P4N3_MUL", 0.60),
            ("V9.1.0P4N2_MUL", 0.20),
            ("V9.1.0P3N7_MUL", 0.15),
            ("V9.0.11P2N1_MUL", 0.05),
        ),
        "ZTE_",
        "1.2",
    ),
    Profile(
        "tplink-ex220",
        0.15,
        "22{:011d}",
        10**11,
        (
            ("0.14.0 2.0.0 v605f.0 Build 221227 Rel.55257n", 0.60),
            ("0.12.0 2.0.0 v605f.0 Build 220819 Rel.46105n", 0.30),
            ("0.9.1 2.0.0 v605f.0 Build 220308 Rel.59710n", 0.10),
        ),
        "TP-Link_",
        "1.4",
    ),
    Profile(
        "tplink-ec220-v3",
        0.10,
        "22275K{:07d}",
        10**7,
        (
            ("1.12.0 Build 220820 Rel.52419n(4252)", 0.70),
            ("1.10.1 Build 220315 Rel.40522n(4252)", 0.30),
        ),
        "TP-Link_",
        "1.4",
    ),
)

# Customer-chosen SSIDs (a quarter of the fleet) and the few names many
# people pick (one in twenty): what a "count devices whose SSID is X" finds.
SSID_WORDS = (
    "Casa Silva Santos Oliveira Souza Lima Pereira Costa Rodrigues Almeida "
    "Familia Apto Loja Escritorio Sala Quarto Andar Bloco Chacara Sitio"
).split()
COMMON_SSIDS = ("home", "WiFi", "Casa", "Internet", "Familia", "NET", "Wireless", "Router")
CHANNELS_24 = ("1", "6", "11", "1", "6", "11", "3", "9", "13")
CHANNELS_5 = ("36", "40", "44", "48", "100", "116", "149", "153", "157", "161")
PERIODIC = 3600.0

_COPY_ESCAPE = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _esc(text: str) -> str:
    """A value for PostgreSQL's COPY text format."""
    return text.translate(_COPY_ESCAPE)


def _ts(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime(epoch))


def _weighted(items: Sequence[tuple[Any, float]]) -> Callable[[float], Any]:
    total = sum(w for _, w in items)
    bounds, acc = [], 0.0
    for _, w in items:
        acc += w / total
        bounds.append(acc)
    values = [v for v, _ in items]
    last = len(values) - 1
    return lambda r: values[min(bisect.bisect_right(bounds, r), last)]


# Row template: (escaped path, kind or None, escaped static value, "type\tis_object\t
# writable\tnotification\taccess_list", from the Inform?). A kind names a per-device value.
Row = tuple[str, str | None, str, str, bool]


@dataclass
class ModelSpec:
    profile: Profile
    root: str
    oui: str
    product_class: str
    manufacturer: str
    hardware_version: str
    cr_url_suffix: str | None  # None: a per-device random path, as the dump's CPE has
    ordinary: list[Row]
    full: list[Row]
    paths: dict[str, str | None] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.profile.dump


def _radios_tr098(nodes: dict[str, Any], p: str) -> list[tuple[str, str]]:
    """(band, instance) of the first 2.4 GHz and the first 5 GHz WLANConfiguration."""
    found: dict[str, str] = {}
    pattern = re.compile(re.escape(p) + r"LANDevice\.1\.WLANConfiguration\.(\d+)\.Channel$")
    for path in nodes:
        match = pattern.match(path)
        if not match:
            continue
        inst = match.group(1)
        channel = nodes[path][2]
        standard = nodes.get(f"{p}LANDevice.1.WLANConfiguration.{inst}.Standard", ("", "", ""))[2]
        five = (channel.isdigit() and int(channel) > 14) or "a" in standard.replace("11", "")
        found.setdefault("5" if five else "24", inst)
    return sorted(found.items())


def _radios_tr181(nodes: dict[str, Any], p: str) -> list[tuple[str, tuple[str, str, str]]]:
    """(band, (ssid, radio, access point)) of the first SSID on each radio."""
    found: dict[str, tuple[str, str, str]] = {}
    pattern = re.compile(re.escape(p) + r"WiFi\.SSID\.(\d+)\.LowerLayers$")
    for path in nodes:
        match = pattern.match(path)
        if not match:
            continue
        radio = nodes[path][2].rstrip(".").rpartition(".")[2]
        band_value = nodes.get(f"{p}WiFi.Radio.{radio}.OperatingFrequencyBand", ("", "", ""))[2]
        band = "5" if band_value.startswith("5") else "24"
        ssid = match.group(1)
        ap = ssid
        for k, node in nodes.items():
            if k.endswith(".SSIDReference") and node[2].rstrip(".") == f"{p}WiFi.SSID.{ssid}":
                ap = k.split(".")[-2]
                break
        found.setdefault(band, (ssid, radio, ap))
    return sorted(found.items())


def build_spec(profile: Profile) -> ModelSpec:
    """What an ACS keeps for one model: the ordinary set and the full tree."""
    from cpesim.model import DeviceModel

    model = DeviceModel.from_dump(profile.dump)
    nodes = model.nodes
    root = model.root
    p = root + "."
    inform = list(model.inform_paths)
    paths: dict[str, str | None] = {path: None for path in inform}
    overrides: dict[str, str] = {}
    paths[p + "DeviceInfo.SoftwareVersion"] = "sw"
    paths[p + "DeviceInfo.ProvisioningCode"] = "provcode"
    paths[p + "ManagementServer.ConnectionRequestURL"] = "crurl"
    paths[p + "ManagementServer.ParameterKey"] = "pkey"
    paths[inform[-1]] = "ip"  # the WAN address the Inform carries

    def add(rel: str, kind: str | None = None, value: str | None = None) -> None:
        path = p + rel
        if path in nodes and nodes[path][1]:
            paths[path] = kind
            if value is not None:
                overrides[path] = value

    add("DeviceInfo.UpTime", "uptime")
    add("DeviceInfo.ModelName")
    add("DeviceInfo.SerialNumber", "serial")
    add("ManagementServer.PeriodicInformEnable", value="true")
    add("ManagementServer.PeriodicInformInterval", value="3600")
    add("ManagementServer.ConnectionRequestUsername", "cruser")
    add("ManagementServer.ConnectionRequestPassword", "crpass")
    add("ManagementServer.URL", "acsurl")
    add("Time.NTPServer1", "ntp")
    if root == "InternetGatewayDevice":
        add("LANDevice.1.Hosts.HostNumberOfEntries", "hosts")
        for band, inst in _radios_tr098(nodes, p):
            w = f"LANDevice.1.WLANConfiguration.{inst}."
            add(w + "SSID", f"ssid{band}")
            add(w + "Enable", f"wen{band}")
            add(w + "Status", f"wst{band}")
            add(w + "Channel", f"ch{band}")
            add(w + "TotalAssociations", f"assoc{band}")
            add(w + "BeaconType", value="11i")
            add(w + "PreSharedKey.1.KeyPassphrase", f"psk{band}")
        conn = inform[-1].rpartition(".")[0][len(p) :] + "."
        add(conn + "ConnectionStatus", "wanst")
        add(conn + "Uptime", "wanup")
        add(conn + "DNSServers", "dns")
        if "WANPPPConnection" in conn:
            add(conn + "Username", "pppuser")
        else:
            add(conn + "AddressingType", value="DHCP")
    else:
        add("Hosts.HostNumberOfEntries", "hosts")
        for band, (ssid, radio, ap) in _radios_tr181(nodes, p):
            add(f"WiFi.SSID.{ssid}.SSID", f"ssid{band}")
            add(f"WiFi.SSID.{ssid}.Enable", f"wen{band}")
            add(f"WiFi.SSID.{ssid}.Status", f"wst{band}")
            add(f"WiFi.Radio.{radio}.Channel", f"ch{band}")
            add(f"WiFi.AccessPoint.{ap}.AssociatedDeviceNumberOfEntries", f"assoc{band}")
            add(f"WiFi.AccessPoint.{ap}.Security.ModeEnabled", value="WPA2-Personal")
            add(f"WiFi.AccessPoint.{ap}.Security.KeyPassphrase", f"psk{band}")
        add("PPP.Interface.1.ConnectionStatus", "wanst")
        add("PPP.Interface.1.Username", "pppuser")
        add("IP.Interface.1.Status", value="Up")
        add("DNS.Client.Server.1.DNSServer", "dns")

    attrs = model.attr_defaults
    inform_set = set(inform)

    def row(path: str, *, full: bool) -> Row:
        writable, xtype, value = nodes[path]
        is_object = not xtype
        value = overrides.get(path, value)
        from_inform = path in inform_set
        # What the ACS knows: Inform values carry no writability; GetParameterNames
        # (a refresh) does; attributes only after GetParameterAttributes (full trees).
        w = "\\N" if from_inform and not full else ("t" if writable else "f")
        notification = str(attrs[path][0]) if full and path in attrs else "\\N"
        access = _esc(",".join(attrs[path][1])) if full and path in attrs else ""
        rest = f"{xtype}\t{'t' if is_object else 'f'}\t{w}\t{notification}\t{access}"
        return (_esc(path), paths.get(path), _esc(value), rest, from_inform)

    ordinary = [row(path, full=False) for path in paths]
    full = [row(path, full=True) for path in nodes]
    cr_url = nodes.get(p + "ManagementServer.ConnectionRequestURL", (False, "", ""))[2]
    suffix = cr_url.split("/", 3)[3] if cr_url.count("/") >= 3 else ""
    return ModelSpec(
        profile=profile,
        root=root,
        oui=model.oui,
        product_class=model.product_class,
        manufacturer=model.manufacturer,
        hardware_version=nodes.get(p + "DeviceInfo.HardwareVersion", (False, "", ""))[2],
        cr_url_suffix=None if re.fullmatch(r"[0-9a-f]{32}", suffix) else suffix,
        ordinary=ordinary,
        full=full,
        paths=paths,
    )


@dataclass
class TenantRow:
    pk: int
    spec: TenantSpec
    realm: str


@dataclass
class Ids:
    device: int
    parameter: int
    session: int


@dataclass
class Counts:
    devices: int = 0
    parameters: int = 0
    sessions: int = 0


class Generator:
    """Streams of COPY lines for devices, their parameters and their last session."""

    def __init__(self, tenants: list[TenantRow], specs: list[ModelSpec], seed: int, now: float):
        from cwmp.protocol.digest import make_ha1_set
        from devices.identity import make_device_id

        self.make_ha1_set = make_ha1_set
        self.make_device_id = make_device_id
        self.rnd = random.Random(seed)
        self.now = now
        self.tenants = tenants
        self.specs = specs
        self.pick_tenant = _weighted([(t, t.spec.share) for t in tenants])
        self.pick_spec = _weighted([(s, s.profile.share) for s in specs])
        self.pick_version = {s.name: _weighted(list(s.profile.versions)) for s in specs}  # by model
        self.serial_counter = {s.name: 0 for s in specs}
        self.per_model = {s.name: [0, 0] for s in specs}

    def _serial(self, spec: ModelSpec) -> str:
        n = self.serial_counter[spec.name]
        self.serial_counter[spec.name] = n + 1
        space = spec.profile.serial_space
        # A bijection on [0, space): unique serials that do not look sequential.
        return spec.profile.serial_format.format((n * 2654435761 + 40503) % space)

    def device(
        self, pk: int, index: int, full: bool, out_dev: list[str], out_par: list[str], ids: Ids
    ) -> None:
        """Append one device's COPY lines (device row, parameters, session log)."""
        rnd = self.rnd
        r = rnd.random
        tenant = self.pick_tenant(r())
        spec = self.pick_spec(r())
        self.per_model[spec.name][1 if full else 0] += 1
        tspec = tenant.spec
        serial = self._serial(spec)
        if index & 1:
            ip = f"10.{(index >> 16) & 255}.{(index >> 8) & 255}.{index & 255}"
        else:
            ip = f"100.{64 + ((index >> 16) & 63)}.{(index >> 8) & 255}.{index & 255}"
        # Last contact: most devices inform hourly; some are offline for days.
        state = r()
        if state < 0.93:
            last = self.now - r() * PERIODIC
        elif state < 0.98:
            last = self.now - 86400 * (1 + 29 * r())
        else:
            last = self.now - 86400 * (30 + 335 * r())
        uptime = rnd.randrange(600, 40 * 86400)
        first_seen = last - r() * 2 * 365 * 86400
        refreshed = max(first_seen, last - r() * 7 * 86400)
        sw = self.pick_version[spec.name](r())
        prov = rnd.choice(tspec.provisioning_codes) if r() < 0.5 else ""
        cr_path = spec.cr_url_suffix
        if cr_path is None:
            cr_path = f"{rnd.getrandbits(128):032x}"
        crurl = f"http://{ip}:7547/{cr_path}"
        cruser = f"acs-{serial}"
        crpass = base64.urlsafe_b64encode(rnd.getrandbits(120).to_bytes(15, "big")).decode()
        pw = base64.urlsafe_b64encode(rnd.getrandbits(96).to_bytes(12, "big")).decode()
        ha1 = self.make_ha1_set(serial, tenant.realm, pw)
        events = "2 PERIODIC" if r() < 0.95 else rnd.choice(("1 BOOT", "4 VALUE CHANGE"))
        t_last, t_first, t_ref = _ts(last), _ts(first_seen), _ts(refreshed)
        device_id = self.make_device_id(spec.oui, spec.product_class, serial)
        out_dev.append(
            f"{pk}\t{_esc(device_id)}\t{spec.oui}\t{_esc(spec.product_class)}\t{serial}\t"
            f"{_esc(spec.manufacturer)}\t\t{_esc(sw)}\t{_esc(spec.hardware_version)}\t{prov}\t"
            f"{spec.root}\t{spec.profile.cwmp_version}\t{ip}\t{crurl}\t{cruser}\t{crpass}\t\t"
            f"{serial}\t{ha1['MD5']}\t{ha1['SHA-256']}\t{t_first}\t{t_last}\t"
            f"{_ts(last - uptime)}\t{t_first}\t{events}\t{rnd.getrandbits(128):032x}\t"
            f"{t_first}\t{tenant.pk}\tf\t[]\n"
        )
        # Per-device parameter values.
        roll = r()
        if roll < 0.70:
            ssid = f"{spec.profile.ssid_prefix}{serial[-4:]}"
            ssid5 = ssid + "_5G"
        elif roll < 0.95:
            ssid = f"{rnd.choice(SSID_WORDS)} {rnd.choice(SSID_WORDS)}"
            ssid5 = ssid if r() < 0.5 else ssid + " 5G"
        else:
            ssid = rnd.choice(COMMON_SSIDS)
            ssid5 = ssid if r() < 0.5 else ssid + "-5G"
        psk = f"{rnd.getrandbits(48):012x}" if r() < 0.6 else ""
        wen24 = r() < 0.98
        wen5 = r() < 0.90
        tr181 = spec.root == "Device"
        up, down = "Up", ("Down" if tr181 else "Disabled")
        wan_ok = r() < 0.97
        vals = {
            "sw": _esc(sw),
            "provcode": prov,
            "crurl": crurl,
            "pkey": f"acs-{rnd.getrandbits(48):012x}" if r() < 0.6 else "",
            "ip": ip,
            "uptime": str(uptime),
            "serial": serial,
            "cruser": cruser,
            "crpass": crpass,
            "acsurl": f"https://acs.{tspec.domain}/cwmp/{tspec.slug}",
            "ntp": f"ntp.{tspec.domain}",
            "hosts": str(rnd.randrange(0, 30)),
            "ssid24": _esc(ssid),
            "ssid5": _esc(ssid5),
            "psk24": psk,
            "psk5": psk,
            "wen24": "true" if wen24 else "false",
            "wen5": "true" if wen5 else "false",
            "wst24": up if wen24 else down,
            "wst5": up if wen5 else down,
            "ch24": rnd.choice(CHANNELS_24),
            "ch5": rnd.choice(CHANNELS_5),
            "assoc24": str(rnd.randrange(0, 12) if wen24 else 0),
            "assoc5": str(rnd.randrange(0, 8) if wen5 else 0),
            "wanst": "Connected" if wan_ok else rnd.choice(("Connecting", "Disconnected")),
            "wanup": str(int(uptime * r())) if wan_ok else "0",
            "dns": f"10.{tenant.pk % 250}.0.53,10.{tenant.pk % 250}.1.53",
            "pppuser": f"{rnd.randrange(10**7, 10**8)}@{tspec.domain}",
        }
        pid = ids.parameter
        rows = spec.full if full else spec.ordinary
        append = out_par.append
        for path, kind, static, rest, from_inform in rows:
            value = vals[kind] if kind else static
            append(f"{pid}\t{pk}\t{path}\t{value}\t{rest}\t{t_last if from_inform else t_ref}\n")
            pid += 1
        ids.parameter = pid


def _table_sizes(cur: Any, tables: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Heap, TOAST, indexes (each) and total bytes of each table."""
    out: dict[str, dict[str, Any]] = {}
    for table in tables:
        cur.execute(
            "SELECT pg_relation_size(c.oid), pg_table_size(c.oid), pg_indexes_size(c.oid),"
            " pg_total_relation_size(c.oid),"
            " COALESCE(pg_total_relation_size(NULLIF(c.reltoastrelid, 0)), 0),"
            " c.reltuples::bigint"
            " FROM pg_class c WHERE c.oid = %s::regclass",
            [table],
        )
        heap, table_size, indexes, total, toast, tuples = cur.fetchone()
        cur.execute(
            "SELECT i.indexrelid::regclass::text, pg_relation_size(i.indexrelid)"
            " FROM pg_index i WHERE i.indrelid = %s::regclass ORDER BY 2 DESC",
            [table],
        )
        out[table] = {
            "heap": heap,
            "toast": toast,
            "table": table_size,
            "indexes": indexes,
            "total": total,
            "reltuples": tuples,
            "index_sizes": dict(cur.fetchall()),
        }
    return out


LOADED_TABLES = ("devices_device", "devices_parameter", "devices_sessionlog")
DEVICE_COLUMNS = (
    "id, device_id, oui, product_class, serial_number, manufacturer, mac_address,"
    " software_version, hardware_version, provisioning_code, data_model, cwmp_version,"
    " ip_address, connection_request_url, connection_request_username,"
    " connection_request_password, udp_connection_request_address, cwmp_username,"
    " cwmp_ha1_md5, cwmp_ha1_sha256, first_seen, last_inform, last_boot, last_bootstrap,"
    " last_events, inform_digest, created, tenant_id, has_tasks, unsupported_methods"
)
PARAMETER_COLUMNS = (
    "id, device_id, path, value, type, is_object, writable, notification, access_list, updated"
)
SESSION_COLUMNS = (
    "id, session_id, started, ended, duration_ms, events, rpcs, outcome, detail,"
    " remote_address, cwmp_version, messages, device_id, tenant_id"
)


def _ensure_tenants() -> list[TenantRow]:
    from tenants.models import Tenant
    from tenants.services import tenant_create

    rows = []
    for spec in TENANTS:
        tenant = Tenant.objects.filter(slug=spec.slug).first()
        if tenant is None:
            tenant = tenant_create(
                slug=spec.slug,
                name=spec.name,
                cpe_username=f"cpe-{spec.slug}",
                cpe_password=f"bench-{spec.slug}",
            )
        rows.append(TenantRow(tenant.pk, spec, tenant.cpe_realm or f"acsportal/{spec.slug}"))
    return rows


def _next_id(cur: Any, table: str) -> int:
    cur.execute(f"SELECT COALESCE(max(id), 0) + 1 FROM {table}")
    return int(cur.fetchone()[0])


def _copy(cur: Any, table: str, columns: str, lines: list[str]) -> None:
    raw = cur.cursor  # Django's wrapper around the psycopg 3 cursor
    with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        chunk = 4096
        for i in range(0, len(lines), chunk):
            copy.write("".join(lines[i : i + chunk]))


def _is_superuser(cur: Any) -> bool:
    cur.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
    row = cur.fetchone()
    return bool(row and row[0])


def _produce(
    gen: Generator,
    ids: Ids,
    state: dict[str, int],
    count: int,
    batch: int,
    full: bool,
    out: queue.Queue[Any],
) -> None:
    """Generate ``count`` devices in batches of COPY lines onto ``out``."""
    try:
        done = 0
        while done < count:
            n = min(batch, count - done)
            dev_lines: list[str] = []
            par_lines: list[str] = []
            ses_lines: list[str] = []
            p0 = ids.parameter
            for _ in range(n):
                gen.device(ids.device, state["index"], full, dev_lines, par_lines, ids)
                ses_lines.append(_session_line(gen, ids.session, ids.device, dev_lines[-1]))
                ids.device += 1
                ids.session += 1
                state["index"] += 1
            out.put((n, ids.parameter - p0, dev_lines, par_lines, ses_lines))
            done += n
    except BaseException as exc:  # handed to the loading thread
        out.put(exc)


def load(
    *,
    devices: int,
    full_trees: int,
    seed: int = 5,
    batch_devices: int = 5000,
    batch_full: int = 40,
    vacuum: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Append ``devices`` devices (``full_trees`` of them with their whole tree) to the tables."""
    from django.db import connection, transaction

    if connection.vendor != "postgresql":
        raise RuntimeError("the million-device loader needs PostgreSQL (COPY)")
    full_trees = min(full_trees, devices)
    tenants = _ensure_tenants()
    specs = [build_spec(p) for p in PROFILES]
    now = time.time()
    gen = Generator(tenants, specs, seed, now)
    report: dict[str, Any] = {
        "devices": devices,
        "full_trees": full_trees,
        "seed": seed,
        "generated_at": datetime.fromtimestamp(now, UTC).isoformat(),
        "params_per_model": {
            s.name: {"ordinary": len(s.ordinary), "full": len(s.full)} for s in specs
        },
        "phases": [],
    }
    with connection.cursor() as cur:
        superuser = _is_superuser(cur)
        ids = Ids(
            _next_id(cur, "devices_device"),
            _next_id(cur, "devices_parameter"),
            _next_id(cur, "devices_sessionlog"),
        )
        report["first_device_id"] = ids.device
        report["sizes_before"] = _table_sizes(cur, LOADED_TABLES)
    phases = (
        ("ordinary", devices - full_trees, False, batch_devices),
        ("full", full_trees, True, batch_full),
    )
    state = {"index": 0}
    for name, count, full, batch in phases:
        started = time.perf_counter()
        counts = Counts()
        first = ids.device
        done = 0
        # A thread makes the next batch while this one streams into PostgreSQL
        # (psycopg waits on the socket without holding the GIL).
        batches: queue.Queue[Any] = queue.Queue(maxsize=2)
        producer = threading.Thread(
            target=_produce,
            args=(gen, ids, state, count, batch, full, batches),
            daemon=True,
        )
        producer.start()
        while done < count:
            item = batches.get()
            if isinstance(item, BaseException):
                raise item
            n, n_params, dev_lines, par_lines, ses_lines = item
            with transaction.atomic(), connection.cursor() as cur:
                if superuser:
                    # Rows are consistent by construction: skip the per-row FK triggers.
                    cur.execute("SET LOCAL session_replication_role = replica")
                cur.execute("SET LOCAL synchronous_commit = off")
                _copy(cur, "devices_device", DEVICE_COLUMNS, dev_lines)
                _copy(cur, "devices_parameter", PARAMETER_COLUMNS, par_lines)
                _copy(cur, "devices_sessionlog", SESSION_COLUMNS, ses_lines)
            counts.devices += n
            counts.parameters += n_params
            counts.sessions += n
            done += n
            if done % max(batch * 20, 1) == 0 or done == count:
                rate = counts.parameters / max(time.perf_counter() - started, 1e-9)
                log(
                    f"  {name}: {done:,}/{count:,} devices, {counts.parameters:,} parameters"
                    f" ({rate:,.0f} parameter rows/s)"
                )
        producer.join()
        elapsed = time.perf_counter() - started
        with connection.cursor() as cur:
            sizes = _table_sizes(cur, LOADED_TABLES)
        report["phases"].append(
            {
                "name": name,
                "devices": counts.devices,
                "parameters": counts.parameters,
                "sessions": counts.sessions,
                "first_device_id": first,
                "last_device_id": ids.device - 1,
                "seconds": round(elapsed, 2),
                "rows_per_second": round(
                    (counts.devices + counts.parameters + counts.sessions) / max(elapsed, 1e-9)
                ),
                "sizes_after": sizes,
            }
        )
        log(f"  {name}: {counts.devices:,} devices, {counts.parameters:,} rows in {elapsed:.1f}s")
    report["per_model"] = {k: {"ordinary": v[0], "full": v[1]} for k, v in gen.per_model.items()}
    started = time.perf_counter()
    with connection.cursor() as cur:
        for table in LOADED_TABLES:
            cur.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT COALESCE(max(id), 1) FROM {table}))"
            )
        # In a test's transaction VACUUM is not allowed; ANALYZE is.
        verb = "VACUUM (ANALYZE)" if vacuum and not connection.in_atomic_block else "ANALYZE"
        for table in LOADED_TABLES:
            cur.execute(f"{verb} {table}")
        report["analyze"] = {"statement": verb, "seconds": round(time.perf_counter() - started, 2)}
        report["sizes_after"] = _table_sizes(cur, LOADED_TABLES)
    report["bytes_per_device"] = bytes_per_device(report)
    _save_meta("load", report)
    return report


def _session_line(gen: Generator, sid: int, device_pk: int, device_line: str) -> str:
    """The device's last session, from its just-made device row."""
    f = device_line.split("\t")
    started, ip, cwmp, tenant = f[21], f[12], f[11], f[27]
    events = json.dumps([f[24]])
    duration = gen.rnd.randrange(80, 900)
    return (
        f"{sid}\t{gen.rnd.getrandbits(128):032x}\t{started}\t{started}\t{duration}\t{events}\t"
        f'["Inform", "InformResponse"]\tok\t\t{ip}\t{cwmp}\t2\t{device_pk}\t{tenant}\n'
    )


def bytes_per_device(report: dict[str, Any]) -> dict[str, Any]:
    """On-disk bytes per device of each kind, from the sizes taken between the phases."""
    before = report["sizes_before"]
    out: dict[str, Any] = {}
    previous = before
    for phase in report["phases"]:
        n = phase["devices"]
        after = phase["sizes_after"]
        if not n:
            previous = after
            continue
        share = {}
        for table in LOADED_TABLES:
            share[table] = {
                k: (after[table][k] - previous[table][k]) / n
                for k in ("heap", "toast", "indexes", "total")
            }
        out[phase["name"]] = {
            "device_row": share["devices_device"]["total"],
            "parameters": share["devices_parameter"]["total"],
            "parameters_heap": share["devices_parameter"]["heap"],
            "parameters_indexes": share["devices_parameter"]["indexes"],
            "session_log": share["devices_sessionlog"]["total"],
            "device_plus_parameters": share["devices_device"]["total"]
            + share["devices_parameter"]["total"],
            "parameter_rows": phase["parameters"] / n,
            # Each index of the two big tables, per device of this kind.
            "index_bytes": {
                f"{table}.{name}": (size - previous[table]["index_sizes"].get(name, 0)) / n
                for table in ("devices_device", "devices_parameter")
                for name, size in after[table]["index_sizes"].items()
            },
            "bytes_per_parameter_row": share["devices_parameter"]["total"]
            * n
            / max(phase["parameters"], 1),
        }
        previous = after
    return out


def _save_meta(key: str, value: dict[str, Any]) -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS {META_TABLE} (key text PRIMARY KEY, value jsonb NOT NULL)"
        )
        cur.execute(
            f"INSERT INTO {META_TABLE} (key, value) VALUES (%s, %s)"
            " ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            [key, json.dumps(value, default=str)],
        )


def _load_meta(key: str) -> dict[str, Any] | None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass(%s)", [META_TABLE])
        if cur.fetchone()[0] is None:
            return None
        cur.execute(f"SELECT value FROM {META_TABLE} WHERE key = %s", [key])
        row = cur.fetchone()
    if not row:
        return None
    return row[0] if isinstance(row[0], dict) else json.loads(row[0])


# -- measurements ------------------------------------------------------------------


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))
    return ordered[k]


_EXEC_RE = re.compile(r"Execution Time: ([\d.]+) ms")
_PLAN_RE = re.compile(r"Planning Time: ([\d.]+) ms")


def _plan_summary(lines: list[str]) -> str:
    """The plan's nodes, without costs: `Limit > Index Scan Backward using x on t`."""
    nodes = []
    for line in lines:
        text = line.strip()
        if text.startswith("->"):
            text = text[2:].strip()
        elif nodes:
            continue
        name = re.sub(r"\s*\(cost=[^)]*\)", "", text)
        name = re.sub(r"\s*\(actual[^)]*\)", "", name)
        name = re.sub(r"\s*\(never executed\)", "", name)
        if name and not name.startswith(
            ("Planning", "Execution", "Buffers", "Filter", "Index Cond")
        ):
            nodes.append(name)
    return " > ".join(nodes[:8])


@dataclass
class Result:
    key: str
    label: str
    target_ms: float | None
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    plan: list[str] = field(default_factory=list)
    rows: Any = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "label": self.label,
            "target_ms": self.target_ms,
            "runs": len(self.client_ms),
            "client_median_ms": round(statistics.median(self.client_ms), 3)
            if self.client_ms
            else None,
            "client_p95_ms": round(_pct(self.client_ms, 0.95), 3) if self.client_ms else None,
            "server_median_ms": round(statistics.median(self.server_ms), 3)
            if self.server_ms
            else None,
            "server_p95_ms": round(_pct(self.server_ms, 0.95), 3) if self.server_ms else None,
            "plan_summary": _plan_summary(self.plan),
            "plan": self.plan,
            "rows": self.rows,
            "note": self.note,
        }


def _run_sql(
    cur: Any,
    result: Result,
    sql: str,
    params_list: Sequence[Sequence[Any]],
    *,
    explain_runs: int,
    rollback: bool = False,
) -> Result:
    """Client-time each parameter set, then EXPLAIN (ANALYZE, BUFFERS) some of them."""
    from django.db import transaction

    class _Undo(Exception):
        pass

    def run(statement: str, params: Sequence[Any]) -> tuple[float, list[Any]]:
        rows: list[Any] = []
        start = time.perf_counter()
        try:
            with transaction.atomic():
                cur.execute(statement, params)
                rows = cur.fetchall() if cur.description else []
                elapsed = (time.perf_counter() - start) * 1000
                if rollback:
                    raise _Undo
        except _Undo:
            pass
        return elapsed, rows

    for params in params_list:
        elapsed, rows = run(sql, params)
        result.client_ms.append(elapsed)
        result.rows = rows[:3] if len(rows) > 3 else rows
    for params in list(params_list)[-explain_runs:] if explain_runs else []:
        _, lines = run("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
        plan = [line[0] for line in lines]
        text = "\n".join(plan)
        match = _EXEC_RE.search(text)
        planning = _PLAN_RE.search(text)
        if match:
            result.server_ms.append(
                float(match.group(1)) + (float(planning.group(1)) if planning else 0.0)
            )
        result.plan = plan
    return result


def _time_calls(result: Result, calls: Sequence[Callable[[], Any]]) -> Result:
    for call in calls:
        start = time.perf_counter()
        out = call()
        result.client_ms.append((time.perf_counter() - start) * 1000)
        result.rows = out
    return result


def _sample_devices(cur: Any, n: int, where: str = "", params: Sequence[Any] = ()) -> list[tuple]:
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


def _match_queries(ssid: str, searchable: bool = True) -> list[tuple[str, str, str, bool]]:
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


def _match_params(key: str, tenant: int, ssid: str) -> tuple:
    return {
        "match_ssid": (tenant, list(SSID_PATHS), ssid),
        "match_channel": (list(CHANNEL_PATHS), "6"),
        "match_sw_like": (list(SW_PATHS), "%V5%"),
    }[key]


def _layout(cur: Any) -> dict[str, Any]:
    """Where a parameter row's bytes go (a 1% sample of pages)."""
    cur.execute(
        "SELECT count(*), avg(pg_column_size(p.*)), avg(pg_column_size(p.path)),"
        " avg(pg_column_size(p.value)), avg(pg_column_size(p.type)),"
        " avg(pg_column_size(p.access_list)), max(octet_length(p.value)),"
        " avg(CASE WHEN p.is_object THEN 1 ELSE 0 END)"
        " FROM devices_parameter p TABLESAMPLE SYSTEM (1)"
    )
    n, row, path, value, type_, access, max_value, objects = cur.fetchone()
    cur.execute(
        "SELECT count(*) FROM devices_parameter TABLESAMPLE SYSTEM (1)"
        " WHERE octet_length(value) > 2000"
    )
    long_values = cur.fetchone()[0]
    return {
        "sampled_rows": n,
        "avg_row_bytes": float(row or 0),
        "avg_path_bytes": float(path or 0),
        "avg_value_bytes": float(value or 0),
        "avg_type_bytes": float(type_ or 0),
        "avg_access_list_bytes": float(access or 0),
        "max_value_bytes": max_value,
        "object_share": float(objects or 0),
        "sampled_values_over_2000_bytes": long_values,
    }


def _choose_filters(cur: Any) -> dict[str, Any]:
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


def measure(
    *,
    repeat: int = 20,
    slow_repeat: int = 3,
    naive: int = 1000,
    interned: bool = True,
    rebuild_interned: bool = False,
    indexes: bool = True,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Time the target queries on the current schema, then on the interned layout."""
    from django.db import connection

    results: list[Result] = []
    out: dict[str, Any] = {"settings": {}, "results": []}
    meta = _load_meta("load") or {}
    with connection.cursor() as cur:
        for name in (
            "server_version",
            "shared_buffers",
            "work_mem",
            "effective_cache_size",
            "max_parallel_workers_per_gather",
            "jit",
            "random_page_cost",
        ):
            cur.execute(f"SHOW {name}")
            out["settings"][name] = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM devices_device")
        out["devices"] = cur.fetchone()[0]
        cur.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = 'devices_parameter'")
        out["parameters_estimate"] = cur.fetchone()[0]
        out["sizes"] = _table_sizes(cur, (*LOADED_TABLES, "provisioning_task", "tenants_tenant"))
        out["layout"] = _layout(cur)
        filters = _choose_filters(cur)
        out["filters"] = filters
        full_phase = next((p for p in meta.get("phases", []) if p["name"] == "full"), None)
        sample = _sample_devices(cur, repeat)
        if full_phase and full_phase["devices"]:
            full_sample = _sample_devices(
                cur,
                max(3, repeat // 4),
                "WHERE id >= %s AND id <= %s",
                [full_phase["first_device_id"], full_phase["last_device_id"]],
            )
            ordinary_sample = _sample_devices(
                cur, repeat, "WHERE id < %s", [full_phase["first_device_id"]]
            )
        else:
            full_sample, ordinary_sample = [], sample
        log(f"measuring on {out['devices']:,} devices; filters {filters}")

        def add(result: Result) -> None:
            results.append(result)
            d = result.as_dict()
            log(
                f"  {result.key}: client median {d['client_median_ms']} ms,"
                f" p95 {d['client_p95_ms']} ms; server {d['server_median_ms']} ms"
                f" [{d['plan_summary'][:110]}]"
            )

        # 1. Device lookups.
        add(
            _run_sql(
                cur,
                Result("lookup_serial", "device by (tenant, serial number)", 10),
                "SELECT * FROM devices_device WHERE tenant_id = %s AND serial_number = %s",
                [(s[1], s[3]) for s in sample],
                explain_runs=len(sample),
            )
        )
        add(
            _run_sql(
                cur,
                Result("lookup_identity", "device by OUI + ProductClass + serial (any tenant)", 10),
                "SELECT * FROM devices_device WHERE oui = %s AND product_class = %s"
                " AND serial_number = %s",
                [(s[4], s[5], s[3]) for s in sample],
                explain_runs=len(sample),
            )
        )
        add(
            _run_sql(
                cur,
                Result("lookup_device_id", "device by (tenant, device id), as the CWMP view", 10),
                "SELECT * FROM devices_device WHERE tenant_id = %s AND device_id = %s"
                " ORDER BY id LIMIT 1",
                [(s[1], s[2]) for s in sample],
                explain_runs=len(sample),
            )
        )
        param_page = (
            "SELECT path, value, type, writable, updated FROM devices_parameter"
            " WHERE device_id = %s ORDER BY path"
        )
        add(
            _run_sql(
                cur,
                Result("params_ordinary", "all parameters of an ordinary device", None),
                param_page,
                [(s[0],) for s in ordinary_sample],
                explain_runs=len(ordinary_sample),
            )
        )
        if full_sample:
            add(
                _run_sql(
                    cur,
                    Result("params_full", "all parameters of a full-tree device", None),
                    param_page,
                    [(s[0],) for s in full_sample],
                    explain_runs=len(full_sample),
                )
            )
        # 2. The device list.
        where = "tenant_id = %s AND product_class = %s AND software_version <> %s"
        lp = [(filters["tenant"], filters["product_class"], filters["latest"])] * repeat
        add(
            _run_sql(
                cur,
                Result("list_page", "list page: tenant, class, version <>, by last inform", 100),
                f"SELECT {LIST_COLUMNS} FROM devices_device WHERE {where}"
                " ORDER BY last_inform DESC LIMIT 50",
                lp,
                explain_runs=3,
            )
        )
        add(
            _run_sql(
                cur,
                Result("list_count", "its COUNT(*)", 100),
                f"SELECT count(*) FROM devices_device WHERE {where}",
                lp[: max(3, repeat // 2)],
                explain_runs=3,
            )
        )
        rare = [(filters["rare_tenant"], filters["rare_product_class"], "")] * repeat
        add(
            _run_sql(
                cur,
                Result("list_page_rare", "list page, rarest (tenant, class)", 100),
                f"SELECT {LIST_COLUMNS} FROM devices_device WHERE {where}"
                " ORDER BY last_inform DESC LIMIT 50",
                rare,
                explain_runs=3,
            )
        )
        add(
            _run_sql(
                cur,
                Result("list_page_offline", "list page: tenant, offline > 1 day", 100),
                f"SELECT {LIST_COLUMNS} FROM devices_device WHERE tenant_id = %s"
                " AND last_inform < now() - interval '1 day' ORDER BY last_inform DESC LIMIT 50",
                [(filters["tenant"],)] * repeat,
                explain_runs=3,
            )
        )
        add(
            _run_sql(
                cur,
                Result("list_page_deep", "list page 200 (OFFSET 9950)", 100),
                f"SELECT {LIST_COLUMNS} FROM devices_device WHERE tenant_id = %s"
                " ORDER BY last_inform DESC OFFSET 9950 LIMIT 50",
                [(filters["tenant"],)] * max(3, repeat // 4),
                explain_runs=2,
            )
        )
        # 3. Devices whose parameter matches a value (the index parameter_search).
        ssid = COMMON_SSIDS[0]
        for key, label, sql, _ in _match_queries(ssid):
            add(
                _run_sql(
                    cur,
                    Result(key, label, 1000),
                    sql,
                    [_match_params(key, filters["tenant"], ssid)] * max(3, repeat // 4),
                    explain_runs=2,
                )
            )
        add(_match_orm(filters["tenant"], ssid, max(3, repeat // 4)))
        add(
            _run_sql(
                cur,
                Result(
                    "match_sw_summary",
                    "the same on the summary column devices_device.software_version",
                    1000,
                ),
                "SELECT count(*) FROM devices_device WHERE software_version LIKE %s",
                [("%V5%",)] * max(3, repeat // 4),
                explain_runs=2,
            )
        )
    # 4. A periodic session's statements on the big tables, through the app's own code.
    results.extend(_periodic(sample, repeat, log))
    # 5. Queueing a task for ~100,000 devices.
    results.extend(_bulk(filters, slow_repeat, naive, log))
    if interned:
        out["interned"] = interned_experiment(
            repeat=repeat,
            slow_repeat=slow_repeat,
            rebuild=rebuild_interned,
            samples={"ordinary": ordinary_sample, "full": full_sample},
            filters=filters,
            log=log,
        )
    if indexes:
        out["index_experiments"] = index_experiments(
            repeat=repeat, slow_repeat=slow_repeat, log=log
        )
    out["results"] = [r.as_dict() for r in results]
    _save_meta("measure", out)
    return out


def _match_orm(tenant: int, ssid: str, runs: int) -> Result:
    """The SSID count as the application's ORM writes it, with ``searchable()``."""
    from devices.models import Parameter

    qs = Parameter.objects.searchable().filter(
        device__tenant_id=tenant, path__in=SSID_PATHS, value=ssid
    )
    result = _time_calls(
        Result("match_ssid_orm", "the SSID count through the ORM: searchable().filter()", 1000),
        [qs.count] * runs,
    )
    result.plan = qs.values("pk").explain(analyze=True, buffers=True).splitlines()
    match = _EXEC_RE.search("\n".join(result.plan))
    if match:
        result.server_ms.append(float(match.group(1)))
    result.note = str(qs.values("pk").query)[:400]
    return result


class _Undo(Exception):
    pass


# Alternatives to the application's indexes, built, timed and dropped again.
ALTERNATIVES = (
    (
        "bench_param_value",
        "CREATE INDEX bench_param_value ON devices_parameter (value) WHERE length(value) <= 200",
        "devices_parameter",
    ),
    (
        "bench_param_ssid",
        "CREATE INDEX bench_param_ssid ON devices_parameter (value)"
        f" WHERE path IN ({', '.join(repr(p) for p in SSID_PATHS)})",
        "devices_parameter",
    ),
)


def index_experiments(
    *, repeat: int, slow_repeat: int, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """The target queries without the application's indexes, and with the alternatives.

    An index is hidden by dropping it in a transaction that is rolled back.
    The ``without_*`` results are the schema before migration
    devices 0003; ``alt_*`` what the index not chosen would give.
    """
    from django.db import connection, transaction

    out: dict[str, Any] = {"indexes": {}, "results": []}
    results: list[Result] = []
    ssid = COMMON_SSIDS[0]
    with connection.cursor() as cur:
        filters = _choose_filters(cur)
        app_indexes = {}
        for name in ("parameter_search", "device_model_version"):
            cur.execute("SELECT pg_relation_size(to_regclass(%s))", [name])
            app_indexes[name] = cur.fetchone()[0]
        out["app_indexes"] = app_indexes
        where = "tenant_id = %s AND product_class = %s AND software_version <> %s"
        lp = [(filters["tenant"], filters["product_class"], filters["latest"])]
        if app_indexes["device_model_version"] is not None:
            try:
                with transaction.atomic():
                    cur.execute("DROP INDEX device_model_version")
                    results.append(
                        _run_sql(
                            cur,
                            Result(
                                "without_list_count", "list COUNT(*), no device_model_version", 100
                            ),
                            f"SELECT count(*) FROM devices_device WHERE {where}",
                            lp * max(3, repeat // 4),
                            explain_runs=2,
                        )
                    )
                    raise _Undo
            except _Undo:
                pass
        try:
            with transaction.atomic():
                if app_indexes["parameter_search"] is not None:
                    cur.execute("DROP INDEX parameter_search")
                for key, label, sql, _ in _match_queries(ssid):
                    results.append(
                        _run_sql(
                            cur,
                            Result(f"without_{key}", f"{label}, no parameter_search", 1000),
                            sql,
                            [_match_params(key, filters["tenant"], ssid)] * slow_repeat,
                            explain_runs=1,
                        )
                    )
                for name, ddl, table in ALTERNATIVES:
                    start = time.perf_counter()
                    cur.execute("SET LOCAL maintenance_work_mem = '1GB'")
                    cur.execute(ddl)
                    seconds = time.perf_counter() - start
                    cur.execute(f"ANALYZE {table}")
                    cur.execute("SELECT pg_relation_size(%s::regclass)", [name])
                    size = cur.fetchone()[0]
                    out["indexes"][name] = {"ddl": ddl, "seconds": round(seconds, 1), "bytes": size}
                    log(f"  {name}: built in {seconds:.1f}s, {size:,} bytes")
                    for key, label, sql, _ in _match_queries(ssid):
                        if name == "bench_param_ssid" and key != "match_ssid":
                            continue
                        results.append(
                            _run_sql(
                                cur,
                                Result(f"alt_{key}_{name}", f"{label}, {name} alone", 1000),
                                sql,
                                [_match_params(key, filters["tenant"], ssid)] * slow_repeat,
                                explain_runs=1,
                            )
                        )
                    cur.execute(f"DROP INDEX {name}")
                raise _Undo
        except _Undo:
            pass
    for r in results:
        d = r.as_dict()
        log(
            f"  {r.key}: client median {d['client_median_ms']} ms, p95 {d['client_p95_ms']} ms;"
            f" server {d['server_median_ms']} ms [{d['plan_summary'][:110]}]"
        )
    out["results"] = [r.as_dict() for r in results]
    return out


def _periodic(sample: list[tuple], repeat: int, log: Callable[[str], None]) -> list[Result]:
    """SELECT device, UPDATE last_inform, INSERT + UPDATE the session log, as the app does."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from devices import selectors
    from devices import services as device_services
    from devices.models import Device
    from tenants.models import Tenant

    tenants = {t.pk: t for t in Tenant.objects.all()}
    out = []
    found: list[Device] = []
    logs: list[int] = []
    captured: dict[str, str] = {}

    def select(s: tuple) -> Callable[[], Any]:
        def call() -> Any:
            device = selectors.device_for_cwmp(tenant=tenants[s[1]], device_id=s[2])
            found.append(device)
            return device.pk if device else None

        return call

    def update(device: Device) -> Callable[[], Any]:
        return lambda: Device.objects.filter(pk=device.pk).update(last_inform=timezone.now())

    def open_log(device: Device) -> Callable[[], Any]:
        def call() -> Any:
            log_row = device_services.session_log_open(
                tenant=tenants[device.tenant_id],
                device=device,
                session_id=f"bench{random.getrandbits(100):025x}",
                events=["2 PERIODIC"],
                remote_address=str(device.ip_address) if device.ip_address else None,
                cwmp_version=device.cwmp_version,
                started=timezone.now(),
            )
            logs.append(log_row.pk)
            return log_row.pk

        return call

    def close_log(pk: int) -> Callable[[], Any]:
        return lambda: device_services.session_log_close(
            log_pk=pk,
            outcome="ok",
            rpcs=["Inform", "InformResponse"],
            messages=2,
            ended=timezone.now(),
            duration_ms=12,
        )

    with CaptureQueriesContext(connection) as ctx:
        out.append(
            _time_calls(
                Result("session_select", "periodic: SELECT device (tenant, device_id)", 10),
                [select(s) for s in sample],
            )
        )
        captured["session_select"] = ctx.captured_queries[-1]["sql"] if ctx.captured_queries else ""
        devices = [d for d in found if d is not None]
        out.append(
            _time_calls(
                Result("session_update", "periodic: UPDATE devices_device SET last_inform", 10),
                [update(d) for d in devices],
            )
        )
        captured["session_update"] = ctx.captured_queries[-1]["sql"] if ctx.captured_queries else ""
        out.append(
            _time_calls(
                Result("sessionlog_insert", "periodic: INSERT devices_sessionlog", 10),
                [open_log(d) for d in devices],
            )
        )
        captured["sessionlog_insert"] = (
            ctx.captured_queries[-1]["sql"] if ctx.captured_queries else ""
        )
        out.append(
            _time_calls(
                Result("sessionlog_update", "periodic: UPDATE devices_sessionlog (close)", 10),
                [close_log(pk) for pk in logs],
            )
        )
        captured["sessionlog_update"] = (
            ctx.captured_queries[-1]["sql"] if ctx.captured_queries else ""
        )
    # Server-side times of the same statements (EXPLAIN ANALYZE, rolled back).
    with connection.cursor() as cur:
        pairs = list(zip(devices, logs, strict=False))
        plans = {
            "session_select": (
                "SELECT * FROM devices_device WHERE tenant_id = %s AND device_id = %s"
                " ORDER BY id LIMIT 1",
                [(d.tenant_id, d.device_id) for d, _ in pairs],
            ),
            "session_update": (
                "UPDATE devices_device SET last_inform = now() WHERE id = %s",
                [(d.pk,) for d, _ in pairs],
            ),
            "sessionlog_insert": (
                "INSERT INTO devices_sessionlog (tenant_id, device_id, session_id, started,"
                " events, rpcs, outcome, detail, remote_address, cwmp_version, messages)"
                " VALUES (%s, %s, %s, now(), '[\"2 PERIODIC\"]', '[]', 'open', '', NULL, %s, 1)"
                " RETURNING id",
                [(d.tenant_id, d.pk, f"x{random.getrandbits(100):025x}", "1.0") for d, _ in pairs],
            ),
            "sessionlog_update": (
                "UPDATE devices_sessionlog SET outcome = 'ok', rpcs = '[\"Inform\"]',"
                " messages = 2, ended = now(), duration_ms = 12, detail = '' WHERE id = %s",
                [(pk,) for _, pk in pairs],
            ),
        }
        for result in out:
            sql, params = plans[result.key]
            probe = Result(result.key, result.label, result.target_ms)
            for p in params:
                _run_sql(cur, probe, sql, [p], explain_runs=1, rollback=True)
            result.server_ms = probe.server_ms
            result.plan = probe.plan
            result.note = "ORM SQL: " + captured.get(result.key, "")[:300]
        cur.execute("DELETE FROM devices_sessionlog WHERE id = ANY(%s)", [logs])
        cur.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_user_tables"
            " WHERE relname = 'devices_device'"
        )
        row = cur.fetchone()
    if row:
        out[1].note += f" | device table updates so far: {row[0]}, of which HOT: {row[1]}"
    for r in out:
        d = r.as_dict()
        log(f"  {r.key}: client median {d['client_median_ms']} ms, p95 {d['client_p95_ms']} ms")
    return out


def _bulk(
    filters: dict[str, Any], runs: int, naive: int, log: Callable[[str], None]
) -> list[Result]:
    """task_enqueue_bulk over ~10% of the fleet (rolled back each run) vs task_enqueue per device."""
    from django.db import connection, transaction

    from devices.models import Device
    from provisioning.models import Task
    from provisioning.services import task_enqueue, task_enqueue_bulk

    tenant, pclass = filters["bulk_tenant"], filters["bulk_product_class"]
    qs = Device.objects.filter(tenant_id=tenant, product_class=pclass)
    root = qs.values_list("data_model", flat=True).first() or "InternetGatewayDevice"
    args = {
        "values": [[f"{root}.ManagementServer.PeriodicInformInterval", "1800", "xsd:unsignedInt"]]
    }

    class _Undo(Exception):
        pass

    bulk = Result(
        "bulk_enqueue",
        f"task_enqueue_bulk for every {pclass} of tenant {tenant} (~{filters['bulk_expected']:,})",
        60_000,
    )
    for _ in range(runs):
        try:
            with transaction.atomic():
                flagged_before = Device.objects.filter(has_tasks=True).count()
                with connection.cursor() as cur:
                    # The foreign keys are checked at COMMIT, which a rolled-back run
                    # never reaches: check them in the statement, inside the timing.
                    cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
                start = time.perf_counter()
                created = task_enqueue_bulk(
                    tenant=tenant,
                    devices=Device.objects.filter(product_class=pclass),
                    type="set_parameter_values",
                    args=args,
                    via="bench",
                )
                bulk.client_ms.append((time.perf_counter() - start) * 1000)
                flagged = Device.objects.filter(has_tasks=True).count() - flagged_before
                bulk.rows = {"tasks": created, "devices_flagged": flagged}
                raise _Undo
        except _Undo:
            pass
    bulk.note = "each run rolled back after timing; foreign keys checked immediately"
    log(f"  bulk_enqueue: {bulk.rows} in {statistics.median(bulk.client_ms):.0f} ms (median)")
    naive_result = Result(
        "naive_enqueue", f"task_enqueue per device, {naive:,} devices (ORM, one by one)", None
    )
    picked = list(qs.order_by("id")[:naive])
    created_ids: list[int] = []
    start = time.perf_counter()
    for device in picked:
        created_ids.append(
            task_enqueue(device=device, type="set_parameter_values", args=args, via="bench").pk
        )
    elapsed = (time.perf_counter() - start) * 1000
    naive_result.client_ms.append(elapsed)
    per_task = elapsed / max(len(picked), 1)
    naive_result.rows = {
        "tasks": len(created_ids),
        "ms_per_task": round(per_task, 3),
        "extrapolated_100k_s": round(per_task * 100_000 / 1000, 1),
    }
    Task.objects.filter(pk__in=created_ids).delete()
    Device.objects.filter(pk__in=[d.pk for d in picked]).update(has_tasks=False)
    if not connection.in_atomic_block:
        with connection.cursor() as cur:
            cur.execute("VACUUM (ANALYZE) provisioning_task")
            cur.execute("VACUUM (ANALYZE) devices_device")
    log(f"  naive_enqueue: {naive_result.rows}")
    return [bulk, naive_result]


# -- the interned layout -------------------------------------------------------------

INTERNED_DDL = (
    "CREATE TABLE bench_param_path ("
    " id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " path varchar(512) NOT NULL UNIQUE)",
    "CREATE TABLE bench_param_type (id smallint PRIMARY KEY, name varchar(32) NOT NULL UNIQUE)",
    # Fixed-width columns first, widest first: no alignment padding; 24 bytes + value.
    "CREATE TABLE bench_param_interned ("
    " device_id bigint NOT NULL,"
    " updated timestamptz NOT NULL,"
    " path_id integer NOT NULL,"
    " type_id smallint NOT NULL,"
    # bit 0 object; bit 1 writability known, bit 2 writable; bits 3-5 notification + 1
    # (0 = unknown); bit 6 access list 'Subscriber'.
    " flags smallint NOT NULL,"
    " value text NOT NULL,"
    " PRIMARY KEY (device_id, path_id))",
)
VALUE_LIMIT = 200
INTERNED_TABLES = ("bench_param_interned", "bench_param_path", "bench_param_type")
_FLAGS_SQL = (
    "((CASE WHEN p.is_object THEN 1 ELSE 0 END)"
    " | (CASE WHEN p.writable IS NULL THEN 0 WHEN p.writable THEN 6 ELSE 2 END)"
    " | (COALESCE(p.notification + 1, 0) << 3)"
    " | (CASE WHEN p.access_list <> '' THEN 64 ELSE 0 END))::smallint"
)


VALUE_INDEX = (
    "CREATE INDEX bench_param_interned_value ON bench_param_interned (path_id, value)"
    f" WHERE octet_length(value) <= {VALUE_LIMIT}"
)


def _value_index(cur: Any) -> None:
    """The search index: any parameter by value ("count devices whose X is Y").

    Partial: a few values (certificates, logs) are longer than a btree entry
    may be, and nobody searches them. Queries add ``octet_length(value) <=
    200`` so the planner may use it, for equality and, index-only, for LIKE.
    """
    cur.execute("SELECT pg_get_indexdef(to_regclass('bench_param_interned_value'))")
    row = cur.fetchone()
    if row and row[0] and "octet_length" in row[0]:
        return
    cur.execute("DROP INDEX IF EXISTS bench_param_interned_value")
    cur.execute(VALUE_INDEX)
    cur.execute("ANALYZE bench_param_interned")


def build_interned(*, split_device_id: int | None, log: Callable[[str], None] = print) -> dict:
    """Copy devices_parameter into the interned layout, sizes taken per kind of device."""
    from django.db import connection

    report: dict[str, Any] = {}
    with connection.cursor() as cur:
        for table in INTERNED_TABLES:
            cur.execute(f"DROP TABLE IF EXISTS {table}")
        for ddl in INTERNED_DDL:
            cur.execute(ddl)
        start = time.perf_counter()
        cur.execute("SELECT path, type FROM devices_parameter GROUP BY path, type")
        pairs = cur.fetchall()
        paths = sorted({p for p, _ in pairs})
        types = sorted({t for _, t in pairs})
        with cur.cursor.copy("COPY bench_param_path (path) FROM STDIN") as copy:
            for path in paths:
                copy.write_row((path,))
        with cur.cursor.copy("COPY bench_param_type (id, name) FROM STDIN") as copy:
            for i, name in enumerate(types):
                copy.write_row((i, name))
        cur.execute("ANALYZE bench_param_path")
        cur.execute("ANALYZE bench_param_type")
        report["dictionary_seconds"] = round(time.perf_counter() - start, 2)
        report["distinct_paths"] = len(paths)
        report["distinct_types"] = len(types)
        log(f"  interned: {len(paths):,} distinct paths, {len(types)} types")
        insert = (
            "INSERT INTO bench_param_interned"
            " (device_id, updated, path_id, type_id, flags, value)"
            f" SELECT p.device_id, p.updated, pp.id, t.id, {_FLAGS_SQL}, p.value"
            " FROM devices_parameter p"
            " JOIN bench_param_path pp ON pp.path = p.path"
            " JOIN bench_param_type t ON t.name = p.type"
        )
        phases = [("ordinary", " WHERE p.device_id < %s"), ("full", " WHERE p.device_id >= %s")]
        if split_device_id is None:
            phases = [("all", "")]
        sizes_before = _table_sizes(cur, ["bench_param_interned"])["bench_param_interned"]
        report["phases"] = []
        for name, where in phases:
            start = time.perf_counter()
            cur.execute(insert + where, [split_device_id] if where else [])
            rows = cur.rowcount
            seconds = time.perf_counter() - start
            sizes = _table_sizes(cur, ["bench_param_interned"])["bench_param_interned"]
            report["phases"].append(
                {
                    "name": name,
                    "rows": rows,
                    "seconds": round(seconds, 2),
                    "bytes": {k: sizes[k] - sizes_before[k] for k in ("heap", "indexes", "total")},
                }
            )
            sizes_before = sizes
            log(f"  interned {name}: {rows:,} rows in {seconds:.1f}s")
        verb = "VACUUM (ANALYZE)" if not connection.in_atomic_block else "ANALYZE"
        cur.execute(f"{verb} bench_param_interned")
        start = time.perf_counter()
        _value_index(cur)
        report["value_index_seconds"] = round(time.perf_counter() - start, 2)
        cur.execute(f"{verb} bench_param_interned")
        report["sizes"] = _table_sizes(cur, INTERNED_TABLES)
    return report


def interned_experiment(
    *,
    repeat: int,
    slow_repeat: int,
    rebuild: bool,
    samples: dict[str, list[tuple]],
    filters: dict[str, Any],
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Build (or reuse) the interned copy and time the same questions on it."""
    from django.db import connection

    meta = _load_meta("load") or {}
    full_phase = next((p for p in meta.get("phases", []) if p["name"] == "full"), None)
    split = full_phase["first_device_id"] if full_phase and full_phase["devices"] else None
    with connection.cursor() as cur:
        cur.execute("SELECT to_regclass('bench_param_interned')")
        exists = cur.fetchone()[0] is not None
    previous = _load_meta("interned_build") if exists else None
    if rebuild or previous is None:
        build = build_interned(split_device_id=split, log=log)
        _save_meta("interned_build", build)
    else:
        build = previous
        with connection.cursor() as cur:
            start = time.perf_counter()
            _value_index(cur)
            if time.perf_counter() - start > 1:
                build["value_index_seconds"] = round(time.perf_counter() - start, 2)
            build["sizes"] = _table_sizes(cur, INTERNED_TABLES)
        _save_meta("interned_build", build)
    out: dict[str, Any] = {"build": build, "results": []}
    per_kind = {}
    for phase in build["phases"]:
        devices = next(
            (p["devices"] for p in meta.get("phases", []) if p["name"] == phase["name"]),
            None,
        )
        if devices:
            per_kind[phase["name"]] = {
                "parameters": phase["bytes"]["total"] / devices,
                "parameters_heap": phase["bytes"]["heap"] / devices,
                "parameters_indexes": phase["bytes"]["indexes"] / devices,
                "bytes_per_parameter_row": phase["bytes"]["total"] / max(phase["rows"], 1),
            }
    out["bytes_per_device"] = per_kind
    results: list[Result] = []
    page = (
        "SELECT pp.path, i.value, t.name, i.flags, i.updated FROM bench_param_interned i"
        " JOIN bench_param_path pp ON pp.id = i.path_id"
        " JOIN bench_param_type t ON t.id = i.type_id"
        " WHERE i.device_id = %s ORDER BY pp.path"
    )
    with connection.cursor() as cur:
        for kind in ("ordinary", "full"):
            if samples.get(kind):
                results.append(
                    _run_sql(
                        cur,
                        Result(
                            f"interned_params_{kind}", f"all parameters of a {kind} device", None
                        ),
                        page,
                        [(s[0],) for s in samples[kind]],
                        explain_runs=len(samples[kind]),
                    )
                )
        for kind in ("ordinary", "full"):
            if samples.get(kind):
                results.append(
                    _run_sql(
                        cur,
                        Result(
                            f"interned_ids_{kind}",
                            f"the same, path ids resolved by an in-process cache ({kind})",
                            None,
                        ),
                        "SELECT path_id, value, type_id, flags, updated"
                        " FROM bench_param_interned WHERE device_id = %s",
                        [(s[0],) for s in samples[kind]],
                        explain_runs=len(samples[kind]),
                    )
                )
        ssid = COMMON_SSIDS[0]
        results.append(
            _run_sql(
                cur,
                Result(
                    "interned_match_ssid", f"count devices of a tenant with SSID = {ssid!r}", 1000
                ),
                "SELECT count(*) FROM bench_param_interned i JOIN devices_device d"
                " ON d.id = i.device_id WHERE d.tenant_id = %s AND i.value = %s"
                f" AND octet_length(i.value) <= {VALUE_LIMIT}"
                " AND i.path_id IN (SELECT id FROM bench_param_path WHERE path = ANY(%s))",
                [(filters["tenant"], ssid, list(SSID_PATHS))] * repeat,
                explain_runs=3,
            )
        )
        results.append(
            _run_sql(
                cur,
                Result(
                    "interned_match_sw_like", "count devices with SoftwareVersion LIKE '%V5%'", 1000
                ),
                "SELECT count(*) FROM bench_param_interned i WHERE i.value LIKE %s"
                f" AND octet_length(i.value) <= {VALUE_LIMIT}"
                " AND i.path_id IN (SELECT id FROM bench_param_path WHERE path = ANY(%s))",
                [("%V5%", list(SW_PATHS))] * max(3, repeat // 4),
                explain_runs=2,
            )
        )
        # A refresh answer written back: one upsert of an ordinary device's rows, both layouts.
        upserts = []
        for s in samples.get("ordinary", [])[: max(3, repeat // 2)]:
            upserts.append((s[0],))
        results.append(
            _run_sql(
                cur,
                Result("upsert_current", "upsert one device's ~36 values (current layout)", None),
                "INSERT INTO devices_parameter (device_id, path, value, type, is_object,"
                " writable, notification, access_list, updated)"
                " SELECT device_id, path, value || '', type, is_object, writable, notification,"
                " access_list, now() FROM devices_parameter WHERE device_id = %s"
                " ON CONFLICT (device_id, path) DO UPDATE SET value = EXCLUDED.value,"
                " type = EXCLUDED.type, updated = EXCLUDED.updated",
                upserts,
                explain_runs=len(upserts),
                rollback=True,
            )
        )
        results.append(
            _run_sql(
                cur,
                Result("upsert_interned", "upsert one device's ~36 values (interned layout)", None),
                "INSERT INTO bench_param_interned (device_id, updated, path_id, type_id, flags,"
                " value) SELECT device_id, now(), path_id, type_id, flags, value || ''"
                " FROM bench_param_interned WHERE device_id = %s"
                " ON CONFLICT (device_id, path_id) DO UPDATE SET value = EXCLUDED.value,"
                " type_id = EXCLUDED.type_id, updated = EXCLUDED.updated",
                upserts,
                explain_runs=len(upserts),
                rollback=True,
            )
        )
    for r in results:
        d = r.as_dict()
        log(
            f"  {r.key}: client median {d['client_median_ms']} ms, p95 {d['client_p95_ms']} ms;"
            f" server {d['server_median_ms']} ms [{d['plan_summary'][:110]}]"
        )
    out["results"] = [r.as_dict() for r in results]
    return out


# -- reports and the command line ----------------------------------------------------------


def _mb(n: float) -> str:
    return f"{n / 1024 / 1024:,.1f} MB"


def markdown(load_report: dict[str, Any] | None, measured: dict[str, Any] | None) -> str:
    lines: list[str] = []
    if load_report:
        lines += ["### Load", "", "| phase | devices | parameter rows | seconds | rows/s |"]
        lines.append("| --- | ---: | ---: | ---: | ---: |")
        for p in load_report["phases"]:
            lines.append(
                f"| {p['name']} | {p['devices']:,} | {p['parameters']:,} | {p['seconds']:,}"
                f" | {p['rows_per_second']:,} |"
            )
        lines += [
            "",
            "| kind | device row | parameters (heap + indexes) | rows | bytes/row | device + parameters |",
        ]
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: |")
        for kind, b in load_report.get("bytes_per_device", {}).items():
            lines.append(
                f"| {kind} | {b['device_row']:,.0f} B | {b['parameters']:,.0f} B"
                f" ({b['parameters_heap']:,.0f} + {b['parameters_indexes']:,.0f}) |"
                f" {b['parameter_rows']:,.1f} | {b['bytes_per_parameter_row']:,.0f} |"
                f" {b['device_plus_parameters']:,.0f} B |"
            )
        lines += ["", "| table | heap | TOAST | indexes | total | index sizes |"]
        lines.append("| --- | ---: | ---: | ---: | ---: | --- |")
        for table, s in load_report["sizes_after"].items():
            idx = ", ".join(f"{k} {_mb(v)}" for k, v in s["index_sizes"].items())
            lines.append(
                f"| {table} | {_mb(s['heap'])} | {_mb(s['toast'])} | {_mb(s['indexes'])}"
                f" | {_mb(s['total'])} | {idx} |"
            )
    if measured:
        rows = (
            list(measured["results"])
            + list(measured.get("interned", {}).get("results", []))
            + list(measured.get("index_experiments", {}).get("results", []))
        )
        lines += ["", "### Queries", ""]
        lines.append("| query | target | client median / p95 | server median / p95 | plan |")
        lines.append("| --- | ---: | ---: | ---: | --- |")
        for r in rows:
            target = f"{r['target_ms']:,} ms" if r["target_ms"] else ""
            client = f"{r['client_median_ms']} / {r['client_p95_ms']} ms"
            server = (
                f"{r['server_median_ms']} / {r['server_p95_ms']} ms"
                if r["server_median_ms"]
                else ""
            )
            lines.append(
                f"| {r['key']}: {r['label']} | {target} | {client} | {server} | {r['plan_summary']} |"
            )
    return "\n".join(lines)


def _ensure_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1].split("?")[0]
    if name == "test" or name.startswith("test_"):
        raise SystemExit(f"refusing to load into {name!r}: that database belongs to the test suite")
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def _reset() -> None:
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            "TRUNCATE devices_device, devices_parameter, devices_sessionlog, devices_cperequest,"
            " provisioning_task, provisioning_fault RESTART IDENTITY CASCADE"
        )
        for table in (*INTERNED_TABLES, META_TABLE):
            cur.execute(f"DROP TABLE IF EXISTS {table}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.million", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=("load", "measure", "all", "indexes"))
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--full-trees", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--reset", action="store_true", help="empty the device tables first")
    parser.add_argument("--repeat", type=int, default=20, help="runs of each fast query")
    parser.add_argument("--slow-repeat", type=int, default=3, help="runs of each slow query")
    parser.add_argument(
        "--naive", type=int, default=1000, help="devices for task_enqueue one by one"
    )
    parser.add_argument("--no-interned", action="store_true")
    parser.add_argument("--rebuild-interned", action="store_true")
    parser.add_argument("--json", type=Path, help="write the results here")
    opts = parser.parse_args(argv)

    url = os.environ.setdefault("DATABASE_URL", DEFAULT_URL)
    if not url.startswith("postgres"):
        raise SystemExit("DATABASE_URL must name a PostgreSQL database")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acsportal.settings")
    _ensure_database(url)
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    load_report = measured = None
    if opts.command in ("load", "all"):
        if opts.reset:
            _reset()
        start = time.perf_counter()
        print(f"loading {opts.devices:,} devices ({opts.full_trees:,} with full trees)")
        load_report = load(devices=opts.devices, full_trees=opts.full_trees, seed=opts.seed)
        load_report["total_seconds"] = round(time.perf_counter() - start, 1)
        print(f"loaded in {load_report['total_seconds']}s")
    else:
        load_report = _load_meta("load")
    if opts.command in ("measure", "all"):
        measured = measure(
            repeat=opts.repeat,
            slow_repeat=opts.slow_repeat,
            naive=opts.naive,
            interned=not opts.no_interned,
            rebuild_interned=opts.rebuild_interned,
        )
    if opts.command == "indexes":
        measured = {
            "results": [],
            "index_experiments": index_experiments(
                repeat=opts.repeat, slow_repeat=opts.slow_repeat
            ),
        }
    print(markdown(load_report, measured))
    if opts.json:
        opts.json.parent.mkdir(parents=True, exist_ok=True)
        opts.json.write_text(
            json.dumps({"load": load_report, "measure": measured}, indent=1, default=str)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
