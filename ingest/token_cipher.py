"""Encryption of stored OAuth tokens with rotating Fernet keys.

The first key encrypts; every key decrypts, so a new key can be put in front of
the list, the stored tokens re-encrypted, and the old key dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ingest.errors import ConfigurationError


class TokenCipher:
    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ConfigurationError(
                "TOKEN_ENCRYPTION_KEYS is empty; set at least one Fernet key"
            )
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def encrypt(self, payload: dict[str, Any]) -> str:
        return self._fernet.encrypt(orjson.dumps(payload)).decode("ascii")

    def decrypt(self, ciphertext: str) -> dict[str, Any]:
        try:
            plain = self._fernet.decrypt(ciphertext.encode("ascii"))
        except InvalidToken:
            raise ConfigurationError(
                "stored tokens cannot be decrypted with any key in TOKEN_ENCRYPTION_KEYS; "
                "add back the key they were encrypted with"
            ) from None
        decoded: dict[str, Any] = orjson.loads(plain)
        return decoded

    def rotate(self, ciphertext: str) -> str:
        """Re-encrypt ``ciphertext`` with the first key."""
        try:
            return self._fernet.rotate(ciphertext.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise ConfigurationError(
                "stored tokens cannot be decrypted with any key in TOKEN_ENCRYPTION_KEYS; "
                "add back the key they were encrypted with before rotating"
            ) from None
