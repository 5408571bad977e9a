"""The refetcher: reads issues again through REST v3 when the fold asks for them.

Webhook bodies carry REST v2 (wiki text), so the fold requests the canonical
issue (ADF) with ``IssueRefetchRequested`` on ``jira.refetch``. The refetcher
collects requests for a few milliseconds, fetches each site's ids through
``bulkfetch`` (100 per request), and publishes ``IssueObserved(origin="refetch")``
to ``jira.inbound``. Bulkfetch leaves out ids it cannot return without an
error, so each missing id is read once more with ``GET issue``, and a 404
there confirms the deletion with ``IssueGone``.

Offsets are committed only after the observations were acknowledged, so a
crash repeats a batch rather than losing one; the fold absorbs the repeats.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from ingest.entities import issue_key
from ingest.importer import (
    EPIC_LINK_FIELD_TYPE,
    ISSUE_FIELDS,
    SPRINT_FIELD_TYPE,
    field_of_type,
)
from ingest.metrics import REFETCHED_ISSUES
from ingest.publisher import Publisher
from jiraclient.client import JiraClient
from jiraclient.errors import JiraNotFound
from streams.codec import data_of, decode, make
from streams.contract import IssueGone, IssueObserved, IssueRefetchRequested
from streams.errors import CodecError
from streams.topics import TopicNames

logger = logging.getLogger(__name__)

SOURCE = "naumu-jira/ingest/refetcher"
DEFAULT_GROUP_ID = "naumu-jira-refetcher"
MAX_BATCH = 100
MAX_WAIT_MS = 20

ClientFactory = Callable[[str, str], JiraClient | None]


@dataclass(frozen=True)
class FieldIds:
    sprint: str | None
    epic_link: str | None


class Refetcher:
    def __init__(
        self,
        *,
        producer: Publisher,
        topics: TopicNames,
        client_for: ClientFactory,
        bootstrap_servers: str | None = None,
        group_id: str = DEFAULT_GROUP_ID,
        max_batch: int = MAX_BATCH,
        max_wait_ms: int = MAX_WAIT_MS,
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
    ) -> None:
        self._producer = producer
        self._topics = topics
        self._client_for = client_for
        self._bootstrap_servers = bootstrap_servers
        self._group_id = group_id
        self._max_batch = max_batch
        self._max_wait_ms = max_wait_ms
        self._clock_ms = clock_ms
        self._field_ids: dict[str, FieldIds] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Join the consumer group on ``jira.refetch`` and process batches in the background."""
        if self._bootstrap_servers is None:
            raise ValueError("Refetcher.start needs bootstrap_servers; call refetch() directly")
        consumer = AIOKafkaConsumer(
            self._topics.refetch,
            bootstrap_servers=self._bootstrap_servers,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        await consumer.start()
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(consumer), name="refetcher")
        logger.info("refetcher started topic=%s group=%s", self._topics.refetch, self._group_id)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(
                timeout_ms=self._max_wait_ms, max_records=self._max_batch
            )
            if not batches:
                continue
            requests = [
                request
                for records in batches.values()
                for request in _requests_of(records)
            ]
            try:
                await self.refetch(requests)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Without a commit the batch is read again after the restart below.
                logger.exception("refetch batch failed requests=%d; retrying", len(requests))
                for tp, records in batches.items():
                    consumer.seek(tp, records[0].offset)
                await asyncio.sleep(1)
                continue
            await consumer.commit()

    async def refetch(self, requests: Iterable[IssueRefetchRequested]) -> dict[str, int]:
        """Fetch and publish the issues of ``requests``; return counts by outcome."""
        by_site: dict[tuple[str, str], list[str]] = {}
        for request in requests:
            ids = by_site.setdefault((request.space_id, request.cloud_id), [])
            if request.issue_id not in ids:
                ids.append(request.issue_id)

        counts = {"observed": 0, "gone": 0, "skipped": 0}
        for (space_id, cloud_id), issue_ids in by_site.items():
            client = self._client_for(space_id, cloud_id)
            if client is None:
                logger.info("refetch skipped, no active connection space_id=%s cloud_id=%s "
                            "issues=%d", space_id, cloud_id, len(issue_ids))
                counts["skipped"] += len(issue_ids)
                continue
            site_counts = await self._refetch_site(client, space_id, cloud_id, issue_ids)
            for outcome, number in site_counts.items():
                counts[outcome] += number
        return counts

    async def _refetch_site(
        self, client: JiraClient, space_id: str, cloud_id: str, issue_ids: Sequence[str]
    ) -> dict[str, int]:
        field_ids = await self._fields_of(client)
        fields = [*ISSUE_FIELDS, *(f for f in (field_ids.sprint, field_ids.epic_link) if f)]
        issues = await client.bulkfetch(issue_ids, fields)

        found = {str(issue["id"]) for issue in issues}
        gone: list[str] = []
        for issue_id in issue_ids:
            if issue_id in found:
                continue
            # Bulkfetch drops ids silently, so GET issue separates a deletion (404) from a hiccup.
            try:
                issues.append(await client.get_issue(issue_id, fields=fields))
            except JiraNotFound:
                gone.append(issue_id)

        now = self._clock_ms()
        records = []
        for issue in issues:
            observed = IssueObserved(
                space_id=space_id, cloud_id=cloud_id, origin="refetch", issue=issue,
                sprint_field_id=field_ids.sprint, epic_link_field_id=field_ids.epic_link,
                observed_at_ms=now,
            )
            key = issue_key(cloud_id, issue["id"])
            records.append((key, make(observed, source=SOURCE, subject=key)))
        for issue_id in gone:
            confirmed = IssueGone(space_id=space_id, cloud_id=cloud_id, origin="refetch",
                                  issue_id=issue_id, observed_at_ms=now)
            key = issue_key(cloud_id, issue_id)
            records.append((key, make(confirmed, source=SOURCE, subject=key)))

        for key, envelope in records:
            await self._producer.send(self._topics.inbound, key, envelope)
        REFETCHED_ISSUES.labels(outcome="observed").inc(len(issues))
        REFETCHED_ISSUES.labels(outcome="gone").inc(len(gone))
        logger.info("refetched space_id=%s cloud_id=%s observed=%d gone=%d",
                    space_id, cloud_id, len(issues), len(gone))
        return {"observed": len(issues), "gone": len(gone)}

    async def _fields_of(self, client: JiraClient) -> FieldIds:
        cached = self._field_ids.get(client.cloud_id)
        if cached is None:
            fields = await client.fields()
            cached = FieldIds(
                sprint=field_of_type(fields, SPRINT_FIELD_TYPE),
                epic_link=field_of_type(fields, EPIC_LINK_FIELD_TYPE),
            )
            self._field_ids[client.cloud_id] = cached
        return cached


def _requests_of(records: list[ConsumerRecord]) -> list[IssueRefetchRequested]:
    requests = []
    for record in records:
        try:
            requests.append(data_of(decode(record.value), IssueRefetchRequested))
        except CodecError as exc:
            logger.warning("skipped unreadable refetch request partition=%d offset=%d: %s",
                           record.partition, record.offset, exc)
    return requests

