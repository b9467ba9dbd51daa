"""Where webhooks may go: the callback address policy, and a POST pinned to a checked address.

Why: a callback URL is an address the platform itself connects to, from inside the
network it runs in. Left open, an administrator's form (or a stolen administrator
session) could make the server talk to PostgreSQL or Redis on 127.0.0.1, to the cloud's
metadata service (credentials), or sweep the intranet, reading port state from the error
shown for each attempt (SSRF). The rules, in order:

1. **Never**, whatever the configuration: loopback (127.0.0.0/8, ::1), link-local
   (169.254.0.0/16, fe80::/10), unspecified (0.0.0.0/8, ::), multicast, broadcast and
   reserved (240.0.0.0/4, ::/96), and the cloud metadata services (169.254.169.254,
   fd00:ec2::254, Alibaba Cloud's 100.100.100.200, ``metadata.google.internal``). The one
   exception is loopback in the test suite: ``app.env = "test"`` *and* a loopback network
   listed in ``exchange.allowed_networks`` (the suite's receivers run on 127.0.0.1);
   config validation refuses a loopback network in any other environment. Metadata
   addresses can never be allowed.
2. **Private and other non-global addresses** (10/8, 172.16/12, 192.168/16, fc00::/7,
   100.64/10, ...) only when a network listed in ``exchange.allowed_networks`` contains
   them: department systems often sit on a government intranet, and the operator says
   which part of it.
3. Everything else (global unicast) is allowed.

IPv6 forms that carry an IPv4 address (``::ffff:127.0.0.1``, NAT64 ``64:ff9b::/96``, 6to4
``2002::/16``) are judged by that IPv4 address as well. Registration checks what it can
without asking DNS (literal and legacy numeric addresses such as ``127.1``, and names such
as ``localhost``); at every send the name is resolved, *every* address it resolves to is
checked (one bad answer refuses the send: DNS rebinding), and the connection is made to the
checked address itself, with the ``Host`` header and TLS SNI/certificate check still using
the name. No HTTP proxy from the environment is used (it would undo the pinning).
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import re
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Reason codes (stable: tests and the server log use them).
LOOPBACK = "loopback"
NEVER = "never"  # link-local, unspecified, multicast, broadcast, reserved
METADATA = "metadata"
PRIVATE = "private"  # non-global and not in exchange.allowed_networks

_NETS = ipaddress.ip_network
_LOOPBACK = (_NETS("127.0.0.0/8"), _NETS("::1/128"))
_NEVER = (
    _NETS("0.0.0.0/8"),  # unspecified / "this network"
    _NETS("169.254.0.0/16"),  # link-local
    _NETS("224.0.0.0/4"),  # multicast
    _NETS("240.0.0.0/4"),  # reserved, and 255.255.255.255
    _NETS("::/96"),  # unspecified and the deprecated IPv4-compatible form
    _NETS("fe80::/10"),  # link-local
    _NETS("fec0::/10"),  # site-local (deprecated)
    _NETS("ff00::/8"),  # multicast
)
#: Cloud instance metadata services: credentials live there.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "fd00:ec2::254", "100.100.100.200")
)
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
_LOCAL_HOSTS = frozenset(
    {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
)
_NAT64 = _NETS("64:ff9b::/96")
_NUMERIC_HOST = re.compile(r"[0-9a-fx.]+")
#: Characters left as they are when a callback's path and query are percent-encoded.
_URL_SAFE = "/%:@!$&'()*+,;=-._~?"


class AddressRefused(ValueError):
    """The callback address is not allowed; ``reason`` is one of the reason codes."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class NetworkPolicy:
    """Which addresses webhooks may be sent to (see the module docstring)."""

    allowed: tuple[IPNetwork, ...] = ()
    #: Only ever True in the test suite (``app.env = "test"`` and a loopback network listed).
    allow_loopback: bool = False

    def refusal(self, ip: IPAddress) -> str | None:
        """The reason code ``ip`` is refused, or None when webhooks may go there."""
        embedded = _embedded_v4(ip)
        if embedded is not None:
            return self.refusal(embedded)  # the packets end up there
        if ip in METADATA_ADDRESSES:
            return METADATA
        if _within(ip, _LOOPBACK):
            return None if self.allow_loopback and _within(ip, self.allowed) else LOOPBACK
        if _within(ip, _NEVER):
            return NEVER
        if ip.is_global or _within(ip, self.allowed):
            return None
        return PRIVATE


