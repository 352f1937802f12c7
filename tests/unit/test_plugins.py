"""Plugin discovery and hooks, against a stand-in deck (no database)."""

from __future__ import annotations

import importlib.metadata
import logging
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from jobdeck.config import Settings
from jobdeck.errors import ValidationError
from jobdeck.plugins import Hooks, PluginManager, PluginRoute


class FakeCrons:
    """Records the schedules each loaded plugin declares."""

    def __init__(self) -> None:
        self.declared: dict[str, list[dict[str, Any]]] = {}

    async def declare(self, plugin: str, declared: list[dict[str, Any]]) -> list[Any]:
        self.declared[plugin] = declared
        return []


class FakeDeck:
    """Records what plugins ask of the deck."""

    def __init__(self, plugins_dir: Path) -> None:
        self.settings = Settings(plugins_dir=str(plugins_dir))
        self.types: dict[str, type] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.crons = FakeCrons()

    def register_job_type(self, type: str, handler: type) -> None:
        self.types[type] = handler

    async def create_job(self, **fields: Any) -> dict[str, Any]:
        self.calls.append(("create_job", fields))
        return fields

    async def schedule_job(self, type: str, payload: Any = None, **fields: Any) -> dict[str, Any]:
        self.calls.append(("schedule_job", {"type": type, "payload": payload, **fields}))
        return fields

    async def schedule_jobs(
        self, jobs: list[dict[str, Any]], created_by: str = "local"
    ) -> list[dict[str, Any]]:
        self.calls.append(("schedule_jobs", {"jobs": jobs, "created_by": created_by}))
        return jobs

    async def get_jobs(self, **filters: Any) -> list[Any]:
        self.calls.append(("get_jobs", filters))
        return []

    async def get_job(self, job_id: str) -> None:
        self.calls.append(("get_job", {"job_id": job_id}))

    async def cleanup_old_jobs(self, days: int = 30) -> int:
        self.calls.append(("cleanup_old_jobs", {"days": days}))
        return 7


def write(folder: Path, relative: str, source: str) -> None:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    return plugins


@pytest.fixture
def deck(folder: Path) -> FakeDeck:
    return FakeDeck(folder)


def manager_for(deck: FakeDeck) -> PluginManager:
    return PluginManager(deck, entry_points=False)  # type: ignore[arg-type]


async def test_loads_module_and_package_plugins_named_after_file_and_folder(
    folder: Path, deck: FakeDeck
) -> None:
    write(folder, "single.py", "def setup(hooks):\n    hooks.register_job_type('a', int)\n")
    write(
        folder,
        "pkg/__init__.py",
        "from .handlers import H\ndef setup(hooks):\n    hooks.register_job_type('b', H)\n",
    )
    write(folder, "pkg/handlers.py", "class H:\n    pass\n")
    write(folder, "_private.py", "raise RuntimeError('never imported')\n")
    write(folder, "notes.txt", "not a plugin")
    (folder / "empty_dir").mkdir()

    manager = manager_for(deck)
    await manager.load()

    assert manager.names == ["pkg", "single"]
    assert set(deck.types) == {"a", "b"}
    assert deck.types["b"].__name__ == "H"  # the package's relative import worked
    assert manager.failures == []


async def test_async_setup_is_awaited(folder: Path, deck: FakeDeck) -> None:
    write(
        folder,
        "later.py",
        """
        import asyncio

        async def setup(hooks):
            await asyncio.sleep(0)
            hooks.register_job_type("late", int)
        """,
    )
    manager = manager_for(deck)
    await manager.load()
    assert deck.types == {"late": int}


