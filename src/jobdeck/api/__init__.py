"""The HTTP API and the live WebSocket stream (docs/api.md)."""

from jobdeck.api.app import create_app
from jobdeck.api.in_process import attach_api_calls
from jobdeck.api.plugin_routes import plugin_router

__all__ = ["attach_api_calls", "create_app", "plugin_router"]
