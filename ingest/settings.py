"""Settings of the ingress and the Jira-calling services, read from the environment.

Every invalid value raises :class:`ConfigurationError` naming the variable, the
value (secrets are never echoed) and the fix.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography.fernet import Fernet

from ingest.errors import ConfigurationError
from streams.topics import TopicNames

DEFAULT_AUTH_URL = "https://auth.atlassian.com"
DEFAULT_API_URL = "https://api.atlassian.com"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MIN_SECRET_BYTES = 32


@dataclass(frozen=True)
class Settings:
    client_id: str
    client_secret: str = field(repr=False)
    redirect_url: str
    webhook_public_url: str
    token_encryption_keys: tuple[str, ...] = field(repr=False)
    jwt_key: str = field(repr=False)
    auth_url: str = DEFAULT_AUTH_URL
    api_url: str = DEFAULT_API_URL
    webhook_max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    admin_webhook_secret: str | None = field(default=None, repr=False)
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    topics: TopicNames = field(default_factory=TopicNames)

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Build settings from ``environ`` (``os.environ`` by default)."""
        env = os.environ if environ is None else environ

        return cls(
            client_id=_required(env, "JIRA_CLIENT_ID"),
            client_secret=_required(env, "JIRA_CLIENT_SECRET", secret=True),
            redirect_url=_url(env, "JIRA_REDIRECT_URL", None),
            webhook_public_url=_url(env, "WEBHOOK_PUBLIC_URL", None),
            token_encryption_keys=_fernet_keys(env),
            jwt_key=_secret_key(env, "NAUMU_JWT_KEY"),
            auth_url=_url(env, "JIRA_AUTH_URL", DEFAULT_AUTH_URL),
            api_url=_url(env, "JIRA_API_URL", DEFAULT_API_URL),
            webhook_max_body_bytes=_positive_int(
                env, "WEBHOOK_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES
            ),
            admin_webhook_secret=env.get("JIRA_ADMIN_WEBHOOK_SECRET") or None,
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            topics=TopicNames(prefix=env.get("TOPIC_PREFIX", "")),
        )


# Every variable this module reads, for the command line's help.
VARIABLES: tuple[str, ...] = (
    "JIRA_CLIENT_ID", "JIRA_CLIENT_SECRET", "JIRA_REDIRECT_URL", "WEBHOOK_PUBLIC_URL",
    "TOKEN_ENCRYPTION_KEYS", "NAUMU_JWT_KEY", "JIRA_AUTH_URL", "JIRA_API_URL",
    "WEBHOOK_MAX_BODY_BYTES", "JIRA_ADMIN_WEBHOOK_SECRET",
)

_FIXES = {
    "JIRA_CLIENT_ID": "set it to the client id of the OAuth 2.0 (3LO) app",
    "JIRA_CLIENT_SECRET": "set it to the secret of the OAuth 2.0 (3LO) app",
    "TOKEN_ENCRYPTION_KEYS": (
        "set it to one or more comma-separated Fernet keys, newest first; generate one "
        "with cryptography.fernet.Fernet.generate_key()"
    ),
    "NAUMU_JWT_KEY": "set it to the HS256 key Naumu signs user tokens with (32+ bytes)",
}


def _required(env: Mapping[str, str], name: str, *, secret: bool = False) -> str:
    value = env.get(name, "").strip()
    if not value:
        fix = _FIXES.get(name, "set it" + (" to the secret" if secret else ""))
        raise ConfigurationError(f"{name} is missing or empty; {fix}")
    return value


def _url(env: Mapping[str, str], name: str, default: str | None) -> str:
    value = env.get(name, "").strip() or default
    if value is None:
        raise ConfigurationError(f"{name} is missing; set it to an absolute http(s) URL")

    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        example = default or "https://sync.example.com/path"
        raise ConfigurationError(
            f"{name}={value!r} is not an absolute http(s) URL; set it to a URL such as "
            f"{example}"
        )
    return value.rstrip("/") if default is not None else value


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigurationError(f"{name}={raw!r} is not a positive integer number of bytes")
    return value


def _secret_key(env: Mapping[str, str], name: str) -> str:
    value = _required(env, name, secret=True)
    if len(value.encode()) < MIN_SECRET_BYTES:
        raise ConfigurationError(
            f"{name} is {len(value.encode())} bytes long; HS256 keys need at least "
            f"{MIN_SECRET_BYTES} random bytes"
        )
    return value


def _fernet_keys(env: Mapping[str, str]) -> tuple[str, ...]:
    raw = _required(env, "TOKEN_ENCRYPTION_KEYS", secret=True)
    keys = tuple(key.strip() for key in raw.split(",") if key.strip())

    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise ConfigurationError(
                f"TOKEN_ENCRYPTION_KEYS entry {position} of {len(keys)} is not a Fernet key; "
                "generate one with cryptography.fernet.Fernet.generate_key()"
            ) from None
    return keys