def _within(ip: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(ip.version == net.version and ip in net for net in networks)


#: The policy with no private network allowed (what applies when nothing was configured).
STRICT = NetworkPolicy()


def _embedded_v4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    if ip.version != 6:
        return None
    assert isinstance(ip, ipaddress.IPv6Address)
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def parse_networks(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``exchange.allowed_networks`` as networks (config validation has checked them)."""
    return tuple(ipaddress.ip_network(str(v).strip(), strict=False) for v in values or ())


def policy_from_config(config: Any) -> NetworkPolicy:
    """The policy for an app's configuration. Loopback is allowed only when the app runs
    as ``env = "test"`` and a listed network contains loopback addresses."""
    section = getattr(config, "exchange", None) or {}
    allowed = parse_networks(section.get("allowed_networks") or ())
    env = (getattr(config, "app", None) or {}).get("env")
    loopback = env == "test" and any(
        net.version == lo.version and net.overlaps(lo)
        for net in allowed
        for lo in _LOOPBACK
    )
    return NetworkPolicy(allowed=allowed, allow_loopback=loopback)


def _host_name(host: str) -> str:
    return host.strip().rstrip(".").lower()


def _numeric(host: str) -> IPAddress | None:
    """``host`` as an address when it is written as one, including the legacy forms the
    resolver accepts (``127.1``, ``0x7f.1``, ``2130706433``); None for a name. Never
    asks DNS."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.fullmatch(host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def check_name(host: str, policy: NetworkPolicy) -> None:
    """What can be decided about ``host`` without DNS: raise :class:`AddressRefused` for a
    refused literal address or a name that always means this machine or a metadata
    service."""
    name = _host_name(host)
    if not name:
        raise AddressRefused(NEVER, "no host")
    if name in METADATA_HOSTS:
        raise AddressRefused(METADATA, name)
    ip = _numeric(name)
    if ip is None:
        local = name in _LOCAL_HOSTS or name.endswith(".localhost")
        if local and not policy.allow_loopback:
            raise AddressRefused(LOOPBACK, name)
        return
    reason = policy.refusal(ip)
    if reason is not None:
        raise AddressRefused(reason, str(ip))


def check_url(url: str, policy: NetworkPolicy) -> None:
    """Registration-time check of a callback URL's host (no DNS); raises
    :class:`AddressRefused`."""
    host = urlsplit(url).hostname or ""
    check_name(host, policy)


def resolve(host: str, port: int, policy: NetworkPolicy) -> str:
    """Resolve ``host`` and check every address; return the one to connect to. Raises
    :class:`AddressRefused` when any answer is refused (a name that resolves to a public
    and a loopback address is refused as a whole) and ``OSError`` when it does not
    resolve."""
    check_name(host, policy)
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    addresses: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        text = str(sockaddr[0])
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise OSError(f"{host} resolved to no address")
    for text in addresses:
        reason = policy.refusal(ipaddress.ip_address(text.split("%", 1)[0]))
        if reason is not None:
            raise AddressRefused(reason, f"{host} -> {text}")
    return addresses[0]


def _pinned_connection(
    scheme: str, host: str, port: int, address: str, timeout: float
) -> http.client.HTTPConnection:
    """A connection to ``address`` that speaks to ``host``: the Host header, TLS SNI and
    the certificate check use the name, the TCP connection goes to the checked address."""
    cls = http.client.HTTPSConnection if scheme == "https" else http.client.HTTPConnection
    conn = cls(host, port, timeout=timeout)

    def connect_pinned(
        _address: tuple[str, int], timeout: Any = None, source_address: Any = None
    ) -> socket.socket:
        return socket.create_connection((address, port), timeout, source_address)

    # http.client's own seam for how the socket is made (connect() calls it; HTTPS then
    # wraps the socket with server_hostname=host).
    conn._create_connection = connect_pinned  # type: ignore[attr-defined]  # private in typeshed
    return conn


def post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: float,
    policy: NetworkPolicy,
) -> int:
    """POST ``body`` to ``url`` over a connection pinned to a checked address; return the
    HTTP status (redirects are not followed: a 3xx is just a status). Raises
    :class:`AddressRefused` for a refused address and ``OSError`` /
    ``http.client.HTTPException`` for network failures."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused(NEVER, "only http and https callback addresses are used")
    host = parts.hostname
    if not host.isascii():  # an internationalised name: its ASCII (punycode) form
        host = host.encode("idna").decode("ascii")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = resolve(host, port, policy)
    conn = _pinned_connection(parts.scheme, host, port, address, timeout)
    # A path or query typed with Chinese characters is sent percent-encoded (UTF-8);
    # what is encoded already stays as it is.
    target = quote(parts.path or "/", safe=_URL_SAFE) + (
        f"?{quote(parts.query, safe=_URL_SAFE)}" if parts.query else ""
    )
    try:
        conn.request("POST", target, body=body, headers=dict(headers))
        response = conn.getresponse()
        response.read(65536)
        return int(response.status)
    finally:
        conn.close()
