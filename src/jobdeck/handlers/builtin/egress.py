"""The guarded httpx transport (docs/builtin-types.md, "The egress guard"): each
request goes to the address the egress guard checked (egress_guard.py). Proxy
variables are never read (the transport is built here).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from jobdeck.handlers.builtin.egress_guard import EgressGuard


class GuardedTransport(httpx.AsyncBaseTransport):
    """An httpx transport that sends each request to the address the guard checked.

    Connections are pooled per host name, never only per address, so a connection
    whose certificate was checked for one name never carries another name's request.
    """

    MAX_HOSTS = 16

    def __init__(self, guard: EgressGuard, **transport_options: Any) -> None:
        self.guard = guard
        self._options = transport_options
        self._pools: dict[tuple[str, str, int | None], httpx.AsyncHTTPTransport] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        addresses = await self.guard.resolve(url)
        extensions = dict(request.extensions)
        if url.scheme == "https":
            extensions["sni_hostname"] = url.host
        pool = self._pool(url)
        for index, address in enumerate(addresses):
            # The Host header was set from the original URL when the request was built.
            direct = httpx.Request(
                request.method,
                url.copy_with(host=str(address)),
                headers=request.headers,
                stream=request.stream,
                extensions=extensions,
            )
            try:
                return await pool.handle_async_request(direct)
            except httpx.ConnectError:
                if index == len(addresses) - 1:
                    raise
        raise AssertionError("resolve() returns at least one address")

    def _pool(self, url: httpx.URL) -> httpx.AsyncHTTPTransport:
        key = (url.scheme, url.host, url.port)
        pool = self._pools.get(key)
        if pool is None:
            if len(self._pools) >= self.MAX_HOSTS:
                oldest = next(iter(self._pools))
                asyncio.get_running_loop().create_task(self._pools.pop(oldest).aclose())
            pool = httpx.AsyncHTTPTransport(trust_env=False, **self._options)
            self._pools[key] = pool
        return pool

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()


def guarded_client(guard: EgressGuard, **client_options: Any) -> httpx.AsyncClient:
    """An httpx client whose every request (redirects included) passes the guard."""
    client_options.setdefault("follow_redirects", False)
    return httpx.AsyncClient(transport=GuardedTransport(guard), trust_env=False, **client_options)
