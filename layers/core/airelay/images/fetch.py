"""Fetches an image URL for a client without letting it reach this server's network (no SSRF).

- only http and https, no credentials in the URL;
- the host is resolved here; every address it resolves to must be public: loopback, private, link-local (the cloud
  metadata service at 169.254.169.254), multicast, reserved, unspecified and shared ranges are refused, IPv4 and IPv6,
  and IPv4 hidden in IPv6 (mapped, 6to4, NAT64) is checked as IPv4; numeric hosts in any IPv4 spelling
  (2130706433, 0x7f.1, 0177.0.0.1) are read as the address they name;
- the connection goes to the address that was checked (the URL is rewritten to it; Host and TLS SNI keep the
  name), so DNS cannot answer differently the second time; no proxies from the environment;
- redirects are followed by hand, at most `max_redirects`, each hop checked like the first;
- one deadline for everything, a byte cap enforced while reading, no content-encoding.

Tests inject a resolver and a policy subclass; nothing in production settings can widen the policy.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import anyio

from ..errors import InvalidInput
from ..settings import Settings
from .decode import ImageTooLarge

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

REDIRECTS = (301, 302, 303, 307, 308)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$")
CHUNK = 64 * 1024


class UrlRefused(InvalidInput):
    code = "image_url_refused"
    message = "This image URL is not allowed."


class FetchFailed(InvalidInput):
    code = "image_fetch_failed"
    message = "The image could not be fetched."


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


@dataclass(frozen=True)
class FetchPolicy:
    max_bytes: int = 5 * 1024 * 1024
    timeout_s: float = 10.0
    max_redirects: int = 3
    connect_timeout_s: float = 3.0

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        return cls(
            settings.image_max_bytes,
            settings.image_fetch_timeout_s,
            settings.image_max_redirects,
            min(settings.upstream_connect_timeout_s, settings.image_fetch_timeout_s),
        )

    def refusal(self, host: str, address: IPAddress) -> str | None:
        """Why `address` (what `host` names or resolved to) must not be contacted; None when it may."""
        return address_refusal(address)


def address_refusal(address: IPAddress) -> str | None:
    if address in METADATA:
        return "the cloud metadata service's address"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None and (reason := address_refusal(embedded)):
            return reason
        if address.is_site_local:
            return "a site-local address"
    for kind, refused in (
        ("loopback", address.is_loopback),
        ("unspecified", address.is_unspecified),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if refused:
            return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind} address"
    return None if address.is_global else "not a public address"


def numeric_host(host: str) -> IPAddress | None:
    """The address a numeric host names, in any spelling a resolver accepts (as the WHATWG URL standard reads it)."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    labels = host.split(".")
    if not 1 <= len(labels) <= 4 or not all(NUMERIC_LABEL.match(label) for label in labels):
        return None
    *head, last = [ipv4_number(label) for label in labels]
    if any(n > 255 for n in head) or last >= 256 ** (5 - len(labels)):
        raise UrlRefused("The image URL's host is not a valid address.")
    return ipaddress.IPv4Address(last + sum(n << (8 * (3 - i)) for i, n in enumerate(head)))


def ipv4_number(label: str) -> int:
    if label.startswith("0x"):
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        try:
            return int(label, 8)
        except ValueError:
            raise UrlRefused("The image URL's host is not a valid address.") from None
    return int(label)


@dataclass(frozen=True)
class Target:
    url: str
    scheme: str
    host: str  # lowercased, IDNA-encoded, without brackets or a trailing dot
    port: int
    path: str  # path and query

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return host if self.port == default else f"{host}:{self.port}"

    def pinned(self, address: IPAddress) -> str:
        host = f"[{address}]" if address.version == 6 else str(address)
        return f"{self.scheme}://{host}:{self.port}{self.path}"


def parse_target(url: str) -> Target:
    url = url.strip()
    if any(c < " " or c == "\x7f" for c in url):
        raise UrlRefused("The image URL holds a control character.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UrlRefused("The image URL is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise UrlRefused("Only http and https image URLs are allowed.")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("Image URLs may not carry credentials.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("The image URL has no host.")
    if ":" not in host:  # an IPv6 literal has no name to encode
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise UrlRefused("The image URL's host is not a valid name.") from None
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(url, parts.scheme, host.lower(), port or (443 if parts.scheme == "https" else 80), path)


async def checked_address(target: Target, policy: FetchPolicy, resolver: Resolver) -> IPAddress:
    """The address to connect to: the host's own if numeric, else every resolved address checked, one of them used."""
    address = numeric_host(target.host)
    if address is not None:
        addresses = [address]
    else:
        if target.host == "localhost" or target.host.endswith(".localhost"):
            raise UrlRefused("The image URL points to a loopback address.")
        try:
            found = await resolver(target.host, target.port)
        except (OSError, UnicodeError):
            raise FetchFailed("The image URL's host name could not be resolved.") from None
        # IPv4 first: many networks (Lambda outside a dual-stack VPC) have no IPv6 route out.
        addresses = sorted((ipaddress.ip_address(str(a).split("%", 1)[0]) for a in found), key=lambda a: a.version)
        if not addresses:
            raise FetchFailed("The image URL's host name could not be resolved.")
    for candidate in addresses:
        reason = policy.refusal(target.host, candidate)
        if reason:
            raise UrlRefused(f"The image URL points to {reason}.")
    return addresses[0]


async def fetch_image(url: str, policy: FetchPolicy, resolver: Resolver = system_resolver) -> bytes:
    """The bytes at `url`, fetched under `policy`; UrlRefused, FetchFailed (422) or ImageTooLarge (413) otherwise."""
    import httpx2

    timeout = httpx2.Timeout(policy.timeout_s, connect=policy.connect_timeout_s)
    try:
        with anyio.fail_after(policy.timeout_s):
            async with httpx2.AsyncClient(trust_env=False, follow_redirects=False, timeout=timeout) as client:
                for _ in range(policy.max_redirects + 1):
                    target = parse_target(url)
                    address = await checked_address(target, policy, resolver)
                    location = await get(client, target, address, policy)
                    if isinstance(location, bytes):
                        return location
                    url = urljoin(target.url, location)
    except TimeoutError:
        raise FetchFailed(f"The image URL did not answer within {policy.timeout_s:g} s.") from None
    except httpx2.InvalidURL:
        raise UrlRefused("The image URL is not a valid URL.") from None
    except httpx2.HTTPError:
        raise FetchFailed("The image URL could not be reached.") from None
    raise UrlRefused(f"The image URL redirects more than {policy.max_redirects} times.")


async def get(client, target: Target, address: IPAddress, policy: FetchPolicy) -> bytes | str:
    """One request to the checked address: the body, or the Location of a redirect."""
    headers = {
        "host": target.host_header,
        "accept": "image/*",
        "accept-encoding": "identity",
        "user-agent": "airelay-image-fetch",
    }
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    async with client.stream("GET", target.pinned(address), headers=headers, extensions=extensions) as response:
        if response.status_code in REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise FetchFailed("The image URL redirects without a Location.")
            return location
        if response.status_code != 200:
            raise FetchFailed(f"The image URL answered HTTP {response.status_code}.")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > policy.max_bytes:
            raise too_large(policy)
        body = bytearray()
        async for chunk in response.aiter_raw(CHUNK):
            body += chunk
            if len(body) > policy.max_bytes:
                raise too_large(policy)
        return bytes(body)


def too_large(policy: FetchPolicy) -> ImageTooLarge:
    return ImageTooLarge(f"The image is larger than {policy.max_bytes:,} bytes.")
