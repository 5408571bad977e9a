"""What reconciliation needs from the rest of the service, as protocols.

The worker passes its own objects: the Jira client of the connection (which
owns token refresh), a read view of the graph projection, and the producer's
``send``. Reconciliation never writes the graph; it only publishes
observations, so the graph changes through the same fold as every webhook.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

from streams.envelope import Envelope

# Sends one envelope to a topic under a record key, like ``streams.producer.Producer.send``.
Publish = Callable[[str, str, Envelope], Awaitable[Any]]


class SiteConnection(Protocol):
    """The part of a connection that reconciliation reads."""

    @property
    def space_id(self) -> str: ...

    @property
    def cloud_id(self) -> str | None: ...


class GraphIndex(Protocol):
    """A read view of the graph projection for one space and site.

    Versions are Jira's ``updated`` in epoch milliseconds as the graph last
    folded it, for every issue node, marked access lost or not.
    ``project_ids`` are the projects whose nodes are not marked access lost.
    ``issue_projects`` maps each issue id to its project id, so the issues of a
    project that left the account's view are not taken for deleted.
    ``access_lost_issue_ids`` are the issues whose nodes are marked access lost.
    """

    def issue_versions(self, space_id: str, cloud_id: str) -> Mapping[str, int]: ...

    def project_ids(self, space_id: str, cloud_id: str) -> set[str]: ...

    def issue_projects(self, space_id: str, cloud_id: str) -> Mapping[str, str]: ...

    def access_lost_issue_ids(self, space_id: str, cloud_id: str) -> set[str]: ...


class JiraApi(Protocol):
    """The Jira REST calls reconciliation makes, as ``jiraclient.JiraClient`` offers them.

    ``search_jql`` yields one page per request; each page has ``issues`` and
    ``next_page_token``. The other calls return Jira's JSON, or objects that
    :mod:`reconcile.shapes` reads.
    """

    def search_jql(
        self, jql: str, fields: Sequence[str], *, max_results: int = ...
    ) -> AsyncIterator[Any]: ...

    async def bulkfetch(self, ids: Sequence[str], fields: Sequence[str]) -> Any: ...

    async def get_issue(self, issue_id: str) -> Any: ...

    async def projects(self) -> Any: ...

    async def list_webhooks(self) -> Any: ...

    async def register_webhooks(self, url: str, webhooks: Sequence[Mapping[str, Any]]) -> Any: ...

    async def refresh_webhooks(self, ids: Sequence[int]) -> Any: ...

    async def delete_webhooks(self, ids: Sequence[int]) -> Any: ...
