"""What a fleet of a million looks like, as COPY lines: models, tenants, per-device values.

The rows come from the simulator's real dumps so that paths and values have
real sizes (bytes per device is one of the results), and from a seeded
random generator so that a load can be repeated.
"""

from __future__ import annotations

import base64
import bisect
import json
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


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


class Generator:
    """Streams of COPY lines for devices, their parameters and their last session."""

    def __init__(self, tenants: list[TenantRow], specs: list[ModelSpec], seed: int, now: float):
        from acsportal.infra.fieldcrypt import encrypt
        from cwmp.protocol.digest import make_ha1_set
        from devices.identity import make_device_id

        # Connection-request passwords are stored encrypted, as the ACS stores them.
        self.encrypt = encrypt
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
        crpass = self.encrypt(
            base64.urlsafe_b64encode(rnd.getrandbits(120).to_bytes(15, "big")).decode()
        )
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
            f"{t_first}\t{tenant.pk}\tf\t[]\tconfirmed\n"
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


def session_line(gen: Generator, sid: int, device_pk: int, device_line: str) -> str:
    """The device's last session, from its just-made device row."""
    f = device_line.split("\t")
    started, ip, cwmp, tenant = f[21], f[12], f[11], f[27]
    events = json.dumps([f[24]])
    duration = gen.rnd.randrange(80, 900)
    return (
        f"{sid}\t{gen.rnd.getrandbits(128):032x}\t{started}\t{started}\t{duration}\t{events}\t"
        f'["Inform", "InformResponse"]\tok\t\t{ip}\t{cwmp}\t2\t{device_pk}\t{tenant}\n'
    )
