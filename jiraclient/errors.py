"""The Jira client's error tree, rooted at :class:`JiraError`.

Every error names what happened. HTTP errors carry the request and the response,
transport errors carry the request, and :func:`error_from_response` is the one
place where a Jira status code becomes a class. Callers branch on ``retriable``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from streams.errors import SyncError

_PREVIEW_CHARS = 300


class JiraError(SyncError):
    """Base class of every error the Jira client raises."""

    def __init__(self, message: str, *, request: httpx.Request | None = None) -> None:
        super().__init__(message)
        self.request = request


class JiraTransportError(JiraError):
    """The request did not get a response: a timeout, a refused or dropped connection."""

    retriable = True


class JiraInvalidResponse(JiraError):
    """Jira returned a success status with a body this client cannot read."""

    def __init__(self, message: str, *, response: httpx.Response) -> None:
        super().__init__(message, request=response.request)
        self.response = response


class JiraHTTPError(JiraError):
    """Jira returned an error status.

    ``error_messages`` and ``errors`` contain Jira's ``errorMessages`` and ``errors``
    when the body is Jira's JSON error shape; ``body_preview`` contains the start
    of any other body (rate limiters and proxies respond in HTML).
    """

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request,
        response: httpx.Response,
        error_messages: list[str],
        errors: dict[str, str],
        body_preview: str,
    ) -> None:
        super().__init__(message, request=request)
        self.response = response
        self.status = response.status_code
        self.method = request.method
        self.url = str(request.url)
        self.error_messages = error_messages
        self.errors = errors
        self.body_preview = body_preview

    @property
    def jira_message(self) -> str:
        """Jira's own explanation, joined into one line, or the body preview."""
        parts = list(self.error_messages)
        parts.extend(f"{field}: {text}" for field, text in sorted(self.errors.items()))
        if parts:
            return "; ".join(parts)
        return self.body_preview


class JiraBadRequest(JiraHTTPError):
    """400: Jira rejected the request's content; sending it again fails the same way."""


class JiraUnauthorized(JiraHTTPError):
    """401: the access token is missing, expired or revoked."""


class JiraForbidden(JiraHTTPError):
    """403: the account or the app lacks a permission or a scope."""


class JiraNotFound(JiraHTTPError):
    """404: the entity does not exist or the account cannot see it."""


class JiraConflict(JiraHTTPError):
    """409: a concurrent update won; the same request may succeed when sent again."""

    retriable = True


class JiraRateLimited(JiraHTTPError):
    """429: a rate limit was hit; ``retry_after_s`` is Jira's Retry-After, if given."""

    retriable = True

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request,
        response: httpx.Response,
        error_messages: list[str],
        errors: dict[str, str],
        body_preview: str,
        retry_after_s: float | None,
        reason: str | None,
    ) -> None:
        super().__init__(
            message,
            request=request,
            response=response,
            error_messages=error_messages,
            errors=errors,
            body_preview=body_preview,
        )
        self.retry_after_s = retry_after_s
        self.reason = reason


class JiraServerError(JiraHTTPError):
    """5xx: Jira or a proxy in front of it failed; ``retry_after_s`` is set when given."""

    retriable = True

    def __init__(
        self,
        message: str,
        *,
        request: httpx.Request,
        response: httpx.Response,
        error_messages: list[str],
        errors: dict[str, str],
        body_preview: str,
        retry_after_s: float | None,
    ) -> None:
        super().__init__(
            message,
            request=request,
            response=response,
            error_messages=error_messages,
            errors=errors,
            body_preview=body_preview,
        )
        self.retry_after_s = retry_after_s


class ReauthorisationRequired(JiraError):
    """The refresh token was refused (``invalid_grant``); an admin must connect again."""

    def __init__(
        self,
        connection_id: str,
        description: str,
        *,
        request: httpx.Request | None = None,
    ) -> None:
        super().__init__(
            f"connection {connection_id!r} needs re-authorisation: Atlassian refused its "
            f"refresh token ({description}); a space admin must connect the site again",
            request=request,
        )
        self.connection_id = connection_id
        self.description = description


