"""Routes plugins add with ``hooks.add_route`` (README.md).

Each is authenticated like every API route and needs the scope its plugin declared;
the endpoint finds the caller in ``request.state.principal``. A path that collides with
a built-in route is refused when the plugin sets up (``Hooks.add_route`` asks
:func:`collision`): it is the path of a built-in route, one a built-in route would
answer first, one that would answer a built-in path, or a path inside a built-in API
namespace (``/api/v1/…``, ``/api/background-jobs/…``, ``/api/cron-jobs/…``).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any

from fastapi import APIRouter, Depends
from starlette.routing import BaseRoute, Match, compile_path

from jobdeck.api.auth import require

log = logging.getLogger("jobdeck.api")

_PARAMETER = re.compile(r"\{[^}]*\}")
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _flat(routes: Iterable[Any]) -> Iterator[Any]:
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI's included routers
        if inner is not None:
            yield from _flat(inner.routes)
        else:
            yield route


@functools.cache
def _builtin() -> tuple[list[BaseRoute], tuple[str, ...], tuple[str, ...]]:
    """The built-in routes, their paths, and the API namespaces they live in (from an
    app built without a deck: routes are declared, nothing is opened)."""
    from jobdeck.api.app import create_app

    routes = list(_flat(create_app(None).routes))
    paths = tuple(sorted({str(getattr(route, "path", "")) for route in routes} - {""}))
    namespaces = sorted(
        {"/".join(path.split("/")[:3]) for path in paths if path.startswith("/api/")} - {"/api"}
    )
    return routes, paths, tuple(namespaces)


def _sample(path: str) -> str:
    return _PARAMETER.sub("x", path)


def collision(path: str) -> str | None:
    """Why ``path`` may not be a plugin route, or None."""
    routes, paths, namespaces = _builtin()
    sample = _sample(path)
    for namespace in namespaces:
        if sample == namespace or sample.startswith(namespace + "/"):
            return f"{path} is inside the built-in {namespace}/ routes"
    for route in routes:
        for method in METHODS:
            scope = {"type": "http", "path": sample, "method": method, "root_path": ""}
            if route.matches(scope)[0] is not Match.NONE:
                return f"{path} is answered by the built-in route {getattr(route, 'path', '')}"
    pattern = compile_path(path)[0]
    for built in paths:
        if pattern.match(_sample(built)):
            return f"{path} would answer the built-in route {built}"
    return None


def plugin_router(plugins: Any) -> APIRouter:
    """The routes of ``plugins`` (a PluginManager, or anything with ``routes``), each
    needing its scope. One that collides is left out (``add_route`` refuses those; this
    covers routes added another way)."""
    router = APIRouter()
    for route in getattr(plugins, "routes", ()):
        why = collision(route.path)
        if why is not None:
            log.error("plugin %s: route %s left out: %s", route.plugin_name, route.path, why)
            continue
        router.add_api_route(
            route.path,
            route.endpoint,
            methods=list(route.methods),
            dependencies=[Depends(require(route.scope))],
            include_in_schema=False,
        )
    return router
