"""What a simulated device keeps across restarts: its configuration, one JSON file per serial.

A real CPE keeps what the ACS configured (values, object instances,
attributes, the ParameterKey, the connection-request credentials it was
given), whether it has bootstrapped, and the reports it still owes (a
TransferComplete, `M Reboot`). A simulator that forgot them at every start
would bootstrap again and again and refuse the ACS's connection requests:
the ACS provisions its own credentials at first contact. So a device given
a `StateStore` restores itself from `<dir>/<serial>.json` when it is
created and saves after every session.

A file is written to a temporary name and renamed over the old one, so a
simulator killed at any moment leaves the previous state or the new one,
never a mix (no fsync: a power cut is not what a simulator must survive).
A file that cannot be read or makes no sense is reported and ignored: the
device starts factory-fresh and its next save replaces it. Devices without
a store (the default of the API, and so of fleets and benchmarks) touch no
file at all.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .events import CpeRequest, Event
from .model import Node
from .tree import DeviceTree

log = logging.getLogger("cpesim.state")

#: Version of the file layout; a file of another version is ignored (factory-fresh).
FORMAT = 1
#: Where the command line keeps state unless told otherwise (relative: the project root
#: when run from there, where var/ is git-ignored); CPESIM_STATE_DIR overrides it.
DEFAULT_DIR = Path("var") / "cpesim"
ENV_DIR = "CPESIM_STATE_DIR"


def default_dir() -> Path:
    """The command line's default state directory: $CPESIM_STATE_DIR, else var/cpesim."""
    return Path(os.environ.get(ENV_DIR) or DEFAULT_DIR)


@dataclass(slots=True)
class TreeDiff:
    """A tree's differences from its dump: what `DeviceTree` keeps as its overlay."""

    values: dict[str, str] = field(default_factory=dict)
    added: dict[str, Node] = field(default_factory=dict)
    added_children: dict[str, list[str]] = field(default_factory=dict)
    deleted: set[str] = field(default_factory=set)
    attrs: dict[str, tuple[int, tuple[str, ...]]] = field(default_factory=dict)
    next_instance: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, tree: DeviceTree) -> TreeDiff:
        """A copy of the tree's overlay (later changes to the tree do not show in it)."""
        return cls(
            values=dict(tree.values or {}),
            added=dict(tree.added or {}),
            added_children={k: list(v) for k, v in (tree.added_children or {}).items()},
            deleted=set(tree.deleted or ()),
            attrs=dict(tree.attrs or {}),
            next_instance=dict(tree.next_instance or {}),
        )

    def apply(self, tree: DeviceTree) -> None:
        """Make this the tree's overlay (the tree's `base`, its identity, stays)."""
        tree.values = dict(self.values) or None
        tree.added = dict(self.added) or None
        tree.added_children = {k: list(v) for k, v in self.added_children.items()} or None
        tree.deleted = set(self.deleted) or None
        tree.attrs = dict(self.attrs) or None
        tree.next_instance = dict(self.next_instance) or None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.values:
            out["values"] = self.values
        if self.added:
            out["added"] = {path: list(node) for path, node in self.added.items()}
        if self.added_children:
            out["added_children"] = self.added_children
        if self.deleted:
            out["deleted"] = sorted(self.deleted)
        if self.attrs:
            out["attrs"] = {path: [level, list(acl)] for path, (level, acl) in self.attrs.items()}
        if self.next_instance:
            out["next_instance"] = self.next_instance
        return out

    @classmethod
    def from_json(cls, data: object) -> TreeDiff:
        """ValueError unless `data` is what `to_json` makes."""
        data = _map(data, "tree")
        added: dict[str, Node] = {}
        for path, node in _map(data.get("added", {}), "added").items():
            if not (
                isinstance(node, list)
                and len(node) == 3
                and isinstance(node[0], bool)
                and all(isinstance(x, str) for x in node[1:])
            ):
                raise ValueError(f"added node {path!r} is not [writable, type, value]")
            added[path] = (node[0], node[1], node[2])
        attrs: dict[str, tuple[int, tuple[str, ...]]] = {}
        for path, attr in _map(data.get("attrs", {}), "attrs").items():
            if not (isinstance(attr, list) and len(attr) == 2 and attr[0] in (0, 1, 2)):
                raise ValueError(f"attributes of {path!r} are not [notification, access list]")
            if isinstance(attr[0], bool):
                raise ValueError(f"notification of {path!r} is not 0, 1 or 2")
            attrs[path] = (int(attr[0]), tuple(_strings(attr[1], f"access list of {path!r}")))
        next_instance = _map(data.get("next_instance", {}), "next_instance")
        if not all(type(v) is int and v > 0 for v in next_instance.values()):
            raise ValueError("next_instance is not a map of instance numbers")
        return cls(
            values={
                k: _string(v, f"value of {k!r}")
                for k, v in _map(data.get("values", {}), "values").items()
            },
            added=added,
            added_children={
                k: _strings(v, f"children of {k!r}")
                for k, v in _map(data.get("added_children", {}), "added_children").items()
            },
            deleted=set(_strings(data.get("deleted", []), "deleted")),
            attrs=attrs,
            next_instance=next_instance,
        )


