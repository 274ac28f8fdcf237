"""File transfers a CPE makes after a Download or Upload RPC: HTTP GET/PUT with Basic or Digest.

Only loopback hosts are contacted unless explicitly allowed: an ACS under
test must not be able to point a fleet of simulated devices at the network.
"""

from __future__ import annotations

import ssl

from .digest import ClientAuth
from .httpclient import HttpConnection, HttpError, Url


class TransferFailed(Exception):
    """The transfer failed; the message goes into TransferComplete's FaultString."""


async def _request(
    method: str,
    url: str,
    username: str,
    password: str,
    body: bytes = b"",
    *,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
    allow_remote: bool = False,
    content_type: str | None = None,
) -> bytes:
    try:
        parsed = Url.parse(url)
    except ValueError as exc:
        raise TransferFailed(str(exc)) from exc
    if not allow_remote and not parsed.is_loopback:
        raise TransferFailed(f"refused: {parsed.host} is not a loopback host")
    conn = HttpConnection(
        parsed, ssl_context=ssl_context if parsed.scheme == "https" else None, timeout=timeout
    )
    auth = ClientAuth(username, password)
    try:
        for _attempt in range(3):
            headers: list[tuple[str, str]] = [("User-Agent", "cpesim")]
            if content_type:
                headers.append(("Content-Type", content_type))
            authorization = auth.header(method, parsed.target)
            if authorization:
                headers.append(("Authorization", authorization))
            response = await conn.request(method, parsed.target, headers, body)
            if response.status == 401 and (username or password):
                if auth.challenge(response.header_all("www-authenticate")):
                    continue
            if not 200 <= response.status < 300:
                raise TransferFailed(f"HTTP {response.status} {response.reason}".strip())
            return response.body
        raise TransferFailed("authentication failed")
    except (HttpError, OSError, TimeoutError) as exc:
        raise TransferFailed(f"{type(exc).__name__}: {exc}") from exc
    finally:
        conn.close()


async def fetch(url: str, username: str = "", password: str = "", **kwargs: object) -> bytes:
    """GET a file (Download)."""
    return await _request("GET", url, username, password, **kwargs)  # type: ignore[arg-type]


async def put(
    url: str, data: bytes, username: str = "", password: str = "", **kwargs: object
) -> None:
    """PUT a file (Upload; TR-069 3.4.5 names PUT for HTTP uploads)."""
    await _request(
        "PUT", url, username, password, data, content_type="application/octet-stream", **kwargs
    )  # type: ignore[arg-type]
