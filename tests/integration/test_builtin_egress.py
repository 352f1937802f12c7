"""The egress guard (docs/builtin-types.md): an SSRF battery against a canary on loopback.

Every refused job must fail with an error naming the guard (so an unrelated failure
cannot pass), the canary must receive nothing, and the same URL must reach it once
its address is allowed. Host names are answered by a resolver patched for the
whole process.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from jobdeck import JobDeck, Settings, Status, ValidationError
from jobdeck.handlers.builtin.egress_guard import EgressGuard, parse_allow
from peers import Answer, Peer, http_peer

PUBLIC = "93.184.216.34"
real_getaddrinfo = socket.getaddrinfo


class Resolver:
    """Named hosts → fixed answers; ``rebind.test`` answers a public address first
    and 127.0.0.1 on every later call; anything else goes to the real resolver."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        self.calls[name] = self.calls.get(name, 0) + 1
        answers = {
            "evil.test": ["127.0.0.1"],
            "metadata.google.internal": ["169.254.169.254"],
            "internal.test": ["10.1.2.3"],
            "mixed.test": [PUBLIC, "127.0.0.1"],
            "v6only.test": ["::1"],
            "rebind.test": [PUBLIC] if self.calls[name] == 1 else ["127.0.0.1"],
        }.get(name)
        if answers is None:
            return real_getaddrinfo(host, port, *args, **kwargs)
        return [
            (
                socket.AF_INET6 if ":" in a else socket.AF_INET,
                socket.SOCK_STREAM,
                6,
                "",
                (a, int(port or 80), 0, 0) if ":" in a else (a, int(port or 80)),
            )
            for a in answers
        ]


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch) -> Resolver:
    resolver = Resolver()
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return resolver


@pytest.fixture
def canary() -> Iterator[Peer]:
    with http_peer() as peer:
        yield peer


def deck_for(tmp_path: Path, allow: str) -> JobDeck:
    name = f"jobs-{abs(hash(allow))}.db"
    return JobDeck(
        settings=Settings(database_url=f"sqlite:///{tmp_path / name}", egress_allow=allow)
    )


@pytest.fixture
async def guarded(tmp_path: Path) -> AsyncIterator[JobDeck]:
    async with deck_for(tmp_path, "") as deck:
        yield deck


def refused_urls(port: int) -> list[str]:
    p = port
    return [
        # loopback, every spelling
        f"http://127.0.0.1:{p}/",
        f"http://localhost:{p}/",
        f"http://LOCALHOST:{p}/",
        f"http://localhost.:{p}/",
        f"http://127.1:{p}/",
        f"http://127.0.1:{p}/",
        f"http://127.0.0.2:{p}/",
        f"http://2130706433:{p}/",
        f"http://0x7f000001:{p}/",
        f"http://0x7f.0.0.1:{p}/",
        f"http://0x7f.1:{p}/",
        f"http://017700000001:{p}/",
        f"http://0177.0.0.1:{p}/",
        f"http://%31%32%37.0.0.1:{p}/",
        f"http://[::1]:{p}/",
        f"http://[0:0:0:0:0:0:0:1]:{p}/",
        f"http://evil.test:{p}/",
        f"http://v6only.test:{p}/",
        f"http://mixed.test:{p}/",
        # IPv4 inside IPv6, judged by the IPv4 it carries
        f"http://[::ffff:127.0.0.1]:{p}/",
        f"http://[::ffff:7f00:1]:{p}/",
        f"http://[0:0:0:0:0:ffff:7f00:1]:{p}/",
        f"http://[64:ff9b::7f00:1]:{p}/",
        f"http://[2002:7f00:1::]:{p}/",
        f"http://[::127.0.0.1]:{p}/",
        f"http://[::ffff:a9fe:a9fe]:{p}/",
        f"http://[64:ff9b::a00:1]:{p}/",
        # unspecified
        f"http://0.0.0.0:{p}/",
        f"http://0:{p}/",
        f"http://[::]:{p}/",
        # private, CGNAT, link-local and metadata services
        f"http://10.0.0.1:{p}/",
        f"http://172.16.0.1:{p}/",
        f"http://192.168.1.1:{p}/",
        f"http://100.64.0.1:{p}/",
        f"http://internal.test:{p}/",
        "http://169.254.169.254/latest/meta-data/",
        "http://0xa9fea9fe/latest/meta-data/",
        "http://2852039166/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://[fd00:ec2::254]/latest/meta-data/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        # multicast, broadcast, reserved
        "http://224.0.0.1/",
        "http://[ff02::1]/",
        "http://255.255.255.255/",
        "http://240.0.0.1/",
        "http://198.18.0.1/",
        "http://192.0.2.1/",
        "https://127.0.0.1/",
    ]


