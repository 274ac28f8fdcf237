"""Refusing new CWMP sessions at the door when the server is past its session limit.

Past ``CWMP_MAX_SESSIONS`` a new session gets 503 + Retry-After (TR-069
3.4.1 lets a busy ACS refuse). Turning one away inside Django still cost a
third of an accepted session (the request and response machinery, the
body, the view), and at twice the load the server can carry that work kept
it saturated, so accepted sessions queued behind refusals for seconds. Here
the first POST of a new session (an Inform, with no credentials and no
session cookie yet) is refused from the WSGI environ itself, before Django
builds a request, whenever this process last saw the store at the limit
(``SessionStore.recent_load``, no I/O). Everything else, and everything
while the server is not full, passes through untouched.

"Full" has two signs. The session count is one, but requests that wait in
the server's own queue (granian's, before a thread takes them) belong to no
session yet, and at twice the load the server can carry that queue grew to
seconds while the count stayed under its limit. So the process also watches
how long requests wait, CoDel-style: each session's next request is timed
from the moment the ACS answered the last one (``SessionState.replied``);
when even the shortest of these waits over an interval is above
``CWMP_QUEUE_TARGET_MS``, a standing queue has formed and new sessions are
refused until a request is again answered within the target. The minimum,
not the mean, so that slow CPEs and long links do not count as a queue; and
only over enough samples, so that a quiet server never refuses.
"""

from __future__ import annotations

import io
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings

from cwmp.endpoint.store import get_store
from cwmp.endpoint.transport import COOKIE_NAME
from cwmp.protocol import codec

_BODY = b"too many sessions, try later\n"


class QueueWatch:
    """Whether requests of this process have been waiting past a target (a standing queue).

    Waits are summed up per interval as their minimum; the verdict of a full
    interval with at least ``min_samples`` waits, all above ``target``, is
    "congested", and it holds until a wait within the target is seen or for
    two intervals without samples (no session left to measure with: let one in).
    """

    def __init__(
        self,
        target: float,
        interval: float,
        min_samples: int = 8,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.interval = interval
        self.min_samples = min_samples
        self._clock = clock
        self._lock = threading.Lock()
        self._window_end = 0.0
        self._window_min = float("inf")
        self._samples = 0
        self._congested_at: float | None = None

    def note(self, wait: float) -> None:
        """One request's wait, in seconds, from the ACS's last answer on its session."""
        now = self._clock()
        with self._lock:
            if now >= self._window_end:
                if (
                    self._samples >= self.min_samples
                    and self._window_min > self.target
                    and now - self._window_end < self.interval  # not a window long gone
                ):
                    self._congested_at = now
                self._window_end = now + self.interval
                self._window_min = float("inf")
                self._samples = 0
            self._samples += 1
            self._window_min = min(self._window_min, wait)
            if wait <= self.target:
                self._congested_at = None
            elif self._congested_at is not None:
                self._congested_at = now

    def congested(self) -> bool:
        when = self._congested_at
        return when is not None and self._clock() - when < 2 * self.interval


_watch: QueueWatch | None = None


def queue_watch() -> QueueWatch | None:
    """This process's watch, or None where ``CWMP_QUEUE_TARGET_MS`` is 0 (off)."""
    global _watch
    target = settings.CWMP_QUEUE_TARGET_MS / 1000
    interval = settings.CWMP_QUEUE_INTERVAL_MS / 1000
    if target <= 0:
        return None
    if _watch is None or (_watch.target, _watch.interval) != (target, interval):
        _watch = QueueWatch(target, interval)
    return _watch


def reset_watch() -> None:
    """Forget what this process saw (tests)."""
    global _watch
    _watch = None


def note_wait(replied: float) -> None:
    """Time a session's request from the ACS's previous answer (``time.time()`` then)."""
    if replied and (watch := queue_watch()) is not None:
        watch.note(time.time() - replied)


def full(*, connection_request: bool = False) -> bool:
    """Whether a new session should be refused now: past the session limit or queueing.

    Asked before any work is spent on the session: the 401 challenge, the
    device query and the password check of a session that ``begin`` would
    refuse anyway cost almost half an accepted session, and under twice the
    load the server can carry they kept it saturated.

    A session opened by a connection request is the ACS's own asking (an
    operator waiting on it, a campaign rate-limited by the job queue), so
    only the hard limit turns it away: refused, the CPE would not call again
    before its next periodic Inform.
    """
    load = get_store().recent_load()
    if load is not None and load >= settings.CWMP_MAX_SESSIONS:
        return True
    if connection_request:
        return False
    watch = queue_watch()
    return watch is not None and watch.congested()


_CONNECTION_REQUEST = re.compile(rb"6\s+connection\s+request", re.IGNORECASE)


def mentions_connection_request(body: bytes) -> bool:
    """Whether an Inform's raw body carries ``6 CONNECTION REQUEST`` (no parse)."""
    return _CONNECTION_REQUEST.search(body) is not None


def refusal(environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes] | None:
    """The 503 for a new session while the server is full, or None to let the request in.

    May read the request body; when it lets the request in, the body is put
    back for Django to read.
    """
    if not full():
        return None
    if environ.get("HTTP_AUTHORIZATION") or COOKIE_NAME in environ.get("HTTP_COOKIE", ""):
        return None  # a session in progress, or an authenticated Inform: the view decides
    if environ.get("REQUEST_METHOD") != "POST":
        return None
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    if length <= 0 or length > settings.CWMP_MAX_BODY_BYTES:
        return None
    body = environ["wsgi.input"].read(length)
    environ["wsgi.input"] = io.BytesIO(body)
    if not codec.looks_like_inform(body):
        return None  # gzip, a continuation without cookies: the view decides
    if not full(connection_request=mentions_connection_request(body)):
        return None
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(_BODY))),
        ("Retry-After", str(settings.CWMP_RETRY_AFTER)),
    ]
    return "503 Service Unavailable", headers, _BODY
