"""The contract between the Faust agents and the pure functions they run.

An agent reads one record, looks up the state of the record's table key, calls a
:class:`Step`, stores the state the step returns and publishes its outputs. The
steps themselves live next to the logic they adapt (``projections``,
``writeback``) and never touch Kafka, so they are tested without a broker.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from streams.envelope import Envelope


@dataclass(frozen=True)
class Record:
    """Where an input record came from: enough to dead-letter it and to log it."""

    topic: str
    partition: int
    offset: int
    key: str


@dataclass(frozen=True)
class Output:
    """One record a step wants published."""

    topic: str
    key: str
    envelope: Envelope


@dataclass
class StepResult:
    """What a step returns: the new state of each table key it touched, and outputs.

    ``states`` maps table keys to new states; ``None`` deletes the key.
    """

    states: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    outputs: list[Output] = field(default_factory=list)


# (state lookup, input envelope, record) -> result. The lookup returns the stored
# state of a table key, or None when the key is unknown.
StateLookup = Callable[[str], dict[str, Any] | None]
Step = Callable[[StateLookup, Envelope, Record], StepResult]