@pytest.mark.parametrize(
    "source",
    [
        "import a_module_that_does_not_exist\n",
        "def setup(hooks):\n    raise RuntimeError('setup exploded')\n",
        "async def setup(hooks):\n    raise RuntimeError('setup exploded')\n",
        "x = 1\n",  # no setup at all
        "def broken(:\n",  # a syntax error
    ],
)
async def test_broken_plugin_is_logged_with_traceback_and_skipped(
    folder: Path, deck: FakeDeck, caplog: pytest.LogCaptureFixture, source: str
) -> None:
    write(folder, "broken.py", source)
    write(folder, "good.py", "def setup(hooks):\n    hooks.register_job_type('good', int)\n")

    with caplog.at_level(logging.ERROR, logger="jobdeck.plugins"):
        manager = manager_for(deck)
        await manager.load()

    assert manager.names == ["good"]
    assert [f.name for f in manager.failures] == ["broken"]
    assert "Traceback" in manager.failures[0].error
    record = next(r for r in caplog.records if "broken" in r.getMessage())
    assert record.exc_info is not None


async def test_a_failing_setup_leaves_no_routes_or_actions_behind(
    folder: Path, deck: FakeDeck
) -> None:
    write(folder, "a_good.py", "def setup(hooks):\n    hooks.add_action('init', print)\n")
    write(
        folder,
        "b_half.py",
        """
        def setup(hooks):
            hooks.add_action("init", print)
            hooks.add_action("other", print)
            hooks.add_route("/api/half", print)
            raise RuntimeError("half way")
        """,
    )
    manager = manager_for(deck)
    await manager.load()
    assert manager.names == ["a_good"]
    assert manager.routes == []
    assert manager.actions == {"init": [("a_good", print)]}


async def test_jobs_a_plugin_creates_get_its_name_as_source(folder: Path, deck: FakeDeck) -> None:
    hooks = Hooks(deck, manager_for(deck), "my-plugin")  # type: ignore[arg-type]
    await hooks.create_job(name="Import", type="import")
    await hooks.create_job(name="Other", type="import", source="somebody-else")
    await hooks.schedule_job("plugin:my-plugin:x", {"a": 1}, priority="high")
    await hooks.schedule_jobs([{"type": "t"}, {"type": "t", "source": "own"}])

    create, create_own, schedule, bulk = deck.calls
    assert create[1]["source"] == "my-plugin"
    assert create_own[1]["source"] == "somebody-else"
    assert schedule[1] == {
        "type": "plugin:my-plugin:x",
        "payload": {"a": 1},
        "priority": "high",
        "source": "my-plugin",
        "plugin_id": "my-plugin",
        "created_by": "plugin:my-plugin",
    }
    assert [job["source"] for job in bulk[1]["jobs"]] == ["my-plugin", "own"]
    assert create[1]["plugin_id"] == create_own[1]["plugin_id"] == "my-plugin"
    assert [job["plugin_id"] for job in bulk[1]["jobs"]] == ["my-plugin", "my-plugin"]
    # docs/api.md: the plugin is the creator, whatever it passes.
    assert create[1]["created_by"] == create_own[1]["created_by"] == "plugin:my-plugin"
    assert bulk[1]["created_by"] == "plugin:my-plugin"


async def test_a_plugin_may_pass_its_own_plugin_id(deck: FakeDeck) -> None:
    hooks = Hooks(deck, manager_for(deck), "p")  # type: ignore[arg-type]
    await hooks.create_job(name="n", type="t", plugin_id="shop-7")
    await hooks.schedule_job("t", {}, plugin_id=None)
    await hooks.schedule_jobs([{"type": "t", "plugin_id": "other"}])
    assert deck.calls[0][1]["plugin_id"] == "shop-7"
    assert deck.calls[1][1]["plugin_id"] is None  # passed explicitly: kept
    assert deck.calls[2][1]["jobs"][0]["plugin_id"] == "other"


async def test_a_plugin_cannot_pass_another_creator(deck: FakeDeck) -> None:
    hooks = Hooks(deck, manager_for(deck), "p")  # type: ignore[arg-type]
    await hooks.schedule_job("t", {}, created_by="local")
    assert deck.calls[0][1]["created_by"] == "plugin:p"


