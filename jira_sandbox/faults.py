"""Fault injection: lost, repeated, reordered and late webhooks; 429, 503 and slow REST.

Each site has its own `FaultConfig`, switchable at run time. Webhook faults are
decided here and applied by the webhook dispatcher; REST faults are applied by
`FaultMiddleware` on `/ex/jira/{cloud_id}/...` paths only, never on the sandbox's
own `/_sandbox/...` control paths. Every decision comes from a per-site RNG seeded
with `FaultConfig.seed`, so a test that sets the same config gets the same faults.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math
import random
import threading
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from jira_sandbox.model import SandboxError

__all__ = [
    "DeliveryFaults",
    "DroppedDelivery",
    "FaultConfig",
    "FaultConfigError",
    "FaultMiddleware",
    "FaultRegistry",
    "RestFaultStats",
]

logger = logging.getLogger(__name__)

API_PATH_PREFIX = "/ex/jira/"

RATE_LIMIT_BODY = (
    b"<html><head><title>429 Too Many Requests</title></head>"
    b"<body><h1>Too Many Requests</h1><p>Rate limit exceeded. Retry later.</p></body></html>"
)
SERVER_ERROR_BODY = (
    b"<html><head><title>503 Service Unavailable</title></head>"
    b"<body><h1>Service Unavailable</h1></body></html>"
)


class FaultConfigError(SandboxError, ValueError):
    """An invalid fault setting; the message names the setting, the value and the valid range."""


@dataclass
class FaultConfig:
    """Faults injected for one site.

    Rates are probabilities in [0, 1] applied to each webhook delivery or REST
    request independently. `delay_ms` is an inclusive (min, max) range of extra
    delay before a delivery. `retry_after_s` goes into the `Retry-After` header of
    429 responses; `server_error_retry_after_s` into 503 responses when set.
    """

    drop_rate: float = 0
    duplicate_rate: float = 0
    reorder_rate: float = 0
    delay_ms: tuple[int, int] = (0, 0)
    rate_limit_rate: float = 0
    retry_after_s: float = 1
    server_error_rate: float = 0
    server_error_retry_after_s: float | None = None
    slow_ms: int = 0
    rate_limit_reason: str = "jira-burst-based"
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (
            "drop_rate",
            "duplicate_rate",
            "reorder_rate",
            "rate_limit_rate",
            "server_error_rate",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise FaultConfigError(
                    f"{name}={value!r} is invalid; use a probability from 0 to 1"
                )

        low, high = self.delay_ms
        if low < 0 or high < low:
            raise FaultConfigError(
                f"delay_ms={self.delay_ms!r} is invalid; use (min, max) with 0 <= min <= max"
            )

        if self.retry_after_s < 0:
            raise FaultConfigError(
                f"retry_after_s={self.retry_after_s!r} is invalid; use 0 or more seconds"
            )
        if self.server_error_retry_after_s is not None and self.server_error_retry_after_s < 0:
            raise FaultConfigError(
                f"server_error_retry_after_s={self.server_error_retry_after_s!r} is invalid; "
                "use 0 or more seconds, or null for no header"
            )
        if self.slow_ms < 0:
            raise FaultConfigError(
                f"slow_ms={self.slow_ms!r} is invalid; use 0 or more milliseconds"
            )

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, base: FaultConfig | None = None) -> FaultConfig:
        """Build a config from a JSON object; keys left out keep their value from `base`.

        Raises FaultConfigError for unknown keys or invalid values.
        """
        known = {item.name for item in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FaultConfigError(
                f"unknown fault settings {unknown}; valid settings are {sorted(known)}"
            )

        values = asdict(base) if base is not None else {}
        values.update(data)
        if "delay_ms" in values:
            delay = values["delay_ms"]
            if not isinstance(delay, list | tuple) or len(delay) != 2:
                raise FaultConfigError(
                    f"delay_ms={delay!r} is invalid; use a pair [min, max] in milliseconds"
                )
            values["delay_ms"] = (int(delay[0]), int(delay[1]))
        try:
            return cls(**values)
        except TypeError as error:
            raise FaultConfigError(
                f"invalid fault settings {dict(data)!r}: {error}; use numbers for rates and times"
            ) from error

    def to_json(self) -> dict[str, Any]:
        values = asdict(self)
        values["delay_ms"] = list(self.delay_ms)
        return values


@dataclass(frozen=True)
class DeliveryFaults:
    """Faults drawn for one webhook delivery; `delay_s` is slept before the first attempt."""

    drop: bool = False
    duplicate: bool = False
    reorder: bool = False
    delay_s: float = 0.0


@dataclass(frozen=True)
class DroppedDelivery:
    """A webhook delivery the sandbox dropped on purpose, for reconciliation tests."""

    cloud_id: str
    delivery_id: str
    webhook_event: str
    issue_id: str | None
    issue_key: str | None
    timestamp_ms: int
    url: str


@dataclass
class RestFaultStats:
    """REST faults injected for one site, as counters."""

    rate_limited: int = 0
    server_errors: int = 0
    slowed: int = 0


@dataclass(frozen=True)
class _RestFault:
    status: int | None
    slow_s: float
    retry_after_s: float | None
    rate_limit_reason: str


@dataclass
class _SiteFaults:
    config: FaultConfig
    delivery_rng: random.Random
    rest_rng: random.Random
    rest_stats: RestFaultStats = field(default_factory=RestFaultStats)


class FaultRegistry:
    """Per-site fault settings, their seeded RNGs and a record of what was injected."""

    def __init__(self) -> None:
        self._sites: dict[str, _SiteFaults] = {}
        self._lock = threading.Lock()
        self.dropped: list[DroppedDelivery] = []

    def get(self, cloud_id: str) -> FaultConfig:
        """Return the site's config; sites never configured get no faults."""
        return self._site(cloud_id).config

    def set(self, cloud_id: str, config: FaultConfig) -> None:
        """Replace the site's config and reseed its RNGs from `config.seed`."""
        with self._lock:
            previous = self._sites.get(cloud_id)
            stats = previous.rest_stats if previous is not None else RestFaultStats()
            self._sites[cloud_id] = _new_site_faults(cloud_id, config, stats)
        logger.info("fault config set cloud_id=%s config=%s", cloud_id, config.to_json())

    def reset(self, cloud_id: str) -> None:
        """Turn every fault off for the site."""
        self.set(cloud_id, FaultConfig())

    def rest_stats(self, cloud_id: str) -> RestFaultStats:
        return self._site(cloud_id).rest_stats

    def dropped_for(self, cloud_id: str) -> list[DroppedDelivery]:
        return [item for item in self.dropped if item.cloud_id == cloud_id]

    def record_drop(self, dropped: DroppedDelivery) -> None:
        with self._lock:
            self.dropped.append(dropped)
        logger.info(
            "webhook delivery dropped by fault injection "
            "cloud_id=%s delivery_id=%s event=%s issue_id=%s issue_key=%s",
            dropped.cloud_id,
            dropped.delivery_id,
            dropped.webhook_event,
            dropped.issue_id,
            dropped.issue_key,
        )

    def decide_delivery(self, cloud_id: str) -> DeliveryFaults:
        """Draw the faults for one webhook delivery from the site's seeded RNG."""
        with self._lock:
            site = self._site_locked(cloud_id)
            config = site.config
            rng = site.delivery_rng

            # Every draw happens on every call so that one rate's value does not
            # shift the sequence the other rates see.
            drop = rng.random() < config.drop_rate
            duplicate = rng.random() < config.duplicate_rate
            reorder = rng.random() < config.reorder_rate
            low, high = config.delay_ms
            delay_ms = rng.randint(low, high)

        return DeliveryFaults(
            drop=drop, duplicate=duplicate, reorder=reorder, delay_s=delay_ms / 1000
        )

    def middleware(self) -> Middleware:
        """Return the Starlette middleware entry that injects this registry's REST faults."""
        return Middleware(FaultMiddleware, registry=self)

    def decide_rest(self, cloud_id: str) -> _RestFault:
        """Draw the faults for one REST request from the site's seeded RNG."""
        with self._lock:
            site = self._site_locked(cloud_id)
            config = site.config
            rng = site.rest_rng

            rate_limited = rng.random() < config.rate_limit_rate
            server_error = rng.random() < config.server_error_rate
            if config.slow_ms:
                site.rest_stats.slowed += 1

            if rate_limited:
                site.rest_stats.rate_limited += 1
                return _RestFault(
                    429, config.slow_ms / 1000, config.retry_after_s, config.rate_limit_reason
                )
            if server_error:
                site.rest_stats.server_errors += 1
                return _RestFault(
                    503,
                    config.slow_ms / 1000,
                    config.server_error_retry_after_s,
                    config.rate_limit_reason,
                )
            return _RestFault(None, config.slow_ms / 1000, None, config.rate_limit_reason)

    def _site(self, cloud_id: str) -> _SiteFaults:
        with self._lock:
            return self._site_locked(cloud_id)

    def _site_locked(self, cloud_id: str) -> _SiteFaults:
        site = self._sites.get(cloud_id)
        if site is None:
            site = _new_site_faults(cloud_id, FaultConfig(), RestFaultStats())
            self._sites[cloud_id] = site
        return site


