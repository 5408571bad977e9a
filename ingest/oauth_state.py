"""The OAuth ``state`` and PKCE pair of one consent redirect.

The state is a Fernet token (keys from ``TOKEN_ENCRYPTION_KEYS``) holding the
user, the space, a nonce and the PKCE code verifier, so the verifier never
appears in a URL in the clear and any ingress replica can read it back.
Fernet tokens carry their creation time, which gives the 10-minute expiry.
Single use is enforced by remembering spent nonces until they would expire.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from ingest.errors import OAuthStateError

STATE_TTL_S = 600


@dataclass(frozen=True)
class PendingConsent:
    """The consent a callback finishes: the requesting user, the space and the PKCE verifier."""

    user_id: str
    space_id: str
    nonce: str
    code_verifier: str


def code_challenge(code_verifier: str) -> str:
    """Return the PKCE S256 challenge of ``code_verifier`` (RFC 7636, section 4.2)."""
    digest = hashlib.sha256(code_verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class OAuthStates:
    # NOTE: spent nonces live in this process only; with several ingress replicas a
    # state could be redeemed once per replica until the shared expiry passes.

    def __init__(
        self,
        keys: tuple[str, ...],
        *,
        ttl_s: int = STATE_TTL_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])
        self._ttl_s = ttl_s
        self._clock = clock
        self._spent: dict[str, float] = {}

    def issue(self, user_id: str, space_id: str) -> tuple[str, PendingConsent]:
        """Return a new ``state`` value and the consent it stands for."""
        consent = PendingConsent(
            user_id=user_id,
            space_id=space_id,
            nonce=secrets.token_urlsafe(16),
            code_verifier=secrets.token_urlsafe(64),
        )
        payload = orjson.dumps(
            {"u": consent.user_id, "s": consent.space_id, "n": consent.nonce,
             "v": consent.code_verifier}
        )
        state = self._fernet.encrypt_at_time(payload, int(self._clock())).decode("ascii")
        return state, consent

    def redeem(self, state: str) -> PendingConsent:
        """Return the consent of ``state`` once; raise :class:`OAuthStateError` after that."""
        now = self._clock()
        self._forget_expired(now)

        try:
            payload = self._fernet.decrypt_at_time(
                state.encode("ascii"), self._ttl_s, int(now)
            )
        except (InvalidToken, UnicodeEncodeError):
            raise OAuthStateError(
                self._invalid_message(state)
            ) from None

        fields = orjson.loads(payload)
        consent = PendingConsent(
            user_id=fields["u"], space_id=fields["s"], nonce=fields["n"], code_verifier=fields["v"]
        )
        if consent.nonce in self._spent:
            raise OAuthStateError(
                f"the OAuth state for space {consent.space_id} was already used; "
                "start the connection again from the space's Jira settings"
            )
        self._spent[consent.nonce] = now + self._ttl_s
        return consent

    def _invalid_message(self, state: str) -> str:
        # Fernet reports an expired token and a forged one the same way, so tell
        # them apart with the timestamp an authentic token carries.
        try:
            issued = self._fernet.extract_timestamp(state.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            return (
                f"the OAuth state {state[:12]!r}... is unknown; "
                "start the connection again from the space's Jira settings"
            )
        age = int(self._clock() - issued)
        return (
            f"the OAuth state expired {age - self._ttl_s} s ago (it is valid for "
            f"{self._ttl_s} s); start the connection again from the space's Jira settings"
        )

    def _forget_expired(self, now: float) -> None:
        for nonce, expires in list(self._spent.items()):
            if expires < now:
                del self._spent[nonce]
