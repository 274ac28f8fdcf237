"""Many simulated devices in one process, sharing models, options, quirks and one CR listener.

Used by the CLI and by benchmarks: `Fleet.run_once()` (one boot session per
device) and `Fleet.run()` (living devices: periodic informs and connection
requests for a duration or a number of sessions per device).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .cpe import SimulatedCPE
from .crserver import ConnectionRequestServer
from .model import DeviceModel
from .options import CPEOptions
from .quirks import Quirks
from .session import SessionResult
from .udpcr import UdpConnectionRequestServer


@dataclass(slots=True)
class FleetStats:
    devices: int = 0
    sessions_ok: int = 0
    sessions_failed: int = 0
    rpcs_answered: int = 0
    elapsed: float = 0.0

    @property
    def sessions_per_second(self) -> float:
        total = self.sessions_ok + self.sessions_failed
        return total / self.elapsed if self.elapsed > 0 else 0.0

    def __str__(self) -> str:
        return (
            f"devices={self.devices} sessions ok={self.sessions_ok} failed={self.sessions_failed} "
            f"rpcs={self.rpcs_answered} elapsed={self.elapsed:.2f}s sessions/s={self.sessions_per_second:.1f}"
        )


def make_serials(
    models: Sequence[DeviceModel], count: int, serial_prefix: str | None
) -> list[tuple[DeviceModel, str]]:
    """Device i uses models[i % len(models)]; serials are distinct across the fleet.

    With a prefix: prefix + a 6-digit number. Without: the dump's serial,
    suffixed with a 5-digit number when the dump has more than one device.
    """
    per_model: dict[int, int] = {}
    for i in range(count):
        per_model[i % len(models)] = per_model.get(i % len(models), 0) + 1
    seen: dict[int, int] = {}
    out = []
    for i in range(count):
        index = i % len(models)
        model = models[index]
        seen[index] = seen.get(index, 0) + 1
        if serial_prefix is not None:
            serial = f"{serial_prefix}{i + 1:06d}"
        elif per_model[index] == 1:
            serial = model.serial
        else:
            serial = f"{model.serial}{seen[index]:05d}"
        out.append((model, serial))
    return out


class Fleet:
    """A set of devices with a cap on concurrent sessions."""

    def __init__(
        self,
        *,
        acs_url: str,
        username: str = "",
        password: str = "",
        dumps: Iterable[str] = ("huawei-eg8145v5",),
        count: int = 1,
        serial_prefix: str | None = None,
        concurrency: int = 100,
        quirks: Quirks | str | Iterable[str] | Mapping[str, object] | None = None,
        cr_host: str = "127.0.0.1",
        cr_port: int = 0,
        cr_username: str | None = None,
        cr_password: str | None = None,
        udp_cr: bool = False,
        udp_cr_port: int = 0,
        options: CPEOptions | None = None,
        **option_overrides: Any,
    ) -> None:
        self.cr_server = ConnectionRequestServer(cr_host, cr_port)
        udp = udp_cr or bool(
            option_overrides.get("stun_server") or (options and options.stun_server)
        )
        #: The shared UDP connection-request socket (also used for STUN), or None.
        self.udp_server = UdpConnectionRequestServer(cr_host, udp_cr_port) if udp else None
        if udp and cr_username is None:
            cr_username = "{serial}"  # UDP requests find their device by username
        self.stats = FleetStats()
        self._max_sessions: int | None = None
        self.options = (options or CPEOptions()).with_overrides(
            session_semaphore=asyncio.Semaphore(max(concurrency, 1)),
            cr_server=self.cr_server,
            on_session=self._on_session,
            cr_host=cr_host,
            cr_port=cr_port,
            udp_cr=udp,
            udp_cr_server=self.udp_server,
            udp_cr_port=udp_cr_port,
            **option_overrides,
        )
        shared_quirks = Quirks.parse(quirks)
        models = [DeviceModel.from_dump(d) for d in dumps]
        if not models:
            raise ValueError("at least one dump is needed")
        self.devices = [
            SimulatedCPE(
                model,
                serial=serial,
                acs_url=acs_url,
                username=username,
                password=password,
                quirks=shared_quirks,
                cr_username=cr_username,
                cr_password=cr_password,
                options=self.options,
            )
            for model, serial in make_serials(models, count, serial_prefix)
        ]
        self.stats.devices = len(self.devices)

    def _on_session(self, cpe: SimulatedCPE, result: SessionResult) -> None:
        if result.ok:
            self.stats.sessions_ok += 1
        else:
            self.stats.sessions_failed += 1
        if self._max_sessions is not None and cpe.sessions_completed >= self._max_sessions:
            cpe.halt()

    async def start_cr(self) -> None:
        """Start the shared connection-request listeners and give every device its URL/address."""
        await self.cr_server.start()
        if self.udp_server is not None:
            await self.udp_server.start()
        for cpe in self.devices:
            await cpe.start_cr_listener(self.cr_server)
            if self.udp_server is not None:
                await cpe.start_udp_cr_listener(self.udp_server)

    async def run_once(
        self, *, retries: int = 0, events: Iterable[str] | None = None
    ) -> FleetStats:
        """One boot session per device (retrying failed ones up to `retries` times)."""
        await self.start_cr()
        self.options.auto_sessions = False  # one session each: no follow-up sessions
        wanted = list(events) if events is not None else None
        start = time.perf_counter()

        async def one(cpe: SimulatedCPE) -> None:
            for attempt in range(retries + 1):
                result = await (cpe.run_session(wanted) if wanted is not None else cpe.boot())
                if result.ok or attempt == retries:
                    return
                await asyncio.sleep(cpe.retry_wait(attempt + 1, result.retry_after))

        await asyncio.gather(*(one(cpe) for cpe in self.devices))
        self.stats.elapsed = time.perf_counter() - start
        self.stats.rpcs_answered = sum(d.rpcs_answered for d in self.devices)
        return self.stats

    async def run(
        self, *, duration: float | None = None, sessions: int | None = None
    ) -> FleetStats:
        """Living devices until `duration` seconds passed or each device completed `sessions` sessions."""
        await self.start_cr()
        self._max_sessions = sessions
        start = time.perf_counter()
        for cpe in self.devices:
            await cpe.start(boot=True, periodic=True)
        try:
            while True:
                await asyncio.sleep(0.05)
                if duration is not None and time.perf_counter() - start >= duration:
                    break
                if sessions is not None and all(
                    d.sessions_completed >= sessions for d in self.devices
                ):
                    break
        finally:
            self.stats.elapsed = time.perf_counter() - start
            await self.close()
        self.stats.rpcs_answered = sum(d.rpcs_answered for d in self.devices)
        return self.stats

    async def close(self) -> None:
        for cpe in self.devices:
            await cpe.stop()
        await self.cr_server.stop()
        if self.udp_server is not None:
            await self.udp_server.stop()

    def summary_lines(self) -> list[str]:
        """One line per device: serial, dump, sessions, RPCs answered and the last outcome."""
        lines = []
        for d in self.devices:
            last = d.last_result
            outcome = "-" if last is None else ("ok" if last.ok else f"FAILED: {last.error}")
            lines.append(
                f"{d.serial} {d.model.name} sessions_ok={d.sessions_ok} failed={d.sessions_failed} "
                f"rpcs={d.rpcs_answered} last={outcome}"
            )
        return lines
