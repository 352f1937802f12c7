"""The HTTP API and the live WebSocket stream (SPEC §5)."""

from jobdeck.api.app import create_app

__all__ = ["create_app"]
