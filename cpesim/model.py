"""Parameter trees: one shared, parsed dump per device type, plus small per-device overlays.

A benchmark runs 10,000 devices in one process under 1 GB, and one dump has
up to 5,000 parameters. So the dump is parsed once into a `DeviceModel` that
every device of that type shares read-only, and each device keeps only what
differs from it in a `DeviceTree` overlay: changed values, added or deleted
object instances and changed attributes.
"""

from __future__ import annotations

import base64
import csv
import re
import sys
import threading
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path

DUMPS_DIR = Path(__file__).resolve().parent / "dumps"

#: The data-model roots a real CPE has; every other top-level name in a dump
#: (DeviceID., Events., Tags., VirtualParameters., Downloads., …) is an
#: artefact of the ACS that exported it.
ROOTS = ("InternetGatewayDevice", "Device")

#: A node of the tree: (writable, xsd type, value). Objects have type "".
Node = tuple[bool, str, str]

_OBJECT: Node = (False, "", "")
_NUM_SEGMENT = re.compile(r"\.(\d+)\.$")
_NUM_ANY = re.compile(r"\.\d+(?=\.)")
_INT_RE = re.compile(r"^[+-]?\d+$")
_DATETIME_RE = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})?$")
_INT_RANGES = {
    "int": (-(2**31), 2**31 - 1),
    "unsignedint": (0, 2**32 - 1),
    "long": (-(2**63), 2**63 - 1),
    "unsignedlong": (0, 2**64 - 1),
}
UNKNOWN_TIME = "0001-01-01T00:00:00Z"

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
        nodes: dict[str, Node] = {root + ".": _OBJECT}
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
                nodes[parent] = _OBJECT
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
                if _NUM_SEGMENT.search(key):
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


