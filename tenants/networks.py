"""The special address blocks of connection-request allow-lists.

A connection request goes to an address the CPE reported, so a tenant's
allow-list (``Tenant.connection_request_networks``) is what stops a CPE, or
a tenant, from pointing the ACS at the ACS's own machine or network:
loopback services, the cloud metadata service (credentials of the host),
link-local neighbours. Those blocks are special twice over:

* in the list, an entry that opens any of them (lies inside one) may be
  added by the platform superuser only (``Tenant.clean``, through
  ``tenants.services.tenant_set_connection_request_networks``); a tenant
  admin may keep or remove what the platform put there, never add it;
* at wake-up (``cwmp.wakeup.connreq.check_address``), an address in one of
  them is contacted only when the list names it inside its own block, so
  ``0.0.0.0/0`` never opens ``127.0.0.1`` and ``169.254.0.0/16`` never opens
  the metadata address.

An IPv4 address can be written as IPv6 too: IPv4-mapped (``::ffff:127.0.0.1``,
which the socket layer sends to 127.0.0.1) and NAT64 (``64:ff9b::/96``,
RFC 6052, which a NAT64 gateway sends on to the IPv4 address it embeds).
Both sides judge such an address, and such an entry, as the IPv4 it
embeds, so neither spelling reaches past the rules.

Standard library only: the model, the service and the wake-up code share it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# First match wins, so the metadata addresses come before the link-local
# block that holds 169.254.169.254: allowing a link-local lab network does
# not allow the metadata service.
GUARDED: tuple[tuple[str, Network], ...] = tuple(
    (label, ipaddress.ip_network(net))
    for label, net in (
        ("cloud metadata", "169.254.169.254/32"),  # AWS, GCP, Azure, OpenStack
        ("cloud metadata", "fd00:ec2::254/128"),  # AWS IPv6
        ("cloud metadata", "100.100.100.200/32"),  # Alibaba (inside CGNAT 100.64/10)
        ("loopback", "127.0.0.0/8"),
        ("loopback", "::1/128"),
        ("link-local", "169.254.0.0/16"),
        ("link-local", "fe80::/10"),
        ("unspecified", "0.0.0.0/8"),
        ("unspecified", "::/128"),
        ("multicast", "224.0.0.0/4"),
        ("multicast", "ff00::/8"),
        ("reserved", "240.0.0.0/4"),  # includes the broadcast 255.255.255.255
    )
)

# IPv6 prefixes whose last 32 bits are an IPv4 address.
_EMBEDDING: tuple[ipaddress.IPv6Network, ...] = (
    ipaddress.IPv6Network("::ffff:0:0/96"),  # IPv4-mapped
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64 well-known prefix (RFC 6052)
)


def parse_networks(text: str) -> list[Network]:
    """The entries of an allow-list (whitespace-separated CIDR); ValueError on a bad one."""
    return [ipaddress.ip_network(entry, strict=False) for entry in text.split()]


def policy_address(address: Address) -> Address:
    """The address the rules judge: the IPv4 address a mapped or NAT64 one embeds, else itself."""
    if isinstance(address, ipaddress.IPv6Address):
        for prefix in _EMBEDDING:
            if address in prefix:
                return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address


def policy_network(network: Network) -> Network:
    """An entry as the rules judge it: inside a mapped or NAT64 prefix, the IPv4 block it embeds.

    ``::ffff:127.0.0.0/104`` is ``127.0.0.0/8``; the whole ``64:ff9b::/96`` is
    ``0.0.0.0/0``. Wider IPv6 entries stay IPv6.
    """
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        for prefix in _EMBEDDING:
            if network.subnet_of(prefix):
                return ipaddress.IPv4Network(
                    (int(network.network_address) & 0xFFFFFFFF, network.prefixlen - 96)
                )
    return network


def guarded_block(address: Address) -> tuple[str, Network] | None:
    """The special block ``address`` (as the rules judge it) lies in, first match, or None."""
    address = policy_address(address)
    for label, block in GUARDED:
        if block.version == address.version and address in block:
            return label, block
    return None


def opened_block(network: Network) -> tuple[str, Network] | None:
    """The special block an allow-list entry opens (lies inside), or None.

    Only entries inside a block open it (see the module), so ``0.0.0.0/0``
    opens none and ``127.0.0.1/32`` or ``::ffff:127.0.0.1`` opens loopback.
    """
    network = policy_network(network)
    for label, block in GUARDED:
        if block.version == network.version and network.subnet_of(block):  # type: ignore[arg-type]
            return label, block
    return None


def special_entries(networks: Iterable[Network]) -> list[tuple[Network, str]]:
    """The entries that open a special block, each with the block's label."""
    found = []
    for network in networks:
        opened = opened_block(network)
        if opened is not None:
            found.append((network, opened[0]))
    return found
