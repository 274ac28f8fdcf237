"""Device models: a dump of a real device, parsed once per process and shared read-only.

A benchmark runs 10,000 devices in one process under 1 GB, and one dump has
up to 5,000 parameters. So the dump is parsed once into a `DeviceModel` that
every device of that type shares read-only, and each device keeps only what
differs from it in a `DeviceTree` overlay (`tree.py`): changed values, added
or deleted object instances and changed attributes. This module is the
model and the loader of the dumps' CSV format.
"""

from __future__ import annotations

import csv
import re
import sys
import threading
from pathlib import Path

DUMPS_DIR = Path(__file__).resolve().parent / "dumps"

#: The data-model roots a real CPE has; every other top-level name in a dump
#: (DeviceID., Events., Tags., VirtualParameters., Downloads., …) is an
#: artefact of the ACS that exported it.
ROOTS = ("InternetGatewayDevice", "Device")

#: A node of the tree: (writable, xsd type, value). Objects have type "".
Node = tuple[bool, str, str]

#: The node of an object that is not writable (objects carry no type or value).
OBJECT: Node = (False, "", "")
_NUM_SEGMENT = re.compile(r"\.(\d+)\.$")
_NUM_ANY = re.compile(r"\.\d+(?=\.)")

# Parameters TR-069 (Table 7 / A.3.3.1) requires to default to active
# notification, relative to the root.
_FORCED_ACTIVE = (
    "DeviceInfo.SoftwareVersion",
    "DeviceInfo.ProvisioningCode",
    "ManagementServer.ConnectionRequestURL",
    "ManagementServer.UDPConnectionRequestAddress",
    "ManagementServer.ConnReqJabberID",
)

#: (path below the root, writable, type, default) of parameters the simulator relies on.
_REQUIRED = (
    ("DeviceInfo.Manufacturer", False, "xsd:string", ""),
    ("DeviceInfo.ManufacturerOUI", False, "xsd:string", "000000"),
    ("DeviceInfo.ProductClass", False, "xsd:string", ""),
    ("DeviceInfo.SerialNumber", False, "xsd:string", ""),
    ("DeviceInfo.SoftwareVersion", False, "xsd:string", ""),
    ("ManagementServer.URL", True, "xsd:string", ""),
    ("ManagementServer.Username", True, "xsd:string", ""),
    ("ManagementServer.Password", True, "xsd:string", ""),
    ("ManagementServer.PeriodicInformEnable", True, "xsd:boolean", "true"),
    ("ManagementServer.PeriodicInformInterval", True, "xsd:unsignedInt", "3600"),
    ("ManagementServer.ParameterKey", False, "xsd:string", ""),
    ("ManagementServer.ConnectionRequestURL", False, "xsd:string", ""),
    ("ManagementServer.ConnectionRequestUsername", True, "xsd:string", ""),
    ("ManagementServer.ConnectionRequestPassword", True, "xsd:string", ""),
)


def _child_sort_key(path: str) -> tuple[int, int, str]:
    name = path.rstrip(".").rpartition(".")[2]
    if name.isdigit():
        return (0, int(name), "")
    return (1, 0, name)


def _schema(path: str) -> str:
    """`A.1.B.2.` -> `A.{i}.B.{i}.`"""
    return _NUM_ANY.sub(".{i}", path)


def parent_of(path: str) -> str:
    """`A.B.C` -> `A.B.`; `A.B.` -> `A.`; the root object has parent ``""``."""
    stripped = path[:-1] if path.endswith(".") else path
    head, sep, _ = stripped.rpartition(".")
    return head + "." if sep else ""


def is_instance(path: str) -> bool:
    """`X.Table.3.` is an object instance (numbered), `X.Table.` and `X.Leaf` are not."""
    return _NUM_SEGMENT.search(path) is not None


