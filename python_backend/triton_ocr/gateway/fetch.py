"""Downloading an image URL without letting callers reach the service's own network (SSRF).

Only ``http`` and ``https``. Every connection — the first and the one after each redirect, which are followed here,
at most ``max_redirects`` of them — goes through :class:`GuardedNetworkBackend`: it resolves the host, refuses the
connection when any resolved address is loopback, private, link-local, multicast, reserved, unspecified, not
globally routable or a cloud metadata address (IPv4 inside IPv6 is unwrapped first) unless an :class:`AllowRule`
lets that address and port through, and then connects to the very address it checked, so a DNS answer that
changes between check and connect (rebinding) cannot slip through. Time-outs: connect/read ``url_timeout_s``
(from :class:`~triton_ocr.config.ImageConfig`) and a deadline for the whole download; size: ``max_bytes``,
checked on ``Content-Length`` and again while streaming.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import httpcore
import httpx
from pydantic import PlainSerializer, PlainValidator, WithJsonSchema

from triton_ocr.config import ImageConfig
from triton_ocr.errors import ImageFetchError, ImageTooLargeError, shown

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]

SCHEMES = ("http", "https")
REDIRECTS = (301, 302, 303, 307, 308)
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in (
        "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud (classic)
        "fd00:ec2::254",  # AWS over IPv6
    )
)
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class URLRefusedError(ImageFetchError):
    """The URL is not allowed: its scheme, or an address it resolves to."""


@dataclass(frozen=True)
class AllowRule:
    """An exception to the address policy: a network and optionally one port.

    Written ``CIDR`` or ``CIDR:PORT``, IPv6 as ``[CIDR]:PORT`` (``127.0.0.1:8123``, ``10.1.0.0/16``,
    ``[::1]:8080``); a bare address is a /32 (/128) network.
    """

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    port: int | None = None

    @classmethod
    def parse(cls, value: object) -> AllowRule:
        if isinstance(value, AllowRule):
            return value
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"an allow rule is a string 'CIDR' or 'CIDR:PORT', got {value!r}")
        text, port = value.strip(), None
        if text.startswith("["):
            network, _, rest = text[1:].partition("]")
            if rest:
                if not rest.startswith(":"):
                    raise ValueError(f"bad allow rule {value!r}: write [IPv6 CIDR]:PORT")
                port = rest[1:]
            text = network
        elif text.count(":") == 1:
            text, port = text.split(":")
        try:
            net = ipaddress.ip_network(text, strict=False)
            number = None if port is None else int(port)
        except ValueError as exc:
            raise ValueError(f"bad allow rule {value!r}: {exc}") from None
        if number is not None and not 0 < number < 65536:
            raise ValueError(f"bad allow rule {value!r}: port out of range")
        return cls(net, number)

    def matches(self, address: IPAddress, port: int) -> bool:
        return address in self.network and (self.port is None or self.port == port)

    def __str__(self) -> str:
        net = str(self.network)
        if self.port is None:
            return net
        return f"[{net}]:{self.port}" if self.network.version == 6 else f"{net}:{self.port}"


AllowRuleField = Annotated[
    AllowRule, PlainValidator(AllowRule.parse), PlainSerializer(str), WithJsonSchema({"type": "string"})
]


def embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address carries (mapped, 6to4, Teredo, NAT64); empty for anything else."""
    if address.version == 4:
        return []
    assert isinstance(address, ipaddress.IPv6Address)
    found = [a for a in (address.ipv4_mapped, address.sixtofour) if a is not None]
    if address.teredo:
        found.extend(address.teredo)
    if address in NAT64:
        found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def refusal_reason(address: IPAddress) -> str | None:
    """Why ``address`` must not be fetched from (``None``: a public unicast address)."""
    for inner in embedded_ipv4(address):
        reason = refusal_reason(inner)
        if reason:
            return reason
    checks = (
        (address in METADATA_ADDRESSES, "a cloud metadata address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (address.is_unspecified, "the unspecified address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        (not address.is_global, "not a public address"),
    )
    return next((reason for failed, reason in checks if failed), None)


class AddressPolicy:
    """Which (address, port) a download may connect to: public addresses, plus what the allow rules name."""

    def __init__(self, allow: Iterable[AllowRule] = ()) -> None:
        self.allow = tuple(allow)

    def check(self, host: str, address: IPAddress, port: int) -> None:
        if any(rule.matches(address, port) for rule in self.allow):
            return
        reason = refusal_reason(address)
        if reason:
            named = shown(host, quoted=False)
            where = named if host == str(address) else f"{named} ({address})"
            raise URLRefusedError(f"refused to fetch from {where}: {reason}")


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to (the system resolver, off the event loop)."""
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise ImageFetchError(f"cannot resolve host {shown(host)}: {shown(str(exc), quoted=False)}") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


async def resolve(host: str, port: int, resolver: Resolver) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host.strip("[]"))]
    except ValueError:
        pass
    addresses = await resolver(host, port)
    if not addresses:
        raise ImageFetchError(f"host {shown(host)} has no address")
    return addresses


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """An httpcore network backend that checks each connection's addresses against the policy, then connects to
    the checked address itself (TLS still verifies the certificate against the host name)."""

    def __init__(self, policy: AddressPolicy, resolver: Resolver = system_resolver) -> None:
        self.policy = policy
        self.resolver = resolver
        self.inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await resolve(host, port, self.resolver)
        for address in addresses:  # every answer must pass: a mixed answer is refused whole
            self.policy.check(host, address, port)
        error: Exception | None = None
        for address in addresses:
            try:
                return await self.inner.connect_tcp(str(address), port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    async def connect_unix_socket(self, *args: Any, **kwargs: Any) -> httpcore.AsyncNetworkStream:
        raise URLRefusedError("unix sockets are not fetched from")

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


def shown_url(url: httpx.URL) -> str:
    """A URL for messages: without credentials, query or fragment, cut by :func:`~triton_ocr.errors.shown`."""
    return shown(str(url.copy_with(username=None, password=None, query=None, fragment=None)), quoted=False)


def parse_url(text: str) -> httpx.URL:
    """``text`` as an absolute http(s) URL with a host, or :class:`URLRefusedError`."""
    try:
        url = httpx.URL(text)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise URLRefusedError(f"not a valid URL: {shown(str(exc), quoted=False)}") from None
    if url.scheme not in SCHEMES:
        scheme = url.scheme or text.split(":", 1)[0]
        raise URLRefusedError(f"URL scheme {shown(scheme)} is not allowed: only http and https")
    if not url.host:
        raise URLRefusedError("the URL has no host")
    return url


class URLFetcher:
    """Downloads images from URLs under the address policy; one connection pool shared by all requests."""

    def __init__(
        self,
        limits: ImageConfig,
        allow: Sequence[AllowRule] = (),
        max_redirects: int = 3,
        deadline_s: float = 30.0,
        resolver: Resolver = system_resolver,
    ) -> None:
        self.limits = limits
        self.max_redirects = max_redirects
        self.deadline_s = deadline_s
        self.pool = httpcore.AsyncConnectionPool(
            network_backend=GuardedNetworkBackend(AddressPolicy(allow), resolver),
            max_connections=64,
            keepalive_expiry=30.0,
        )

    async def fetch(self, text: str) -> bytes:
        """The body of ``text`` (an http/https URL) after at most ``max_redirects`` redirects."""
        url = parse_url(text)
        try:
            return await asyncio.wait_for(self._follow(url), self.deadline_s)
        except asyncio.TimeoutError:
            raise ImageFetchError(f"{shown_url(url)} took longer than {self.deadline_s:g} s to download") from None

    async def _follow(self, url: httpx.URL) -> bytes:
        for _ in range(self.max_redirects + 1):
            location = await self._get(url)
            if isinstance(location, bytes):
                return location
            url = parse_url(str(url.join(location)))
        raise ImageFetchError(f"{shown_url(url)}: more than {self.max_redirects} redirects")

    async def _get(self, url: httpx.URL) -> bytes | str:
        """The body, or the ``Location`` of a redirect."""
        timeout = self.limits.url_timeout_s
        target = httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path)
        headers = [(b"Accept", b"image/*"), (b"User-Agent", b"triton-ocr-gateway")]
        extensions = {"timeout": {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}}
        try:
            async with self.pool.stream("GET", target, headers=headers, extensions=extensions) as response:
                answer = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
                if response.status in REDIRECTS and "location" in answer:
                    return answer["location"]
                if not 200 <= response.status < 300:
                    raise ImageFetchError(f"{shown_url(url)} answered HTTP {response.status}")
                return await self._read(url, response, answer.get("content-length"))
        except httpcore.TimeoutException:
            raise ImageFetchError(f"{shown_url(url)} timed out (limit {timeout:g} s)") from None
        except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
            raise ImageFetchError(
                f"cannot download {shown_url(url)}: {shown(str(exc), quoted=False) or type(exc).__name__}"
            ) from None

    async def _read(self, url: httpx.URL, response: httpcore.Response, length: str | None) -> bytes:
        limit = self.limits.max_bytes
        if length is not None and length.isdigit() and int(length) > limit:
            raise ImageTooLargeError(f"{shown_url(url)} is {int(length)} bytes; the limit is {limit}")
        chunks, total = [], 0
        async for chunk in response.aiter_stream():
            total += len(chunk)
            if total > limit:
                raise ImageTooLargeError(f"{shown_url(url)} is larger than the limit of {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    async def close(self) -> None:
        await self.pool.aclose()
