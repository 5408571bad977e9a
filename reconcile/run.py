"""One reconciliation run for one connection: census, compare, repair by observation.

The steps, in order:

1. list the projects the account can see; projects the graph has and Jira no
   longer shows are *access lost* (their nodes stay), new ones are observed;
2. take the id census of the visible projects and compare it with the graph;
3. fetch missing and stale issues again in bulk and publish them as observed;
4. fetch each extra issue on its own: a 404 confirms the deletion
   (``IssueGone``), an answer means the issue is still there (observed again);
5. fetch each issue of a project out of the account's view on its own, once:
   its 404 is published as ``IssueGone`` too, and the fold, whose context lists
   the project as out of view, marks the node access lost instead of deleting it.

Every repair is an observation on ``jira.inbound``; the fold turns it into
domain events like any webhook, so the graph is never written here. Beyond the
census, the requests grow with the number of differing issues, not with the
size of the site.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ingest.entities import issue_key, project_key
from jiraclient.errors import JiraNotFound
from reconcile.census import take_census
from reconcile.counting import CountingClient
from reconcile.drift import Drift, DriftReport, compare
from reconcile.errors import ConnectionNotReady
from reconcile.ports import GraphIndex, JiraApi, Publish, SiteConnection
from reconcile.shapes import as_dict, issue_id_of, issues_of, items_of
from streams import codec
from streams.contract import (
    EventData,
    IssueGone,
    IssueObserved,
    ProjectAccessLost,
    ProjectObserved,
)
from streams.errors import SyncError
from streams.topics import TopicNames

logger = logging.getLogger(__name__)

SOURCE = "naumu-jira/reconcile"

# bulkfetch takes at most 100 ids or keys per request.
BULKFETCH_MAX_IDS = 100

# The fold reads the whole issue, as an import or a refetch returns it.
FETCH_FIELDS = ("*all",)


@dataclass(frozen=True)
class SiteFields:
    """Site-specific custom field ids the fold needs to read an observed issue."""

    sprint_field_id: str | None = None
    epic_link_field_id: str | None = None


@dataclass
class _Run:
    """Mutable bookkeeping of one run; turned into a frozen report at the end."""

    connection_space_id: str
    cloud_id: str
    client: CountingClient
    publish: Publish
    topics: TopicNames
    site_fields: SiteFields
    dry_run: bool
    run_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    published: int = 0

    async def emit(self, key: str, data: EventData) -> None:
        """Publish an observation under its record key, ``issue_key`` or ``project_key``."""
        if self.dry_run:
            return

        envelope = codec.make(data, source=SOURCE, subject=key)
        await self.publish(self.topics.inbound, key, envelope)
        self.published += 1

    async def observe_issue(self, issue: dict[str, Any]) -> None:
        await self.emit(
            issue_key(self.cloud_id, issue_id_of(issue)),
            IssueObserved(
                space_id=self.connection_space_id,
                cloud_id=self.cloud_id,
                origin="reconcile",
                issue=issue,
                sprint_field_id=self.site_fields.sprint_field_id,
                epic_link_field_id=self.site_fields.epic_link_field_id,
                observed_at_ms=_now_ms(),
            ),
        )


async def reconcile(
    connection: SiteConnection,
    *,
    client: JiraApi,
    graph: GraphIndex,
    publish: Publish,
    dry_run: bool = False,
    topics: TopicNames | None = None,
    site_fields: SiteFields | None = None,
) -> DriftReport:
    """Compare the connection's site with the graph and publish the observations that repair it.

    With ``dry_run`` the run still reads Jira (the census and the checks of
    extra issues) but publishes nothing. A Jira error stops the run and the
    report comes back with ``partial`` set; an error during the census stops it
    before any repair, because an incomplete census cannot tell deletions apart.
    Raises ConnectionNotReady when the connection has no site yet.
    """
    cloud_id = connection.cloud_id
    space_id = connection.space_id
    if cloud_id is None:
        raise ConnectionNotReady(
            f"space {space_id} has no Jira site chosen yet; choose a site before reconciling"
        )

    counting = client if isinstance(client, CountingClient) else CountingClient(client)
    calls_before = counting.calls
    run = _Run(
        connection_space_id=space_id,
        cloud_id=cloud_id,
        client=counting,
        publish=publish,
        topics=topics if topics is not None else TopicNames(),
        site_fields=site_fields if site_fields is not None else SiteFields(),
        dry_run=dry_run,
    )
    started = time.monotonic()
    started_at_ms = _now_ms()
    logger.info(
        "reconciliation started run_id=%s space_id=%s cloud_id=%s dry_run=%s",
        run.run_id,
        space_id,
        cloud_id,
        dry_run,
    )

    report = DriftReport(
        run_id=run.run_id,
        space_id=space_id,
        cloud_id=cloud_id,
        started_at_ms=started_at_ms,
        dry_run=dry_run,
    )
    try:
        report = await _reconcile(run, graph, report)
    except SyncError as exc:
        logger.warning(
            "reconciliation stopped early run_id=%s space_id=%s cloud_id=%s error=%s",
            run.run_id,
            space_id,
            cloud_id,
            exc,
        )
        report = report.model_copy(update={"partial": True, "error": str(exc)})

    report = report.model_copy(
        update={
            "repaired": run.published if not dry_run else 0,
            "api_calls": counting.calls - calls_before,
            "duration_s": round(time.monotonic() - started, 3),
        }
    )
    logger.info(
        "reconciliation finished run_id=%s space_id=%s cloud_id=%s missing=%d stale=%d "
        "extra=%d deleted=%d access_lost=%d repaired=%d api_calls=%d partial=%s",
        run.run_id,
        space_id,
        cloud_id,
        report.missing,
        report.stale,
        report.extra,
        report.deleted,
        report.access_lost,
        report.repaired,
        report.api_calls,
        report.partial,
    )
    return report


async def _reconcile(run: _Run, graph: GraphIndex, report: DriftReport) -> DriftReport:
    space_id, cloud_id, client = run.connection_space_id, run.cloud_id, run.client

    projects = [as_dict(project) for project in items_of(await client.projects())]
    visible = {str(project["id"]): project for project in projects}
    known_projects = graph.project_ids(space_id, cloud_id)
    lost = sorted(known_projects - visible.keys())
    found = sorted(visible.keys() - known_projects)
    report = report.model_copy(update={"access_lost": len(lost), "projects_found": len(found)})

    calls_before_census = client.calls
    census = await take_census(client, sorted(visible), cloud_id=cloud_id)
    report = report.model_copy(
        update={"census_size": len(census), "census_calls": client.calls - calls_before_census}
    )

    compared, out_of_view = _split_by_view(graph, space_id, cloud_id, visible.keys(), census)
    drift = compare(census, compared)
    report = report.model_copy(update=drift.counts())
    logger.info(
        "drift found run_id=%s space_id=%s cloud_id=%s census=%d missing=%d stale=%d extra=%d "
        "access_lost=%d out_of_view=%d",
        run.run_id,
        space_id,
        cloud_id,
        len(census),
        len(drift.missing),
        len(drift.stale),
        len(drift.extra),
        len(lost),
        len(out_of_view),
    )

    for project_id in lost:
        logger.info(
            "project access lost run_id=%s space_id=%s cloud_id=%s project_id=%s",
            run.run_id,
            space_id,
            cloud_id,
            project_id,
        )
        await run.emit(
            project_key(cloud_id, project_id),
            ProjectAccessLost(
                space_id=space_id,
                cloud_id=cloud_id,
                origin="reconcile",
                project_id=project_id,
                observed_at_ms=_now_ms(),
            ),
        )
    for project_id in found:
        await run.emit(
            project_key(cloud_id, project_id),
            ProjectObserved(
                space_id=space_id,
                cloud_id=cloud_id,
                origin="reconcile",
                project=visible[project_id],
                observed_at_ms=_now_ms(),
            ),
        )

    unreturned: list[str] = []
    if not run.dry_run:
        unreturned = await _refetch(run, drift)

    deleted, reappeared = await _confirm(run, sorted(drift.extra) + unreturned)
    hidden, moved = await _confirm(run, out_of_view, out_of_view=True)
    return report.model_copy(
        update={
            "deleted": deleted,
            "reappeared": reappeared + moved,
            "issues_access_lost": hidden,
        }
    )


def _split_by_view(
    graph: GraphIndex,
    space_id: str,
    cloud_id: str,
    visible_projects: Collection[str],
    census: Mapping[str, int],
) -> tuple[dict[str, int], list[str]]:
    """Return the graph versions to compare with the census, and the issues out of view.

    Jira returns 404 for the issues of a project the account can no longer see,
    as for deleted ones, so such issues are not compared. Those the graph has not
    marked access lost yet are returned to be confirmed one by one. An issue the
    census lists is always compared, because it moved into a visible project.
    A marked issue the census lists is left out, so it counts as missing and is
    fetched again, which clears the mark.
    """
    versions = graph.issue_versions(space_id, cloud_id)
    projects = graph.issue_projects(space_id, cloud_id)
    marked = graph.access_lost_issue_ids(space_id, cloud_id)
    compared: dict[str, int] = {}
    out_of_view: list[str] = []

    for issue_id, updated_ms in versions.items():
        project_id = projects.get(issue_id)
        listed = issue_id in census
        if project_id is not None and project_id not in visible_projects and not listed:
            if issue_id not in marked:
                out_of_view.append(issue_id)
            continue
        if issue_id in marked and listed:
            continue
        compared[issue_id] = updated_ms

    return compared, sorted(out_of_view, key=_numeric_first)


async def _refetch(run: _Run, drift: Drift) -> list[str]:
    """Fetch missing and stale issues in bulk and observe them; return ids Jira left out."""
    wanted = sorted(drift.to_fetch, key=_numeric_first)
    unreturned: list[str] = []

    for chunk in _chunks(wanted, BULKFETCH_MAX_IDS):
        result = await run.client.bulkfetch(chunk, FETCH_FIELDS)
        returned = set()
        for issue in issues_of(result):
            returned.add(issue_id_of(issue))
            await run.observe_issue(issue)
        # bulkfetch omits issues that were deleted or hidden since the census.
        unreturned.extend(issue_id for issue_id in chunk if issue_id not in returned)

    return unreturned


async def _confirm(
    run: _Run, issue_ids: Sequence[str], *, out_of_view: bool = False
) -> tuple[int, int]:
    """Fetch each issue on its own; return (returned 404, still present).

    Each 404 is published as ``IssueGone``. With ``out_of_view`` the issues
    belong to projects the account can no longer see, so the fold keeps their
    nodes and marks them access lost.

    NOTE: Jira returns 404 for hidden issues as for deleted ones, so an issue
    moved from a visible project into one the account cannot see is reported
    gone here, and the fold deletes its node.
    """
    deleted = 0
    present = 0

    for issue_id in issue_ids:
        try:
            issue = as_dict(await run.client.get_issue(issue_id))
        except JiraNotFound:
            deleted += 1
            logger.info(
                "issue returned 404 run_id=%s space_id=%s cloud_id=%s issue_id=%s "
                "out_of_view=%s",
                run.run_id,
                run.connection_space_id,
                run.cloud_id,
                issue_id,
                out_of_view,
            )
            await run.emit(
                issue_key(run.cloud_id, issue_id),
                IssueGone(
                    space_id=run.connection_space_id,
                    cloud_id=run.cloud_id,
                    origin="reconcile",
                    issue_id=issue_id,
                    observed_at_ms=_now_ms(),
                ),
            )
            continue

        present += 1
        logger.info(
            "issue outside the census still exists run_id=%s space_id=%s cloud_id=%s "
            "issue_id=%s key=%s",
            run.run_id,
            run.connection_space_id,
            run.cloud_id,
            issue_id,
            issue.get("key"),
        )
        await run.observe_issue(issue)

    return deleted, present


def _chunks(items: Sequence[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _numeric_first(value: str) -> tuple[int, str]:
    return (int(value), value) if value.isdigit() else (0, value)


def _now_ms() -> int:
    return int(time.time() * 1000)