def _map(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} is not a map")
    return value


def _string(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} is not a string")
    return value


def _strings(value: object, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"{what} is not a list of strings")
    return list(value)


@dataclass(slots=True)
class SavedState:
    """One device's saved state, as the device gives and takes it."""

    dump: str
    #: ManagementServer.URL when saved: a device pointed at another ACS bootstraps again.
    acs_url: str
    #: A `0 BOOTSTRAP` was acknowledged since the device was last factory-fresh.
    bootstrapped: bool
    tree: TreeDiff = field(default_factory=TreeDiff)
    #: Undelivered events a CPE keeps across a power cycle (`events.KEPT_ACROSS_RESTART`).
    events: list[Event] = field(default_factory=list)
    #: Its own requests not yet delivered (TransferComplete, DUStateChangeComplete).
    requests: list[CpeRequest] = field(default_factory=list)


# -- the file --------------------------------------------------------------------------


def _events(value: object, what: str) -> list[Event]:
    if not isinstance(value, list) or not all(
        isinstance(e, list) and len(e) == 2 and all(isinstance(x, str) for x in e) for e in value
    ):
        raise ValueError(f"{what} is not a list of [code, command key]")
    return [(e[0], e[1]) for e in value]


def encode(serial: str, state: SavedState) -> str:
    data = {
        "format": FORMAT,
        "serial": serial,
        "dump": state.dump,
        "acs_url": state.acs_url,
        "bootstrapped": state.bootstrapped,
        "tree": state.tree.to_json(),
        "events": [list(e) for e in state.events],
        "requests": [
            {"method": r.method, "body": r.body, "events": [list(e) for e in r.events]}
            for r in state.requests
        ],
    }
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def decode(text: str) -> SavedState:
    """The state in a file's text; ValueError when it is not a state file of this format."""
    data = json.loads(text)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError(f"not a cpesim state file of format {FORMAT}")
    dump, acs_url, bootstrapped = data.get("dump"), data.get("acs_url"), data.get("bootstrapped")
    if not isinstance(dump, str) or not isinstance(acs_url, str):
        raise ValueError("dump or acs_url missing")
    if not isinstance(bootstrapped, bool):
        raise ValueError("bootstrapped is not true or false")
    tree = TreeDiff.from_json(data.get("tree", {}))
    requests = []
    raw_requests = data.get("requests", [])
    if not isinstance(raw_requests, list):
        raise ValueError("requests is not a list")
    for raw in raw_requests:
        if not (
            isinstance(raw, dict)
            and isinstance(raw.get("method"), str)
            and isinstance(raw.get("body"), str)
        ):
            raise ValueError("a request has no method or body")
        events = tuple(_events(raw.get("events", []), "a request's events"))
        requests.append(CpeRequest(raw["method"], raw["body"], events))
    return SavedState(
        dump=dump,
        acs_url=acs_url,
        bootstrapped=bootstrapped,
        tree=tree,
        events=_events(data.get("events", []), "events"),
        requests=requests,
    )


class StateStore:
    """A directory of device states, shared by every device of a fleet.

    `factory_reset=True`: saved states are not read (every device starts
    factory-fresh) but are written as usual, replacing the old ones.
    """

    def __init__(self, directory: str | os.PathLike[str], *, factory_reset: bool = False) -> None:
        self.directory = Path(directory)
        self.factory_reset = factory_reset
        self._ready = False
        self._write_failed = False

    def __repr__(self) -> str:
        return f"<StateStore {self.directory}>"

    def path_for(self, serial: str) -> Path:
        return self.directory / f"{quote(serial, safe='')}.json"

    def load(self, serial: str, dump: str) -> SavedState | None:
        """The saved state of this device, or None: none, unreadable (reported), another dump's."""
        if self.factory_reset:
            return None
        path = self.path_for(serial)
        try:
            state = decode(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            log.warning(
                "%s: cannot use %s (%s): it starts factory-fresh, the file will be replaced",
                serial,
                path,
                exc,
            )
            return None
        if state.dump != dump:
            log.warning(
                "%s: %s is the state of a %s, not a %s: it starts factory-fresh",
                serial,
                path,
                state.dump,
                dump,
            )
            return None
        return state

    def save(self, serial: str, text: str) -> bool:
        """Write a device's state atomically; False (reported once per store) if it cannot."""
        path = self.path_for(serial)
        try:
            if not self._ready:
                self.directory.mkdir(parents=True, exist_ok=True)
                self._ready = True
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{path.name}.", suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(text)
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            if not self._write_failed:
                self._write_failed = True
                log.warning("cannot save device state in %s: %s", self.directory, exc)
            return False
        return True
