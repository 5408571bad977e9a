"""``naumu-jira keys rotate``: re-encrypt every stored token set with the newest key.

Rotation: stop the ingress and the worker, put a new Fernet key first in
``TOKEN_ENCRYPTION_KEYS`` (keeping the old ones after it), run this command, then
start both again; once it reported every connection, the old keys can go. The
processes are stopped because a token refresh written while this command runs
could be overwritten by the re-encrypted older token set.
"""

from __future__ import annotations

import argparse
import asyncio

from ingest.connections import ConnectionRegistry
from ingest.settings import Settings as IngestSettings
from ingest.token_cipher import TokenCipher
from service.cli import Command, register
from streams.producer import Producer
from streams.settings import Settings as StreamsSettings


async def rotate() -> int:
    """Return how many connections' tokens were re-encrypted with the first key."""
    settings = IngestSettings.from_environ()
    async with Producer(StreamsSettings.from_env()) as producer:
        registry = ConnectionRegistry(
            producer=producer, topic=settings.topics.connections,
            cipher=TokenCipher(settings.token_encryption_keys),
            bootstrap_servers=settings.kafka_bootstrap_servers,
        )
        await registry.start()
        try:
            return await registry.rotate_keys()
        finally:
            await registry.stop()


def _arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["rotate"],
                        help="rotate: re-encrypt stored tokens with the first key of "
                             "TOKEN_ENCRYPTION_KEYS")


def _run(args: argparse.Namespace) -> int:
    count = asyncio.run(rotate())
    print(f"re-encrypted the tokens of {count} connections with the first key")
    return 0


register(Command("keys", "re-encrypt stored OAuth tokens after adding a new encryption key",
                 _arguments, _run))
