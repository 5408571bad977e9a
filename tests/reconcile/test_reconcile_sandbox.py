from __future__ import annotations

from dataclasses import dataclass

from reconcile_fakes import FakeGraph, Published

from ingest.entities import project_key
from ingest.webhook_plan import DEFAULT_WEBHOOKS
from jira_sandbox.faults import DroppedDelivery, FaultConfig
from jira_sandbox.model import ChangeEvent, World
from jira_sandbox.site import Site
from jira_sandbox.truth import truth
from jiraclient.client import JiraClient
from reconcile.jiratime import parse_jira_time
from reconcile.run import reconcile
from reconcile.settings import ReconcileTarget
from reconcile.webhooks import ensure_webhooks

# With this seed the dropped deliveries include deletions and the move.
LOSSY_SEED = 7


@dataclass(frozen=True)
class Expected:
    missing: int
    stale: int
    extra: int
    moved_id: str


def _truth_versions(site: Site) -> dict[str, int]:
    return {entry["id"]: parse_jira_time(entry["updated"]) for entry in truth(site)}


def _change_site(site: Site) -> str:
    """Edit, move, delete and create issues; return the moved issue's id."""
    issues = sorted(site.live_issues(), key=lambda issue: issue.id)
    top_level = [issue for issue in issues if not site.issue_types[issue.issue_type_id].subtask]
    projects = sorted(site.projects.values(), key=lambda project: project.id)

    for number, issue in enumerate(top_level[:15]):
        site.edit_issue(issue, summary=f"Edited while webhooks were lossy {number}")

    moving = top_level[15]
    target = next(project for project in projects if project.id != moving.project_id)
    site.move_issue(moving, target.key)

    for issue in top_level[16:24]:
        if not issue.deleted:
            site.delete_issue(issue)

    template = top_level[0]
    type_name = site.issue_types[template.issue_type_id].name
    for number in range(4):
        site.create_issue(
            project_key=site.projects[template.project_id].key,
            issue_type=type_name,
            summary=f"Created while webhooks were lossy {number}",
        )
    return str(moving.id)


def _expected_drift(
    events: list[ChangeEvent], dropped: list[DroppedDelivery], initial: set[str], moved_id: str
) -> Expected:
    # The graph misses an issue's state when the last delivery about it was dropped.
    lost = {(item.issue_id, item.webhook_event, item.timestamp_ms) for item in dropped}
    by_issue: dict[str, list[tuple[ChangeEvent, bool]]] = {}
    for event in events:
        if event.issue is None or not event.webhook_event.startswith("jira:issue_"):
            continue
        issue_id = str(event.issue["id"])
        was_dropped = (issue_id, event.webhook_event, event.timestamp_ms) in lost
        by_issue.setdefault(issue_id, []).append((event, was_dropped))

    missing = stale = extra = 0
    for issue_id, history in by_issue.items():
        last, last_dropped = history[-1]
        if not last_dropped:
            continue
        known = issue_id in initial or any(not dropped_ for _, dropped_ in history[:-1])
        if last.webhook_event == "jira:issue_deleted":
            extra += 1 if known else 0
        elif known:
            stale += 1
        else:
            missing += 1
    return Expected(missing=missing, stale=stale, extra=extra, moved_id=moved_id)


async def _lossy_changes(
    world: World, site: Site, jira: JiraClient, target: ReconcileTarget
) -> Expected:
    assert world.faults is not None
    assert world.webhooks is not None
    await ensure_webhooks(
        jira,
        url=target.webhook_url,
        wanted=DEFAULT_WEBHOOKS,
        now_ms=world.clock.peek_ms(),
        cloud_id=site.cloud_id,
    )
    initial = {entry["id"] for entry in truth(site)}
    events: list[ChangeEvent] = []
    site.add_listener(events.append)
    world.faults.set(site.cloud_id, FaultConfig(drop_rate=0.3, seed=LOSSY_SEED))

    moved_id = _change_site(site)
    await world.webhooks.drain()

    return _expected_drift(events, world.faults.dropped_for(site.cloud_id), initial, moved_id)


async def test_run_repairs_lost_webhooks(
    world, site, jira, graph: FakeGraph, published: Published, target
):
    expected = await _lossy_changes(world, site, jira, target)
    dropped = world.faults.dropped_for(site.cloud_id)

    report = await reconcile(target, client=jira, graph=graph, publish=published)
    for _, _, envelope in published.records:
        graph.apply(envelope)

    assert any(item.webhook_event == "jira:issue_deleted" for item in dropped)
    assert any(item.issue_id == expected.moved_id for item in dropped)
    assert expected.missing + expected.stale + expected.extra > 0
    assert graph.versions == _truth_versions(site)
    assert report.missing == expected.missing
    assert report.stale == expected.stale
    assert report.extra == expected.extra
    assert report.deleted == expected.extra
    assert report.partial is False


async def test_run_publishes_to_inbound(world, site, jira, graph, published, target):
    await _lossy_changes(world, site, jira, target)

    report = await reconcile(target, client=jira, graph=graph, publish=published)

    assert {topic for topic, _, _ in published.records} == {"jira.inbound"}
    assert all(key.startswith(f"{site.cloud_id}:") for _, key, _ in published.records)
    assert report.repaired == len(published.records)


