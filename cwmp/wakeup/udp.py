"""UDP connection requests (TR-069 Annex G, TR-111 Part 2): sending them to a CPE.

For a CPE behind a NAT, which an HTTP connection request cannot reach: the
signed datagram of ``cwmp.protocol.udpcr`` goes to the
UDPConnectionRequestAddress (the NAT binding the CPE learned, and our STUN
server saw, with STUN), as several identical copies since UDP may lose any
of them. The address comes from the CPE, so it passes the same allow-list
as an HTTP one (``cwmp.wakeup.connreq``). Nothing here may run inside a web
request.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings

from cwmp.protocol.udpcr import build_udp_connection_request
from cwmp.wakeup.connreq import (
    ConnectionRequestResult,
    DestinationRefused,
    Network,
    checked_addresses,
    resolve,
    tenant_allowlist,
)

if TYPE_CHECKING:
    from devices.models import Device

log = logging.getLogger("acsportal.cwmp.connreq")


def parse_udp_address(value: str) -> tuple[str, int]:
    """``host:port``, ``[v6]:port`` or ``host`` (port 80, as the TR-098/TR-181
    UDPConnectionRequestAddress definition allows) → (host, port)."""
    value = value.strip()
    if not value or any(ord(c) <= 0x20 or ord(c) == 0x7F for c in value):
        raise DestinationRefused(f"invalid UDP connection request address {value!r}")
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ("" if not rest else None)
        if not sep or port_text is None:
            raise DestinationRefused(f"invalid UDP connection request address {value!r}")
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
    elif ":" in value:
        host, port_text = value, ""  # a bare IPv6 address
    else:
        host, port_text = value, ""
    try:
        port = int(port_text) if port_text else 80
    except ValueError:
        raise DestinationRefused(f"invalid port in {value!r}") from None
    if not host or not 0 < port < 65536:
        raise DestinationRefused(f"invalid UDP connection request address {value!r}")
    return host, port


def _authority(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def udp_connection_request(
    address: str,
    *,
    username: str,
    password: str,
    allowlist: Sequence[Network],
    copies: int = 3,
    spacing: float = 0.5,
    relay: str = "",
) -> ConnectionRequestResult:
    """Send one Annex G UDP connection request as ``copies`` identical datagrams.

    UDP may lose any datagram and Annex G (TR-111 Part 2) says the ACS
    SHOULD send several copies, identical (same ts, id, cn, sig) so the CPE
    acts once. With ``relay`` (``host:port`` of our STUN server), the STUN
    server sends them from its own socket: TR-111 requires the UDP
    connection request to come from the STUN server's address and port,
    which is what a port-restricted NAT lets in. Never raises for CPE or
    network failures.
    """
    started = time.monotonic()

    def result(**fields: Any) -> ConnectionRequestResult:
        fields.setdefault("ok", False)
        return ConnectionRequestResult(
            elapsed=time.monotonic() - started, transport="udp", **fields
        )

    try:
        host, port = parse_udp_address(address)
        try:
            resolved = resolve(host, port, socket.SOCK_DGRAM)
        except OSError as exc:
            return result(error=f"cannot resolve {host}: {exc}")
        target = checked_addresses(resolved, allowlist)[0]
    except DestinationRefused as exc:
        return result(error=str(exc), refused=True)
    datagram = build_udp_connection_request(
        _authority(host, port), username=username, password=password
    )
    copies = max(1, copies)
    try:
        if relay:
            from cwmp.wakeup import stun

            stun.relay_send(relay, datagram, (str(target), port), copies=copies, spacing=spacing)
        else:
            family = socket.AF_INET6 if target.version == 6 else socket.AF_INET
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                for n in range(copies):
                    if n:
                        time.sleep(spacing)
                    sock.sendto(datagram, (str(target), port))
    except OSError as exc:
        return result(error=f"cannot send to {target}:{port}: {exc}", address=str(target))
    return result(ok=True, address=f"{_authority(str(target), port)}")


def send_udp_connection_request(
    device: Device, *, copies: int | None = None, spacing: float | None = None
) -> ConnectionRequestResult:
    """UDP connection request (TR-069 Annex G) to ``device.udp_connection_request_address``.

    Blocking for ``(copies - 1) * spacing`` seconds unless a STUN relay is
    configured (``CWMP_STUN_RELAY``), which schedules the copies itself.
    """
    tenant = device.tenant
    outcome = udp_connection_request(
        device.udp_connection_request_address,
        username=device.connection_request_credentials()[0],
        password=device.connection_request_credentials()[1],
        allowlist=tenant_allowlist(tenant),
        copies=int(copies if copies is not None else settings.CWMP_CONNREQ_UDP_COPIES),
        spacing=float(spacing if spacing is not None else settings.CWMP_CONNREQ_UDP_SPACING),
        relay=str(settings.CWMP_STUN_RELAY),
    )
    log.info(
        "connreq %s: %s UDP %s -> %s%s",
        tenant.slug,
        device.device_id,
        device.udp_connection_request_address,
        "sent" if outcome.ok else "failed",
        f" ({outcome.error})" if outcome.error else "",
    )
    return outcome
