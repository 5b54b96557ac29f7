"""Every URL the site serves, made concrete: each pattern (admin included) with sample
values for its parameters, so the CSRF and "GET writes nothing" tests can walk them all."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.urls import URLPattern, URLResolver, get_resolver
from django.urls.resolvers import RegexPattern, RoutePattern

_ROUTE_PARAM = re.compile(r"<(?:(?P<conv>[^>:]+):)?(?P<name>[^>]+)>")
_REGEX_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<body>[^()]*(?:\([^()]*\)[^()]*)*)\)")


@dataclass(frozen=True)
class SiteUrl:
    pattern: str
    name: str
    path: str


def _walk(patterns, prefix: str = "", namespace: str = ""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            ns = namespace
            if pattern.namespace:
                ns = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            yield from _walk(pattern.url_patterns, prefix + _text(pattern.pattern), ns)
        elif isinstance(pattern, URLPattern):
            name = f"{namespace}:{pattern.name}" if namespace and pattern.name else pattern.name
            yield prefix + _text(pattern.pattern), name or ""


def _text(pattern) -> str:
    if isinstance(pattern, RoutePattern):
        return str(pattern)
    if isinstance(pattern, RegexPattern):
        return "regex:" + pattern._regex
    return str(pattern)


def _fill_regex(regex: str, samples: dict[str, str]) -> str | None:
    def group(match: re.Match) -> str:
        name, body = match.group("name"), match.group("body")
        if name in samples:
            return samples[name]
        options = body.split("|")
        return options[0] if options and re.fullmatch(r"[\w-]+", options[0]) else "x"

    text = _REGEX_GROUP.sub(group, regex)
    text = text.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\", "")
    return None if any(ch in text for ch in "()[]*+?|") else text


def site_urls(samples: dict[str, str], overrides: dict[str, dict[str, str]] | None = None):
    """(pattern, name, concrete path) for every URL pattern; regex segments filled too."""
    overrides = overrides or {}
    result: list[SiteUrl] = []
    seen: set[str] = set()
    for pattern, name in _walk(get_resolver().url_patterns):
        local = {**samples, **overrides.get(name, {})}
        parts = pattern.split("regex:")
        path = ""
        ok = True
        for index, part in enumerate(parts):
            if index == 0:
                path += _ROUTE_PARAM.sub(lambda m, s=local: s.get(m.group("name"), "1"), part)
            else:
                filled = _fill_regex(part, local)
                if filled is None:
                    ok = False
                    break
                path += filled
        if not ok:
            continue
        path = "/" + path
        if path in seen:
            continue
        seen.add(path)
        result.append(SiteUrl(pattern=pattern, name=name, path=path))
    return result
