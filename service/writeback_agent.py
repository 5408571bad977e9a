"""The write-back agent: ``naumu.edits`` -> Jira -> ``jira.writeback.results``.

The decisions live in :mod:`writeback` and are tested there; this module only
resolves an edit's node through the projection's ``nodes`` table, keeps each
edit's state in a durable table (so a redelivered edit is never sent twice),
and publishes what the executor reports.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any, get_args

import faust
import orjson
from pydantic import ValidationError

from streams import codec
from streams.agents import AgentStats, raw_table, raw_topic
from streams.contract import (
    EditField,
    EditRequested,
    ObservationRejected,
    WritebackResult,
    WritePending,
)
from streams.errors import SyncError
from streams.metrics import WRITEBACK_OUTCOMES
from streams.topics import TopicNames, entity_key
from writeback.executor import EditTarget, LedgerRecord, apply_edit
from writeback.plan import WritebackConfig
from writeback.state import EditState

if TYPE_CHECKING:
    from service.worker import NodeStore, WorkerServices

log = logging.getLogger(__name__)


class TableLedger:
    """The executor's ledger on a Faust table keyed by edit id."""

    def __init__(self, table: faust.Table[bytes, bytes]) -> None:
        self._table = table

    async def get(self, edit_id: str) -> LedgerRecord | None:
        stored = self._table.get(edit_id.encode())
        if stored is None:
            return None
        raw = orjson.loads(stored)
        result = WritebackResult.model_validate(raw["result"]) if raw.get("result") else None
        return LedgerRecord(raw["edit_id"], EditState(raw["state"]), raw["attempt"], result)

    async def put(self, edit_id: str, record: LedgerRecord) -> None:
        self._table[edit_id.encode()] = orjson.dumps({
            "edit_id": record.edit_id,
            "state": str(record.state),
            "attempt": record.attempt,
            "result": record.result.model_dump(mode="json") if record.result else None,
        })


class NodeLookup:
    """Resolves edit targets from the projection's node states."""

    def __init__(self, nodes: NodeStore) -> None:
        self._nodes = nodes

    def _jira_id(self, node_id: str, kind: str) -> str | None:
        state = self._nodes.get(node_id)
        if state is None:
            return None
        source = state["node"].get("source") or {}
        return str(source["jira_id"]) if source.get("kind") == kind else None

    async def target(self, edit: EditRequested) -> EditTarget | None:
        state = self._nodes.get(edit.node_id)
        if state is None:
            return None
        node = state["node"]
        source = node.get("source") or {}
        if source.get("kind") != "issue":
            return None

        members: dict[str, str] = {}
        issue_ids: dict[str, str] = {}
        sprint_ids: dict[str, str] = {}
        values = edit.value if isinstance(edit.value, list) else [edit.value, edit.base]
        for value in values:
            if not isinstance(value, str):
                continue
            for kind, mapping in (("member", members), ("issue", issue_ids),
                                  ("sprint", sprint_ids)):
                jira_id = self._jira_id(value, kind)
                if jira_id is not None:
                    mapping[value] = jira_id
        return EditTarget(
            cloud_id=source["cloud_id"], issue_id=str(source["jira_id"]), node=node,
            members=members, issue_ids=issue_ids, sprint_ids=sprint_ids,
        )


