"""The state every route of the ingress shares, kept on ``app.state.ingress``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import httpx

from ingest.connection import Connection
from ingest.connections import ConnectionRegistry
from ingest.deliveries import DeliveryLog
from ingest.identity import SpaceDirectory
from ingest.lifecycle import ConnectionLifecycle
from ingest.oauth_state import OAuthStates
from ingest.publisher import EncodedPublisher
from ingest.settings import Settings
from jiraclient.auth import TokenManager
from jiraclient.client import JiraClient

T = TypeVar("T")


@dataclass
class Ingress:
    settings: Settings
    producer: EncodedPublisher
    registry: ConnectionRegistry
    spaces: SpaceDirectory
    deliveries: DeliveryLog
    states: OAuthStates
    tokens: TokenManager
    http: httpx.AsyncClient
    lifecycle: ConnectionLifecycle
    _in_flight: dict[str, asyncio.Future[str]] = field(default_factory=dict)
    # When the broker last refused or timed out a webhook's observation, for /readyz;
    # None once a later observation was acknowledged.
    broker_failed_at: float | None = None

    def client_for(self, connection: Connection) -> JiraClient:
        """Return a Jira client for the connection's site."""
        if connection.cloud_id is None:
            raise ValueError(f"connection of space {connection.space_id} has no site yet")
        return JiraClient(
            connection.cloud_id,
            tokens=self.tokens.source(connection.connection_id),
            http=self.http,
            api_url=self.settings.api_url,
            priority="import",
        )

    async def single_flight(self, key: str, work: Callable[[], Awaitable[str]]) -> str:
        """Run ``work`` once for concurrent callers with the same ``key``; share its result."""
        running = self._in_flight.get(key)
        if running is not None:
            return await asyncio.shield(running)

        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            result = await work()
        except BaseException as exc:
            future.set_exception(exc)
            # Retrieve it here so an exception nobody else awaited is not reported as lost.
            future.exception()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._in_flight[key]
