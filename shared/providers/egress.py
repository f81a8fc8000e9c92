"""The egress policy: which addresses an upstream connection may reach.

Every URL a tenant controls (custom and Hugging Face endpoints, Dr.Gero models' endpoints,
judges that are candidates, and whatever a dataset download redirects to) leaves through the
one pooled client of :func:`shared.providers.http.new_client`, whose network backend is
:class:`EgressBackend`. Its ``connect_tcp`` resolves the host name itself, checks **every**
address the name resolves to, and connects to a checked address (never resolving again), so a
name that answers a public address to a first lookup and ``127.0.0.1`` to a second (DNS
rebinding) cannot slip through. TLS is started afterwards by httpcore with the URL's host name,
so SNI and certificate checks are unchanged.

Refused (unless the address is inside an allow-listed network, ``DRGERO_EGRESS_ALLOW_CIDRS``,
which only the local stack and tests set): loopback, private (RFC 1918 and the other special
purpose blocks Python's ``ipaddress`` lists), link-local (the cloud metadata server), CGNAT
``100.64.0.0/10``, unique-local ``fc00::/7``, multicast, unspecified, reserved, and the IPv6
forms that embed an IPv4 address (IPv4-mapped, IPv4-compatible, 6to4, NAT64, Teredo) when the
embedded address is refused. Numeric host forms are read as the C library reads them
(``2130706433``, ``0x7f000001``, ``127.1``, ``0177.0.0.1`` are all ``127.0.0.1``).

:func:`EgressPolicy.check_url` is the same check when a model is added (a 422 then); the
connect-time check is the one that cannot be bypassed.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import httpcore
import httpx

from shared.providers.errors import EndpointNotAllowed

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
# What inet_aton accepts: one to four parts, each decimal, octal (leading 0) or hex (0x).
_NUMERIC_V4 = re.compile(r"^(0x[0-9a-f]*|[0-9]+)(\.(0x[0-9a-f]*|[0-9]+)){0,3}\.?$", re.I)
_LOOPBACK = (ipaddress.IPv4Address("127.0.0.1"), ipaddress.IPv6Address("::1"))
_UNIQUE_LOCAL = ipaddress.IPv6Network("fc00::/7")
_METADATA_NAMES = ("metadata.google.internal", "metadata", "metadata.goog")


DEFAULT_RESOLVE_TIMEOUT_SECONDS = 5.0
# Name lookups run on these threads so that a lookup can be given up on: a tenant's name
# server that answers slowly (or never) holds a lookup thread, never a request past the
# timeout. Bounded: when every thread is stuck, further lookups wait and time out too.
_RESOLVERS = ThreadPoolExecutor(max_workers=16, thread_name_prefix="egress-resolve")
Resolver = Callable[..., list[Any]]


class EgressPolicy:
    """Public addresses only, plus the networks in ``allow`` (the local stack's loopback).

    A name is resolved by ``resolver`` (``socket.getaddrinfo``) within ``resolve_timeout``
    seconds (``DRGERO_EGRESS_RESOLVE_TIMEOUT_SECONDS``); a slower lookup fails to connect.
    """

    def __init__(
        self,
        *,
        allow: Iterable[Network] = (),
        resolve_timeout: float = DEFAULT_RESOLVE_TIMEOUT_SECONDS,
        resolver: Resolver = socket.getaddrinfo,
    ) -> None:
        self.allow: tuple[Network, ...] = tuple(allow)
        self.resolve_timeout = resolve_timeout
        self._resolver = resolver

    @classmethod
    def from_setting(
        cls, text: str, *, resolve_timeout: float = DEFAULT_RESOLVE_TIMEOUT_SECONDS
    ) -> EgressPolicy:
        """From ``DRGERO_EGRESS_ALLOW_CIDRS``: comma-separated CIDRs, empty for production."""
        parts = [p.strip() for p in text.split(",") if p.strip()]
        return cls(
            allow=[ipaddress.ip_network(p, strict=False) for p in parts],
            resolve_timeout=resolve_timeout,
        )

    @classmethod
    def from_settings(cls, settings: Any) -> EgressPolicy:
        return cls.from_setting(
            settings.egress_allow_cidrs, resolve_timeout=settings.egress_resolve_timeout_seconds
        )

    def refusal(self, address: IPAddress) -> str | None:
        """Why ``address`` may not be reached (a short phrase), or None when it may."""
        if any(address in network for network in self.allow if network.version == address.version):
            return None
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = self.refusal(embedded)
            return f"{inner}: {embedded} embedded in {address}" if inner else None
        return _kind(address)

    def check_address(self, address: IPAddress, *, host: str) -> None:
        reason = self.refusal(address)
        if reason is not None:
            raise EndpointNotAllowed(
                f"{_shown(host)} leads to {address}, which is not a public address ({reason}):"
                " model endpoints must be reachable on the public internet",
                reason=reason,
            )

    def resolve(self, host: str, port: int) -> list[str]:
        """Every address ``host`` resolves to, each checked; refused if any one is refused."""
        host = host.strip("[]")
        literal = numeric_host(host)
        if literal is not None:
            self.check_address(literal, host=host)
            return [str(literal)]
        _check_name(host)
        name = host.lower().rstrip(".")
        if name == "localhost" or name.endswith(".localhost"):  # loopback by definition (RFC 6761)
            for address in _LOOPBACK:
                self.check_address(address, host=host)
            return [str(address) for address in _LOOPBACK]
        lookup = _RESOLVERS.submit(self._resolver, host, port, type=socket.SOCK_STREAM)
        try:
            found = lookup.result(timeout=self.resolve_timeout)
        except FutureTimeout as exc:
            lookup.cancel()
            raise httpcore.ConnectTimeout(
                f"could not resolve {_shown(host)} within {self.resolve_timeout:g} s"
                " (DRGERO_EGRESS_RESOLVE_TIMEOUT_SECONDS)"
            ) from exc
        except (OSError, UnicodeError) as exc:
            raise httpcore.ConnectError(f"could not resolve {host}: {exc}") from exc
        addresses: list[str] = []
        for *_, sockaddr in found:
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            self.check_address(address, host=host)
            if str(address) not in addresses:
                addresses.append(str(address))
        return addresses

    def check_url(self, url: str) -> None:
        """The add-time check: a refused literal or local name, or a name that resolves to one.

        A name that does not resolve (yet, or within the timeout) is accepted: the connect-time
        check decides then.
        """
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            if "IPv4" in str(exc):  # httpx refuses octal forms; the C library would not
                host = _host_of(url)
                if host and numeric_host(host) is not None:
                    self.resolve(host, 80)
                    return
            return  # unusable URLs are refused by the URL checks, with their own message
        host = parsed.host
        if not host:
            return
        try:
            self.resolve(host, parsed.port or (443 if parsed.scheme == "https" else 80))
        except (httpcore.ConnectError, httpcore.ConnectTimeout):  # unresolved, or too slowly
            return


class EgressBackend(httpcore.NetworkBackend):
    """httpcore's network backend, connecting only to addresses the policy allows."""

    def __init__(self, policy: EgressPolicy, inner: httpcore.NetworkBackend | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        last: Exception | None = None
        for address in self._policy.resolve(host, port):
            try:  # a literal address: the inner backend connects without resolving again
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except httpcore.ConnectError as exc:
                last = exc
        raise last or httpcore.ConnectError(f"{host} has no address")

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise EndpointNotAllowed("unix sockets are not reachable upstreams", reason="unix socket")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host form stands for (every form inet_aton reads), else None."""
    text = host.strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if _NUMERIC_V4.match(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text.rstrip(".")))
        except OSError:
            return None
    return None


def _check_name(host: str) -> None:
    name = host.lower().rstrip(".")
    if name in _METADATA_NAMES:  # refused by name too: whatever the resolver answers for it
        raise EndpointNotAllowed(
            f"{_shown(host)} is the cloud metadata server: model endpoints must be public",
            reason="metadata server",
        )


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    packed = address.packed
    if any(address in network for network in _NAT64) or (
        address in _IPV4_COMPATIBLE and int(address) > 1  # ::, ::1 are themselves
    ):
        return ipaddress.IPv4Address(packed[-4:])
    return None


def _kind(address: IPAddress) -> str | None:
    """The first refused category ``address`` falls in, else None (a public address)."""
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("CGNAT", isinstance(address, ipaddress.IPv4Address) and address in _CGNAT),
        ("unique-local", isinstance(address, ipaddress.IPv6Address) and address in _UNIQUE_LOCAL),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
        ("non-public", not address.is_global),
    )
    for name, hit in checks:
        if hit:
            return name
    return None


def _host_of(url: str) -> str | None:
    rest = url.split("://", 1)[-1]
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0].rsplit("@", 1)[-1]
    if authority.startswith("["):
        return authority[1 : authority.find("]")] if "]" in authority else None
    return authority.rsplit(":", 1)[0] if ":" in authority else authority


def _shown(host: str) -> str:
    return host[:200]
