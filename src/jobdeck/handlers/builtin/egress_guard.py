"""The egress guard (docs/builtin-types.md): outbound requests to
destinations users choose reach public addresses only.

For every request (each redirect is a new request): the URL is parsed by httpx, the
same parser that sends it; the scheme must be http or https; the host is resolved
once (numeric IPv4 spellings such as ``2130706433``, ``0x7f.1`` or ``0177.0.0.1`` are
read as inet_aton reads them, without a resolver); every address the name has must
be public or inside ``JOBDECK_EGRESS_ALLOW``, with IPv4 carried in IPv6 forms
(mapped, NAT64, 6to4, compatible) judged by that IPv4; and the connection goes to
the checked address (egress.py, the guarded transport), with the host name kept for
the Host header, SNI and the TLS certificate check.

The rules live here, apart from the transport, so that every deck builds its guard
(and rejects a bad ``JOBDECK_EGRESS_ALLOW``) without importing httpx.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

from jobdeck.errors import PermanentFailure

if TYPE_CHECKING:
    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Ranges refused whatever ``ipaddress.is_global`` says on this Python version, with
# the name the refusal gives.
_BLOCKED: tuple[tuple[str, str], ...] = (
    ("0.0.0.0/8", "an unspecified ('this network')"),
    ("10.0.0.0/8", "a private"),
    ("100.64.0.0/10", "a shared (CGNAT)"),
    ("127.0.0.0/8", "a loopback"),
    ("169.254.0.0/16", "a link-local"),
    ("172.16.0.0/12", "a private"),
    ("192.0.0.0/24", "a reserved (IETF protocol)"),
    ("192.0.2.0/24", "a reserved (documentation)"),
    ("192.88.99.0/24", "a reserved (6to4 relay)"),
    ("192.168.0.0/16", "a private"),
    ("198.18.0.0/15", "a reserved (benchmarking)"),
    ("198.51.100.0/24", "a reserved (documentation)"),
    ("203.0.113.0/24", "a reserved (documentation)"),
    ("224.0.0.0/4", "a multicast"),
    ("240.0.0.0/4", "a reserved"),
    ("::/128", "an unspecified"),
    ("::1/128", "a loopback"),
    ("64:ff9b:1::/48", "a reserved (local NAT64)"),
    ("100::/64", "a reserved (discard)"),
    ("2001::/23", "a reserved (IETF protocol)"),
    ("2001:db8::/32", "a reserved (documentation)"),
    ("fc00::/7", "a private (unique local)"),
    ("fe80::/10", "a link-local"),
    ("fec0::/10", "a reserved (site-local)"),
    ("ff00::/8", "a multicast"),
)
_BLOCKED_NETS = tuple((ipaddress.ip_network(net), kind) for net, kind in _BLOCKED)
_HOST = re.compile(r"^(?:[A-Za-z0-9_.-]+|[0-9A-Fa-f:.]+)$")
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")


class EgressRefused(PermanentFailure):
    """The egress guard refused the destination."""


def parse_allow(value: str | Iterable[str]) -> tuple[Network, ...]:
    """``JOBDECK_EGRESS_ALLOW``: CIDRs separated by commas or spaces."""
    items = value.replace(",", " ").split() if isinstance(value, str) else list(value)
    try:
        return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in items)
    except ValueError as exc:
        raise ValueError(f"JOBDECK_EGRESS_ALLOW: {exc}") from None


def numeric_ipv4(host: str) -> ipaddress.IPv4Address | None:
    """The address inet_aton reads from ``host`` (``127.1``, ``0x7f000001``,
    ``017700000001``, ``2130706433`` …), or None when it is not numeric."""
    parts = host.split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers = []
    for part in parts:
        try:
            if part[:2].lower() == "0x":
                numbers.append(int(part[2:], 16))
            elif len(part) > 1 and part.startswith("0"):
                numbers.append(int(part[1:], 8))
            elif part.isdigit():
                numbers.append(int(part))
            else:
                return None
        except ValueError:
            return None
    *head, last = numbers
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(numbers)):
        return None
    value = 0
    for n in head:
        value = value << 8 | n
    return ipaddress.IPv4Address(value << 8 * (5 - len(numbers)) | last)


def embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, NAT64, 6to4, compatible)."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


class EgressGuard:
    def __init__(self, allow: Iterable[Network] = ()) -> None:
        self.allow = tuple(allow)

    @classmethod
    def from_setting(cls, value: str) -> EgressGuard:
        return cls(parse_allow(value or ""))

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be reached, or None."""
        if self._allowed(address):
            return None
        carried = embedded_ipv4(address)
        if carried is not None:
            if self._allowed(carried):
                return None
            why = self.refusal(carried)
            return f"{why} carried in {address}" if why else None
        for network, kind in _BLOCKED_NETS:
            if address.version == network.version and address in network:
                return f"{address} is {kind} address"
        if not address.is_global:
            return f"{address} is not a public address"
        return None

    @staticmethod
    def parse(url: str) -> httpx.URL:
        """``url`` as httpx reads it (the parser that sends it); EgressRefused when it
        cannot be read."""
        import httpx

        try:
            return httpx.URL(url)
        except (httpx.InvalidURL, TypeError, ValueError) as exc:
            raise EgressRefused(f"egress guard: not a valid URL: {exc}") from None

    def _allowed(self, address: IPAddress) -> bool:
        return any(address.version == n.version and address in n for n in self.allow)

    async def resolve(self, url: httpx.URL) -> list[IPAddress]:
        """The addresses to connect to for ``url``, each of them checked;
        EgressRefused (never retried) when any of them is refused."""
        if url.scheme not in ("http", "https"):
            raise EgressRefused(f"egress guard: only http and https URLs, not {url.scheme!r}")
        host = url.host
        if not host:
            raise EgressRefused("egress guard: the URL has no host")
        if not _HOST.match(host):
            # Percent-escapes and the like: no resolver should be left to guess.
            raise EgressRefused(f"egress guard: {host!r} is not a host name or an address")
        addresses = await _addresses(host, url.port or (443 if url.scheme == "https" else 80))
        for address in addresses:
            why = self.refusal(address)
            if why is not None:
                raise EgressRefused(
                    f"egress guard: {host} refused: {why} (allow it with JOBDECK_EGRESS_ALLOW)"
                )
        return addresses


async def _addresses(host: str, port: int) -> list[IPAddress]:
    import httpx

    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    numeric = numeric_ipv4(host)
    if numeric is not None:
        return [numeric]
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return [_LOOPBACK]  # RFC 6761: loopback by name, whatever a resolver says
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise httpx.ConnectError(f"could not resolve {host}: {exc}") from exc
    found: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    if not found:
        raise httpx.ConnectError(f"could not resolve {host}")
    return found
