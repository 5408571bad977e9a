"""Real-shaped benchmark input, generated deterministically from a seed.

Issues come from the Jira sandbox's generator and are rendered as REST v3 with
every field (ADF descriptions, sprints, labels, changelogs), the same way
``jira_sandbox.generator.generate_issue_payloads`` renders them, but one at a
time so that 100,000 issues never sit in memory as dicts. Webhook bodies come
from real mutations of a sandbox site, turned into Jira's JSON by the sandbox's
payload builder.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import orjson

from jira_sandbox import render
from jira_sandbox.generator import build_world
from jira_sandbox.model import ChangeEvent, World
from jira_sandbox.site import Site
from jira_sandbox.webhooks import build_payload
from projections.fold import fold
from streams.codec import encode, make
from streams.contract import IssueObserved
from streams.envelope import Envelope
from streams.topics import entity_key

SPACE_ID = "bench-space"
SOURCE = "naumu-jira/bench"
# A fixed observation time keeps the input identical between runs of one seed.
OBSERVED_AT_MS = 1_767_225_600_000
_NAMESPACE = uuid.UUID("5d0f8a8e-51b4-4c39-8d2e-6f7f3b1c9a40")


@dataclass(frozen=True)
class IssueSite:
    """The generated site the issues belong to, and the facts envelopes need about it."""

    world: World
    site: Site
    time_zone: str

    @property
    def cloud_id(self) -> str:
        return self.site.cloud_id


def issue_site(seed: int, issues: int, *, projects: int = 3) -> IssueSite:
    """Build the one-site world that ``generate_issue_payloads(seed, issues)`` renders."""
    world = build_world(
        seed, sites=1, projects_per_site=projects, issues=issues, users=12, sprints_per_board=4
    )
    site = next(iter(world.sites.values()))
    time_zone = world.accounts[site.app_account_id].time_zone
    return IssueSite(world, site, time_zone)


def issue_payloads(source: IssueSite, limit: int | None = None) -> Iterator[dict[str, Any]]:
    """Yield the site's issues as REST v3 payloads with every field, in id order."""
    for index, issue in enumerate(source.site.live_issues()):
        if limit is not None and index >= limit:
            return
        yield render.issue_v3(source.site, issue, source.time_zone, fields=["*all"], expand=set())


@dataclass(frozen=True)
class KeyedRecord:
    """One encoded record ready to produce: its key and its CloudEvents bytes."""

    key: str
    value: bytes


def observed_envelope(source: IssueSite, issue: dict[str, Any], index: int) -> Envelope:
    """Wrap an issue as the importer does: ``IssueObserved(origin="import")``."""
    key = entity_key(source.cloud_id, str(issue["id"]))
    data = IssueObserved(
        space_id=SPACE_ID,
        cloud_id=source.cloud_id,
        origin="import",
        issue=issue,
        sprint_field_id=source.site.sprint_field_id,
        observed_at_ms=OBSERVED_AT_MS,
    )
    event_id = str(uuid.uuid5(_NAMESPACE, f"observed/{source.cloud_id}/{issue['id']}/{index}"))
    return make(data, source=SOURCE, subject=key, event_id=event_id)


def domain_events(source: IssueSite, observed: Envelope) -> list[KeyedRecord]:
    """Fold one observation on an empty state and return the ``jira.events`` records."""
    result = fold(None, observed)
    records = []
    for position, event in enumerate(result.events):
        event_id = str(uuid.uuid5(_NAMESPACE, f"event/{observed.id}/{position}"))
        envelope = make(event, source=SOURCE, subject=observed.subject, event_id=event_id)
        records.append(KeyedRecord(observed.subject, encode(envelope)))
    return records


@dataclass(frozen=True)
class IssueInput:
    """One issue as both inputs the benchmarks need: its observation and its fold output."""

    observed: KeyedRecord
    events: list[KeyedRecord]


def issue_inputs(source: IssueSite, limit: int | None = None) -> Iterator[IssueInput]:
    """Yield every issue's ``jira.inbound`` record and its ``jira.events`` records."""
    for index, issue in enumerate(issue_payloads(source, limit)):
        observed = observed_envelope(source, issue, index)
        yield IssueInput(
            KeyedRecord(observed.subject, encode(observed)), domain_events(source, observed)
        )


# --- webhook bodies ----------------------------------------------------------------------


def webhook_bodies(seed: int, count: int, *, issues: int = 300) -> list[bytes]:
    """Return ``count`` ``jira:issue_updated`` bodies caused by edits of a generated site.

    Each body comes from a real site mutation (summary, labels, priority or
    assignee), so its shape, size and changelog are what Jira sends.
    """
    world = build_world(
        seed, sites=1, projects_per_site=3, issues=issues, users=12, sprints_per_board=4
    )
    site = next(iter(world.sites.values()))
    changes: list[ChangeEvent] = []
    site.add_listener(changes.append)

    rng = random.Random(f"bench-webhooks:{seed}")
    live = list(site.live_issues())
    priorities = sorted(site.priorities)
    # Only accounts Jira already assigns issues to are assignable.
    members = sorted({issue.assignee_id for issue in live if issue.assignee_id})
    labels = ("backend", "frontend", "bench", "triage", "customer", "regression")

    attempt = 0
    while len(changes) < count:
        attempt += 1
        issue = live[rng.randrange(len(live))]
        choice = attempt % 4
        if choice == 0:
            site.edit_issue(issue, summary=f"{issue.summary.split(' #')[0]} #{attempt}")
        elif choice == 1:
            site.edit_issue(issue, labels=sorted(rng.sample(labels, rng.randint(1, 3))))
        elif choice == 2:
            site.edit_issue(issue, priority_id=priorities[rng.randrange(len(priorities))])
        else:
            site.edit_issue(issue, assignee_id=members[rng.randrange(len(members))])

    return [orjson.dumps(build_payload(change)) for change in changes[:count]]


def webhook_issue_id(body: bytes) -> str:
    """Return the issue id a webhook body names (the record key's entity id)."""
    payload: dict[str, Any] = orjson.loads(body)
    return str(payload["issue"]["id"])
