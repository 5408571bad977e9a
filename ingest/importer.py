"""The one-time import of a site into a space.

A run reads the site's catalogue (projects, users, fields, boards and sprints),
then walks ``search/jql`` project by project, ``project = <id> ORDER BY id ASC``,
and publishes each issue as ``IssueObserved(origin="import")``. Issues whose
embedded changelog or comments stop at Jira's cap get the full collection
paged through its own endpoint.

Each page and the cursor that moves past it are written in one Kafka
transaction, so a run killed at any point resumes at the first page whose
transaction did not commit, and read-committed consumers see every issue
version exactly once. A run that gives up on a Jira error stores a ``partial``
cursor and says so on the import thread; the next run resumes from it.

The next page is fetched while the current one is published, and the records
are encoded without a second pydantic pass over Jira's JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from ingest.entities import issue_key, project_key, sprint_key, user_key
from ingest.import_cursor import ImportCursor, ImportPhase, cursor_envelope, cursor_key
from ingest.metrics import IMPORTED_ISSUES
from jiraclient.client import JiraClient, Page
from jiraclient.errors import JiraError
from streams.codec import encode, make
from streams.contract import (
    CURRENT_VERSION,
    TYPE_OF,
    ChangelogObserved,
    CommentsObserved,
    EventData,
    IssueObserved,
    ProjectObserved,
    SprintObserved,
    ThreadMessagePosted,
    UserObserved,
)
from streams.envelope import Envelope
from streams.producer import Producer
from streams.topics import TopicNames

logger = logging.getLogger(__name__)

SOURCE = "naumu-jira/ingest/importer"
SPRINT_FIELD_TYPE = "com.pyxis.greenhopper.jira:gh-sprint"
EPIC_LINK_FIELD_TYPE = "com.pyxis.greenhopper.jira:gh-epic-link"
ISSUE_FIELDS: tuple[str, ...] = (
    "summary", "description", "status", "priority", "labels", "assignee", "reporter",
    "issuetype", "project", "parent", "created", "updated", "comment", "subtasks",
)
PROGRESS_EVERY_PAGES = 10
# The field of each observation type that contains Jira's parsed JSON.
_JIRA_JSON_FIELDS: dict[type[EventData], str] = {
    IssueObserved: "issue",
    ChangelogObserved: "histories",
    CommentsObserved: "comments",
    ProjectObserved: "project",
    UserObserved: "user",
    SprintObserved: "sprint",
}
_NAMESPACE = uuid.UUID("c1d6f0a4-3b8e-4f53-9a0e-2f6c8e4b7d21")

Record = tuple[str, str, Envelope]


@dataclass(frozen=True)
class ImportResult:
    space_id: str
    cloud_id: str
    phase: ImportPhase
    counts: dict[str, int]
    reason: str | None = None


def _now_ms() -> int:
    return int(time.time() * 1000)


class Importer:
    """Imports one site into one space; ``producer`` must have a transactional id."""

    def __init__(
        self,
        *,
        space_id: str,
        cloud_id: str,
        client: JiraClient,
        producer: Producer,
        topics: TopicNames,
        cursor: ImportCursor | None = None,
        page_size: int = 100,
        clock_ms: Callable[[], int] = _now_ms,
    ) -> None:
        self._space_id = space_id
        self._cloud_id = cloud_id
        self._client = client
        self._producer = producer
        self._topics = topics
        self._cursor = cursor
        self._page_size = page_size
        self._clock_ms = clock_ms

    async def run(self) -> ImportResult:
        """Import from the stored cursor to the end; return how the run ended."""
        cursor = self._cursor
        if cursor is not None and cursor.cloud_id != self._cloud_id:
            # The space chose another site since; its import starts from scratch.
            cursor = None
        if cursor is not None and cursor.finished:
            logger.info("import already done space_id=%s cloud_id=%s",
                        self._space_id, self._cloud_id)
            return self._result(cursor)

        try:
            if cursor is None or not cursor.catalogued:
                cursor = await self._import_catalogue(cursor)
            cursor = await self._import_issues(cursor)
        except JiraError as exc:
            failed = cursor if cursor is not None else self._new_cursor()
            return await self._give_up(failed, exc)
        return self._result(cursor)

    # --- catalogue --------------------------------------------------------------------

    def _new_cursor(self) -> ImportCursor:
        now = self._clock_ms()
        return ImportCursor(
            space_id=self._space_id,
            cloud_id=self._cloud_id,
            run_id=str(uuid.uuid4()),
            phase=ImportPhase.CATALOGUE,
            started_at_ms=now,
            updated_at_ms=now,
        )

    async def _import_catalogue(self, cursor: ImportCursor | None) -> ImportCursor:
        cursor = cursor or self._new_cursor()
        logger.info("import started space_id=%s cloud_id=%s run_id=%s",
                    self._space_id, self._cloud_id, cursor.run_id)

        fields = await self._client.fields()
        sprint_field = field_of_type(fields, SPRINT_FIELD_TYPE)
        epic_link_field = field_of_type(fields, EPIC_LINK_FIELD_TYPE)
        projects = sorted(await self._client.projects(), key=lambda p: int(p["id"]))
        users = await self._client.users()
        sprints = await self._sprints()

        now = self._clock_ms()
        records: list[Record] = []
        for project in projects:
            data = ProjectObserved(space_id=self._space_id, cloud_id=self._cloud_id,
                                   origin="import", project=project, observed_at_ms=now)
            records.append(self._inbound(project_key(self._cloud_id, project["id"]), data))
        for user in users:
            data_user = UserObserved(space_id=self._space_id, cloud_id=self._cloud_id,
                                     origin="import", user=user, observed_at_ms=now)
            records.append(self._inbound(user_key(self._cloud_id, user["accountId"]), data_user))
        for sprint in sprints:
            data_sprint = SprintObserved(space_id=self._space_id, cloud_id=self._cloud_id,
                                         origin="import", sprint=sprint, observed_at_ms=now)
            records.append(self._inbound(sprint_key(self._cloud_id, sprint["id"]), data_sprint))

        counts = {"projects": len(projects), "users": len(users), "sprints": len(sprints),
                  "issues": 0, "changelogs": 0, "comment_lists": 0}
        advanced = cursor.model_copy(update={
            "phase": ImportPhase.ISSUES,
            "catalogued": True,
            "project_ids": tuple(str(project["id"]) for project in projects),
            "project_index": 0,
            "page_token": None,
            "sprint_field_id": sprint_field,
            "epic_link_field_id": epic_link_field,
            "counts": counts,
            "updated_at_ms": now,
        })
        records.append(self._thread(
            "progress",
            f"Importing {len(projects)} projects, {len(users)} members and "
            f"{len(sprints)} sprints from Jira.",
            counts,
        ))
        await self._commit(records, advanced)
        return advanced

    async def _sprints(self) -> list[dict[str, Any]]:
        by_id: dict[str, dict[str, Any]] = {}
        for board in await self._client.boards():
            # Kanban boards have no sprints, and Jira returns an error for their sprint list.
            if str(board.get("type", "scrum")) != "scrum":
                continue
            for sprint in await self._client.sprints(board["id"]):
                by_id.setdefault(str(sprint["id"]), sprint)
        return [by_id[key] for key in sorted(by_id, key=int)]

    # --- issues -----------------------------------------------------------------------

    async def _import_issues(self, cursor: ImportCursor) -> ImportCursor:
        fields = [*ISSUE_FIELDS]
        fields += [f for f in (cursor.sprint_field_id, cursor.epic_link_field_id) if f]
        pages = 0
        if cursor.phase is ImportPhase.PARTIAL:
            cursor = cursor.model_copy(update={"phase": ImportPhase.ISSUES, "reason": None})

        while cursor.project_index < len(cursor.project_ids):
            project_id = cursor.project_ids[cursor.project_index]
            # Resuming bounds the query by the last committed id instead of reusing a
            # page token, because Jira expires tokens and they belong to one walk.
            jql = f"project = {project_id} ORDER BY id ASC"
            if cursor.last_issue_id is not None:
                jql = f"project = {project_id} AND id > {cursor.last_issue_id} ORDER BY id ASC"
            walk = _prefetched(self._client.search_jql(
                jql, fields, expand="changelog", max_results=self._page_size,
            ))
            async with contextlib.aclosing(walk) as prefetched:
                async for page in prefetched:
                    pages += 1
                    cursor = await self._import_page(page, cursor, project_id, pages)

        if cursor.phase is not ImportPhase.DONE:
            # No projects at all, or a resumed run whose last page was already committed.
            cursor = cursor.model_copy(update={"phase": ImportPhase.DONE,
                                               "updated_at_ms": self._clock_ms()})
            await self._commit([self._thread(
                "completed", f"Jira import finished: {cursor.counts.get('issues', 0)} issues.",
                dict(cursor.counts),
            )], cursor)
        logger.info("import done space_id=%s cloud_id=%s counts=%s",
                    self._space_id, self._cloud_id, cursor.counts)
        return cursor

    async def _import_page(
        self, page: Page, cursor: ImportCursor, project_id: str, page_number: int
    ) -> ImportCursor:
        """Publish one page's issues and the cursor past them; return that cursor."""
        records: list[Record] = []
        for issue in page.issues:
            records.extend(await self._issue_records(issue, cursor))

        counts = dict(cursor.counts)
        counts["issues"] = counts.get("issues", 0) + len(page.issues)
        counts["changelogs"] = counts.get("changelogs", 0) + sum(
            1 for _, _, e in records if e.type == "jira.changelog.observed")
        counts["comment_lists"] = counts.get("comment_lists", 0) + sum(
            1 for _, _, e in records if e.type == "jira.comments.observed")

        if page.is_last:
            update: dict[str, Any] = {"project_index": cursor.project_index + 1,
                                      "last_issue_id": None, "page_token": None}
        else:
            update = {"page_token": page.next_page_token}
            if page.issues:
                update["last_issue_id"] = max(int(i["id"]) for i in page.issues)
        done = page.is_last and cursor.project_index + 1 >= len(cursor.project_ids)
        if done:
            update["phase"] = ImportPhase.DONE
        cursor = cursor.model_copy(
            update={**update, "counts": counts, "updated_at_ms": self._clock_ms()}
        )

        if done:
            records.append(self._thread(
                "completed",
                f"Jira import finished: {counts['issues']} issues in "
                f"{counts.get('projects', 0)} projects.",
                counts,
            ))
        elif page_number % PROGRESS_EVERY_PAGES == 0:
            records.append(self._thread(
                "progress", f"Imported {counts['issues']} issues so far.", counts
            ))
        await self._commit(records, cursor)
        IMPORTED_ISSUES.inc(len(page.issues))
        logger.debug("import page committed space_id=%s cloud_id=%s project_id=%s "
                     "issues=%d total=%d", self._space_id, self._cloud_id, project_id,
                     len(page.issues), counts["issues"])
        return cursor

    async def _issue_records(self, issue: dict[str, Any], cursor: ImportCursor) -> list[Record]:
        issue_id = str(issue["id"])
        key = issue_key(self._cloud_id, issue_id)
        now = self._clock_ms()
        updated = str((issue.get("fields") or {}).get("updated", ""))
        observed = IssueObserved(
            space_id=self._space_id, cloud_id=self._cloud_id, origin="import", issue=issue,
            sprint_field_id=cursor.sprint_field_id,
            epic_link_field_id=cursor.epic_link_field_id, observed_at_ms=now,
        )
        records = [self._inbound(key, observed, stable=f"issue/{issue_id}/{updated}")]

        changelog = issue.get("changelog")
        if _is_capped(changelog, "histories"):
            histories = await self._client.changelog(issue_id)
            records.append(self._inbound(key, ChangelogObserved(
                space_id=self._space_id, cloud_id=self._cloud_id, origin="import",
                issue_id=issue_id, histories=histories, observed_at_ms=now,
            ), stable=f"changelog/{issue_id}/{updated}"))

        comment = (issue.get("fields") or {}).get("comment")
        if _is_capped(comment, "comments"):
            comments = await self._client.comments(issue_id)
            records.append(self._inbound(key, CommentsObserved(
                space_id=self._space_id, cloud_id=self._cloud_id, origin="import",
                issue_id=issue_id, comments=comments, observed_at_ms=now,
            ), stable=f"comments/{issue_id}/{updated}"))
        return records

    # --- output -----------------------------------------------------------------------

    def _inbound(self, key: str, data: EventData, *, stable: str | None = None) -> Record:
        # A stable envelope id lets consumers drop the copy a second run publishes.
        event_id = None
        if stable is not None:
            event_id = str(uuid.uuid5(_NAMESPACE, f"{self._space_id}/{self._cloud_id}/{stable}"))
        return self._topics.inbound, key, observation_envelope(data, subject=key,
                                                               event_id=event_id)

    def _thread(self, kind: Any, text: str, counts: dict[str, int]) -> Record:
        message = ThreadMessagePosted(space_id=self._space_id, kind=kind, text=text,
                                      counts=counts, details={"cloud_id": self._cloud_id})
        envelope = make(message, source=SOURCE, subject=self._space_id)
        return self._topics.threads, self._space_id, envelope

    async def _commit(self, records: list[Record], cursor: ImportCursor) -> None:
        """Publish a page's records and the cursor past it in one transaction."""
        by_topic: dict[str, list[tuple[str, Envelope]]] = {}
        for topic, key, envelope in records:
            by_topic.setdefault(topic, []).append((key, envelope))
        by_topic.setdefault(self._topics.connections, []).append(
            (cursor_key(self._space_id), cursor_envelope(cursor))
        )

        async with self._producer.transaction() as transaction:
            await transaction.send_encoded(
                (topic, key, encode(envelope))
                for topic, batch in by_topic.items()
                for key, envelope in batch
            )
        self._cursor = cursor

    async def _give_up(self, cursor: ImportCursor, exc: JiraError) -> ImportResult:
        reason = str(exc)
        logger.warning("import gave up space_id=%s cloud_id=%s project_index=%d: %s",
                       self._space_id, self._cloud_id, cursor.project_index, reason)
        partial = cursor.model_copy(update={"phase": ImportPhase.PARTIAL, "reason": reason,
                                            "updated_at_ms": self._clock_ms()})
        await self._commit([self._thread(
            "warning",
            f"The Jira import stopped early and is partial: {reason}. It resumes where it "
            "stopped on the next run.",
            dict(partial.counts),
        )], partial)
        return ImportResult(self._space_id, self._cloud_id, ImportPhase.PARTIAL,
                            dict(partial.counts), reason)

    def _result(self, cursor: ImportCursor) -> ImportResult:
        return ImportResult(self._space_id, self._cloud_id, cursor.phase, dict(cursor.counts),
                            cursor.reason)


