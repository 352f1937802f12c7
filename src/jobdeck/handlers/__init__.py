"""Job handlers: the base class plugins subclass and the type registry."""

from jobdeck.handlers.base import BaseJobHandler, HandlerContext
from jobdeck.handlers.registry import Registry

__all__ = ["BaseJobHandler", "HandlerContext", "Registry"]