class _Sink:
    def __init__(self, app: faust.App, names: TopicNames) -> None:
        self._inbound = raw_topic(app, names.inbound)
        self._results = raw_topic(app, names.writeback_results)
        self._dead_letter = raw_topic(app, names.dead_letter)

    async def dead_letter(self, event: Any, raw: bytes, reason: str) -> None:
        message = event.message
        key = (event.key or b"").decode("utf-8", "replace")
        rejected = ObservationRejected(
            space_id=key.split(":", 1)[0] or None, cloud_id=None, reason=reason,
            source_topic=message.topic, source_partition=message.partition,
            source_offset=message.offset, raw=raw.decode("utf-8", "replace"),
        )
        envelope = codec.make(rejected, source="/worker/writeback", subject=key)
        await self._dead_letter.send(key=key.encode(), value=codec.encode(envelope))

    async def pending(self, observation: WritePending) -> None:
        key = entity_key(observation.cloud_id, observation.issue_id)
        envelope = codec.make(observation, source="/worker/writeback", subject=key)
        # Wait for the broker: the echo marker must be in the log before the write.
        await (await self._inbound.send(key=key.encode(), value=codec.encode(envelope)))

    async def retrying(self, result: WritebackResult) -> None:
        await self.result(result)

    async def result(self, result: WritebackResult) -> None:
        envelope = codec.make(result, source="/worker/writeback", subject=result.edit_id)
        await self._results.send(key=result.edit_id.encode(), value=codec.encode(envelope))


