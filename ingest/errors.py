"""The error tree of the ingress, the importer and the refetcher.

Each error maps to one HTTP status and one stable ``code`` so the JSON error
body that :mod:`ingest.app` renders is the same wherever the error is raised.
"""

from __future__ import annotations

from streams.errors import ConfigurationError, SyncError

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "ForbiddenError",
    "IngestError",
    "NotFoundError",
    "OAuthStateError",
    "PayloadTooLargeError",
    "PublishError",
    "ValidationError",
]


class IngestError(SyncError):
    """Base class of the errors this package raises; carries its HTTP status and code."""

    status_code: int = 500
    code: str = "internal_error"


class ValidationError(IngestError):
    """A request body, parameter or header is invalid."""

    status_code = 400
    code = "invalid_request"


class OAuthStateError(ValidationError):
    """The OAuth ``state`` is unknown, already used or expired."""

    code = "invalid_state"


class AuthenticationError(IngestError):
    """Credentials are missing, malformed, expired or signed with another key."""

    status_code = 401
    code = "unauthenticated"


class ForbiddenError(IngestError):
    """The caller is authenticated but has no right to act on this space."""

    status_code = 403
    code = "forbidden"


class NotFoundError(IngestError):
    status_code = 404
    code = "not_found"


class ConflictError(IngestError):
    """The request contradicts the current state, for example an account bound elsewhere."""

    status_code = 409
    code = "conflict"


class PayloadTooLargeError(IngestError):
    status_code = 413
    code = "payload_too_large"


class PublishError(IngestError):
    """The broker did not acknowledge a record; the caller should try again."""

    status_code = 503
    code = "broker_unavailable"
    retriable = True
