"""One CWMP session as the CPE sees it: what happened (`SessionResult`) and why it stopped.

Fleets, benchmarks and tests read `SessionResult`s; the device produces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SessionResult:
    """What happened in one CWMP session, for assertions and debugging."""

    serial: str
    events: list[str] = field(default_factory=list)
    ok: bool = False
    #: HTTP status of every request the device sent, in order.
    statuses: list[int] = field(default_factory=list)
    #: Method names of the ACS requests received.
    rpcs: list[str] = field(default_factory=list)
    #: (method, fault code) of every fault the device answered with.
    faults_sent: list[tuple[str, int]] = field(default_factory=list)
    error: str | None = None
    #: Cookies the ACS set during the session.
    cookies: dict[str, str] = field(default_factory=dict)
    duration: float = 0.0
    #: (direction, what, HTTP status): "->" requests sent with the status they got, "<-" what came back.
    transcript: list[tuple[str, str, int | str]] = field(default_factory=list)
    #: Seconds from a 503's Retry-After, if any.
    retry_after: float | None = None
    #: Number of TCP connections the session opened.
    connections: int = 0
    started_at: float = 0.0
    #: The `CPEOptions.record_header` value of every response, in request order (None when off).
    recorded_headers: list[str | None] | None = None

    def __str__(self) -> str:
        state = "ok" if self.ok else f"FAILED ({self.error})"
        return f"{self.serial} [{', '.join(self.events)}] {state} rpcs={','.join(self.rpcs) or '-'} {self.duration * 1000:.0f}ms"


class SessionError(Exception):
    """The session could not go on (bad status, fault, unexpected message)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
