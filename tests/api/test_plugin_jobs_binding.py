"""Jobs a plugin creates through its hooks belong to it: a token bound to the plugin
sees them over HTTP (docs/security.md, "Bound tokens")."""

from __future__ import annotations

import textwrap
from pathlib import Path

from jobdeck.plugins import PluginManager

from .conftest import Api

PLUGIN = """
from jobdeck import BaseJobHandler


class Sync(BaseJobHandler):
    async def execute(self):
        return {"ok": True}


def setup(hooks):
    hooks.register_job_type("plugin:shop_sync:sync", Sync)

    async def init():
        await hooks.create_job(name="Import products", type="import")
        await hooks.schedule_job("plugin:shop_sync:sync", {"page": 1})
        await hooks.schedule_jobs([{"type": "plugin:shop_sync:sync"}])
        await hooks.create_job(name="For a partner", type="import", plugin_id="partner")

    hooks.add_action("init", init)
"""


async def test_a_token_bound_to_the_plugin_sees_its_jobs(api: Api, tmp_path: Path) -> None:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "shop_sync.py").write_text(textwrap.dedent(PLUGIN))
    manager = PluginManager(api.deck, folder, entry_points=False)
    assert [p.name for p in await manager.load()] == ["shop_sync"]
    await manager.run_action("init")

    bound = api.client(await api.token("shop", "jobs:read", plugin="shop_sync"))
    body = (await bound.get("/api/v1/jobs")).json()
    assert body["total"] == 3, body
    assert {job["pluginId"] for job in body["data"]} == {"shop_sync"}
    assert {job["source"] for job in body["data"]} == {"shop_sync"}
    for job in body["data"]:
        assert (await bound.get(f"/api/v1/jobs/{job['jobId']}")).status_code == 200

    partner = api.client(await api.token("partner", "jobs:read", plugin="partner"))
    [own] = (await partner.get("/api/v1/jobs")).json()["data"]
    assert own["name"] == "For a partner" and own["source"] == "shop_sync"

    other = api.client(await api.token("other", "jobs:read", plugin="other"))
    assert (await other.get("/api/v1/jobs")).json()["total"] == 0
    hidden = body["data"][0]["jobId"]
    assert (await other.get(f"/api/v1/jobs/{hidden}")).status_code == 404
