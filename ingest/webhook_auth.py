"""Authenticity of Jira webhook deliveries.

Webhooks an OAuth 2.0 app registers arrive with ``Authorization: Bearer <JWT>``
signed HS256 with the app's client secret. Webhooks an admin created with a
secret arrive with ``X-Hub-Signature: sha256=<hex>``, the HMAC-SHA256 of the
raw body. A delivery passes when either check passes.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import Callable, Mapping

from ingest.errors import AuthenticationError
from ingest.jwt_hs256 import ExpiredTokenError, InvalidTokenError, decode_hs256

logger = logging.getLogger(__name__)

JWT_LEEWAY_S = 30


def verify_delivery(
    headers: Mapping[str, str],
    body: bytes,
    *,
    client_id: str,
    client_secret: str,
    admin_secret: str | None,
    cloud_id: str | None,
) -> str:
    """Return how the delivery proved itself (``jwt`` or ``hmac``), or raise."""
    authorization = headers.get("authorization", "")
    if authorization:
        verify_app_jwt(
            authorization, client_id=client_id, client_secret=client_secret, cloud_id=cloud_id
        )
        return "jwt"

    signature = headers.get("x-hub-signature", "")
    if signature:
        verify_hub_signature(signature, body, admin_secret)
        return "hmac"

    raise AuthenticationError(
        "the delivery has neither an Authorization bearer token nor an X-Hub-Signature; "
        "register the webhook through the service so Jira signs it"
    )


def verify_app_jwt(
    authorization: str,
    *,
    client_id: str,
    client_secret: str,
    cloud_id: str | None,
    clock: Callable[[], float] = time.time,
) -> None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(
            f"the Authorization header scheme {scheme!r} is not Bearer; Jira sends a bearer JWT"
        )

    try:
        # Jira's claim set for these tokens is undocumented, so aud and iss are
        # checked only when present, while the signature is always checked.
        claims = decode_hs256(
            token.strip(), client_secret.encode(), leeway_s=JWT_LEEWAY_S, now_s=clock()
        )
    except ExpiredTokenError:
        raise AuthenticationError("the delivery's JWT has expired") from None
    except InvalidTokenError as exc:
        raise AuthenticationError(f"the delivery's JWT is invalid: {exc}") from None

    audience = claims.get("aud")
    audiences = audience if isinstance(audience, list) else [audience]
    if audience is not None and client_id not in audiences:
        raise AuthenticationError(
            f"the delivery's JWT audience {audience!r} is not this app's client id"
        )
    issuer = claims.get("iss")
    if issuer is not None and cloud_id is not None and issuer != cloud_id:
        raise AuthenticationError(
            f"the delivery's JWT issuer {issuer!r} is not the connected site {cloud_id}"
        )


def verify_hub_signature(signature: str, body: bytes, admin_secret: str | None) -> None:
    if admin_secret is None:
        # The caller learns only that the signature failed; the operator reads why.
        logger.warning("X-Hub-Signature received but JIRA_ADMIN_WEBHOOK_SECRET is not set; "
                       "set it to the secret of the Jira admin webhook")
        raise AuthenticationError("the delivery's X-Hub-Signature does not verify")

    algorithm, _, received = signature.partition("=")
    if algorithm.lower() != "sha256" or not received:
        raise AuthenticationError(
            f"X-Hub-Signature uses {algorithm!r}; expected 'sha256=<hex digest>'"
        )
    expected = hmac.new(admin_secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, received.strip().lower()):
        raise AuthenticationError("X-Hub-Signature does not match the body")
