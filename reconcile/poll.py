"""The polling fallback: incremental ``updated`` windows while webhooks fail.

Jira reads JQL date literals in the API account's profile time zone at minute
precision, so a window written as wall-clock text skips or repeats issues. The
windows here are written in epoch milliseconds (``updated >= 1733300000000``),
which name one instant whatever the zone and across clock changes. Each window
starts ``overlap`` before the previous one ended, so an issue whose update
became searchable late is read again instead of lost; the repeats are removed
by (issue id, updated) with a bounded seen-set.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from reconcile.errors import InvalidSetting
from reconcile.jiratime import parse_jira_time
from reconcile.ports import JiraApi, Publish, SiteConnection
from reconcile.run import FETCH_FIELDS, SOURCE, SiteFields
from reconcile.shapes import issue_id_of, issues_of, updated_of
from streams import codec
from streams.contract import IssueObserved
from streams.topics import TopicNames, entity_key

logger = logging.getLogger(__name__)

DEFAULT_OVERLAP = timedelta(minutes=5)
DEFAULT_SEEN_MAX = 50_000


@dataclass(frozen=True)
class PollWindow:
    """Issues with ``start_ms <= updated`` are read; ``end_ms`` becomes the next checkpoint."""

    start_ms: int
    end_ms: int


def next_window(
    checkpoint_ms: int, now_ms: int, *, overlap: timedelta = DEFAULT_OVERLAP
) -> PollWindow:
    """Return the window after ``checkpoint_ms`` (the end of the last complete window).

    The window reaches back ``overlap`` before the checkpoint, and its end is
    ``now_ms`` but never before the checkpoint, so consecutive windows always
    overlap and never leave a gap, even when the clock steps back.
    """
    overlap_ms = int(overlap.total_seconds() * 1000)
    if overlap_ms < 0:
        raise InvalidSetting(f"poll overlap {overlap} is negative; use zero or more")

    return PollWindow(start_ms=checkpoint_ms - overlap_ms, end_ms=max(now_ms, checkpoint_ms))


def window_jql(window: PollWindow, project_ids: Sequence[str]) -> str:
    """Return bounded JQL for the issues of ``project_ids`` updated since the window start.

    No upper bound is written: an issue updated after ``end_ms`` is read now and
    again in the next window, where the seen-set drops the repeat.
    """
    if not project_ids:
        raise InvalidSetting("a poll needs at least one project id, because JQL must be bounded")
    projects = ", ".join(sorted(set(project_ids)))
    return f"project in ({projects}) AND updated >= {window.start_ms} ORDER BY updated ASC, id ASC"


class SeenSet:
    """The (issue id, updated) pairs already published, bounded in size.

    Pairs older than the current window start can never be returned again, so
    :meth:`forget_before` drops them; ``max_size`` caps memory when one window
    holds more than that many updates, dropping the oldest insertions first.
    """

    def __init__(self, max_size: int = DEFAULT_SEEN_MAX) -> None:
        if max_size < 1:
            raise InvalidSetting(f"seen-set size {max_size} is invalid; use 1 or more")
        self.max_size = max_size
        self._pairs: OrderedDict[tuple[str, int], None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pairs)

    def __contains__(self, pair: object) -> bool:
        return pair in self._pairs

    def add(self, issue_id: str, updated_ms: int) -> bool:
        """Record the pair; return ``False`` when it was already seen."""
        pair = (issue_id, updated_ms)
        if pair in self._pairs:
            return False

        self._pairs[pair] = None
        while len(self._pairs) > self.max_size:
            self._pairs.popitem(last=False)
        return True

    def forget_before(self, start_ms: int) -> None:
        for pair in [pair for pair in self._pairs if pair[1] < start_ms]:
            del self._pairs[pair]


def should_poll(
    *,
    now_ms: int,
    last_delivery_ms: int | None,
    registration_failed: bool,
    silence: timedelta,
) -> bool:
    """Return whether webhooks look broken, so the site must be polled.

    They do when registering them failed, or when no delivery arrived for
    ``silence``. A quiet site also stays silent, so each poll of it costs one
    search request that returns nothing.
    """
    if registration_failed:
        return True
    if last_delivery_ms is None:
        return True
    return now_ms - last_delivery_ms >= int(silence.total_seconds() * 1000)


@dataclass(frozen=True)
class PollResult:
    window: PollWindow
    published: int
    repeats: int
    api_calls: int
    latest_updated_ms: int | None


async def poll_window(
    connection: SiteConnection,
    *,
    client: JiraApi,
    window: PollWindow,
    project_ids: Sequence[str],
    seen: SeenSet,
    publish: Publish,
    topics: TopicNames | None = None,
    site_fields: SiteFields | None = None,
) -> PollResult:
    """Read one window and publish each issue update not yet seen as ``IssueObserved(poll)``.

    The caller moves its checkpoint to ``window.end_ms`` only when this returns:
    a failed page raises, and the same window is read again next time.
    """
    cloud_id = connection.cloud_id
    if cloud_id is None:
        raise InvalidSetting(f"space {connection.space_id} has no Jira site to poll")
    names = topics if topics is not None else TopicNames()
    fields = site_fields if site_fields is not None else SiteFields()

    seen.forget_before(window.start_ms)
    published = repeats = calls = 0
    latest: int | None = None

    async for page in client.search_jql(window_jql(window, project_ids), FETCH_FIELDS):
        calls += 1
        for issue in issues_of(page):
            issue_id = issue_id_of(issue)
            updated_raw = updated_of(issue)
            updated_ms = parse_jira_time(updated_raw) if updated_raw is not None else 0
            latest = updated_ms if latest is None else max(latest, updated_ms)
            if not seen.add(issue_id, updated_ms):
                repeats += 1
                continue

            key = entity_key(cloud_id, issue_id)
            data = IssueObserved(
                space_id=connection.space_id,
                cloud_id=cloud_id,
                origin="poll",
                issue=issue,
                sprint_field_id=fields.sprint_field_id,
                epic_link_field_id=fields.epic_link_field_id,
                observed_at_ms=int(time.time() * 1000),
            )
            await publish(names.inbound, key, codec.make(data, source=SOURCE, subject=key))
            published += 1

    logger.info(
        "poll window read space_id=%s cloud_id=%s start_ms=%d end_ms=%d published=%d repeats=%d",
        connection.space_id,
        cloud_id,
        window.start_ms,
        window.end_ms,
        published,
        repeats,
    )
    return PollResult(window, published, repeats, max(calls, 1), latest)