class PagingError(JiraError):
    """A paged walk went wrong, for example Jira returned a page token twice."""


class WebhookRegistrationError(JiraError):
    """Jira returned 200 but rejected some webhooks of a registration.

    ``created_ids`` lists the webhooks that were created anyway, so the caller can
    keep or delete them; ``failures`` maps each refused webhook's position in the
    request to Jira's messages.
    """

    def __init__(self, created_ids: list[int | str], failures: dict[int, list[str]]) -> None:
        described = "; ".join(
            f"webhook #{index}: {', '.join(messages) or 'no reason given'}"
            for index, messages in sorted(failures.items())
        )
        super().__init__(
            f"Jira refused {len(failures)} of {len(created_ids) + len(failures)} webhooks "
            f"({described}); fix the events or JQL filter of those webhooks and register again"
        )
        self.created_ids = created_ids
        self.failures = failures


def transport_error(exc: httpx.RequestError, *, method: str, url: str) -> JiraTransportError:
    """Map an httpx request failure to :class:`JiraTransportError`.

    Timeouts, connection and protocol errors, undecodable bodies and redirect
    loops all end a request without a usable response.

    The caller raises the result ``from exc``. The URL is given explicitly because
    httpx sets ``exc.request`` only for errors raised while a request was sent.
    """
    try:
        request: httpx.Request | None = exc.request
    except RuntimeError:
        request = None
    detail = str(exc) or type(exc).__name__
    return JiraTransportError(
        f"{method} {url} failed without a usable response ({type(exc).__name__}: {detail}); "
        "the error is retriable once Jira is reachable again",
        request=request,
    )


def _body_preview(response: httpx.Response) -> str:
    text = response.text
    if "html" in response.headers.get("content-type", "").lower() or text.lstrip().startswith("<"):
        text = re.sub(r"<[^>]+>", " ", text)
    return " ".join(text.split())[:_PREVIEW_CHARS]


def _jira_error_body(response: httpx.Response) -> tuple[list[str], dict[str, str]]:
    try:
        body: Any = response.json()
    except ValueError:
        return [], {}
    if not isinstance(body, dict):
        return [], {}

    raw_messages = body.get("errorMessages")
    messages = [str(item) for item in raw_messages] if isinstance(raw_messages, list) else []
    raw_errors = body.get("errors")
    errors = (
        {str(key): str(value) for key, value in raw_errors.items()}
        if isinstance(raw_errors, dict)
        else {}
    )
    return messages, errors


def error_from_response(
    response: httpx.Response, *, retry_after_s: float | None = None
) -> JiraHTTPError:
    """Map an error response to the matching :class:`JiraHTTPError` subclass.

    ``retry_after_s`` is the already parsed Retry-After header; parsing needs the
    clock, which belongs to the caller.
    """
    request = response.request
    status = response.status_code
    messages, errors = _jira_error_body(response)
    preview = _body_preview(response)
    detail = "; ".join(messages + [f"{k}: {v}" for k, v in sorted(errors.items())]) or preview
    message = (
        f"Jira returned {status} to {request.method} {request.url.path}: {detail or '(empty body)'}"
    )
    common: dict[str, Any] = {
        "request": request,
        "response": response,
        "error_messages": messages,
        "errors": errors,
        "body_preview": preview,
    }

    if status == 429:
        reason = response.headers.get("RateLimit-Reason") or response.headers.get(
            "X-Beta-RateLimit-Reason"
        )
        return JiraRateLimited(message, retry_after_s=retry_after_s, reason=reason, **common)
    if status >= 500:
        return JiraServerError(message, retry_after_s=retry_after_s, **common)

    by_status: dict[int, type[JiraHTTPError]] = {
        400: JiraBadRequest,
        401: JiraUnauthorized,
        403: JiraForbidden,
        404: JiraNotFound,
        409: JiraConflict,
    }
    return by_status.get(status, JiraHTTPError)(message, **common)
