"""A simulated CWMP CPE: sessions, the work they leave behind, and a life of its own.

The device keeps almost nothing of its own (a tree overlay, a few counters),
so thousands fit in one process; everything shared (the parsed dump, options,
quirks) is referenced, not copied. `SimulatedCPE` adds to `device.Device`
(identity, parameters, events, the Inform) what needs the network and the
event loop, and decides; the mechanics live beside it: `session` (the HTTP
exchange), `rpc` (answers to the ACS), `transfer` and `diagnostics` (work
after a session), `driver` (the living device's loop), `crserver`/`udpcr`
(being woken up).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from lxml import etree

from . import diagnostics, rpc, transfer
from .crserver import ConnectionRequestServer
from .device import Device, provision
from .digest import ClientAuth
from .driver import Driver, periodic_wait, retry_wait
from .httpclient import CookieJar, Url
from .model import DeviceModel
from .options import DEFAULT_OPTIONS, CPEOptions
from .quirks import Quirks
from .session import Session, SessionResult
from .transfer import Transfer
from .udpcr import (
    UdpConnectionRequestServer,
    stun_loop,
)

#: CPEOptions and SessionResult were defined here; bench/ imports them from here still.
__all__ = ["CPEOptions", "SessionResult", "SimulatedCPE"]

log = logging.getLogger("cpesim")


class SimulatedCPE(Device):
    """One simulated device.

    Drive it explicitly (`await cpe.run_session(["1 BOOT"])`) or let it live
    (`await cpe.start()`: boot, periodic informs, connection requests and the
    sessions a Reboot or Download leads to).
    """

    __slots__ = (
        "_acs",
        "_diagnostics",
        "_driver",
        "_history",
        "_jar",
        "_lock",
        "_own_cr",
        "_tasks",
        "_timers",
        "_transfers",
        "_waiters",
        "last_result",
        "rpcs_answered",
        "sessions_failed",
        "sessions_ok",
    )

    def __init__(
        self,
        model: DeviceModel | str,
        *,
        acs_url: str,
        serial: str | None = None,
        username: str = "",
        password: str = "",
        quirks: Quirks | str | Iterable[str] | Mapping[str, object] | None = None,
        cr_username: str | None = None,
        cr_password: str | None = None,
        options: CPEOptions | None = None,
        **option_overrides: Any,
    ) -> None:
        if isinstance(model, str):
            model = DeviceModel.from_dump(model)
        serial = serial or model.serial
        opts = (options or DEFAULT_OPTIONS).with_overrides(**option_overrides)
        tree = provision(
            model,
            serial,
            opts,
            acs_url=acs_url,
            username=username,
            password=password,
            cr_username=cr_username,
            cr_password=cr_password,
        )
        super().__init__(model, serial, Quirks.parse(quirks), opts, tree)
        self.sessions_ok = 0
        self.sessions_failed = 0
        self.rpcs_answered = 0
        self.last_result: SessionResult | None = None
        self._transfers: list[Transfer] | None = None
        self._jar: CookieJar | None = None
        self._lock: asyncio.Lock | None = None
        self._driver: Driver | None = None
        self._tasks: set[asyncio.Task] | None = None
        self._timers: set[asyncio.TimerHandle] | None = None
        self._waiters: list[tuple[int, asyncio.Future]] | None = None
        self._history: deque[SessionResult] | None = None
        self._own_cr: ConnectionRequestServer | None = None
        self._diagnostics: dict[str, asyncio.Task] | None = None
        self._acs: tuple[str, Url] | None = None

    # -- parameters ------------------------------------------------------------

    def parameter_written(self, path: str) -> None:
        """Hook after the ACS set a parameter: some change the device's own behaviour."""
        if path.endswith(
            ("ManagementServer.PeriodicInformInterval", "ManagementServer.PeriodicInformEnable")
        ):
            if self._driver is not None:
                self._driver.reschedule()
        elif self._udp is not None and path.startswith(self.tree.root + "ManagementServer."):
            name = path.rpartition(".")[2]
            if name == "ConnectionRequestUsername":
                self._udp.username_changed(self)
            elif name.startswith("STUN"):
                self._start_stun()

    @property
    def transfers(self) -> list[Transfer]:
        if self._transfers is None:
            self._transfers = []
        return self._transfers

    @property
    def sessions_completed(self) -> int:
        return self.sessions_ok + self.sessions_failed

    def footprint(self) -> int:
        """Bytes this device holds beyond what it shares with others (structural estimate)."""
        size = super().footprint()
        return size + (sys.getsizeof(self._transfers) if self._transfers is not None else 0)

    # -- the session -------------------------------------------------------------------

    def answer(
        self, method: str, element: etree._Element
    ) -> tuple[str, int | None, tuple[Any, ...] | None]:
        return rpc.handle(self, method, element, self.quirks)

    def _acs_url(self) -> Url:
        url = self.tree.get_or(self.tree.root + "ManagementServer.URL")
        cached = self._acs
        if cached is None or cached[0] != url:
            cached = (url, Url.parse(url))
            self._acs = cached
        return cached[1]

    async def run_session(self, events: Iterable[str] | None = None) -> SessionResult:
        """Run one CWMP session now and return what happened.

        `events` are added to the pending ones (codes like "1 BOOT", or
        "M Reboot" with an empty CommandKey). Without `events`, the device
        adds its boot events until its first contact succeeded, and sends
        `2 PERIODIC` when nothing else is pending.
        """
        if events is None and not self._booted:
            # A device that has not reached the ACS since it started still owes its boot events.
            for code in self.boot_events():
                self.add_event(code)
        for code in events or ():
            self.add_event(code)
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            semaphore = self.options.session_semaphore
            if semaphore is None:
                return await self._session()
            async with semaphore:
                return await self._session()

    async def boot(self) -> SessionResult:
        """The start-up session (`1 BOOT`, or per the bootstrap option and first-boot quirks)."""
        return await self.run_session(self.boot_events())

    async def _session(self) -> SessionResult:
        q = self.quirks
        sent = self._inform_events()
        result = SessionResult(
            serial=self.serial, events=[c for c, _ in sent], started_at=time.time()
        )
        start = time.perf_counter()
        try:
            url = self._acs_url()
        except ValueError as exc:
            result.error = str(exc)
            return self._finish(result, [], start)
        ms = self.tree.root + "ManagementServer."
        auth = ClientAuth(
            self.tree.get_or(ms + "Username"),
            self.tree.get_or(ms + "Password"),
            preemptive_basic="preemptive-basic" in q or "preemptive-basic-digest-only" in q,
            digest_only="preemptive-basic-digest-only" in q,
            nonce_reuse="nonce-reuse" in q,
        )
        jar = self._jar if ("stale-cookie" in q and self._jar is not None) else CookieJar()
        session = Session(self, url, auth, jar, result)
        await session.run(sent)
        if not session.informed:
            self.retry_count += 1  # the next Inform's RetryCount (TR-069 A.3.3.1)
        if "stale-cookie" in q:
            self._jar = jar
        return self._finish(result, session.follow_ups, start)

    def _finish(
        self, result: SessionResult, follow_ups: list[tuple], start: float
    ) -> SessionResult:
        result.duration = time.perf_counter() - start
        if result.ok:
            self.sessions_ok += 1
        else:
            self.sessions_failed += 1
        self.last_result = result
        if self.options.history:
            if self._history is None:
                self._history = deque(maxlen=self.options.history)
            self._history.append(result)
        if self.options.verbose:
            log.info("%s", result)
            for direction, what, status in result.transcript:
                log.info("  %s %s %s %s", self.serial, direction, what, status)
        for follow_up in follow_ups:
            self._follow_up(follow_up)
        self.save_state()  # before anyone waiting for the session looks
        if self._waiters:
            done = self.sessions_completed
            keep = []
            for after, fut in self._waiters:
                if done > after and not fut.done():
                    fut.set_result(self._result_number(after + 1))
                elif not fut.done():
                    keep.append((after, fut))
            self._waiters = keep
        if self.options.on_session is not None:
            self.options.on_session(self, result)
        return result

    def _result_number(self, n: int) -> SessionResult:
        """The n-th completed session's result (1-based) if still in history, else the latest."""
        assert self.last_result is not None
        if self._history:
            first = self.sessions_completed - len(self._history) + 1
            if first <= n <= self.sessions_completed:
                return self._history[n - first]
        return self.last_result

    async def wait_session(
        self, timeout: float = 10.0, *, after: int | None = None
    ) -> SessionResult:
        """Wait for a session to complete and return its result.

        `after` is a `sessions_completed` value read before triggering the
        session (so one that finishes before this call is not missed);
        without it, waits for the next session to complete.
        """
        mark = self.sessions_completed if after is None else after
        if self.sessions_completed > mark:
            return self._result_number(mark + 1)
        fut: asyncio.Future[SessionResult] = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append((mark, fut))
        try:
            return await asyncio.wait_for(fut, timeout)
        finally:
            if self._waiters:
                self._waiters = [w for w in self._waiters if w[1] is not fut]

    # -- after the session ------------------------------------------------------------

    def _follow_up(self, follow_up: tuple) -> None:
        kind = follow_up[0]
        if kind == "reboot":
            self._reboot([("1 BOOT", ""), ("M Reboot", follow_up[1])])
        elif kind == "factory_reset":
            self._factory_reset()
        elif kind == "transfer":
            t = follow_up[1]
            if t in (self._transfers or ()):  # not cancelled during the session
                t.task = self._spawn(self._run_transfer(t))
        elif kind == "schedule_inform":
            _, delay, key = follow_up
            self._later(delay, lambda: self._fire([("3 SCHEDULED", ""), ("M ScheduleInform", key)]))
        elif kind == "du_state":
            _, results, key = follow_up
            body = rpc.du_state_change_complete(results, key, self.quirks)
            self._queue_request(
                "DUStateChangeComplete",
                body,
                (("11 DU STATE CHANGE COMPLETE", ""), ("M ChangeDUState", key)),
            )
            self._trigger()
        elif kind == "diagnostics":
            for obj in follow_up[1]:
                self._start_diagnostic(obj)

    def _fire(self, events: list[tuple[str, str]]) -> None:
        for code, key in events:
            self.add_event(code, key)
        self._trigger()

    def _reboot(self, events: list[tuple[str, str]]) -> None:
        self._jar = None  # a rebooted CPE has forgotten its cookies
        self._rebooting = [*(self._rebooting or ()), *events]
        self.save_state()  # a power cut while rebooting must not lose `M Reboot`

        def up() -> None:
            self._rebooting = [e for e in self._rebooting or () if e not in events] or None
            self._fire(events)

        self._later(self.options.reboot_delay, up)

    def _factory_reset(self) -> None:
        self.tree.reset()
        for t in list(self._transfers or ()):
            self.cancel_transfer(t)
        for obj in list(self._diagnostics or ()):
            self.cancel_diagnostic(obj)
        if self._udp is not None:
            self._udp.username_changed(self)
        self._events = self._requests = None
        self._changed = None
        self._jar = None
        self._booted = False
        self._bootstrapped = False
        self._reboot([("0 BOOTSTRAP", ""), ("1 BOOT", "")])

    def _start_diagnostic(self, obj: str) -> None:
        """Run a requested diagnostic in the background (a new request restarts it)."""
        self.cancel_diagnostic(obj)
        if self._diagnostics is None:
            self._diagnostics = {}
        self._diagnostics[obj] = self._spawn(self._run_diagnostic(obj))

    def cancel_diagnostic(self, obj: str) -> None:
        """Stop a pending or running diagnostic (its inputs changed, FactoryReset)."""
        task = self._diagnostics.pop(obj, None) if self._diagnostics else None
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        if not self._diagnostics:
            self._diagnostics = None

    async def _run_diagnostic(self, obj: str) -> None:
        if self.tree.get_or(obj + diagnostics.STATE) != "Requested":
            return  # reset meanwhile
        state = await diagnostics.run(self, obj)
        log.debug("%s: %s%s", self.serial, obj, state)
        me = asyncio.current_task()
        if self._diagnostics and self._diagnostics.get(obj) is me:
            del self._diagnostics[obj]
            if not self._diagnostics:
                self._diagnostics = None
        self._fire([("8 DIAGNOSTICS COMPLETE", "")])

    def cancel_transfer(self, t: Transfer) -> None:
        """Forget a transfer that has not started (CancelTransfer, FactoryReset)."""
        if isinstance(t.task, asyncio.Task):
            t.task.cancel()
        if self._transfers and t in self._transfers:
            self._transfers.remove(t)

    async def _run_transfer(self, t: Transfer) -> None:
        opts = self.options
        body, flashed = await transfer.run(
            t,
            self.tree,
            upload=lambda: transfer.upload_content(
                t, self.tree, self.serial, [self.last_result] if self.last_result else []
            ),
            timeout=opts.timeout,
            ssl_context=opts.ssl_context,
            allow_remote=opts.allow_remote_transfers,
            firmware_version=opts.firmware_version,
        )
        if self._transfers and t in self._transfers:
            self._transfers.remove(t)
        events: tuple[tuple[str, str], ...] = (
            ("7 TRANSFER COMPLETE", ""),
            (t.event, t.command_key),
        )
        if "transfer-complete-no-event" in self.quirks:
            events = ()  # sent in whatever session comes next, without its events
        self._queue_request("TransferComplete", body, events)
        self.save_state()
        if flashed or t.reboot:
            # A new image means a reboot: the next Inform also carries 1 BOOT.
            self._reboot([("1 BOOT", "")])
        elif events:
            self._trigger()

    # -- living device: background work, the driver loop ------------------------------------

    def _spawn(self, coro: Any) -> asyncio.Task:
        task = asyncio.get_running_loop().create_task(coro)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _later(self, delay: float, callback: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        if self._timers is None:
            self._timers = set()
        timers = self._timers
        handle: asyncio.TimerHandle

        def fire() -> None:
            timers.discard(handle)
            callback()

        handle = loop.call_later(max(delay, 0), fire)
        timers.add(handle)

    def _trigger(self) -> None:
        """Something needs a session: wake the driver, starting one if allowed."""
        driver = self._driver
        if driver is not None:
            driver.wake.set()
        if (driver is None or not driver.running) and self.options.auto_sessions:
            try:
                asyncio.get_running_loop()
            except RuntimeError:
                return
            self._start_driver(periodic=False)

    def connection_request(self) -> None:
        """A connection request was accepted: `6 CONNECTION REQUEST` (queued if a session runs)."""
        self.add_event("6 CONNECTION REQUEST")
        self._trigger()

    def _start_driver(self, *, periodic: bool) -> None:
        if self._driver is None:
            self._driver = Driver(self)
        self._driver.start(periodic=periodic)

    def periodic_wait(self) -> float | None:
        """Seconds to the next periodic inform (with jitter), None when they are off."""
        return periodic_wait(self.tree, self.options.jitter)

    def retry_wait(self, failures: int, retry_after: float | None = None) -> float:
        """Seconds before retry number `failures` (TR-069 3.2.1.1), or the ACS's Retry-After."""
        opts = self.options
        return retry_wait(
            failures,
            retry_after,
            min_wait=opts.retry_min_wait,
            multiplier=opts.retry_multiplier,
            max_wait=opts.retry_max_wait,
        )

    async def start(self, *, boot: bool = True, periodic: bool = True, cr: bool = False) -> None:
        """Bring the device to life: boot session, periodic informs, follow-up sessions.

        Returns at once; sessions run in the background. `cr=True` also starts
        the connection-request listener first (so the Inform carries its URL).
        """
        if cr:
            await self.start_cr_listener()
            opts = self.options
            if opts.udp_cr or opts.udp_cr_server is not None or opts.stun_server:
                await self.start_udp_cr_listener()
        if boot:
            for code in self.boot_events():
                self.add_event(code)
        self._start_driver(periodic=periodic)

    def halt(self) -> None:
        """Stop starting sessions (driver and timers) without waiting; usable from callbacks."""
        for handle in list(self._timers or ()):
            handle.cancel()
        self._timers = None
        task = self._driver.detach() if self._driver is not None else None
        if task is not None and not task.done():
            task.cancel()

    async def stop(self) -> None:
        """Stop sessions, timers, transfers and this device's own listener."""
        for handle in list(self._timers or ()):
            handle.cancel()
        self._timers = None
        driver_task = self._driver.detach() if self._driver is not None else None
        tasks = [t for t in (driver_task, *(self._tasks or ())) if t is not None and not t.done()]
        current = asyncio.current_task()
        for task in tasks:
            task.cancel()
        for task in tasks:
            if task is current:
                continue
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self.options.cr_server is not None:
            self.options.cr_server.unregister(self)
        if self._own_cr is not None:
            await self._own_cr.stop()
            self._own_cr = None
        await self._leave_udp()
        self._diagnostics = None
        self.save_state()  # what changed since the last session (diagnostics results…)

    # -- connection requests: HTTP and UDP listeners, STUN ---------------------------------

    async def start_cr_listener(self, server: ConnectionRequestServer | None = None) -> str:
        """Listen for connection requests; returns (and stores) the ConnectionRequestURL."""
        if server is None:
            server = self.options.cr_server
        if server is None:
            if self._own_cr is None:
                self._own_cr = ConnectionRequestServer(self.options.cr_host, self.options.cr_port)
            server = self._own_cr
        await server.start()
        url = server.register(self)
        self._set_base(self.tree.root + "ManagementServer.ConnectionRequestURL", url)
        return url

    async def start_udp_cr_listener(self, server: UdpConnectionRequestServer | None = None) -> str:
        """Listen for UDP connection requests (and run STUN if configured); returns `host:port`.

        The device's ConnectionRequestUsername routes datagrams to it, so it
        must be unique on the listener: an empty or already used one becomes
        the serial number. UDPConnectionRequestAddress (when the dump has it)
        is set and reported in every Inform.
        """
        if server is None:
            server = self.options.udp_cr_server
        if server is None:
            server = self._udp
            if server is None:
                server = UdpConnectionRequestServer(self.options.cr_host, self.options.udp_cr_port)
                server.owner = self  # this device's own socket: closed with the device
        await server.start()
        if self._udp is not None and self._udp is not server:
            await self._leave_udp()
        ms = self.tree.root + "ManagementServer."
        username = self.connection_request_credentials()[0]
        owner = server.owner_of(username) if username else None
        if not username or (owner is not None and owner is not self):
            log.info(
                "%s: ConnectionRequestUsername %r not unique, using the serial", self, username
            )
            self._set_base(ms + "ConnectionRequestUsername", self.serial)
        self._udp = server
        address = server.register(self)
        self._set_base(ms + "UDPConnectionRequestAddress", address)
        self._start_stun()
        return address

    async def _leave_udp(self) -> None:
        server, self._udp = self._udp, None
        if server is None:
            return
        server.unregister(self)
        if server.owner is self:
            await server.stop()

    def _start_stun(self) -> None:
        server = self._udp
        if server is None or self.stun_settings() is None:
            return
        task = server.stun_tasks.get(self.serial)
        if task is not None and not task.done():
            return  # the running loop reads the settings again before each request
        server.stun_tasks[self.serial] = self._spawn(
            stun_loop(self, server, allow_remote=self.options.allow_remote_transfers)
        )