async def run(deck: JobDeck, url: str, **config: Any) -> Any:
    job = await deck.schedule_job("webhook", {"url": url, "timeout": 2000, **config})
    await deck.drain()
    return await job.refresh()


async def test_the_battery_is_refused_and_the_canary_hears_nothing(
    guarded: JobDeck, canary: Peer, resolver: Resolver
) -> None:
    urls = refused_urls(canary.port)
    assert len(urls) >= 30
    for url in urls:
        job = await run(guarded, url)
        assert job.status is Status.FAILED, url
        assert job.error_message.startswith("egress guard: "), (url, job.error_message)
        assert job.attempt == 1, url  # never retried
    assert canary.received == []


async def test_the_refusal_says_why(guarded: JobDeck, canary: Peer, resolver: Resolver) -> None:
    job = await run(guarded, f"http://localhost:{canary.port}/")
    assert "is a loopback address" in job.error_message
    job = await run(guarded, f"http://[::ffff:a9fe:a9fe]:{canary.port}/")
    assert "169.254.169.254 is a link-local address carried in" in job.error_message
    job = await run(guarded, "http://100.64.0.1/")
    assert "CGNAT" in job.error_message


async def test_a_redirect_to_loopback_is_refused(
    tmp_path: Path, canary: Peer, resolver: Resolver
) -> None:
    with http_peer("127.0.0.2") as redirector:
        redirector.default = Answer(302, b"", {"Location": f"http://127.0.0.1:{canary.port}/"})
        async with deck_for(tmp_path, "127.0.0.2/32") as deck:
            job = await run(deck, redirector.url + "/start")
        assert len(redirector.received) == 1
    assert job.status is Status.FAILED
    assert job.error_message.startswith("egress guard: 127.0.0.1 refused"), job.error_message
    assert canary.received == []


async def test_the_name_is_resolved_once(
    guarded: JobDeck, canary: Peer, resolver: Resolver
) -> None:
    # A public answer first, loopback next: the connection goes to the address
    # checked, so the canary never hears from it (the public one is unreachable here).
    job = await run(guarded, f"http://rebind.test:{canary.port}/", timeout=500)
    assert job.status in (Status.FAILED, Status.PENDING)
    assert "egress guard" not in (job.error_message or "")
    assert resolver.calls["rebind.test"] == 1
    assert canary.received == []


def allowed_urls(port: int) -> list[str]:
    """The battery's URLs that reach 127.0.0.1 itself once loopback is allowed."""
    p = port
    return [
        f"http://127.0.0.1:{p}/",
        f"http://localhost:{p}/",
        f"http://LOCALHOST:{p}/",
        f"http://127.1:{p}/",
        f"http://2130706433:{p}/",
        f"http://0x7f000001:{p}/",
        f"http://0x7f.0.0.1:{p}/",
        f"http://0x7f.1:{p}/",
        f"http://017700000001:{p}/",
        f"http://evil.test:{p}/",
        f"http://[::ffff:127.0.0.1]:{p}/",
        f"http://[::ffff:7f00:1]:{p}/",
    ]


async def test_the_same_urls_reach_the_canary_once_allowed(
    tmp_path: Path, canary: Peer, resolver: Resolver
) -> None:
    urls = allowed_urls(canary.port)
    assert set(urls) <= set(refused_urls(canary.port))
    async with deck_for(tmp_path, "127.0.0.0/8, ::1/128") as deck:
        for url in urls:
            job = await run(deck, url)
            assert job.status is Status.COMPLETED, (url, job.error_message)
    assert len(canary.received) == len(urls)
    assert all(r.headers["Host"].endswith(f":{canary.port}") for r in canary.received)


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "gopher://127.0.0.1/", "ftp://127.0.0.1/", "//127.0.0.1/"]
)
async def test_other_schemes_are_refused_at_creation(guarded: JobDeck, url: str) -> None:
    with pytest.raises(ValidationError, match=r"payload\.url"):
        await guarded.schedule_job("webhook", {"url": url})


async def test_a_scheme_hidden_behind_a_variable_is_refused_by_the_guard() -> None:
    guard = EgressGuard()
    import httpx

    from jobdeck.handlers.builtin.egress_guard import EgressRefused

    with pytest.raises(EgressRefused, match="egress guard: only http and https"):
        await guard.resolve(httpx.URL("ftp://example.com/"))


def test_allow_list_parsing() -> None:
    assert [str(n) for n in parse_allow("127.0.0.1/32,10.0.0.0/8 ::1")] == [
        "127.0.0.1/32",
        "10.0.0.0/8",
        "::1/128",
    ]
    with pytest.raises(ValueError, match="JOBDECK_EGRESS_ALLOW"):
        parse_allow("not-a-cidr")
