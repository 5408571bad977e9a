"""The ground truth of a site, for tests that compare a synced graph with Jira."""

from __future__ import annotations

from typing import Any

from jira_sandbox import render
from jira_sandbox.site import Site


def truth(site: Site, account_id: str | None = None) -> list[dict[str, Any]]:
    """Return one entry per live issue visible to the account, sorted by id.

    `account_id` defaults to the site's consenting account. Timestamps are ISO
    UTC with milliseconds and `Z`.
    """
    viewer = account_id if account_id is not None else site.app_account_id
    entries = []
    for issue in sorted(site.live_issues(), key=lambda item: item.id):
        if not site.is_visible(issue, viewer):
            continue
        project = site.projects[issue.project_id]
        parent = site.issues.get(issue.parent_id) if issue.parent_id is not None else None
        parent_kind = None
        if parent is not None:
            parent_kind = "subtask" if site.issue_types[issue.issue_type_id].subtask else "epic"
        entries.append(
            {
                "id": str(issue.id),
                "key": issue.key,
                "old_keys": list(issue.old_keys),
                "summary": issue.summary,
                "status": site.statuses[issue.status_id].name,
                "priority": site.priorities[issue.priority_id].name if issue.priority_id else None,
                "labels": sorted(issue.labels),
                "project": project.key,
                "project_id": project.id,
                "issuetype": site.issue_types[issue.issue_type_id].name,
                "sprint_ids": sorted(issue.sprint_ids),
                "assignee": issue.assignee_id,
                "parent": str(parent.id) if parent is not None else None,
                "parent_kind": parent_kind,
                "created": render.format_utc(issue.created_ms),
                "updated": render.format_utc(issue.updated_ms),
            }
        )
    return entries