class DeviceTree:
    """One device's parameter tree: the shared model plus this device's differences.

    Lookups go overlay first, then `base` (identity values fixed at creation:
    serial number, URLs, credentials), then the model. FactoryReset drops the
    overlay and keeps `base`, which is what a factory reset of a real CPE
    provisioned with that identity does.
    """

    __slots__ = (
        "added",
        "added_children",
        "attrs",
        "base",
        "deleted",
        "model",
        "next_instance",
        "values",
    )

    def __init__(self, model: DeviceModel, base: dict[str, str] | None = None) -> None:
        self.model = model
        self.base: dict[str, str] = base or {}
        self.values: dict[str, str] | None = None
        self.added: dict[str, Node] | None = None
        self.added_children: dict[str, list[str]] | None = None
        self.deleted: set[str] | None = None
        self.attrs: dict[str, tuple[int, tuple[str, ...]]] | None = None
        self.next_instance: dict[str, int] | None = None

    @property
    def root(self) -> str:
        """The data-model root with its dot, e.g. `Device.`."""
        return self.model.root + "."

    def reset(self) -> None:
        """Back to the dump (plus identity): FactoryReset."""
        self.values = self.added = self.added_children = None
        self.deleted = self.attrs = self.next_instance = None

    # -- lookups -----------------------------------------------------------

    def _is_deleted(self, path: str) -> bool:
        deleted = self.deleted
        if not deleted:
            return False
        return any(path.startswith(d) for d in deleted)

    def node(self, path: str) -> Node | None:
        """The (writable, type, default value) of a path, or None if it does not exist."""
        node = self.model.nodes.get(path)
        if node is None and self.added:
            node = self.added.get(path)
        if node is not None and self.deleted and self._is_deleted(path):
            return None
        return node

    def exists(self, path: str) -> bool:
        return self.node(path) is not None

    def get(self, path: str) -> str:
        """Current value of a leaf; KeyError if it does not exist."""
        node = self.node(path)
        if node is None or path.endswith("."):
            raise KeyError(path)
        if self.values and path in self.values:
            return self.values[path]
        return self.base.get(path, node[2])

    def get_or(self, path: str, default: str = "") -> str:
        try:
            return self.get(path)
        except KeyError:
            return default

    def set(self, path: str, value: str) -> None:
        """Store a leaf value without checks (callers validate)."""
        if self.node(path) is None or path.endswith("."):
            raise KeyError(path)
        if self.values is None:
            self.values = {}
        self.values[path] = value

    def type_of(self, path: str) -> str:
        node = self.node(path)
        if node is None:
            raise KeyError(path)
        return node[1]

    def children(self, obj: str) -> list[str]:
        """Direct children of an object path (`X.`), objects with a trailing dot."""
        kids = self.model.children.get(obj, ())
        if self.deleted:
            kids = [k for k in kids if not self._is_deleted(k)]
        if self.added_children and obj in self.added_children:
            return [*kids, *self.added_children[obj]]
        return list(kids)

    def walk(self, obj: str) -> Iterator[str]:
        """Every path at and below an object, in tree order."""
        if not self.deleted and not self.added:
            # Fast path: the model is already in tree order.
            model_nodes = self.model.nodes
            if obj == self.root:
                yield from model_nodes
                return
            stack = [obj]
            while stack:
                key = stack.pop()
                yield key
                if key.endswith("."):
                    stack.extend(reversed(self.model.children.get(key, ())))
            return
        stack = [obj]
        while stack:
            key = stack.pop()
            yield key
            if key.endswith("."):
                stack.extend(reversed(self.children(key)))

    def leaves(self, obj: str) -> Iterator[str]:
        """Every leaf below an object path."""
        return (p for p in self.walk(obj) if not p.endswith("."))

    # -- attributes ----------------------------------------------------------

    def attributes(self, path: str) -> tuple[int, tuple[str, ...]]:
        """(notification, access list) of a parameter."""
        if self.attrs and path in self.attrs:
            return self.attrs[path]
        return self.model.attr_defaults.get(path, (0, ()))

    def set_attributes(
        self, path: str, notification: int | None, access: tuple[str, ...] | None
    ) -> None:
        current = self.attributes(path)
        new = (
            current[0] if notification is None else notification,
            current[1] if access is None else access,
        )
        if new == current:
            return
        if self.attrs is None:
            self.attrs = {}
        self.attrs[path] = new

    # -- objects ---------------------------------------------------------------

    def is_table(self, path: str) -> bool:
        """A multi-instance object (`...WLANConfiguration.`): writable or with numbered children."""
        node = self.node(path)
        if node is None or not path.endswith(".") or path == self.root:
            return False
        kids = self.children(path)
        if kids:
            return all(k.rstrip(".").rpartition(".")[2].isdigit() for k in kids)
        return node[0]

    def add_object(self, table: str) -> int:
        """Create a new instance under a table, shaped like an existing sibling; returns its number."""
        node = self.node(table)
        if node is None or not self.is_table(table):
            raise KeyError(table)
        number = self._next_number(table)
        instances = self.children(table)
        template = instances[0] if instances else self.model.template_for(table)
        new_prefix = f"{table}{number}."
        if self.added is None:
            self.added = {}
        if self.added_children is None:
            self.added_children = {}
        self.added[new_prefix] = (node[0] if template is None else self.node(template)[0], "", "")  # type: ignore[index]
        self.added_children.setdefault(table, []).append(new_prefix)
        if template is not None:
            self._copy_shape(template, new_prefix)
        self._update_count(table)
        return number

    def _next_number(self, table: str) -> int:
        if self.next_instance is None:
            self.next_instance = {}
        number = self.next_instance.get(table)
        if number is None:
            existing = [
                int(k.rstrip(".").rpartition(".")[2])
                for k in self.model.children.get(table, ())
                if k.rstrip(".").rpartition(".")[2].isdigit()
            ]
            number = max(existing, default=0) + 1
        self.next_instance[table] = number + 1
        return number

    def create_instance(self, table: str, leaves: Iterable[tuple[str, str, str]]) -> str:
        """Create the next instance of `table` holding exactly these (name, xsd type, value) leaves.

        For tables the device fills itself (TraceRoute RouteHops): it works where
        the dump has no instance to copy and even when the table is read-only.
        Returns the instance path (`...RouteHops.1.`).
        """
        if self.node(table) is None or not table.endswith("."):
            raise KeyError(table)
        number = self._next_number(table)
        prefix = f"{table}{number}."
        if self.added is None:
            self.added = {}
        if self.added_children is None:
            self.added_children = {}
        self.added[prefix] = _OBJECT
        self.added_children.setdefault(table, []).append(prefix)
        kids = self.added_children.setdefault(prefix, [])
        for name, xsd_type, value in leaves:
            self.added[prefix + name] = (False, xsd_type, value)
            kids.append(prefix + name)
        self._update_count(table)
        return prefix

    def clear_table(self, table: str) -> None:
        """Delete every instance of a table; numbering starts again after the dump's own."""
        for instance in self.children(table):
            if instance.endswith(".") and instance[len(table) : -1].isdigit():
                self.delete_object(instance)
        if self.next_instance:
            self.next_instance.pop(table, None)
        self._update_count(table)

    def _copy_shape(self, source: str, target: str) -> None:
        assert self.added is not None and self.added_children is not None
        for child in self.children(source):
            name = child[len(source) :]
            if name.rstrip(".").isdigit():
                continue  # instances of nested tables are not copied: a new instance starts empty
            new = target + name
            node = self.node(child)
            assert node is not None
            if child.endswith("."):
                self.added[new] = (node[0], "", "")
                self.added_children.setdefault(target, []).append(new)
                self._copy_shape(child, new)
            else:
                self.added[new] = (node[0], node[1], default_value(node[1]))
                self.added_children.setdefault(target, []).append(new)

    def delete_object(self, path: str) -> None:
        """Delete an instance (`X.Table.3.`) and everything below it."""
        if not _NUM_SEGMENT.search(path) or self.node(path) is None:
            raise KeyError(path)
        if self.added and path in self.added:
            for key in [k for k in self.added if k.startswith(path)]:
                del self.added[key]
            assert self.added_children is not None
            for key in [k for k in self.added_children if k.startswith(path)]:
                del self.added_children[key]
            siblings = self.added_children.get(parent_of(path))
            if siblings and path in siblings:
                siblings.remove(path)
        else:
            if self.deleted is None:
                self.deleted = set()
            self.deleted.add(path)
        if self.values:
            for key in [k for k in self.values if k.startswith(path)]:
                del self.values[key]
        if self.attrs:
            for key in [k for k in self.attrs if k.startswith(path)]:
                del self.attrs[key]
        self._update_count(parent_of(path))

    def _update_count(self, table: str) -> None:
        """Keep `<Table>NumberOfEntries` in the parent object in step, as real CPEs do."""
        name = table.rstrip(".").rpartition(".")[2]
        # TR-098 names some counters irregularly: WANConnectionDevice -> WANConnectionNumberOfEntries.
        for counter_name in (name, name.removesuffix("Device")):
            counter = parent_of(table) + counter_name + "NumberOfEntries"
            if self.node(counter) is not None:
                self.set(counter, str(len(self.children(table))))
                return

    # -- accounting ------------------------------------------------------------

    def footprint(self) -> int:
        """Bytes this device holds beyond the shared model (computed structurally)."""
        size = sys.getsizeof(self)
        for container in (
            self.base,
            self.values,
            self.added,
            self.added_children,
            self.deleted,
            self.attrs,
        ):
            if container is None:
                continue
            size += sys.getsizeof(container)
            if isinstance(container, dict):
                for key, value in container.items():
                    size += sys.getsizeof(key) + sys.getsizeof(value)
            else:
                size += sum(sys.getsizeof(k) for k in container)
        if self.next_instance is not None:
            size += sys.getsizeof(self.next_instance)
        return size
