"""The routes a suite checks one by one, found by walking the URL resolver rather than
listed by hand, and the OpenAPI operation documenting each."""

import functools
import re

from django.urls import URLPattern, URLResolver, get_resolver, resolve

# The API's routes open without a token (docs/api.md).
PUBLIC_PATHS = {
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/payments/webhooks/mercadopago",
}
GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<regex>[^)]*)\)")
CONVERTER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


def _sample_value(regex: str) -> str:
    """An id the group accepts: a relational id, else a MongoDB one."""
    return next((v for v in ("1", "0" * 24) if re.fullmatch(regex, v)), "1")


def _sample(pattern: str) -> str:
    pattern = GROUP.sub(lambda m: _sample_value(m["regex"]), pattern)
    pattern = CONVERTER.sub("1", pattern)
    return pattern.replace("^", "").replace("$", "").replace("/?", "").replace("\\.", ".")


def walk(patterns, prefix=""):
    """(sample path, view) for every route under `patterns`, ids filled in."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, prefix + _sample(str(entry.pattern)))
        elif isinstance(entry, URLPattern):
            yield "/" + prefix + _sample(str(entry.pattern)), entry.callback


METHODS = ("get", "post", "put", "patch", "delete")


def _methods(callback) -> list[str]:
    if getattr(callback, "actions", None):  # a viewset route: method -> action
        # Not `head`: DRF adds it to this shared dict once the route has served a GET.
        return sorted(m for m in callback.actions if m in METHODS)
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return sorted(m for m in METHODS if hasattr(cls, m))


@functools.cache
def api_routes() -> list[tuple[str, str]]:
    """(sample path, method) for every route under /api/v1/."""
    routes: list[tuple[str, str]] = []
    for path, callback in walk(get_resolver().url_patterns):
        if not path.startswith("/api/v1/") or "(?" in path:
            continue
        assert resolve(path).func is callback, f"sample URL {path} resolves elsewhere"
        routes.extend((path.rstrip("/"), method) for method in _methods(callback))
    return routes


def schema_operation(schema, path, method):
    """The schema's operation for a sample path (`/api/v1/users/1` ~ `/api/v1/users/{id}`)."""
    candidates = sorted(
        (p for p in schema["paths"] if path_matches(p, path)), key=lambda p: p.count("{")
    )
    found = [schema["paths"][p][method] for p in candidates if method in schema["paths"][p]]
    return found[0] if found else None


def path_matches(template: str, path: str) -> bool:
    left, right = template.rstrip("/").split("/"), path.rstrip("/").split("/")
    return len(left) == len(right) and all(
        a == b or a.startswith("{") for a, b in zip(left, right, strict=True)
    )