def _new_site_faults(cloud_id: str, config: FaultConfig, stats: RestFaultStats) -> _SiteFaults:
    # String seeds are hashed deterministically by `random.Random`, so each site and
    # each fault family gets its own repeatable sequence.
    return _SiteFaults(
        config=config,
        delivery_rng=random.Random(f"{config.seed}:{cloud_id}:delivery"),
        rest_rng=random.Random(f"{config.seed}:{cloud_id}:rest"),
        rest_stats=stats,
    )


class FaultMiddleware:
    """ASGI middleware that responds to some `/ex/jira/{cloud_id}/...` requests with 429 or 503.

    A slow response sleeps before the request reaches the app (or before the
    injected error is sent). The 429 carries `Retry-After` and Jira's rate-limit
    headers with an HTML body, as Atlassian's edge returns it.
    """

    def __init__(self, app: ASGIApp, *, registry: FaultRegistry) -> None:
        self.app = app
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        cloud_id = _api_cloud_id(scope)
        if cloud_id is None:
            await self.app(scope, receive, send)
            return

        fault = self.registry.decide_rest(cloud_id)
        if fault.slow_s > 0:
            await asyncio.sleep(fault.slow_s)

        if fault.status is None:
            await self.app(scope, receive, send)
            return

        logger.info(
            "REST fault injected cloud_id=%s status=%s method=%s path=%s",
            cloud_id,
            fault.status,
            scope.get("method"),
            scope.get("path"),
        )
        await _send_fault(fault, send)


