"""The importer pages comments and changelogs past the 20 items Jira embeds in a search result,
and the fold accepts those observations without changing the graph."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from ingest_support import read_topic

from ingest.import_cursor import ImportPhase, load_cursor
from ingest.importer import ISSUE_FIELDS, Importer
from ingest.worker import import_transactional_id
from jira_sandbox import adf, render
from jira_sandbox.app import create_app
from jira_sandbox.generator import build_world
from jira_sandbox.model import IssueRecord
from jira_sandbox.site import Site
from jiraclient.client import JiraClient
from projections.fold import fold
from streams.codec import make
from streams.contract import ChangelogObserved, CommentsObserved, IssueObserved
from streams.envelope import Envelope
from streams.producer import Producer
from streams.settings import Settings as StreamsSettings
from streams.topics import TopicNames

SANDBOX_URL = "http://sandbox.test"
SPACE_ID = "space-collections"
SCOPES = ["read:jira-work", "read:jira-user", "read:sprint:jira-software",
          "read:board-scope:jira-software", "read:project:jira"]
BUSY_COMMENTS = 25
BUSY_EDITS = 22
QUIET_COMMENTS = 3
# Smaller than both collections, so the importer has to follow more than one page of each.
COLLECTION_PAGE_SIZE = 10
# Jira Cloud embeds at most this many comments and changelog entries in a search result.
EMBEDDED_LIMIT = 20


@dataclass(frozen=True)
class Imported:
    site: Site
    busy: IssueRecord
    quiet: IssueRecord
    inbound: list[tuple[str, Envelope]]

    def of_type(self, event_type: str) -> list[Envelope]:
        return [envelope for _, envelope in self.inbound if envelope.type == event_type]


def _comment(index: int) -> dict[str, object]:
    return adf.doc(adf.paragraph(adf.text(f"Comment number {index}")))


async def _import(bootstrap: str, names: TopicNames) -> Imported:
    world = build_world(5, sites=1, projects_per_site=1, issues=6, users=3, sprints_per_board=1)
    app = create_app(world, auto_consent=True)
    site = next(iter(world.sites.values()))
    busy, quiet = sorted(site.live_issues(), key=lambda issue: issue.id)[:2]

    for index in range(BUSY_COMMENTS):
        site.add_comment(busy, _comment(index))
    for index in range(BUSY_EDITS):
        site.edit_issue(busy, summary=f"Summary revision {index}")
    for index in range(QUIET_COMMENTS):
        site.add_comment(quiet, _comment(index))

    assert world.oauth is not None
    oauth = world.oauth

    async def tokens(stale: str | None = None) -> str:
        return oauth.mint_for_tests(site.app_account_id, SCOPES).access_token

    producer = Producer(StreamsSettings.from_env({"KAFKA_BOOTSTRAP_SERVERS": bootstrap}),
                        transactional_id=import_transactional_id(SPACE_ID, names.prefix))
    async with (
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=SANDBOX_URL) as http,
        producer,
    ):
        client = JiraClient(site.cloud_id, tokens=tokens, http=http, api_url=SANDBOX_URL,
                            page_size=COLLECTION_PAGE_SIZE)
        # A broker that has just created the topics may still be electing partition
        # leaders; an import that gave up then resumes from its cursor, as a restarted
        # worker does.
        for _ in range(3):
            cursor = await load_cursor(bootstrap, names.connections, SPACE_ID)
            importer = Importer(space_id=SPACE_ID, cloud_id=site.cloud_id, client=client,
                                producer=producer, topics=names, cursor=cursor)
            result = await importer.run()
            if result.phase is ImportPhase.DONE:
                break
        assert result.phase is ImportPhase.DONE, result.reason

    inbound = await read_topic(bootstrap, names.inbound)
    return Imported(site, busy, quiet, inbound)


@pytest.fixture
async def imported(kafka_bootstrap: str, topic_names: TopicNames) -> Imported:
    return await _import(kafka_bootstrap, topic_names)


async def test_comments_paged_in_full(imported: Imported) -> None:
    busy_id = str(imported.busy.id)
    records = [e for e in imported.of_type("jira.comments.observed")
               if e.data["issue_id"] == busy_id]

    assert len(records) == 1
    comment_ids = [str(comment["id"]) for comment in records[0].data["comments"]]
    assert len(imported.busy.comments) >= BUSY_COMMENTS
    assert comment_ids == [str(comment.id) for comment in imported.busy.comments]


async def test_changelog_paged_in_full(imported: Imported) -> None:
    busy_id = str(imported.busy.id)
    records = [e for e in imported.of_type("jira.changelog.observed")
               if e.data["issue_id"] == busy_id]

    assert len(records) == 1
    history_ids = [str(history["id"]) for history in records[0].data["histories"]]
    assert len(imported.busy.histories) > EMBEDDED_LIMIT
    assert history_ids == [str(history.id) for history in imported.busy.histories]


async def test_collections_keyed_by_issue(imported: Imported) -> None:
    keys = {key for key, envelope in imported.inbound
            if envelope.type in ("jira.comments.observed", "jira.changelog.observed")
            and envelope.data["issue_id"] == str(imported.busy.id)}
    issue_keys = {key for key, envelope in imported.inbound
                  if envelope.type == "jira.issue.observed"
                  and envelope.data["issue"]["id"] == str(imported.busy.id)}

    assert len(issue_keys) == 1
    assert keys == issue_keys


async def test_collections_only_past_cap(imported: Imported) -> None:
    live = list(imported.site.live_issues())
    past_comment_cap = sorted(str(i.id) for i in live if len(i.comments) > EMBEDDED_LIMIT)
    past_history_cap = sorted(str(i.id) for i in live if len(i.histories) > EMBEDDED_LIMIT)
    comment_ids = sorted(e.data["issue_id"] for e in imported.of_type("jira.comments.observed"))
    history_ids = sorted(e.data["issue_id"] for e in imported.of_type("jira.changelog.observed"))

    assert len(imported.quiet.comments) <= EMBEDDED_LIMIT
    assert str(imported.quiet.id) not in comment_ids
    assert comment_ids == past_comment_cap
    assert history_ids == past_history_cap


def test_fold_ignores_collections() -> None:
    world = build_world(5, sites=1, projects_per_site=1, issues=2, users=3, sprints_per_board=1)
    site = next(iter(world.sites.values()))
    issue = min(site.live_issues(), key=lambda record: record.id)
    for index in range(BUSY_COMMENTS):
        site.add_comment(issue, _comment(index))
    for index in range(BUSY_EDITS):
        site.edit_issue(issue, summary=f"Summary revision {index}")
    subject = f"{site.cloud_id}:{issue.id}"

    rendered = render.issue_v3(site, issue, "UTC", fields=list(ISSUE_FIELDS), expand=set())
    observed = make(IssueObserved(space_id=SPACE_ID, cloud_id=site.cloud_id, origin="import",
                                  issue=rendered, observed_at_ms=1),
                    source="test", subject=subject)
    comments = make(CommentsObserved(
        space_id=SPACE_ID, cloud_id=site.cloud_id, origin="import", issue_id=str(issue.id),
        comments=[render.comment(site, issue, record, "UTC") for record in issue.comments],
        observed_at_ms=2,
    ), source="test", subject=subject)
    changelog = make(ChangelogObserved(
        space_id=SPACE_ID, cloud_id=site.cloud_id, origin="import", issue_id=str(issue.id),
        histories=[render.history(site, record, "UTC") for record in issue.histories],
        observed_at_ms=3,
    ), source="test", subject=subject)

    first = fold(None, observed)
    after_comments = fold(first.state, comments)
    after_changelog = fold(after_comments.state, changelog)

    assert first.events != []
    assert after_comments.events == []
    assert after_changelog.events == []
    assert after_changelog.refetch == []
    assert after_changelog.state == first.state