def writeback_agent(
    app: faust.App, *, names: TopicNames, nodes: NodeStore, services: WorkerServices,
    config: WritebackConfig | None = None,
) -> AgentStats:
    """Declare the write-back agent on ``app``."""
    stats = AgentStats()
    # Keyed by edit id rather than by the edit's record, so the partition comes from
    # the key: Faust's check that the record's topic and the changelog have equal
    # partition counts read stale metadata right after start and failed edits.
    ledger = TableLedger(raw_table(app, "writeback-ledger", help_text="write-back state per edit",
                                   use_partitioner=True))
    lookup = NodeLookup(nodes)
    sink = _Sink(app, names)
    settings = config or WritebackConfig()

    async def process(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            raw = event.value or b""
            try:
                envelope = codec.decode(raw)
                edit = codec.data_of(envelope, EditRequested)
            except SyncError as exc:
                # Kept on the dead-letter topic with its offset, for a fix and a resend.
                log.warning("invalid edit record partition=%d offset=%d: %s",
                            event.message.partition, event.message.offset, exc)
                await sink.dead_letter(event, raw, str(exc))
                stats.dead_lettered += 1
                # The editor waits for an outcome, so an edit that carries its ids gets one.
                answer = rejected_record(raw, exc)
                if answer is not None:
                    await sink.result(answer)
                    WRITEBACK_OUTCOMES.labels(answer.outcome, answer.field).inc()
                continue

            try:
                result = await _apply(edit, lookup=lookup, ledger=ledger, sink=sink,
                                      services=services, config=settings)
            except SyncError as exc:
                # The agent must outlive any one edit: a crash here would stop
                # every later edit of the partition.
                log.warning("edit failed edit_id=%s node_id=%s: %s", edit.edit_id,
                            edit.node_id, exc)
                result = _failed(edit, str(exc))
            except Exception as exc:
                log.exception("edit failed unexpectedly edit_id=%s node_id=%s", edit.edit_id,
                              edit.node_id)
                result = _failed(edit, f"{type(exc).__name__}: {exc}")
            await sink.result(result)
            WRITEBACK_OUTCOMES.labels(result.outcome, result.field).inc()
            stats.processed += 1
            stats.published += 1
            log.info("edit finished edit_id=%s node_id=%s field=%s outcome=%s",
                     edit.edit_id, edit.node_id, edit.field, result.outcome)

    app.agent(raw_topic(app, names.edits), name="writeback")(process)
    return stats


_TEXT_FIELDS = {"label", "content", "Status", "Priority", "assignee", "parent", "sprint"}


def rejected_record(raw: bytes, error: SyncError) -> WritebackResult | None:
    """Return a ``rejected`` result for an edit record that failed validation.

    Only a record whose data carries string ``edit_id``, ``space_id`` and ``node_id``
    gets one, because the result must name the edit it reports on. The others stay on the
    dead-letter topic alone.
    """
    try:
        data = orjson.loads(raw).get("data")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    if not isinstance(data, dict):
        return None
    ids = [data.get(name) for name in ("edit_id", "space_id", "node_id")]
    if not all(isinstance(value, str) and value for value in ids):
        return None
    field = data.get("field")
    return WritebackResult(
        edit_id=ids[0], space_id=ids[1], node_id=ids[2],
        field=field if isinstance(field, str) else "",
        outcome="rejected", reason=_validation_summary(error),
    )


def _validation_summary(error: SyncError) -> str:
    cause = error.__cause__
    if not isinstance(cause, ValidationError):
        return str(error)
    problems = [
        f"{'.'.join(str(part) for part in item['loc']) or 'record'}: {item['msg']}"
        for item in cause.errors()
    ]
    return ("the edit is invalid: " + "; ".join(problems)
            + f"; editable fields: {', '.join(sorted(get_args(EditField)))}")


def invalid_value(edit: EditRequested) -> str | None:
    """Return why an edit's value has the wrong type for its field, or None when it fits.

    Labels take a list of strings. The other fields take one string: a name, Markdown
    or a node id. Only the parent and the sprint may be cleared with null.
    """
    value = edit.value
    if edit.field == "Labels":
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            return (f"Labels edit {edit.edit_id} has value {value!r}; send a list of label "
                    "strings")
        return None
    if value is None and edit.field in ("parent", "sprint"):
        return None
    if edit.field in _TEXT_FIELDS and not isinstance(value, str):
        return (f"{edit.field} edit {edit.edit_id} has value {value!r} of type "
                f"{type(value).__name__}; send a string")
    return None


def _failed(edit: EditRequested, reason: str) -> WritebackResult:
    return WritebackResult(edit_id=edit.edit_id, space_id=edit.space_id, node_id=edit.node_id,
                           field=edit.field, outcome="failed", reason=reason)


async def _apply(edit: EditRequested, *, lookup: NodeLookup, ledger: TableLedger, sink: _Sink,
                 services: WorkerServices, config: WritebackConfig) -> WritebackResult:
    def rejected(reason: str) -> WritebackResult:
        return WritebackResult(edit_id=edit.edit_id, space_id=edit.space_id,
                               node_id=edit.node_id, field=edit.field, outcome="rejected",
                               reason=reason)

    problem = invalid_value(edit)
    if problem is not None:
        return rejected(problem)
    spaces = services.spaces
    if spaces is not None and spaces.role_of(edit.space_id, edit.user_id) is None:
        return rejected(f"user {edit.user_id} is not a member of space {edit.space_id}; "
                        "only members of a space can edit its nodes")

    target = await lookup.target(edit)
    if target is None:
        return rejected(f"node {edit.node_id} is not an imported Jira issue in this worker's graph")
    registry, ingest = services.registry, services.ingest
    connection = registry.get(edit.space_id) if registry is not None else None
    if connection is None or ingest is None or not services.active(edit.space_id):
        return rejected(f"space {edit.space_id} has no active Jira connection; reconnect it "
                        "before editing imported nodes")

    client = ingest.client_for(connection, "writeback")
    site_config = await _site_config(client, target.cloud_id, config)
    applied = await apply_edit(edit, client=client, lookup=lookup, ledger=ledger,
                               config=site_config, sink=sink)
    return applied.result


_SPRINT_SCHEMA = "com.pyxis.greenhopper.jira:gh-sprint"
_site_configs: dict[str, WritebackConfig] = {}


async def _site_config(client: Any, cloud_id: str, base: WritebackConfig) -> WritebackConfig:
    """Return ``base`` with the site's own sprint field id, read once per site."""
    cached = _site_configs.get(cloud_id)
    if cached is not None:
        return cached

    sprint_field_id = base.sprint_field_id
    for field in await client.fields():
        if (field.get("schema") or {}).get("custom") == _SPRINT_SCHEMA:
            sprint_field_id = field["id"]
            break
    config = dataclasses.replace(base, sprint_field_id=sprint_field_id)
    _site_configs[cloud_id] = config
    return config