async def test_second_run_spends_census_only(world, site, jira, graph, published, target):
    await _lossy_changes(world, site, jira, target)
    first = await reconcile(target, client=jira, graph=graph, publish=published)
    for _, _, envelope in published.records:
        graph.apply(envelope)

    second = await reconcile(target, client=jira, graph=graph, publish=Published())

    assert first.drift_total > 0
    assert second.drift_total == 0
    assert second.repaired == 0
    assert second.api_calls == second.census_calls + 1


async def test_moved_issue_keeps_one_node(site, jira, graph, published, target):
    issue = sorted(site.live_issues(), key=lambda item: item.id)[0]
    other = next(project for project in site.projects.values() if project.id != issue.project_id)
    site.move_issue(issue, other.key)

    report = await reconcile(target, client=jira, graph=graph, publish=published)
    observed = published.of_type("jira.issue.observed")

    assert report.stale == 1
    assert report.missing == 0
    assert len(observed) == 1
    assert observed[0].data["issue"]["key"] == issue.key
    assert observed[0].data["origin"] == "reconcile"


async def test_hidden_project_access_lost(site, jira, graph, published, target):
    hidden = sorted(site.projects.values(), key=lambda project: project.id)[0]
    hidden_issues = {
        issue_id for issue_id, project in graph.projects.items() if project == hidden.id
    }
    site.hide_project(site.app_account_id, hidden.key)

    report = await reconcile(target, client=jira, graph=graph, publish=published)
    for _, _, envelope in published.records:
        graph.apply(envelope)
    lost = published.of_type("jira.project.access_lost")
    gone = {envelope.data["issue_id"] for envelope in published.of_type("jira.issue.gone")}

    assert report.access_lost == 1
    assert [envelope.data["project_id"] for envelope in lost] == [hidden.id]
    assert hidden_issues
    assert gone == hidden_issues
    assert report.issues_access_lost == len(hidden_issues)
    assert report.deleted == 0
    assert report.extra == 0
    assert hidden_issues <= graph.versions.keys()
    assert graph.lost_issues == hidden_issues


async def test_project_records_keyed_apart(site, jira, graph, published, target):
    hidden = sorted(site.projects.values(), key=lambda project: project.id)[0]
    site.hide_project(site.app_account_id, hidden.key)

    await reconcile(target, client=jira, graph=graph, publish=published)
    keys = [key for _, key, envelope in published.records
            if envelope.type == "jira.project.access_lost"]

    # Jira numbers projects and issues independently, so a bare id could be an issue's key.
    assert keys == [project_key(site.cloud_id, hidden.id)]


async def test_hidden_project_published_before_issues(site, jira, graph, published, target):
    hidden = sorted(site.projects.values(), key=lambda project: project.id)[0]
    site.hide_project(site.app_account_id, hidden.key)

    await reconcile(target, client=jira, graph=graph, publish=published)
    types = [envelope.type for _, _, envelope in published.records]

    assert types.index("jira.project.access_lost") < types.index("jira.issue.gone")


async def test_hidden_project_second_run_quiet(site, jira, graph, published, target):
    hidden = sorted(site.projects.values(), key=lambda project: project.id)[0]
    site.hide_project(site.app_account_id, hidden.key)
    await reconcile(target, client=jira, graph=graph, publish=published)
    for _, _, envelope in published.records:
        graph.apply(envelope)

    second_published = Published()
    second = await reconcile(target, client=jira, graph=graph, publish=second_published)

    assert second_published.records == []
    assert second.access_lost == 0
    assert second.issues_access_lost == 0
    assert second.drift_total == 0
    assert second.api_calls == second.census_calls + 1


async def test_unhidden_project_refetched(site, jira, graph, published, target):
    hidden = sorted(site.projects.values(), key=lambda project: project.id)[0]
    site.hide_project(site.app_account_id, hidden.key)
    await reconcile(target, client=jira, graph=graph, publish=published)
    for _, _, envelope in published.records:
        graph.apply(envelope)
    marked = set(graph.lost_issues)
    site.unhide_project(site.app_account_id, hidden.key)

    again = Published()
    report = await reconcile(target, client=jira, graph=graph, publish=again)
    for _, _, envelope in again.records:
        graph.apply(envelope)
    observed = {envelope.data["issue"]["id"] for envelope in again.of_type("jira.issue.observed")}

    assert marked
    assert report.projects_found == 1
    assert report.missing == len(marked)
    assert observed == marked
    assert graph.lost_issues == set()


async def test_dry_run_publishes_nothing(world, site, jira, graph, published, target):
    expected = await _lossy_changes(world, site, jira, target)

    report = await reconcile(target, client=jira, graph=graph, publish=published, dry_run=True)

    assert published.records == []
    assert report.dry_run is True
    assert report.repaired == 0
    assert (
        report.missing + report.stale + report.extra
        == expected.missing + expected.stale + expected.extra
    )


async def test_cost_grows_with_changes(site, jira, graph, published, target):
    issues = sorted(site.live_issues(), key=lambda item: item.id)
    for issue in issues[:3]:
        site.edit_issue(issue, summary="Changed behind the graph's back")
    graph.versions["999999"] = 1

    report = await reconcile(target, client=jira, graph=graph, publish=published)

    # One bulkfetch for the three stale issues, one lookup for the unknown id.
    assert report.api_calls == 1 + report.census_calls + 1 + 1
    assert report.stale == 3
    assert report.deleted == 1
