"""A Jira client wrapper that counts the requests a run makes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

from reconcile.ports import JiraApi


class CountingClient:
    """Forwards every call to ``client`` and counts one request per call or search page.

    NOTE: retries inside the client are not counted, because they are hidden
    from this wrapper; the count is the number of logical requests.
    """

    def __init__(self, client: JiraApi) -> None:
        self.client = client
        self.calls = 0

    async def search_jql(
        self, jql: str, fields: Sequence[str], *, max_results: int = 100
    ) -> AsyncIterator[Any]:
        # Each page is counted before it is read, so a page that fails still
        # counts; the count taken for the page after the last one is given back.
        self.calls += 1
        async for page in self.client.search_jql(jql, fields, max_results=max_results):
            yield page
            self.calls += 1
        self.calls -= 1

    async def bulkfetch(self, ids: Sequence[str], fields: Sequence[str]) -> Any:
        self.calls += 1
        return await self.client.bulkfetch(ids, fields)

    async def get_issue(self, issue_id: str) -> Any:
        self.calls += 1
        return await self.client.get_issue(issue_id)

    async def projects(self) -> Any:
        self.calls += 1
        return await self.client.projects()

    async def list_webhooks(self) -> Any:
        self.calls += 1
        return await self.client.list_webhooks()

    async def register_webhooks(self, url: str, webhooks: Sequence[Mapping[str, Any]]) -> Any:
        self.calls += 1
        return await self.client.register_webhooks(url, webhooks)

    async def refresh_webhooks(self, ids: Sequence[int]) -> Any:
        self.calls += 1
        return await self.client.refresh_webhooks(ids)

    async def delete_webhooks(self, ids: Sequence[int]) -> Any:
        self.calls += 1
        return await self.client.delete_webhooks(ids)
