"""The worker's and the ingress's settings, read once from the environment.

Variable names carry no prefix and are listed in :data:`VARIABLES` with what
each one sets. An invalid value raises :class:`~streams.errors.ConfigurationError`
that names the variable, the value and what would be valid.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from streams.errors import ConfigurationError

ProcessingGuarantee = Literal["at_least_once", "exactly_once"]

# Environment variable -> what it sets, as help text and error messages show it.
VARIABLES: dict[str, str] = {
    "KAFKA_BOOTSTRAP_SERVERS": "comma-separated host:port list of Kafka brokers",
    "KAFKA_REQUEST_TIMEOUT_MS": "time a Kafka request may take before it fails, in ms",
    "KAFKA_DELIVERY_TIMEOUT_MS": "time a send may wait for the broker's acknowledgement, in ms",
    "TOPIC_PREFIX": "text put before every contract topic name (empty in production)",
    "TOPIC_REPLICATION_FACTOR": "replicas of each topic the service creates (1 for one broker)",
    "STATE_DIR": "directory of the worker's local state (RocksDB tables)",
    "PROCESSING_GUARANTEE": "at_least_once or exactly_once (Kafka transactions)",
    "WORKER_WEB_ENABLED": "true to serve the worker's web endpoints, false to disable them",
    "WORKER_WEB_HOST": "interface the worker's web server binds to",
    "WORKER_WEB_PORT": "TCP port of the worker's web server",
    "LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR",
}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _parse_bootstrap(value: str) -> tuple[str, ...]:
    servers = tuple(part.strip() for part in value.split(",") if part.strip())
    if not servers:
        raise ValueError("expected at least one host:port")
    for server in servers:
        host, sep, port = server.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{server!r} is not host:port with a port from 1 to 65535")
    return servers


class Settings(BaseModel):
    """Every setting of the service's streaming side, with its default."""

    model_config = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", alias="KAFKA_BOOTSTRAP_SERVERS")
    kafka_request_timeout_ms: int = Field(30_000, alias="KAFKA_REQUEST_TIMEOUT_MS", ge=1000)
    kafka_delivery_timeout_ms: int = Field(60_000, alias="KAFKA_DELIVERY_TIMEOUT_MS", ge=1000)
    topic_prefix: str = Field("", alias="TOPIC_PREFIX", pattern=r"^[A-Za-z0-9._-]*$")
    topic_replication_factor: int = Field(1, alias="TOPIC_REPLICATION_FACTOR", ge=1)
    state_dir: Path = Field(Path("var/state"), alias="STATE_DIR")
    processing_guarantee: ProcessingGuarantee = Field("at_least_once", alias="PROCESSING_GUARANTEE")
    worker_web_enabled: bool = Field(True, alias="WORKER_WEB_ENABLED")
    worker_web_host: str = Field("127.0.0.1", alias="WORKER_WEB_HOST")
    worker_web_port: int = Field(6066, alias="WORKER_WEB_PORT", ge=1, le=65535)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", alias="LOG_LEVEL")

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _check_bootstrap(cls, value: str) -> str:
        return ",".join(_parse_bootstrap(value))

    @field_validator("worker_web_enabled", mode="before")
    @classmethod
    def _parse_flag(cls, value: object) -> object:
        # pydantic accepts more spellings than an operator would expect; keep to these.
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered in _TRUE:
                return True
            if lowered in _FALSE:
                return False
            raise ValueError(f"expected one of {sorted(_TRUE | _FALSE)}")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_timeouts(self) -> Settings:
        # A send retries requests until its delivery timeout, so it needs room for one request.
        if self.kafka_delivery_timeout_ms < self.kafka_request_timeout_ms:
            raise ValueError(
                f"KAFKA_DELIVERY_TIMEOUT_MS ({self.kafka_delivery_timeout_ms}) must be at least "
                f"KAFKA_REQUEST_TIMEOUT_MS ({self.kafka_request_timeout_ms})"
            )
        return self

    @property
    def bootstrap_servers(self) -> tuple[str, ...]:
        """The brokers as a tuple of ``host:port`` strings."""
        return _parse_bootstrap(self.kafka_bootstrap_servers)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``environ`` (the process environment by default)."""
        source = os.environ if environ is None else environ
        values = {name: source[name] for name in VARIABLES if name in source}
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise _configuration_error(exc, values) from exc


def _configuration_error(exc: ValidationError, values: Mapping[str, str]) -> ConfigurationError:
    lines = []
    for error in exc.errors():
        location = error["loc"]
        name = str(location[0]) if location else "settings"
        if name in VARIABLES:
            shown = repr(values.get(name, "<unset>"))
            lines.append(f"{name}={shown} is invalid: {error['msg']} ({VARIABLES[name]})")
        else:
            lines.append(f"invalid settings: {error['msg']}")
    return ConfigurationError("; ".join(lines))
