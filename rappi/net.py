"""The client's address. `X-Forwarded-For` is believed only when the socket peer is one of
the proxies listed in TRUSTED_PROXIES (addresses or networks), and then only up to the
first hop, walking from the right, that is not itself a trusted proxy: what a client
writes into the header itself sits further left and is never taken. With no trusted
proxy, or a peer outside them, the socket address counts."""

import ipaddress
import re
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_ip(request) -> str | None:
    remote = request.META.get("REMOTE_ADDR") or None
    networks = _trusted_networks(tuple(settings.TRUSTED_PROXIES))
    if not networks or not _is_trusted(_parse(remote), networks):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    client = remote
    for hop in reversed([hop.strip() for hop in forwarded.split(",") if hop.strip()]):
        address = _parse(hop)
        if address is None:
            # A hop that is no address: nothing left of it can be trusted.
            return client
        client = str(address)
        if not _is_trusted(address, networks):
            return client
    # Every hop is one of ours (an internal call): the leftmost is the origin.
    return client


def _parse(value: str | None) -> _Address | None:
    try:
        address = ipaddress.ip_address(value or "")
    except ValueError:
        return None
    # An IPv4 peer seen on a dual-stack socket as ::ffff:a.b.c.d is that IPv4 address.
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def _is_trusted(address: _Address | None, networks: tuple[_Network, ...]) -> bool:
    return address is not None and any(address in network for network in networks)


@lru_cache(maxsize=8)
def _trusted_networks(entries: tuple[str, ...]) -> tuple[_Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in entries)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES must list IP addresses or networks (CIDR): {exc}"
        ) from None


def loggable_path(path: str) -> str:
    """`path` as the request log and the audit log keep it: a path segment that is a
    credential (SECRET_PATH_PATTERNS, e.g. the simulated checkout's signed token) is
    replaced by `<secret>`, so readers of the logs cannot replay it."""
    for pattern in _secret_path_patterns(tuple(settings.SECRET_PATH_PATTERNS)):
        match = pattern.match(path)
        if match:
            start, end = match.span("secret")
            return f"{path[:start]}<secret>{path[end:]}"
    return path


@lru_cache(maxsize=4)
def _secret_path_patterns(patterns: tuple[str, ...]) -> list[re.Pattern]:
    return [re.compile(pattern) for pattern in patterns]
