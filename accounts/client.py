"""The learner's own address: what demo rate limits, the sign-up throttle and log-in lockouts
count against.

Without a proxy it is ``REMOTE_ADDR``. Behind one, ``REMOTE_ADDR`` is the proxy's address for
every learner, so the site reads the header the proxy sets (``CLIENT_IP_HEADER``):

- ``X-Forwarded-For`` with ``TRUSTED_PROXY_COUNT`` = N, the number of proxies in front of the
  app server (each appends the address it saw): the N-th address from the right. Addresses
  further left were written by the client and can be forged, so they are never used.
- ``X-Real-IP`` (or any single-value header the proxy overwrites): that value.

A request that reaches the app server without the header (straight from inside the network)
counts against ``REMOTE_ADDR``. IPv6 addresses are cut to their /64 network
(``CLIENT_IPV6_PREFIX``), as django-ratelimit does, so a host can't walk through its own
addresses to dodge a limit. The one public function is ``client_ip``; django-axes
(``AXES_CLIENT_IP_CALLABLE``) and django-ratelimit (``RATELIMIT_IP_META_KEY``) are pointed at it.
"""

from __future__ import annotations

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
    value = request.META.get(meta_key(header)) if header else None
    if value:
        address = _from_header(str(value), header)
        if address is not None:
            return address
    return _normal(request.META.get("REMOTE_ADDR"))


def _from_header(value: str, header: str) -> str | None:
    if header.strip().lower() != "x-forwarded-for":
        return _normal(value)
    hops = [part.strip() for part in value.split(",") if part.strip()]
    if not hops:
        return None
    count = max(1, int(settings.TRUSTED_PROXY_COUNT))
    # Fewer hops than proxies: every address there was written by one of ours.
    return _normal(hops[-count] if len(hops) >= count else hops[0])


def _normal(value: object) -> str | None:
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
        prefix = int(settings.CLIENT_IPV6_PREFIX)
        return str(ipaddress.ip_network(f"{address}/{prefix}", strict=False).network_address)
    return str(address)
