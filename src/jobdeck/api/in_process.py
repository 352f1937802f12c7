"""``api_call``'s way into this application (docs/builtin-types.md, "Identity").

An ``api_call`` job reaches the app in process through an httpx ``ASGITransport``. The
caller travels in the ASGI scope, under :data:`IN_PROCESS`, as an :class:`InProcessCaller`
object: never in a header, so no secret exists to steal or replay. The auth layer
(``auth.require``) honours it only when it is an instance of that class bound to the
very ``ApiContext`` of the app being called: an ASGI server builds scopes from the
network out of strings, bytes and numbers only, so no request from outside can carry
one.

Only routes plugins added (``hooks.add_route``) are reachable this way: the built-in
routes include ones that mint credentials (tokens, tickets, sessions), whose answers
would land in a job's result, readable by whoever may read the job.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from fastapi.responses import JSONResponse
from starlette.requests import HTTPConnection
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from jobdeck.api.context import ApiContext
from jobdeck.tokens import Principal

if TYPE_CHECKING:
    import httpx

IN_PROCESS = "jobdeck.in_process_caller"  # the ASGI scope key
CLIENT = ("jobdeck-in-process", 0)  # what request.client reads for these calls


@dataclass(frozen=True, eq=False)
class InProcessCaller:
    principal: Principal
    context: ApiContext  # the app this caller is valid for


def in_process_principal(ctx: ApiContext, connection: HTTPConnection) -> Principal | None:
    """The caller an in-process transport put in the scope for this app, or None."""
    caller = connection.scope.get(IN_PROCESS)
    if isinstance(caller, InProcessCaller) and caller.context is ctx:
        return caller.principal
    return None


class _PluginRoutesOnly:
    """The app as ``api_call`` sees it: plugin routes, as ``principal``."""

    def __init__(
        self, app: ASGIApp, ctx: ApiContext, routes: list[BaseRoute], principal: Principal
    ) -> None:
        self.app = app
        self.caller = InProcessCaller(principal, ctx)
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan and WebSockets are not for api_call
            return
        if not any(route.matches(scope)[0] is not Match.NONE for route in self.routes):
            answer = JSONResponse(
                {
                    "success": False,
                    "message": f"api_call reaches the routes plugins add (hooks.add_route);"
                    f" {scope['path']} is not one",
                },
                404,
            )
            await answer(scope, receive, send)
            return
        await self.app({**scope, IN_PROCESS: self.caller}, receive, send)


class ApiCalls:
    """Transports into one app, one per caller (``Services.serve_api_calls``)."""

    def __init__(self, app: Any, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self.ctx: ApiContext = app.state.ctx
        self.routes = list(routes)

    def __call__(self, principal: Principal) -> httpx.AsyncBaseTransport:
        import httpx

        target = _PluginRoutesOnly(self.app, self.ctx, self.routes, principal)
        # raise_app_exceptions=False: a plugin endpoint that raises is a 500 answer
        # (retried), as it would be over the network.
        return httpx.ASGITransport(target, raise_app_exceptions=False, client=CLIENT)


def attach_api_calls(deck: Any, app: Any, plugin_routes: Iterable[BaseRoute] = ()) -> None:
    """Let ``api_call`` jobs run by ``deck`` in this process reach ``app`` (built by
    ``create_app(deck, routers=[plugin_router(...)])``) through ``plugin_routes``."""
    deck.services.serve_api_calls(ApiCalls(app, plugin_routes))