def _api_cloud_id(scope: Scope) -> str | None:
    if scope["type"] != "http":
        return None
    path: str = scope.get("path", "")
    if not path.startswith(API_PATH_PREFIX):
        return None
    cloud_id = path[len(API_PATH_PREFIX) :].split("/", 1)[0]
    return cloud_id or None


async def _send_fault(fault: _RestFault, send: Send) -> None:
    body = RATE_LIMIT_BODY if fault.status == 429 else SERVER_ERROR_BODY
    headers: list[tuple[bytes, bytes]] = [
        (b"content-type", b"text/html; charset=utf-8"),
        (b"content-length", str(len(body)).encode()),
    ]

    if fault.retry_after_s is not None:
        # Retry-After carries whole seconds, so a fractional setting rounds up.
        headers.append((b"retry-after", str(math.ceil(fault.retry_after_s)).encode()))

    if fault.status == 429:
        reset = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=fault.retry_after_s or 0)
        headers.extend(
            [
                (b"x-ratelimit-limit", b"100"),
                (b"x-ratelimit-remaining", b"0"),
                (b"x-ratelimit-reset", reset.strftime("%Y-%m-%dT%H:%MZ").encode()),
                (b"ratelimit-reason", fault.rate_limit_reason.encode()),
            ]
        )

    await send({"type": "http.response.start", "status": fault.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