class DeviceModel:
    """A parsed dump, shared read-only by every simulated device of that type."""

    __slots__ = (
        "__weakref__",
        "_templates",
        "attr_defaults",
        "children",
        "inform_paths",
        "manufacturer",
        "name",
        "nodes",
        "oui",
        "path",
        "product_class",
        "root",
        "serial",
    )

    _cache: dict[Path, DeviceModel] = {}
    _lock = threading.Lock()

    def __init__(
        self, name: str, path: Path, rows: list[tuple[str, bool, bool, str, str, str, str]]
    ) -> None:
        self.name = name
        self.path = path
        counts = {root: 0 for root in ROOTS}
        for row in rows:
            top = row[0].partition(".")[0]
            if top in counts:
                counts[top] += 1
        root = max(ROOTS, key=lambda r: counts[r])
        if not counts[root]:
            raise ValueError(f"{path}: no {' or '.join(ROOTS)} parameters in the dump")
        self.root = root
        nodes: dict[str, Node] = {root + ".": OBJECT}
        attrs: dict[str, tuple[int, tuple[str, ...]]] = {}
        intern = sys.intern
        prefix = root + "."
        for param, is_object, writable, value, xtype, notification, access in rows:
            if param != root and not param.startswith(prefix):
                continue  # pseudo-parameters of the exporting ACS
            if is_object:
                key = intern(param.rstrip(".") + ".")
                nodes[key] = (writable, "", "")
            else:
                key = intern(param)
                nodes[key] = (writable, intern(xtype or "xsd:string"), value)
            if notification.strip().isdigit() or access.strip():
                level = int(notification) if notification.strip().isdigit() else 0
                attrs[key] = (level, tuple(a for a in access.split(",") if a))
        # Parameters every CWMP device has; a thin dump may lack some.
        for rel, writable, xtype, value in _REQUIRED:
            if prefix + rel not in nodes:
                nodes[prefix + rel] = (writable, xtype, value)
        # Make sure every ancestor exists as an object (dumps usually list them).
        for key in list(nodes):
            parent = parent_of(key)
            while parent and parent not in nodes:
                nodes[parent] = OBJECT
                parent = parent_of(parent)
        children: dict[str, list[str]] = {}
        for key in nodes:
            parent = parent_of(key)
            if parent:
                children.setdefault(parent, []).append(key)
        self.children: dict[str, tuple[str, ...]] = {
            k: tuple(sorted(v, key=_child_sort_key)) for k, v in children.items()
        }
        # Order nodes depth-first so iteration order is the tree order.
        ordered: dict[str, Node] = {}
        stack = [root + "."]
        while stack:
            key = stack.pop()
            ordered[key] = nodes[key]
            stack.extend(reversed(self.children.get(key, ())))
        self.nodes: dict[str, Node] = ordered
        for rel in _FORCED_ACTIVE:
            attrs.setdefault(prefix + rel, (2, ()))
        for key in self._wan_ip_candidates():
            attrs.setdefault(key, (2, ()))
        self.attr_defaults = attrs
        info = prefix + "DeviceInfo."
        self.manufacturer = self._value(info + "Manufacturer")
        self.oui = self._value(info + "ManufacturerOUI")
        self.product_class = self._value(info + "ProductClass")
        self.serial = self._value(info + "SerialNumber")
        self.inform_paths = self._inform_paths()
        self._templates: dict[str, str] | None = None

    # -- loading ---------------------------------------------------------

    @classmethod
    def from_dump(cls, name_or_path: str | Path) -> DeviceModel:
        """Load a dump by short name (`huawei-eg8145v5`) or path; parsed once per process."""
        path = resolve_dump(name_or_path)
        with cls._lock:
            model = cls._cache.get(path)
            if model is None:
                model = cls(path.stem, path, _read_rows(path))
                cls._cache[path] = model
            return model

    def _value(self, key: str) -> str:
        node = self.nodes.get(key)
        return node[2] if node else ""

    # -- Inform parameters -------------------------------------------------

    def _wan_ip_candidates(self) -> list[str]:
        if self.root == "InternetGatewayDevice":
            pattern = re.compile(
                r"^InternetGatewayDevice\.WANDevice\.\d+\.WANConnectionDevice\.\d+\."
                r"WAN(IP|PPP)Connection\.\d+\.ExternalIPAddress$"
            )
        else:
            pattern = re.compile(r"^Device\.IP\.Interface\.\d+\.IPv4Address\.\d+\.IPAddress$")
        return [k for k in self.nodes if pattern.match(k)]

    def _inform_paths(self) -> tuple[str, ...]:
        p = self.root + "."
        if self.root == "InternetGatewayDevice":
            wanted = [p + "DeviceSummary", p + "DeviceInfo.SpecVersion"]
        else:
            wanted = [p + "RootDataModelVersion"]
        wanted += [
            p + "DeviceInfo.HardwareVersion",
            p + "DeviceInfo.SoftwareVersion",
            p + "DeviceInfo.ProvisioningCode",
            p + "ManagementServer.ConnectionRequestURL",
            p + "ManagementServer.ParameterKey",
        ]
        if self.root == "Device":
            wanted.append(p + "ManagementServer.AliasBasedAddressing")
        paths = [w for w in wanted if w in self.nodes]
        candidates = self._wan_ip_candidates()
        preferred = p + "IP.Interface.1.IPv4Address.1.IPAddress"
        if preferred in candidates:
            paths.append(preferred)
        elif candidates:
            # The first connection that actually has an address, like the CPE's
            # default route; fall back to the first one.
            up = [c for c in candidates if self._value(c) not in ("", "0.0.0.0")]
            paths.append((up or candidates)[0])
        return tuple(paths)

    def template_for(self, table: str) -> str | None:
        """An instance of the same table anywhere in the dump (`...WANIPConnection.{i}.`).

        AddObject on a table that has no instance in this device (say the
        WANIPConnection table of a new WANConnectionDevice) still creates a
        fully shaped instance, as the firmware would.
        """
        if self._templates is None:
            templates: dict[str, str] = {}
            for key in self.nodes:
                if is_instance(key):
                    templates.setdefault(_schema(key), key)
            self._templates = templates
        return self._templates.get(_schema(table + "1."))

    def footprint(self) -> int:
        """Approximate bytes held by the shared model (for benchmarks and tests)."""
        size = sys.getsizeof(self.nodes) + sys.getsizeof(self.children)
        for key, node in self.nodes.items():
            size += sys.getsizeof(key) + sys.getsizeof(node) + sys.getsizeof(node[2])
        for kids in self.children.values():
            size += sys.getsizeof(kids)
        return size

    def __repr__(self) -> str:
        return f"<DeviceModel {self.name} {self.root}. {len(self.nodes)} nodes>"


