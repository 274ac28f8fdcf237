"""What every task type is built from: the type's interface and the helpers they share.

Kept apart from the types themselves so that each group of types (and the
diagnostics) depends on this module alone, never on another group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from devices import services as device_services


class InvalidTask(ValueError):
    """Arguments a task type cannot accept; the message says which and why."""


@dataclass(slots=True)
class Outcome:
    """What an answer did to the task."""

    # "done", "error" (done, but the device reports failure), "continue" (send
    # the next RPC), "waiting" (the CPE reports later, e.g. TransferComplete),
    # "transferred" (a transfer the CPE says it finished at once: confirm it)
    status: str
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Context:
    """What a type knows of the device while it builds an RPC or takes the answer.

    Building runs no query: everything it needs is here, loaded by the task
    session. Completing stores what the CPE answered through
    ``devices.services`` (parameter values, names, attributes), the only
    writes a type makes.
    """

    device_pk: int
    now: datetime
    types: dict[str, str] = field(default_factory=dict)  # known path -> xsd type
    root: str = ""  # the device's data model root: InternetGatewayDevice or Device
    # Fresh transfer fields made when the RPC is sent: a new signed link for a
    # Download naming one of our Files, or our upload URL for an Upload.
    transfer: dict[str, Any] | None = None


def _str_list(value: Any, what: str) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidTask(f"{what} must be a list of parameter paths")
    return value


def _path(value: Any, what: str, *, obj: bool = False, allow_empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not allow_empty):
        raise InvalidTask(f"{what} must be a parameter path")
    if obj and value and not value.endswith("."):
        raise InvalidTask(f"{what} must name an object (end with '.')")
    if any(c in value for c in " \t\r\n"):
        raise InvalidTask(f"{what} must not contain white space")
    return value


def _int(value: Any, what: str, default: int = 0, low: int = 0, high: int = 2**32 - 1) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidTask(f"{what} must be an integer") from None
    if not low <= number <= high:
        raise InvalidTask(f"{what} must be between {low} and {high}")
    return number


class TaskType:
    name: ClassVar[str]
    method: ClassVar[str]  # the CWMP method it sends first (for the 9000 memory)
    waits_for_transfer: ClassVar[bool] = False

    def validate(self, args: dict[str, Any]) -> dict[str, Any]:
        """Normalised arguments, or InvalidTask."""
        return {}

    def build(
        self, args: dict[str, Any], progress: dict[str, Any], ctx: Context, *, command_key: str
    ) -> Any:
        raise NotImplementedError

    def complete(
        self, args: dict[str, Any], progress: dict[str, Any], response: Any, ctx: Context
    ) -> Outcome:
        return Outcome("done")


def _store_values(response: Any, ctx: Context) -> dict[str, str]:
    values = [(p.name, p.value, p.type or "xsd:string") for p in response.parameter_list]
    device_services.parameters_write_values(device_pk=ctx.device_pk, values=values, now=ctx.now)
    return {name: value for name, value, _ in values}
