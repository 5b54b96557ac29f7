"""The learner's own address: what demo rate limits, the sign-up throttle and log-in lockouts
count against.

Without a proxy it is ``REMOTE_ADDR``. Behind one, ``REMOTE_ADDR`` is the proxy's address for
every learner, so the site reads the header the proxy sets (``CLIENT_IP_HEADER``):

- ``X-Forwarded-For`` with ``TRUSTED_PROXY_COUNT`` = N, the number of proxies in front of the
  app server (each appends the address it saw): the N-th address from the right. Addresses
  further left were written by the client and can be forged, so they are never used.
- ``X-Real-IP`` (or any single-value header the proxy overwrites): that value.

The header is believed only from a peer in ``TRUSTED_PROXY_IPS`` (addresses or networks;
by default loopback and the private ranges, where a proxy in front of gunicorn sits): a
client that reaches gunicorn straight from the internet can't choose its address by sending
the header itself. A request without the header (straight from inside the network) counts
against ``REMOTE_ADDR``. IPv6 addresses are cut to their /64 network
(``CLIENT_IPV6_PREFIX``), as django-ratelimit does, so a host can't walk through its own
addresses to dodge a limit. The one public function is ``client_ip``; django-axes
(``AXES_CLIENT_IP_CALLABLE``) and django-ratelimit (``RATELIMIT_IP_META_KEY``) are pointed at it.
"""

from __future__ import annotations

import functools
import ipaddress
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:
    from django.http import HttpRequest


def meta_key(header: str) -> str:
    """``X-Forwarded-For`` -> ``HTTP_X_FORWARDED_FOR`` (how Django's META names a header)."""
    return "HTTP_" + header.strip().upper().replace("-", "_")


def client_ip(request: HttpRequest) -> str | None:
    """The address to count this request against, or None when it carries no valid one
    (django-axes stores it in an IP column, which refuses junk)."""
    header = settings.CLIENT_IP_HEADER
    peer = _normal(request.META.get("REMOTE_ADDR"), exact=True)
    value = request.META.get(meta_key(header)) if header and _trusted(peer) else None
    if value:
        address = _from_header(str(value), header)
        if address is not None:
            return address
    return _normal(request.META.get("REMOTE_ADDR"))


def _trusted(peer: str | None) -> bool:
    if peer is None:
        return False
    address = ipaddress.ip_address(peer)
    return any(address in network for network in _trusted_networks(settings.TRUSTED_PROXY_IPS))


@functools.lru_cache(maxsize=8)
def _trusted_networks(spec: str | tuple[str, ...]) -> tuple:
    parts = spec.split(",") if isinstance(spec, str) else spec
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in parts if part.strip())


def _from_header(value: str, header: str) -> str | None:
    if header.strip().lower() != "x-forwarded-for":
        return _normal(value)
    hops = [part.strip() for part in value.split(",") if part.strip()]
    if not hops:
        return None
    count = max(1, int(settings.TRUSTED_PROXY_COUNT))
    # Fewer hops than proxies: every address there was written by one of ours.
    return _normal(hops[-count] if len(hops) >= count else hops[0])


def _normal(value: object, *, exact: bool = False) -> str | None:
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.startswith("[") and "]" in text:  # "[2001:db8::1]:443"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "203.0.113.7:5123"
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if address.version == 6:
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        if exact:
            return str(address)
        prefix = int(settings.CLIENT_IPV6_PREFIX)
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
    return str(address)


def check_settings(app_configs=None, **kwargs) -> list:
    """A system check: CLIENT_IP_HEADER's trusted peers must parse (else every request
    with the header would fail)."""
    from django.core.checks import Error

    try:
        _trusted_networks(settings.TRUSTED_PROXY_IPS)
    except ValueError as exc:
        return [
            Error(
                f"TRUSTED_PROXY_IPS is not a comma-separated list of addresses or networks: {exc}",
                id="accounts.E001",
            )
        ]
    if settings.TRUSTED_PROXY_COUNT < 1:
        return [Error("TRUSTED_PROXY_COUNT must be 1 or more.", id="accounts.E002")]
    return []
