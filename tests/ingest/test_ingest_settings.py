from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

from ingest.errors import ConfigurationError, OAuthStateError
from ingest.oauth_state import OAuthStates
from ingest.settings import Settings

KEY = Fernet.generate_key().decode()
ENV = {
    "JIRA_CLIENT_ID": "client",
    "JIRA_CLIENT_SECRET": "secret",
    "JIRA_REDIRECT_URL": "https://sync.example.com/oauth/callback",
    "WEBHOOK_PUBLIC_URL": "https://sync.example.com",
    "TOKEN_ENCRYPTION_KEYS": KEY,
    "NAUMU_JWT_KEY": "j" * 32,
}


def test_settings_defaults() -> None:
    settings = Settings.from_environ(ENV)

    assert settings.auth_url == "https://auth.atlassian.com"
    assert settings.webhook_max_body_bytes == 1024 * 1024


@pytest.mark.parametrize(("name", "value"), [
    ("TOKEN_ENCRYPTION_KEYS", "not-a-key"),
    ("NAUMU_JWT_KEY", "short"),
    ("WEBHOOK_MAX_BODY_BYTES", "-5"),
    ("JIRA_AUTH_URL", "auth.atlassian.com"),
])
def test_settings_invalid_names_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigurationError, match=name):
        Settings.from_environ({**ENV, name: value})


def test_state_expires_after_ten_minutes() -> None:
    now = [1_000_000.0]
    states = OAuthStates((KEY,), clock=lambda: now[0])
    state, _ = states.issue("user", "space")
    now[0] += 601

    with pytest.raises(OAuthStateError, match="expired"):
        states.redeem(state)


def test_state_bound_to_user_and_space() -> None:
    states = OAuthStates((KEY,))
    state, _ = states.issue("user", "space")

    consent = states.redeem(state)

    assert (consent.user_id, consent.space_id) == ("user", "space")
