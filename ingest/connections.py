"""The connection registry, event-sourced on the compacted ``jira.connections`` topic.

Each record is the whole state of one space's connection, keyed by space id,
so compaction keeps the latest. The registry loads the topic from its
beginning at start and keeps following it, because the ingress and the worker
both write connection state. A change is written first and applied to memory
only once the broker acknowledged it.

Rules: a space syncs with one site at a time, and one Atlassian account backs
at most one connection that is not disconnected.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any

import orjson
from aiokafka import ConsumerRecord

from ingest.connection import Connection, ConnectionStatus, SiteCandidate
from ingest.errors import ConflictError, NotFoundError, ValidationError
from ingest.publisher import Publisher
from ingest.token_cipher import TokenCipher
from ingest.topic_reader import TopicFollower
from jiraclient.auth import TokenSet
from streams.envelope import Envelope

logger = logging.getLogger(__name__)

SNAPSHOT_TYPE = "jira.connection.snapshot"
SOURCE = "naumu-jira/ingest"

Listener = Callable[[Connection | None, Connection], None]


def now_ms() -> int:
    return int(time.time() * 1000)


class ConnectionRegistry:
    """Connections by space id; also the token store of every connection."""

    def __init__(
        self,
        *,
        producer: Publisher,
        topic: str,
        cipher: TokenCipher,
        bootstrap_servers: str | None = None,
    ) -> None:
        self._producer = producer
        self._topic = topic
        self._cipher = cipher
        self._connections: dict[str, Connection] = {}
        self._record_ids: dict[str, str] = {}
        self._listeners: list[Listener] = []
        self._lock = asyncio.Lock()
        self._follower = (
            TopicFollower(bootstrap_servers, topic, self._on_record)
            if bootstrap_servers is not None
            else None
        )

    async def start(self) -> None:
        if self._follower is not None:
            await self._follower.start()
        logger.info("connection registry ready topic=%s connections=%d",
                    self._topic, len(self._connections))

    async def stop(self) -> None:
        if self._follower is not None:
            await self._follower.stop()

    def add_listener(self, listener: Listener) -> None:
        """Call ``listener(old, new)`` after every change, local or read from the topic."""
        self._listeners.append(listener)

    # --- queries ------------------------------------------------------------------------

    def get(self, space_id: str) -> Connection | None:
        return self._connections.get(space_id)

    def require(self, space_id: str) -> Connection:
        connection = self._connections.get(space_id)
        if connection is None:
            raise NotFoundError(
                f"space {space_id} has no Jira connection; connect it with "
                f"POST /spaces/{space_id}/jira/connect"
            )
        return connection

    def all(self) -> list[Connection]:
        return list(self._connections.values())

    def active(self) -> list[Connection]:
        return [c for c in self._connections.values() if c.status is ConnectionStatus.ACTIVE]

    def by_account(self, account_id: str) -> Connection | None:
        """Return the connection the account backs, ignoring disconnected ones."""
        for connection in self._connections.values():
            if (
                connection.account_id == account_id
                and connection.status is not ConnectionStatus.DISCONNECTED
            ):
                return connection
        return None

    def by_connection_id(self, connection_id: str) -> Connection | None:
        for connection in self._connections.values():
            if connection.connection_id == connection_id:
                return connection
        return None

    def tokens_of(self, space_id: str) -> TokenSet | None:
        """Return the decrypted token set of a space, or ``None`` when it has none."""
        connection = self._connections.get(space_id)
        if connection is None or connection.tokens is None:
            return None
        return self._decrypt(connection.tokens)

    # --- jiraclient.auth.TokenStore ---------------------------------------------------------

    async def load(self, connection_id: str) -> TokenSet | None:
        connection = self.by_connection_id(connection_id)
        if connection is None or connection.tokens is None:
            return None
        return self._decrypt(connection.tokens)

    async def save(self, connection_id: str, tokens: TokenSet) -> None:
        connection = self.by_connection_id(connection_id)
        if connection is None:
            raise NotFoundError(
                f"connection {connection_id} is not in the registry; tokens cannot be stored "
                "for a connection that was never made"
            )
        await self.save_tokens(connection.space_id, tokens)

    # --- changes ------------------------------------------------------------------------

    async def connect(
        self,
        *,
        space_id: str,
        account_id: str,
        sites: Sequence[SiteCandidate],
        tokens: TokenSet,
        created_by: str,
    ) -> Connection:
        """Store a new connection: active with one site, ``pending_site`` with several.

        Raises :class:`ConflictError`, and changes nothing, when the account
        already backs another space's connection or the space is bound to
        another account.
        """
        if not sites:
            raise ValidationError(
                f"Atlassian account {account_id} can reach no Jira site; grant the app access "
                "to a Jira Cloud site and connect again"
            )

        async with self._lock:
            elsewhere = self.by_account(account_id)
            if elsewhere is not None and elsewhere.space_id != space_id:
                raise ConflictError(
                    f"Atlassian account {account_id} is already connected to space "
                    f"{elsewhere.space_id}; disconnect it there first"
                )

            current = self._connections.get(space_id)
            if (
                current is not None
                and current.status is not ConnectionStatus.DISCONNECTED
                and current.account_id != account_id
            ):
                raise ConflictError(
                    f"space {space_id} is already connected through Atlassian account "
                    f"{current.account_id}; disconnect it before connecting account {account_id}"
                )

            cloud_id = _site_to_keep(current, sites)
            status = (
                ConnectionStatus.PENDING_SITE if cloud_id is None else ConnectionStatus.ACTIVE
            )
            fields: dict[str, Any] = {
                "account_id": account_id,
                "cloud_id": cloud_id,
                "site_candidates": tuple(sites),
                "status": status,
                "tokens": self._encrypt(tokens),
                "created_by": created_by,
                "updated_at_ms": now_ms(),
            }
            if current is None:
                updated = Connection(
                    space_id=space_id, connection_id=str(uuid.uuid4()), **fields
                )
            else:
                updated = current.evolve(**fields)
            await self._write(updated)

        logger.info("connection stored space_id=%s account_id=%s cloud_id=%s status=%s",
                    space_id, account_id, cloud_id, status)
        return updated

    async def choose_site(self, space_id: str, cloud_id: str) -> Connection:
        async with self._lock:
            current = self.require(space_id)
            candidates = {candidate.cloud_id for candidate in current.site_candidates}
            if cloud_id not in candidates:
                raise ValidationError(
                    f"cloud_id {cloud_id!r} is not one of the sites of space {space_id}; "
                    f"choose one of: {', '.join(sorted(candidates))}"
                )
            if current.status is ConnectionStatus.DISCONNECTED or current.tokens is None:
                raise ConflictError(
                    f"space {space_id} is disconnected; connect it again before choosing a site"
                )
            if current.status is ConnectionStatus.ACTIVE and current.cloud_id != cloud_id:
                raise ConflictError(
                    f"space {space_id} already syncs with site {current.cloud_id}; "
                    "disconnect it before choosing another site"
                )

            updated = current.evolve(
                cloud_id=cloud_id, status=ConnectionStatus.ACTIVE, updated_at_ms=now_ms()
            )
            await self._write(updated)

        logger.info("site chosen space_id=%s cloud_id=%s", space_id, cloud_id)
        return updated

    async def save_tokens(self, space_id: str, tokens: TokenSet) -> Connection:
        async with self._lock:
            current = self.require(space_id)
            if current.tokens is None:
                # A refresh that finishes after a disconnect must not bring tokens back.
                raise ConflictError(
                    f"space {space_id} is disconnected; its tokens are not stored again"
                )
            updated = current.evolve(tokens=self._encrypt(tokens), updated_at_ms=now_ms())
            await self._write(updated)
        logger.info("tokens stored space_id=%s cloud_id=%s", space_id, updated.cloud_id)
        return updated

    async def set_webhooks(
        self, space_id: str, webhook_ids: Sequence[int], expires_at_ms: int | None
    ) -> Connection:
        async with self._lock:
            current = self.require(space_id)
            updated = current.evolve(
                webhook_ids=tuple(webhook_ids),
                webhook_expires_at_ms=expires_at_ms,
                updated_at_ms=now_ms(),
            )
            await self._write(updated)
        logger.info("webhooks stored space_id=%s cloud_id=%s webhook_ids=%s",
                    space_id, updated.cloud_id, list(webhook_ids))
        return updated

    async def require_reauthorisation_of(self, connection_id: str) -> None:
        """Mark a connection as needing consent again; a ``TokenManager`` invalid-grant hook."""
        connection = self.by_connection_id(connection_id)
        if connection is not None and connection.status is not ConnectionStatus.DISCONNECTED:
            await self.require_reauthorisation(connection.space_id)

    async def require_reauthorisation(self, space_id: str) -> Connection:
        async with self._lock:
            current = self.require(space_id)
            updated = current.evolve(
                status=ConnectionStatus.REAUTHORISATION_REQUIRED, updated_at_ms=now_ms()
            )
            await self._write(updated)
        logger.warning("connection needs reauthorisation space_id=%s cloud_id=%s",
                       space_id, updated.cloud_id)
        return updated

    async def disconnect(self, space_id: str) -> Connection:
        """Delete the tokens and webhook ids; keep the account and site for a reconnect."""
        async with self._lock:
            current = self.require(space_id)
            updated = current.evolve(
                status=ConnectionStatus.DISCONNECTED,
                tokens=None,
                webhook_ids=(),
                webhook_expires_at_ms=None,
                updated_at_ms=now_ms(),
            )
            await self._write(updated)
        logger.info("connection disconnected space_id=%s cloud_id=%s", space_id, updated.cloud_id)
        return updated

    async def rotate_keys(self) -> int:
        """Re-encrypt every stored token set with the first key; return how many changed."""
        rotated = 0
        async with self._lock:
            for current in list(self._connections.values()):
                if current.tokens is None:
                    continue
                await self._write(current.evolve(tokens=self._cipher.rotate(current.tokens)))
                rotated += 1
        logger.info("token encryption rotated connections=%d", rotated)
        return rotated

    def _encrypt(self, tokens: TokenSet) -> str:
        return self._cipher.encrypt(dataclasses.asdict(tokens))

    def _decrypt(self, ciphertext: str) -> TokenSet:
        stored = self._cipher.decrypt(ciphertext)
        stored["scopes"] = tuple(stored.get("scopes") or ())
        return TokenSet(**stored)

    # --- the log --------------------------------------------------------------------------

    async def _write(self, connection: Connection) -> None:
        envelope = Envelope(
            source=SOURCE,
            type=SNAPSHOT_TYPE,
            subject=connection.space_id,
            data=connection.model_dump(mode="json"),
        )
        await self._producer.send(self._topic, connection.space_id, envelope)
        self._apply(envelope.id, connection)

    def _on_record(self, record: ConsumerRecord) -> None:
        if record.value is None:
            return
        envelope = Envelope.model_validate(orjson.loads(record.value))
        if envelope.type != SNAPSHOT_TYPE:
            return
        self._apply(envelope.id, Connection.model_validate(envelope.data))

    def _apply(self, record_id: str, connection: Connection) -> None:
        space_id = connection.space_id
        if self._record_ids.get(space_id) == record_id:
            return
        old = self._connections.get(space_id)
        if old is not None and connection.revision < old.revision:
            return

        self._connections[space_id] = connection
        self._record_ids[space_id] = record_id
        for listener in self._listeners:
            try:
                listener(old, connection)
            except Exception:
                logger.exception("connection listener failed space_id=%s", space_id)


def _site_to_keep(current: Connection | None, sites: Sequence[SiteCandidate]) -> str | None:
    # Re-authorising keeps the site the space syncs with; after a disconnect the
    # admin chooses again unless the account reaches a single site.
    offered = {site.cloud_id for site in sites}
    if (
        current is not None
        and current.status is not ConnectionStatus.DISCONNECTED
        and current.cloud_id in offered
    ):
        return current.cloud_id
    if len(sites) == 1:
        return sites[0].cloud_id
    return None
