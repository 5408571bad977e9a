"""Who is calling: Naumu user tokens and the roles users hold in each space.

Naumu signs user tokens with HS256 and ``NAUMU_JWT_KEY``; ``sub`` is the user
id and ``exp`` is required. Roles come from the compacted ``naumu.spaces``
topic, where the latest ``SpaceUpdated`` record of a space wins.
"""

from __future__ import annotations

import logging
import time

import jwt
from aiokafka import ConsumerRecord
from starlette.requests import HTTPConnection

from ingest.errors import AuthenticationError, ForbiddenError
from ingest.topic_reader import TopicFollower
from streams.codec import data_of, decode
from streams.contract import SpaceRole, SpaceUpdated

logger = logging.getLogger(__name__)

ADMIN_ROLES: frozenset[str] = frozenset({"owner", "admin"})
USER_TOKEN_TTL_S = 3600


def mint_user_token(user_id: str, key: str, *, ttl_s: int = USER_TOKEN_TTL_S) -> str:
    """Sign a Naumu user token, for the sandbox and the demo."""
    now = int(time.time())
    return jwt.encode({"sub": user_id, "iat": now, "exp": now + ttl_s}, key, algorithm="HS256")


def verify_user_token(token: str, key: str) -> str:
    """Return the user id of a valid token, or raise :class:`AuthenticationError`."""
    try:
        claims = jwt.decode(
            token, key, algorithms=["HS256"], options={"require": ["sub", "exp"]}
        )
    except jwt.ExpiredSignatureError:
        raise AuthenticationError("the bearer token has expired; sign in to Naumu again") from None
    except jwt.InvalidTokenError as exc:
        raise AuthenticationError(
            f"the bearer token is invalid ({exc}); send a Naumu user token"
        ) from None

    subject = claims["sub"]
    if not isinstance(subject, str) or not subject:
        raise AuthenticationError(f"the bearer token's sub claim {subject!r} is not a user id")
    return subject


def user_of(connection: HTTPConnection, key: str) -> str:
    """Return the user id of the request's ``Authorization: Bearer`` token."""
    header = connection.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(
            "the Authorization header is missing or not 'Bearer <token>'; send a Naumu user token"
        )
    return verify_user_token(token.strip(), key)


class SpaceDirectory:
    """Members and roles per space, kept in memory from ``naumu.spaces``."""

    def __init__(self, bootstrap_servers: str | None = None, topic: str | None = None) -> None:
        self._members: dict[str, dict[str, SpaceRole]] = {}
        self._follower = (
            TopicFollower(bootstrap_servers, topic, self._on_record)
            if bootstrap_servers is not None and topic is not None
            else None
        )

    async def start(self) -> None:
        if self._follower is not None:
            await self._follower.start()

    async def stop(self) -> None:
        if self._follower is not None:
            await self._follower.stop()

    def apply(self, update: SpaceUpdated) -> None:
        self._members[update.space_id] = dict(update.members)

    def role_of(self, space_id: str, user_id: str) -> SpaceRole | None:
        return self._members.get(space_id, {}).get(user_id)

    def require_admin(self, space_id: str, user_id: str) -> None:
        """Raise :class:`ForbiddenError` unless the user owns or administers the space."""
        role = self.role_of(space_id, user_id)
        if role not in ADMIN_ROLES:
            raise ForbiddenError(
                f"user {user_id} has role {role or 'none'} in space {space_id}; "
                "only an owner or admin of the space can manage its Jira connection"
            )

    def require_member(self, space_id: str, user_id: str) -> None:
        if self.role_of(space_id, user_id) is None:
            raise ForbiddenError(
                f"user {user_id} is not a member of space {space_id}; ask a space admin to add you"
            )

    def _on_record(self, record: ConsumerRecord) -> None:
        if record.value is None:
            if record.key is not None:
                self._members.pop(record.key.decode(), None)
            return
        self.apply(data_of(decode(record.value), SpaceUpdated))