async def test_read_and_cleanup_hooks_go_to_the_deck(deck: FakeDeck) -> None:
    hooks = Hooks(deck, manager_for(deck), "p")  # type: ignore[arg-type]
    await hooks.get_jobs(status="running", limit=5)
    await hooks.get_job("abc")
    assert await hooks.cleanup_old_jobs(10) == 7
    assert deck.calls == [
        ("get_jobs", {"status": "running", "limit": 5}),
        ("get_job", {"job_id": "abc"}),
        ("cleanup_old_jobs", {"days": 10}),
    ]
    assert hooks.settings is deck.settings


async def test_actions_sync_and_async_run_and_a_failing_one_does_not_stop_others(
    folder: Path, deck: FakeDeck, caplog: pytest.LogCaptureFixture
) -> None:
    write(
        folder,
        "acts.py",
        """
        seen = []

        def setup(hooks):
            async def later():
                seen.append("async")

            def boom():
                raise RuntimeError("init failed")

            hooks.add_action("init", lambda: seen.append("sync"))
            hooks.add_action("init", boom)
            hooks.add_action("init", later)
            hooks.add_action("other", lambda value: seen.append(value))
        """,
    )
    manager = manager_for(deck)
    await manager.load()
    with caplog.at_level(logging.ERROR, logger="jobdeck.plugins"):
        await manager.run_action("init")
    await manager.run_action("other", "argument")
    await manager.run_action("nobody-listens")

    seen = manager.plugins[0].module.seen
    assert seen == ["sync", "async", "argument"]
    assert any("init failed" in (r.exc_text or "") or r.exc_info for r in caplog.records)


async def test_routes_are_kept_on_the_manager(deck: FakeDeck) -> None:
    manager = manager_for(deck)
    hooks = Hooks(deck, manager, "p")  # type: ignore[arg-type]

    def endpoint() -> dict[str, bool]:
        return {"ok": True}

    hooks.add_route("/api/p/sync", endpoint, methods=["post", "GET"])
    hooks.add_route("/api/p/status", endpoint)
    assert manager.routes == [
        PluginRoute("/api/p/sync", endpoint, ("POST", "GET"), "p"),
        PluginRoute("/api/p/status", endpoint, ("GET",), "p"),
    ]
    path, handler, methods, plugin, scope = manager.routes[1]
    assert (path, handler, methods, plugin) == ("/api/p/status", endpoint, ("GET",), "p")
    assert scope == "jobs:read"  # docs/internals.md's default
    hooks.add_route("/api/p/admin", endpoint, methods=["POST"], scope="admin")
    assert manager.routes[2].scope == "admin"
    with pytest.raises(ValidationError, match="must start with one '/'"):
        hooks.add_route("relative", endpoint)
    with pytest.raises(ValidationError, match="scope must be one of"):
        hooks.add_route("/api/p/x", endpoint, scope="everything")


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/jobs",  # a built-in route
        "/api/v1/my-plugin",  # inside a built-in namespace
        "/api/background-jobs/sync",  # answered by /api/background-jobs/{id}
        "/api/cron-jobs/{id}/trigger",
        "/health",
        "/ws",
        "/{anything}",  # would answer built-in paths
    ],
)
def test_a_route_colliding_with_a_built_in_one_is_refused_at_setup(
    deck: FakeDeck, path: str
) -> None:
    hooks = Hooks(deck, manager_for(deck), "p")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match=r"add_route: .*built-in"):
        hooks.add_route(path, lambda: None)
    hooks.add_route("/api/p/sync", lambda: None)  # its own namespace is fine
    with pytest.raises(ValidationError, match="callable"):
        hooks.add_action("init", "not a function")  # type: ignore[arg-type]


