"""In-memory stand-ins for the graph index and the producer, for reconciliation tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jira_sandbox.site import Site
from jira_sandbox.truth import truth
from reconcile.jiratime import parse_jira_time
from streams import codec
from streams.contract import IssueGone, IssueObserved, ProjectAccessLost, ProjectObserved
from streams.envelope import Envelope


@dataclass
class FakeGraph:
    """A graph index kept as plain dicts; webhooks and observations update it.

    Like the fold, it keeps an issue that Jira answered 404 for when the issue's
    project is access lost, and marks it instead of forgetting it.
    """

    versions: dict[str, int] = field(default_factory=dict)
    projects: dict[str, str] = field(default_factory=dict)
    project_set: set[str] = field(default_factory=set)
    lost_projects: set[str] = field(default_factory=set)
    lost_issues: set[str] = field(default_factory=set)

    def issue_versions(self, space_id: str, cloud_id: str) -> dict[str, int]:
        return dict(self.versions)

    def project_ids(self, space_id: str, cloud_id: str) -> set[str]:
        return self.project_set - self.lost_projects

    def issue_projects(self, space_id: str, cloud_id: str) -> dict[str, str]:
        return dict(self.projects)

    def access_lost_issue_ids(self, space_id: str, cloud_id: str) -> set[str]:
        return set(self.lost_issues)

    def observe(self, issue: dict[str, Any]) -> None:
        fields = issue.get("fields") or {}
        issue_id = str(issue["id"])
        self.versions[issue_id] = parse_jira_time(fields["updated"])
        project = fields.get("project")
        if isinstance(project, dict):
            self.projects[issue_id] = str(project["id"])
            self.project_set.add(str(project["id"]))
        self.lost_issues.discard(issue_id)

    def forget(self, issue_id: str) -> None:
        self.versions.pop(issue_id, None)
        self.projects.pop(issue_id, None)

    def apply(self, envelope: Envelope) -> None:
        data = codec.parse(envelope)
        if isinstance(data, IssueObserved):
            self.observe(data.issue)
        elif isinstance(data, IssueGone) and self.projects.get(data.issue_id) in self.lost_projects:
            self.lost_issues.add(data.issue_id)
        elif isinstance(data, IssueGone):
            self.forget(data.issue_id)
        elif isinstance(data, ProjectAccessLost):
            self.lost_projects.add(data.project_id)
        elif isinstance(data, ProjectObserved):
            self.lost_projects.discard(str(data.project["id"]))
            self.project_set.add(str(data.project["id"]))

    @classmethod
    def from_truth(cls, site: Site) -> FakeGraph:
        graph = cls()
        for entry in truth(site):
            graph.versions[entry["id"]] = parse_jira_time(entry["updated"])
            graph.projects[entry["id"]] = entry["project_id"]
        graph.project_set = {project.id for project in site.projects.values()}
        return graph


@dataclass
class Published:
    """Collects what a run publishes, as the producer would send it."""

    records: list[tuple[str, str, Envelope]] = field(default_factory=list)

    async def __call__(self, topic: str, key: str, envelope: Envelope) -> None:
        self.records.append((topic, key, envelope))

    def of_type(self, event_type: str) -> list[Envelope]:
        return [envelope for _, _, envelope in self.records if envelope.type == event_type]
