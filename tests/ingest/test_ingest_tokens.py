from __future__ import annotations

import asyncio
import dataclasses

import httpx
import pytest
from cryptography.fernet import Fernet
from ingest_support import SANDBOX_URL, Harness

from ingest.errors import ConfigurationError
from ingest.token_cipher import TokenCipher
from jiraclient.auth import TokenManager


async def test_concurrent_refreshes_one_request(harness: Harness) -> None:
    harness.give_role("space-t", "user-t", "admin")
    await harness.connect("space-t", "user-t", harness.admin_of(1))
    connection = harness.registry.require("space-t")
    stored = harness.registry.tokens_of("space-t")
    assert stored is not None
    await harness.registry.save_tokens("space-t", dataclasses.replace(stored, expires_at_ms=0))
    token_requests: list[httpx.Request] = []

    async def count(request: httpx.Request) -> None:
        if request.url.path == "/oauth/token":
            token_requests.append(request)

    transport = harness.sandbox._transport
    async with httpx.AsyncClient(transport=transport, base_url=SANDBOX_URL,
                                 event_hooks={"request": [count]}) as http:
        manager = TokenManager(harness.registry, client_id=harness.settings.client_id,
                               client_secret=harness.settings.client_secret, http=http,
                               auth_url=SANDBOX_URL, api_url=SANDBOX_URL)
        tokens = await asyncio.gather(
            *[manager.access_token(connection.connection_id) for _ in range(20)]
        )

    rotated = harness.registry.tokens_of("space-t")
    assert len(token_requests) == 1
    assert rotated is not None
    assert set(tokens) == {rotated.access_token}
    assert rotated.refresh_token != stored.refresh_token


def test_cipher_rotation_keeps_tokens() -> None:
    old_key, new_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed = TokenCipher([old_key]).encrypt({"access_token": "a"})

    rotated = TokenCipher([new_key, old_key]).rotate(sealed)

    assert TokenCipher([new_key]).decrypt(rotated) == {"access_token": "a"}


def test_cipher_unknown_key_message() -> None:
    sealed = TokenCipher([Fernet.generate_key().decode()]).encrypt({"access_token": "a"})

    with pytest.raises(ConfigurationError, match="TOKEN_ENCRYPTION_KEYS"):
        TokenCipher([Fernet.generate_key().decode()]).decrypt(sealed)
