"""The Connection Request listener (TR-069 3.2.2): an HTTP server the ACS calls to wake a CPE.

One listener serves any number of devices, each on its own path
(`http://127.0.0.1:PORT/cr/<serial>`), so 10,000 devices need one socket,
not 10,000. Authentication is Digest MD5 with qop=auth against the device's
ManagementServer.ConnectionRequestUsername/Password, read at request time so
an ACS that changes them with SetParameterValues is honoured at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol
from urllib.parse import quote, unquote

from .digest import DigestServer

log = logging.getLogger("cpesim.cr")

_IDLE_TIMEOUT = 15.0
_MAX_REQUESTS_PER_CONNECTION = 20


class WakeableDevice(Protocol):
    """What a listener needs from a device: the key requests name it by, its credentials, a wake-up.

    A `SimulatedCPE` is one; the listener sits below the device and must not import it.
    """

    serial: str

    def connection_request_credentials(self) -> tuple[str, str]: ...

    def connection_request(self) -> None: ...


class ConnectionRequestServer:
    """A shared HTTP connection-request listener; `register()` a device to get its URL."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, realm: str = "cpesim") -> None:
        self.host = host
        self.port = port
        self.digest = DigestServer(realm)
        self.devices: dict[str, WakeableDevice] = {}
        self._server: asyncio.Server | None = None
        #: (serial, accepted) of every request, newest last; bounded, for tests and debugging.
        self.log: list[tuple[str, bool]] = []

    @property
    def started(self) -> bool:
        return self._server is not None

    async def start(self) -> None:
        """Bind the socket (idempotent); port 0 picks a free port, reported in `.port`."""
        if self._server is not None:
            return
        self._server = await asyncio.start_server(self._serve, self.host, self.port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def url_for(self, serial: str) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/cr/{quote(serial, safe='')}"

    def register(self, cpe: WakeableDevice) -> str:
        """Route `/cr/<serial>` to the device; returns its ConnectionRequestURL."""
        self.devices[cpe.serial] = cpe
        return self.url_for(cpe.serial)

    def unregister(self, cpe: WakeableDevice) -> None:
        if self.devices.get(cpe.serial) is cpe:
            del self.devices[cpe.serial]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            for _ in range(_MAX_REQUESTS_PER_CONNECTION):
                try:
                    async with asyncio.timeout(_IDLE_TIMEOUT):
                        head = await reader.readuntil(b"\r\n\r\n")
                        lines = head.decode("latin-1").split("\r\n")
                        method, _, rest = lines[0].partition(" ")
                        target = rest.rpartition(" ")[0] or rest
                        headers = {}
                        for line in lines[1:]:
                            name, _, value = line.partition(":")
                            if name:
                                headers[name.strip().lower()] = value.strip()
                        length = int(headers.get("content-length", "0") or "0")
                        if length:
                            await reader.readexactly(min(length, 65536))
                except (asyncio.IncompleteReadError, TimeoutError, ValueError, ConnectionError):
                    return
                status, extra, after = self._handle(method, target, headers)
                reason = {200: "OK", 401: "Unauthorized", 404: "Not Found"}.get(status, "")
                head_out = f"HTTP/1.1 {status} {reason}\r\nContent-Length: 0\r\n{extra}\r\n"
                writer.write(head_out.encode("latin-1"))
                await writer.drain()
                if after is not None:
                    after()
                if headers.get("connection", "").lower() == "close":
                    return
        except ConnectionError:
            return
        finally:
            writer.close()

    def _handle(
        self, method: str, target: str, headers: dict[str, str]
    ) -> tuple[int, str, Callable[[], None] | None]:
        """(status, extra header lines, what to do once the answer is sent)."""
        path = target.split("?", 1)[0]
        prefix = "/cr/"
        cpe = self.devices.get(unquote(path[len(prefix) :])) if path.startswith(prefix) else None
        if cpe is None:
            return 404, "", None
        username, password = cpe.connection_request_credentials()
        accepted, stale = self.digest.verify(
            headers.get("authorization"), method, username, password
        )
        self.log.append((cpe.serial, accepted))
        if len(self.log) > 1000:
            del self.log[:500]
        if not accepted:
            challenge = self.digest.challenge(stale=stale)
            return 401, f"WWW-Authenticate: {challenge}\r\n", None
        log.debug("connection request accepted for %s", cpe.serial)
        # Answer first, then start the session: the ACS waits for our 200 before it expects an Inform.
        return 200, "", cpe.connection_request
