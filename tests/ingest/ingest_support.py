"""Helpers and fixtures of the ingress tests: a sandbox Jira, uuid-prefixed topics on the
real broker, and an ingress app wired to both through in-process transports."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest
from aiokafka import ConsumerRecord
from cryptography.fernet import Fernet

from ingest.app import create_app
from ingest.connections import ConnectionRegistry
from ingest.deliveries import DeliveryLog
from ingest.identity import SpaceDirectory, mint_user_token
from ingest.settings import Settings
from ingest.token_cipher import TokenCipher
from ingest.topic_reader import TopicFollower
from jira_sandbox.app import DEFAULT_CLIENT_ID
from jira_sandbox.app import create_app as create_sandbox
from jira_sandbox.generator import build_world
from jira_sandbox.model import World
from jiraclient.auth import TokenManager, TokenStore
from streams.admin import ensure_topics
from streams.contract import SpaceUpdated
from streams.envelope import Envelope
from streams.producer import Producer
from streams.settings import Settings as StreamsSettings
from streams.topics import TopicNames, TopicSpec

SANDBOX_URL = "http://sandbox.test"
INGRESS_URL = "http://ingress.test"
REDIRECT_URL = f"{INGRESS_URL}/oauth/callback"
JWT_KEY = "k" * 40
ADMIN_SECRET = "admin-webhook-secret"
# HS256 keys shorter than 32 bytes make PyJWT warn, and warnings fail tests.
CLIENT_SECRET = "sandbox-client-secret-of-forty-bytes-xxx"


async def read_topic(bootstrap: str, topic: str) -> list[tuple[str, Envelope]]:
    """Return every committed record of ``topic`` as (key, envelope)."""
    records: list[tuple[str, Envelope]] = []

    def keep(record: ConsumerRecord) -> None:
        envelope = Envelope.model_validate(orjson.loads(record.value))
        records.append((record.key.decode(), envelope))

    reader = TopicFollower(bootstrap, topic, keep, follow=False)
    await reader.start()
    await reader.stop()
    return records


async def create_topics(bootstrap: str, names: TopicNames) -> None:
    wanted = {names.inbound, names.threads, names.connections, names.webhook_deliveries,
              names.dead_letter, names.refetch, names.spaces}
    specs: list[TopicSpec] = [spec for spec in names.specs() if spec.name in wanted]
    await ensure_topics(bootstrap, specs)


@pytest.fixture
async def topic_names(kafka_bootstrap: str) -> TopicNames:
    names = TopicNames(prefix=f"test-{uuid.uuid4().hex[:12]}.")
    await create_topics(kafka_bootstrap, names)
    return names


@dataclass
class Harness:
    world: World
    settings: Settings
    producer: Producer
    registry: ConnectionRegistry
    spaces: SpaceDirectory
    sandbox: httpx.AsyncClient
    ingress: httpx.AsyncClient
    bootstrap: str

    def admin_of(self, index: int) -> str:
        """Return the account id of the admin of the ``index``-th site."""
        cloud_id = list(self.world.sites)[index]
        return str(self.world.sites[cloud_id].app_account_id)

    def bearer(self, user_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {mint_user_token(user_id, JWT_KEY)}"}

    def give_role(self, space_id: str, user_id: str, role: Any) -> None:
        self.spaces.apply(SpaceUpdated(space_id=space_id, members={user_id: role}))

    async def connect(self, space_id: str, user_id: str, account_id: str) -> httpx.Response:
        """Run the consent flow for ``account_id``; return the callback's response."""
        begin = await self.ingress.post(f"/spaces/{space_id}/jira/connect",
                                        headers=self.bearer(user_id))
        assert begin.status_code == 303, begin.text
        consent = await self.sandbox.get(begin.headers["location"] + f"&login_hint={account_id}")
        assert consent.status_code == 302, consent.text
        query = parse_qs(urlsplit(consent.headers["location"]).query)
        return await self.ingress.get(
            "/oauth/callback", params={"code": query["code"][0], "state": query["state"][0]}
        )


@pytest.fixture
def world() -> World:
    return build_world(11, sites=2, projects_per_site=1, issues=12, users=4, sprints_per_board=1)


@pytest.fixture
async def harness(
    world: World, kafka_bootstrap: str, topic_names: TopicNames
) -> AsyncIterator[Harness]:
    sandbox_app = create_sandbox(world, client_secret=CLIENT_SECRET, auto_consent=True,
                                 redirect_uris=[REDIRECT_URL])
    settings = Settings(
        client_id=DEFAULT_CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_url=REDIRECT_URL,
        webhook_public_url=INGRESS_URL,
        token_encryption_keys=(Fernet.generate_key().decode(),),
        jwt_key=JWT_KEY,
        auth_url=SANDBOX_URL,
        api_url=SANDBOX_URL,
        admin_webhook_secret=ADMIN_SECRET,
        kafka_bootstrap_servers=kafka_bootstrap,
        topics=topic_names,
    )
    producer = Producer(StreamsSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}))
    await producer.start()
    registry = ConnectionRegistry(
        producer=producer, topic=topic_names.connections,
        cipher=TokenCipher(settings.token_encryption_keys), bootstrap_servers=kafka_bootstrap,
    )
    spaces = SpaceDirectory()
    deliveries = DeliveryLog(producer=producer, topic=topic_names.webhook_deliveries,
                             bootstrap_servers=kafka_bootstrap)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=sandbox_app), base_url=SANDBOX_URL
    ) as sandbox:

        def token_manager(store: TokenStore) -> TokenManager:
            return TokenManager(
                store, client_id=settings.client_id, client_secret=settings.client_secret,
                http=sandbox, auth_url=SANDBOX_URL, api_url=SANDBOX_URL,
                on_invalid_grant=registry.require_reauthorisation_of,
            )

        app = create_app(settings, producer=producer, registry=registry, spaces=spaces,
                         token_manager_factory=token_manager, http=sandbox,
                         deliveries=deliveries)
        await registry.start()
        await deliveries.start()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=INGRESS_URL
        ) as ingress:
            yield Harness(world, settings, producer, registry, spaces, sandbox, ingress,
                          kafka_bootstrap)
        await deliveries.stop()
        await registry.stop()
    await producer.stop()
    if world.webhooks is not None:
        await world.webhooks.aclose()