async def test_entry_point_plugins_as_module_or_setup_function(
    tmp_path: Path, deck: FakeDeck, monkeypatch: pytest.MonkeyPatch, folder: Path
) -> None:
    site = tmp_path / "site"
    write(site, "ep_module_plugin.py", "def setup(hooks):\n    hooks.register_job_type('m', int)\n")
    write(
        site,
        "ep_function_plugin.py",
        "async def setup(hooks):\n    hooks.register_job_type(hooks.plugin_name, str)\n",
    )
    write(folder, "dupe.py", "def setup(hooks):\n    hooks.register_job_type('folder', int)\n")
    monkeypatch.syspath_prepend(str(site))
    for name in ("ep_module_plugin", "ep_function_plugin"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    group = "jobdeck.plugins"
    fake = [
        importlib.metadata.EntryPoint("by-module", "ep_module_plugin", group),
        importlib.metadata.EntryPoint("by-function", "ep_function_plugin:setup", group),
        importlib.metadata.EntryPoint("dupe", "ep_module_plugin", group),
        importlib.metadata.EntryPoint("missing", "no_such_module_here", group),
    ]

    def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        return fake if group == "jobdeck.plugins" else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    manager = PluginManager(deck)  # type: ignore[arg-type]
    await manager.load()

    assert manager.names == ["dupe", "by-module", "by-function"]
    assert set(deck.types) == {"folder", "m", "by-function"}
    assert [f.name for f in manager.failures] == ["missing"]
    assert manager.plugins[2].module.__name__ == "ep_function_plugin"


async def test_same_plugin_name_in_two_folders_loads_each_afresh(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    write(first, "same.py", "def setup(hooks):\n    hooks.register_job_type('one', int)\n")
    write(second, "same.py", "def setup(hooks):\n    hooks.register_job_type('two', int)\n")
    deck_one, deck_two = FakeDeck(first), FakeDeck(second)
    await manager_for(deck_one).load()
    await manager_for(deck_two).load()
    assert list(deck_one.types) == ["one"]
    assert list(deck_two.types) == ["two"]


async def test_missing_plugins_folder_is_not_an_error(tmp_path: Path) -> None:
    manager = manager_for(FakeDeck(tmp_path / "nowhere"))
    assert await manager.load() == []


async def test_schedules_are_declared_once_every_plugin_has_loaded(
    folder: Path, deck: FakeDeck
) -> None:
    write(
        folder,
        "nightly.py",
        "async def report(handler):\n    return 1\n"
        "def setup(hooks):\n"
        "    hooks.scheduler.call(report, 'report').daily_at('02:30').timezone('Europe/Berlin')"
        ".allow_overlapping()\n"
        "    hooks.add_cron_job(name='sync', cron_expression='@hourly', job_type='x')\n",
    )
    write(folder, "quiet.py", "def setup(hooks):\n    pass\n")
    write(folder, "broken.py", "def setup(hooks):\n    hooks.add_cron_job(name='b')\n    1/0\n")
    await manager_for(deck).load(declare=True)
    # A failed plugin keeps its own; "jobdeck" declares the retention schedule (none here).
    assert set(deck.crons.declared) == {"nightly", "quiet", "jobdeck"}
    assert deck.crons.declared["jobdeck"] == []
    assert deck.crons.declared["quiet"] == []  # its old declarations deactivate
    call, added = deck.crons.declared["nightly"]
    assert call == {
        "name": "report",
        "job_type": "plugin:nightly:cron:report",
        "plugin_id": "nightly",
        "cron_expression": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "overlap_policy": "allow",
    }
    assert added == {
        "plugin_id": "nightly",
        "name": "sync",
        "cron_expression": "@hourly",
        "job_type": "x",
    }
    assert "plugin:nightly:cron:report" in deck.types


def test_daily_at_checks_its_time() -> None:
    from jobdeck.errors import ValidationError
    from jobdeck.plugin_scheduler import ScheduledCall

    call = ScheduledCall("n", "t", "p")
    assert call.daily_at("7:05").fields["cron_expression"] == "5 7 * * *"
    assert call.weekly().fields["cron_expression"] == "@weekly"
    with pytest.raises(ValidationError, match="HH:MM"):
        call.daily_at("25:00")
