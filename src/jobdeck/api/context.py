"""The parts one API app is built from, kept on ``app.state`` (no module globals)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.requests import HTTPConnection

if TYPE_CHECKING:
    from jobdeck.api.hub import Hub
    from jobdeck.api.metrics import Metrics


@dataclass
class ApiContext:
    deck: Any  # jobdeck.deck.JobDeck (typed loosely: the API only uses its documented surface)
    hub: Hub
    metrics: Metrics
    start_hub: bool = True  # False: an app that serves no WebSocket (api_call only)
    _started: bool = False
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def ready(self) -> None:
        """Open the deck and start the hub once (the lifespan does it; this covers
        servers that skip lifespan events)."""
        if self._started:
            return
        async with self._lock:
            if self._started:
                return
            await self.deck.open()
            await self.deck.tokens.sync_env_admin(self.deck.settings.admin_token)
            if self.start_hub:
                await self.hub.start()
            self._started = True

    async def stop(self) -> None:
        await self.hub.stop()
        self._started = False


def context(connection: HTTPConnection) -> ApiContext:
    ctx: ApiContext = connection.app.state.ctx
    return ctx
