"""Plugin discovery and the ``hooks`` object plugins receive (README.md).

A plugin is a module or package with a ``setup(hooks)`` function, sync or async.
Plugins are found in two places:

* the plugins folder (``Settings.plugins_dir``, ``JOBDECK_PLUGINS_DIR``, default
  ``./plugins``): every ``name.py`` file and every ``name/`` folder holding an
  ``__init__.py``; names starting with ``_`` or ``.`` are ignored;
* the entry-point group ``jobdeck.plugins``: the entry point may name a module
  (``my_pkg.plugin``) or the setup function itself (``my_pkg.plugin:setup``).

The plugin's name is its file, folder or entry-point name. A plugin that fails to
import, has no ``setup`` or whose ``setup`` raises is logged with its traceback and
skipped: one broken plugin never takes the system down.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import inspect
import logging
import sys
import traceback
import types
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from jobdeck import retention
from jobdeck.errors import JobdeckError, ValidationError
from jobdeck.plugin_scheduler import PluginScheduler

if TYPE_CHECKING:
    from jobdeck.deck import JobDeck

logger = logging.getLogger("jobdeck.plugins")

ENTRY_POINT_GROUP = "jobdeck.plugins"
# Folder plugins are imported under this package so that a plugin named like a
# standard module (``json``, ``email``) never shadows it, and two folders may hold
# plugins of the same name in one process (tests) without sharing module state.
MODULE_PREFIX = "jobdeck_plugins"

Action = Callable[..., Any]


class PluginRoute(NamedTuple):
    """An HTTP route a plugin added; the API mounts these."""

    path: str
    endpoint: Callable[..., Any]
    methods: tuple[str, ...]
    plugin_name: str
    scope: str = "jobs:read"


@dataclass(frozen=True)
class LoadedPlugin:
    name: str
    module: Any
    origin: str  # a file path, or "entry point <value>"


@dataclass(frozen=True)
class PluginFailure:
    name: str
    origin: str
    error: str  # the formatted traceback


class Hooks:
    """What a plugin's ``setup(hooks)`` receives; bound to one deck and one plugin.

    Jobs created or scheduled through it get ``source`` and ``plugin_id`` = the
    plugin's name unless the caller gives its own, so a token bound to the plugin
    sees them (docs/security.md, "Bound tokens").
    """

    def __init__(self, deck: JobDeck, manager: PluginManager, plugin_name: str) -> None:
        self.deck = deck
        self.plugin_name = plugin_name
        self.logger = logging.getLogger(f"jobdeck.plugins.{plugin_name}")
        self._manager = manager
        self.scheduler = PluginScheduler(plugin_name, deck.register_job_type)
        """Code-defined schedules: ``hooks.scheduler.call(fn, name).daily_at("02:00")``."""

    @property
    def settings(self) -> Any:
        return self.deck.settings

    @property
    def created_by(self) -> str:
        """What the jobs this plugin creates record as their creator (docs/api.md)."""
        return f"plugin:{self.plugin_name}"

    async def create_job(self, **fields: Any) -> Any:
        """A tracked job the plugin drives itself (``start``, ``update_progress``, …)."""
        self._own(fields)
        return await self.deck.create_job(**fields)

    async def schedule_job(
        self, type: str, payload: dict[str, Any] | None = None, **fields: Any
    ) -> Any:
        """A queued job run by a worker with the handler registered for ``type``."""
        self._own(fields)
        return await self.deck.schedule_job(type, payload, **fields)

    async def schedule_jobs(self, jobs: Sequence[dict[str, Any]]) -> Any:
        """Several queued jobs in one transaction."""
        mine = {"source": self.plugin_name, "plugin_id": self.plugin_name}
        return await self.deck.schedule_jobs(
            [{**mine, **job} for job in jobs], created_by=self.created_by
        )

    def _own(self, fields: dict[str, Any]) -> None:
        fields.setdefault("source", self.plugin_name)
        fields.setdefault("plugin_id", self.plugin_name)
        fields["created_by"] = self.created_by

    def register_job_type(self, type: str, handler: type) -> None:
        self.deck.register_job_type(type, handler)

    async def get_jobs(self, **filters: Any) -> Any:
        return await self.deck.get_jobs(**filters)

    async def get_job(self, job_id: str) -> Any:
        return await self.deck.get_job(job_id)

    async def cleanup_old_jobs(self, days: int = 30) -> int:
        return int(await self.deck.cleanup_old_jobs(days))

    def add_cron_job(self, **fields: Any) -> None:
        """Declare a schedule from the fields of ``POST /api/cron-jobs`` (plugin_id
        defaults to this plugin); it is created or updated by name once every plugin
        has loaded, and deactivated when a later version no longer declares it."""
        self.scheduler.add(fields)

    def add_action(self, name: str, fn: Action) -> None:
        """Run ``fn`` (sync or async) when action ``name`` fires; ``'init'`` fires once
        the system is up (``jobdeck serve``)."""
        if not callable(fn):
            raise ValidationError(f"add_action({name!r}): fn must be callable")
        self._manager.actions.setdefault(name, []).append((self.plugin_name, fn))

    def add_route(
        self,
        path: str,
        endpoint: Callable[..., Any],
        methods: Sequence[str] = ("GET",),
        scope: str = "jobs:read",
    ) -> None:
        """An HTTP route of this plugin at the absolute ``path`` (e.g.
        ``/api/my-plugin/sync``), authenticated like every API route and needing
        ``scope``; the endpoint finds its caller in ``request.state.principal``.
        ``api_call`` jobs reach it in process. A path that collides with a built-in route
        is a ValidationError (the plugin then fails to load)."""
        from jobdeck.tokens import SCOPES

        if not isinstance(path, str) or not path.startswith("/") or path.startswith("//"):
            raise ValidationError(f"add_route: path must start with one '/', not {path!r}")
        if scope not in SCOPES:
            raise ValidationError(
                f"add_route: scope must be one of {', '.join(SCOPES)}, not {scope!r}"
            )
        if isinstance(methods, str):
            methods = [methods]
        upper = tuple(m.upper() for m in methods)
        why = _route_collision(path)
        if why is not None:
            raise ValidationError(f"add_route: {why}")
        self._manager.routes.append(PluginRoute(path, endpoint, upper, self.plugin_name, scope))


class PluginManager:
    """Finds plugins, runs their ``setup(hooks)`` and keeps what they declared."""

    def __init__(
        self,
        deck: JobDeck,
        plugins_dir: str | Path | None = None,
        *,
        entry_points: bool = True,
    ) -> None:
        self.deck = deck
        if plugins_dir is None:
            plugins_dir = deck.settings.plugins_dir
        self.plugins_dir = Path(plugins_dir)
        self.use_entry_points = entry_points
        self.plugins: list[LoadedPlugin] = []
        self.failures: list[PluginFailure] = []
        self.routes: list[PluginRoute] = []
        self.actions: dict[str, list[tuple[str, Action]]] = {}
        self.schedulers: dict[str, PluginScheduler] = {}

    @property
    def names(self) -> list[str]:
        return [plugin.name for plugin in self.plugins]

    async def load(self, *, declare: bool = False) -> list[LoadedPlugin]:
        """Import and set up every plugin found; returns the ones that loaded.

        With ``declare`` (the long-running ``serve`` and ``scheduler`` processes), the
        schedules the plugins declare in code, and the retention schedule, are then
        upserted: a one-off command run with other settings or an older plugin must not
        rewrite them."""
        for name, origin, importer in self._discover():
            if name in self.names:
                logger.warning(
                    "plugin %s from %s skipped: a plugin of that name is loaded", name, origin
                )
                continue
            await self._load_one(name, origin, importer)
        if declare:
            for plugin in self.plugins:
                await self._declare(plugin.name, self.schedulers[plugin.name].definitions())
            await self._declare(retention.OWNER, retention.declarations(self.deck.settings))
        return list(self.plugins)

    async def _declare(self, plugin: str, declared: list[dict[str, Any]]) -> None:
        """Upsert the schedules ``plugin`` declared (none: its old ones deactivate).
        A plugin whose declarations are invalid keeps its stored schedules as they are."""
        try:
            await self.deck.crons.declare(plugin, declared)
        except JobdeckError as exc:
            logger.error("plugin %s: its cron schedules were not saved: %s", plugin, exc)

    async def run_action(self, name: str, *args: Any) -> None:
        """Call every function added for action ``name`` concurrently; a failing one is
        logged with its traceback and does not stop the others."""
        callbacks = self.actions.get(name, [])
        await asyncio.gather(
            *(self._call_action(name, plugin, fn, args) for plugin, fn in callbacks)
        )

    async def _call_action(
        self, action: str, plugin: str, fn: Action, args: tuple[Any, ...]
    ) -> None:
        try:
            outcome = fn(*args)
            if inspect.isawaitable(outcome):
                await outcome
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("plugin %s: action %r failed", plugin, action)

    async def _load_one(self, name: str, origin: str, importer: Callable[[], Any]) -> None:
        routes = len(self.routes)
        actions = {action: len(fns) for action, fns in self.actions.items()}
        try:
            target = importer()
            setup = target if _is_setup_function(target) else getattr(target, "setup", None)
            if not callable(setup):
                raise ValidationError(f"plugin {name} has no setup(hooks) function")
            hooks = Hooks(self.deck, self, name)
            outcome = setup(hooks)
            if inspect.isawaitable(outcome):
                await outcome
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("plugin %s (%s) failed to load and was skipped", name, origin)
            self.failures.append(PluginFailure(name, origin, traceback.format_exc()))
            # Forget the routes and actions it added before failing (job types it
            # registered stay: the registry has no way back).
            del self.routes[routes:]
            for action in list(self.actions):
                del self.actions[action][actions.get(action, 0) :]
                if not self.actions[action]:
                    del self.actions[action]
            return
        module = inspect.getmodule(target) if _is_setup_function(target) else target
        self.plugins.append(LoadedPlugin(name, module, origin))
        self.schedulers[name] = hooks.scheduler
        logger.info("plugin %s loaded from %s", name, origin)

    def _discover(self) -> list[tuple[str, str, Callable[[], Any]]]:
        found: list[tuple[str, str, Callable[[], Any]]] = []
        if self.plugins_dir.is_dir():
            for path in sorted(self.plugins_dir.iterdir()):
                if path.name.startswith(("_", ".")):
                    continue
                if path.is_dir() and (path / "__init__.py").is_file():
                    found.append((path.name, str(path), _folder_importer(path.name, path)))
                elif path.is_file() and path.suffix == ".py":
                    found.append((path.stem, str(path), _folder_importer(path.stem, path)))
        elif self.plugins_dir != Path("./plugins"):
            logger.warning("plugins folder %s does not exist", self.plugins_dir)
        if self.use_entry_points:
            for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
                found.append((entry.name, f"entry point {entry.value}", entry.load))
        return found


def _route_collision(path: str) -> str | None:
    """Why ``path`` collides with a built-in route (None without the HTTP API)."""
    try:
        from jobdeck.api.plugin_routes import collision
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(("jobdeck.api", "fastapi", "starlette")):
            return None
        raise
    return collision(path)


def _is_setup_function(target: Any) -> bool:
    return callable(target) and not isinstance(target, types.ModuleType)


def _folder_importer(name: str, path: Path) -> Callable[[], types.ModuleType]:
    return lambda: import_from_path(name, path)


def import_from_path(name: str, path: Path) -> types.ModuleType:
    """Import the plugin file or package at ``path`` as ``jobdeck_plugins.<name>``,
    afresh each time (a package's relative imports work)."""
    if MODULE_PREFIX not in sys.modules:
        parent = types.ModuleType(MODULE_PREFIX)
        parent.__path__ = []
        sys.modules[MODULE_PREFIX] = parent
    qualified = f"{MODULE_PREFIX}.{name}"
    for loaded in [m for m in sys.modules if m == qualified or m.startswith(qualified + ".")]:
        del sys.modules[loaded]
    if path.is_dir():
        spec = importlib.util.spec_from_file_location(
            qualified, path / "__init__.py", submodule_search_locations=[str(path)]
        )
    else:
        spec = importlib.util.spec_from_file_location(qualified, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import plugin {name} from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[qualified] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(qualified, None)
        raise
    return module


__all__ = [
    "ENTRY_POINT_GROUP",
    "Hooks",
    "LoadedPlugin",
    "PluginFailure",
    "PluginManager",
    "PluginRoute",
    "import_from_path",
]