async def _prefetched(pages: AsyncIterator[Page]) -> AsyncGenerator[Page, None]:
    """Yield ``pages`` while the next page is already being fetched.

    At most one page is fetched ahead, and never past the page marked last, so
    a run stopped between pages has read at most one page it did not publish.
    """
    ahead: asyncio.Task[Page | None] = asyncio.ensure_future(anext(pages, None))
    try:
        while True:
            page = await ahead
            if page is None:
                return
            if not page.is_last:
                ahead = asyncio.ensure_future(anext(pages, None))
            yield page
            if page.is_last:
                return
    finally:
        if not ahead.done():
            ahead.cancel()
        # Awaiting the task also retrieves the error of a fetch that is no longer used.
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await ahead
        aclose = getattr(pages, "aclose", None)
        if aclose is not None:
            await aclose()


def observation_envelope(data: EventData, *, subject: str, event_id: str | None) -> Envelope:
    """Wrap ``data`` as :func:`streams.codec.make` does, without serialising Jira's JSON again.

    ``make`` walks every value of ``data`` with pydantic's JSON serializer. The
    fields in ``_JIRA_JSON_FIELDS`` contain parsed JSON (dicts, lists, strings,
    numbers, booleans and None), which that walk returns unchanged, so they are
    copied by reference.
    """
    event_type = TYPE_OF[type(data)]
    raw_name = _JIRA_JSON_FIELDS.get(type(data))
    if raw_name is None:
        return make(data, source=SOURCE, subject=subject, event_id=event_id)

    dumped = data.model_dump(mode="json", exclude={raw_name})
    # Keeps the field order of make(), so the encoded bytes are the same.
    fields = {name: getattr(data, name) if name == raw_name else dumped[name]
              for name in type(data).model_fields}
    if event_id is None:
        return Envelope(source=SOURCE, type=event_type, subject=subject,
                        schemaversion=CURRENT_VERSION[event_type], data=fields)
    return Envelope(id=event_id, source=SOURCE, type=event_type, subject=subject,
                    schemaversion=CURRENT_VERSION[event_type], data=fields)


def field_of_type(fields: list[dict[str, Any]], custom_type: str) -> str | None:
    for field in fields:
        schema = field.get("schema") or {}
        if schema.get("custom") == custom_type:
            return str(field["id"])
    return None


def _is_capped(collection: Any, items_name: str) -> bool:
    if not isinstance(collection, dict):
        return False
    total = collection.get("total")
    items = collection.get(items_name) or []
    return isinstance(total, int) and total > len(items)
