"""Prometheus metrics of one app, in its own registry (two apps in one process do not clash)."""

from __future__ import annotations

import logging
import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from jobdeck.domain.job import Status

log = logging.getLogger("jobdeck.api")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.http_requests = Counter(
            "jobdeck_http_requests",
            "HTTP requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.http_seconds = Histogram(
            "jobdeck_http_request_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=self.registry,
        )
        self.jobs = Gauge("jobdeck_jobs", "Jobs by status", ["status"], registry=self.registry)
        self.ws_clients = Gauge(
            "jobdeck_ws_clients", "Open WebSocket connections", registry=self.registry
        )
        self.ws_messages = Counter(
            "jobdeck_ws_messages", "job_update messages queued to clients", registry=self.registry
        )
        self.ws_dropped = Counter(
            "jobdeck_ws_dropped",
            "WebSocket clients closed by the server",
            ["reason"],
            registry=self.registry,
        )
        self.feed_changes = Counter(
            "jobdeck_feed_changes", "Changes read from the change feed", registry=self.registry
        )

    def render(self, by_status: dict[Any, int]) -> bytes:
        for status in Status:
            self.jobs.labels(status=str(status)).set(by_status.get(status, 0))
        return bytes(generate_latest(self.registry))


class RequestLog:
    """Counts and logs each HTTP request by its route template.

    Paths are logged without their query string: login codes and tickets travel
    there and must not reach a log line.
    """

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            elapsed = time.perf_counter() - started
            method = scope.get("method", "")
            self.metrics.http_requests.labels(method, template, str(status[0])).inc()
            self.metrics.http_seconds.labels(method, template).observe(elapsed)
            log.info(
                "http %s %s %s %.1fms",
                method,
                template,
                status[0],
                elapsed * 1000,
                extra={"method": method, "route": template, "status": status[0]},
            )
