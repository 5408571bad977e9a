from __future__ import annotations

from typing import Any

import httpx
import orjson

from jiraclient.client import JiraClient
from streams.contract import EditRequested
from writeback.executor import EditTarget, InMemoryLedger, PriorityCache, apply_edit
from writeback.plan import WritebackConfig

PREFIX = "/ex/jira/cloud-1/rest/api/3"


class PriorityJira:
    """One issue and the site's priority list, counting reads of that list."""

    def __init__(self) -> None:
        self.priorities = [{"id": "1", "name": "High"}, {"id": "3", "name": "Medium"}]
        self.priority = {"id": "3", "name": "Medium"}
        self.list_reads = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == f"{PREFIX}/priority/search":
            self.list_reads += 1
            return httpx.Response(200, json={"values": self.priorities, "isLast": True})
        if path == f"{PREFIX}/issue/10001" and request.method == "GET":
            fields = {"priority": self.priority, "updated": "2026-01-01T00:00:00.000+0000"}
            return httpx.Response(200, json={"id": "10001", "fields": fields})
        if path == f"{PREFIX}/issue/10001" and request.method == "PUT":
            wanted = orjson.loads(request.content)["fields"]["priority"]["id"]
            self.priority = next(p for p in self.priorities if p["id"] == wanted)
            return httpx.Response(204)
        return httpx.Response(404, json={"errorMessages": [f"no route {path}"]})


class Lookup:
    async def target(self, edit: EditRequested) -> EditTarget:
        return EditTarget(cloud_id="cloud-1", issue_id="10001")


async def _apply(jira: PriorityJira, cache: PriorityCache, value: str, base: str,
                 edit_id: str) -> Any:
    async def tokens(stale: str | None = None) -> str:
        return "token"

    async with httpx.AsyncClient(transport=httpx.MockTransport(jira.handle)) as http:
        client = JiraClient("cloud-1", tokens=tokens, http=http, api_url="http://jira.test",
                            priority="writeback")
        edit = EditRequested(edit_id=edit_id, space_id="space-1", node_id="node-1",
                             user_id="user-1", field="Priority", value=value, base=base)
        applied = await apply_edit(edit, client=client, lookup=Lookup(), ledger=InMemoryLedger(),
                                   config=WritebackConfig(), priority_cache=cache)
        return applied.result


async def test_priority_list_read_once() -> None:
    jira = PriorityJira()
    cache = PriorityCache()

    first = await _apply(jira, cache, "High", "Medium", "edit-1")
    second = await _apply(jira, cache, "Medium", "High", "edit-2")

    assert first.outcome == "applied"
    assert second.outcome == "applied"
    assert jira.list_reads == 1


async def test_priority_added_later_found() -> None:
    jira = PriorityJira()
    cache = PriorityCache()
    await _apply(jira, cache, "High", "Medium", "edit-1")
    jira.priorities.append({"id": "5", "name": "Blocker"})

    result = await _apply(jira, cache, "Blocker", "High", "edit-2")

    assert result.outcome == "applied"
    assert jira.priority == {"id": "5", "name": "Blocker"}
    assert jira.list_reads == 2


async def test_priority_cache_expires() -> None:
    now = [0.0]
    jira = PriorityJira()
    cache = PriorityCache(ttl_s=60.0, clock=lambda: now[0])
    await _apply(jira, cache, "High", "Medium", "edit-1")
    now[0] = 61.0

    await _apply(jira, cache, "Medium", "High", "edit-2")

    assert jira.list_reads == 2


async def test_priority_unknown_still_rejected() -> None:
    jira = PriorityJira()
    cache = PriorityCache()
    await _apply(jira, cache, "High", "Medium", "edit-1")

    result = await _apply(jira, cache, "Urgent", "High", "edit-2")

    assert result.outcome == "rejected"
    assert "unknown priority 'Urgent'" in (result.reason or "")
