"""One device's parameter tree: its differences from the shared `DeviceModel`.

A benchmark runs 10,000 devices of a few types in one process, so each device
keeps only what differs from its dump (changed values, added or deleted
instances, changed attributes) and looks everything else up in the model
that every device of the type shares read-only (`model.py`).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

from .model import OBJECT, DeviceModel, Node, is_instance, parent_of
from .values import default_value


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
        kids: Iterable[str] = self.model.children.get(obj, ())
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
        self.added[prefix] = OBJECT
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
        if not is_instance(path) or self.node(path) is None:
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