def _truthy(text: str | None) -> bool:
    return (text or "").strip().lower() in ("true", "1")


def _read_rows(path: Path) -> list[tuple[str, bool, bool, str, str, str, str]]:
    rows = []
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        for row in reader:
            param = (row.get("Parameter") or "").strip()
            if not param or param.partition(".")[0] not in ROOTS:
                continue
            rows.append(
                (
                    param,
                    _truthy(row.get("Object")),
                    _truthy(row.get("Writable")),
                    row.get("Value") or "",
                    (row.get("Value type") or "").strip(),
                    row.get("Notification") or "",
                    row.get("Access list") or "",
                )
            )
    return rows


def list_dumps() -> list[str]:
    """Short names of the dumps shipped with the simulator."""
    return sorted(p.stem for p in DUMPS_DIR.glob("*.csv"))


def resolve_dump(name_or_path: str | Path) -> Path:
    """Find a dump by path, by file name in the dumps folder, or by unambiguous short name."""
    candidate = Path(name_or_path)
    if candidate.is_file():
        return candidate.resolve()
    name = str(name_or_path)
    for option in (DUMPS_DIR / name, DUMPS_DIR / f"{name}.csv"):
        if option.is_file():
            return option.resolve()
    matches = [p for p in DUMPS_DIR.glob("*.csv") if name.lower() in p.stem.lower()]
    if len(matches) == 1:
        return matches[0].resolve()
    raise FileNotFoundError(f"no dump {name!r}; shipped dumps: {', '.join(list_dumps())}")
