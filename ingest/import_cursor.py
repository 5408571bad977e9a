"""The importer's checkpoint: how far one import of one site has come.

Cursors live on the compacted ``jira.connections`` topic under the key
``{space_id}:import``, next to the connection records, and every cursor is
written in the same Kafka transaction as the observations of the page it
moves past. A read-committed reader therefore sees a cursor only together
with everything before it, which makes a resumed import neither lose nor
repeat a page.
"""

from __future__ import annotations

from enum import StrEnum

import orjson
from aiokafka import ConsumerRecord
from pydantic import BaseModel, ConfigDict

from ingest.topic_reader import TopicFollower
from streams.envelope import Envelope

CURSOR_TYPE = "jira.import.cursor"
SOURCE = "naumu-jira/ingest/importer"


class ImportPhase(StrEnum):
    CATALOGUE = "catalogue"
    ISSUES = "issues"
    PARTIAL = "partial"
    DONE = "done"


class ImportCursor(BaseModel):
    """Where an import stands. ``last_issue_id`` is the highest issue id committed in
    the current project; ``page_token`` is kept for diagnosis only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    space_id: str
    cloud_id: str
    run_id: str
    phase: ImportPhase
    catalogued: bool = False
    project_ids: tuple[str, ...] = ()
    project_index: int = 0
    last_issue_id: int | None = None
    page_token: str | None = None
    sprint_field_id: str | None = None
    epic_link_field_id: str | None = None
    counts: dict[str, int] = {}
    reason: str | None = None
    started_at_ms: int
    updated_at_ms: int

    @property
    def finished(self) -> bool:
        return self.phase is ImportPhase.DONE


def cursor_key(space_id: str) -> str:
    return f"{space_id}:import"


def cursor_envelope(cursor: ImportCursor) -> Envelope:
    return Envelope(
        source=SOURCE,
        type=CURSOR_TYPE,
        subject=cursor_key(cursor.space_id),
        data=cursor.model_dump(mode="json"),
    )


async def load_cursor(bootstrap_servers: str, topic: str, space_id: str) -> ImportCursor | None:
    """Read the latest committed cursor of a space from ``topic``."""
    wanted = cursor_key(space_id).encode()
    found: list[ImportCursor] = []

    def keep(record: ConsumerRecord) -> None:
        if record.key != wanted or record.value is None:
            return
        envelope = Envelope.model_validate(orjson.loads(record.value))
        if envelope.type == CURSOR_TYPE:
            found.append(ImportCursor.model_validate(envelope.data))

    reader = TopicFollower(bootstrap_servers, topic, keep, follow=False)
    await reader.start()
    await reader.stop()
    return found[-1] if found else None
