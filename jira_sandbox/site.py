"""One Jira Cloud site: its catalogue, issues and sprints, and every mutation on them.

Each mutation records changelog histories and calls every listener with the
ChangeEvent(s) Jira would send for it. Mutations raise JiraApiError with a
Jira-shaped body when Jira would reject the same change.
"""

from __future__ import annotations

import logging
import re
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from jira_sandbox import adf, render
from jira_sandbox.clock import Clock
from jira_sandbox.model import (
    Board,
    ChangeEvent,
    Comment,
    History,
    IssueRecord,
    IssueType,
    JiraApiError,
    Priority,
    Project,
    Resolution,
    Sprint,
    Status,
    Transition,
    User,
    Workflow,
    issue_not_found,
)
from jira_sandbox.wiki import adf_to_wiki

logger = logging.getLogger(__name__)

Listener = Callable[[ChangeEvent], None]
SUMMARY_MAX_LENGTH = 255
_UNSET: Any = object()


class Site:
    """In-memory state of one Jira Cloud site, addressed by its cloud id."""

    def __init__(
        self,
        *,
        cloud_id: str,
        name: str,
        clock: Clock,
        app_account_id: str,
        sprint_field_id: str = "customfield_10020",
        epic_link_field_id: str = "customfield_10014",
        rank_field_id: str = "customfield_10019",
        description_seed_base: int = 0,
    ) -> None:
        self.cloud_id = cloud_id
        self.name = name
        self.url = f"https://{name}.atlassian.net"
        self.clock = clock
        self.app_account_id = app_account_id
        self.sprint_field_id = sprint_field_id
        self.epic_link_field_id = epic_link_field_id
        self.rank_field_id = rank_field_id
        self.description_seed_base = description_seed_base

        self.statuses: dict[str, Status] = {}
        self.workflows: dict[str, Workflow] = {}
        self.priorities: dict[str, Priority] = {}
        self.resolutions: dict[str, Resolution] = {}
        self.issue_types: dict[str, IssueType] = {}
        self.users: dict[str, User] = {}
        self.projects: dict[str, Project] = {}
        self.boards: dict[int, Board] = {}
        self.sprints: dict[int, Sprint] = {}
        self.issues: dict[int, IssueRecord] = {}
        # Upper-cased current and former keys to issue ids; moves keep old keys here.
        self.key_index: dict[str, int] = {}
        self.children: dict[int, list[int]] = {}
        # Project ids hidden from each account (the browse permission was removed).
        self.hidden_projects: dict[str, set[str]] = {}

        self.render_cache: dict[tuple[int, int, str], dict[str, Any]] = {}
        self.write_log: list[dict[str, Any]] = []
        self._listeners: list[Listener] = []
        self.next_issue_id = 10000
        self.next_history_id = 10000
        self.next_comment_id = 10000
        self.next_sprint_id = 1
        self.base_time_ms = clock.peek_ms()

    # Listeners and lookups

    def add_listener(self, callback: Listener) -> None:
        self._listeners.append(callback)

    def _emit(self, event: ChangeEvent) -> None:
        for callback in self._listeners:
            callback(event)

    @property
    def app_account(self) -> dict[str, Any]:
        """The v2 user object Jira shows for changes the OAuth app makes for its consenting user."""
        return self.users_v2(self.app_account_id)

    def users_v2(self, account_id: str) -> dict[str, Any]:
        return render.user(self, self.users[account_id], api=2)

    @property
    def webhook_time_zone(self) -> str:
        consenting = self.users.get(self.app_account_id)
        return consenting.time_zone if consenting is not None else "UTC"

    def wiki(self, document: dict[str, Any] | None) -> str:
        if document is None:
            return ""
        return adf_to_wiki(document) or ""

    def project_by_key_or_id(self, value: str) -> Project | None:
        requested = value.strip()
        for project in self.projects.values():
            if project.id == requested or project.key.upper() == requested.upper():
                return project
        for project in self.projects.values():
            if project.name.lower() == requested.lower():
                return project
        return None

    def find_issue(self, id_or_key: str) -> IssueRecord | None:
        """Return the live issue with this id, current key or former key (case-insensitive)."""
        value = id_or_key.strip()
        issue_id = int(value) if value.isdigit() else self.key_index.get(value.upper())
        if issue_id is None:
            return None
        issue = self.issues.get(issue_id)
        if issue is None or issue.deleted:
            return None
        return issue

    def is_visible(self, issue: IssueRecord, account_id: str | None) -> bool:
        if account_id is None:
            return True
        return issue.project_id not in self.hidden_projects.get(account_id, set())

    def visible_issue(self, id_or_key: str, account_id: str | None) -> IssueRecord:
        """Return the issue or raise the 404 Jira gives for missing and hidden issues alike."""
        issue = self.find_issue(id_or_key)
        if issue is None or not self.is_visible(issue, account_id):
            raise issue_not_found()
        return issue

    def live_issues(self) -> Iterator[IssueRecord]:
        return (issue for issue in self.issues.values() if not issue.deleted)

    def subtasks_of(self, issue: IssueRecord) -> list[IssueRecord]:
        result = []
        for child_id in self.children.get(issue.id, []):
            child = self.issues.get(child_id)
            if (
                child is not None
                and not child.deleted
                and self.issue_types[child.issue_type_id].subtask
            ):
                result.append(child)
        return result

    def description_of(self, issue: IssueRecord) -> dict[str, Any] | None:
        """Return the issue's ADF description, building a generated one on first read."""
        if issue.description is None and issue.description_seed is not None:
            mentionable = [
                (user.account_id, user.display_name)
                for user in list(self.users.values())[:12]
                if user.account_type == "atlassian"
            ]
            builder = adf.DocumentBuilder(
                self.description_seed_base + issue.description_seed,
                site_url=self.url,
                mentionable=mentionable,
                base_ms=issue.created_ms,
            )
            issue.description = builder.build()
            issue.description_seed = None
        return issue.description

    def workflow_of(self, issue: IssueRecord) -> Workflow:
        return self.workflows[self.projects[issue.project_id].workflow_id]

    def field_alias(self, name: str) -> str:
        lowered = name.lower()
        if lowered == "sprint":
            return self.sprint_field_id
        if lowered in {"epic link", "epiclink"}:
            return self.epic_link_field_id
        return name

    def field_name(self, field_id: str) -> str:
        names = {
            self.sprint_field_id: "Sprint",
            self.epic_link_field_id: "Epic Link",
            self.rank_field_id: "Rank",
            "issuetype": "Issue Type",
            "statuscategorychangedate": "Status Category Changed",
        }
        return names.get(field_id, field_id[:1].upper() + field_id[1:])

    def available_transitions(self, issue: IssueRecord) -> list[Transition]:
        return [
            transition
            for transition in self.workflow_of(issue).transitions
            if transition.available_from(issue.status_id)
        ]

    # Internal bookkeeping

    def allocate_issue_id(self) -> int:
        issue_id = self.next_issue_id
        self.next_issue_id += 1
        return issue_id

    def register_issue(self, issue: IssueRecord) -> None:
        self.issues[issue.id] = issue
        self.key_index[issue.key.upper()] = issue.id
        if issue.parent_id is not None:
            self.children.setdefault(issue.parent_id, []).append(issue.id)

    def _touch(self, issue: IssueRecord, now_ms: int) -> None:
        issue.updated_ms = max(now_ms, issue.updated_ms + 1)
        issue.version += 1

    def _record(
        self, issue: IssueRecord, author_id: str, now_ms: int, items: list[dict[str, Any]]
    ) -> History:
        entry = History(
            id=self.next_history_id, author_id=author_id, created_ms=now_ms, items=items
        )
        self.next_history_id += 1
        issue.histories.append(entry)
        return entry

    def _actor(self, actor_id: str | None) -> str:
        return actor_id if actor_id is not None else self.app_account_id

    def _issue_event(
        self,
        webhook_event: str,
        issue: IssueRecord,
        actor_id: str,
        now_ms: int,
        event_type: str | None,
        history: History | None,
    ) -> None:
        changelog = {"id": str(history.id), "items": history.items} if history is not None else None
        self._emit(
            ChangeEvent(
                cloud_id=self.cloud_id,
                webhook_event=webhook_event,
                timestamp_ms=now_ms,
                actor=self.users_v2(actor_id),
                issue_event_type_name=event_type,
                issue=render.issue_v2(self, issue, self.webhook_time_zone),
                changelog=changelog,
            )
        )

    def _user_item(self, field: str, old: str | None, new: str | None) -> dict[str, Any]:
        def name(account_id: str | None) -> str | None:
            return self.users[account_id].display_name if account_id else None

        return {
            "field": field,
            "fieldtype": "jira",
            "fieldId": field,
            "from": old,
            "fromString": name(old),
            "to": new,
            "toString": name(new),
            "tmpFromAccountId": old,
            "tmpToAccountId": new,
        }

    @staticmethod
    def _item(
        field: str,
        old: Any,
        old_string: Any,
        new: Any,
        new_string: Any,
        field_id: str | None = None,
    ) -> dict[str, Any]:
        item: dict[str, Any] = {"field": field, "fieldtype": "jira"}
        if field_id is not None:
            item["fieldId"] = field_id
        item.update({"from": old, "fromString": old_string, "to": new, "toString": new_string})
        return item

    # Validation shared by Python and REST mutations

    def check_summary(self, summary: object) -> str:
        if not isinstance(summary, str) or not summary.strip():
            raise JiraApiError(400, errors={"summary": "You must specify a summary of the issue."})
        if "\n" in summary or "\r" in summary:
            raise JiraApiError(
                400,
                errors={
                    "summary": "The summary is invalid because it contains newline characters."
                },
            )
        if len(summary) > SUMMARY_MAX_LENGTH:
            raise JiraApiError(400, errors={"summary": "Summary must be less than 255 characters."})
        return summary

    def check_labels(self, labels: Iterable[object]) -> list[str]:
        checked = []
        for label in labels:
            if not isinstance(label, str) or not label:
                raise JiraApiError(400, errors={"labels": "Labels must be non-empty strings."})
            if re.search(r"\s", label):
                raise JiraApiError(
                    400, errors={"labels": f"The label '{label}' contains spaces which is invalid."}
                )
            if len(label) > 255:
                raise JiraApiError(
                    400, errors={"labels": "The label must not exceed 255 characters."}
                )
            checked.append(label)
        return checked

    def check_priority(self, priority_id: object) -> str:
        if not isinstance(priority_id, str) or priority_id not in self.priorities:
            raise JiraApiError(
                400, errors={"priority": f"The priority selected is invalid: {priority_id!r}."}
            )
        return priority_id

    def check_assignee(self, account_id: str | None) -> str | None:
        if account_id is None:
            return None
        user = self.users.get(account_id)
        if user is None:
            raise JiraApiError(400, errors={"assignee": f"User '{account_id}' does not exist."})
        if not user.active:
            raise JiraApiError(
                400, errors={"assignee": f"User '{user.display_name}' cannot be assigned issues."}
            )
        return account_id

    # Issue mutations

    def create_issue(
        self,
        *,
        project_key: str,
        issue_type: str,
        summary: str,
        description: dict[str, Any] | None = None,
        priority_id: str | None = "3",
        labels: Iterable[str] = (),
        assignee_id: str | None = None,
        reporter_id: str | None = None,
        parent_id: int | None = None,
        sprint_id: int | None = None,
        actor_id: str | None = None,
    ) -> IssueRecord:
        """Create an issue and emit `jira:issue_created` with its creation changelog."""
        actor = self._actor(actor_id)
        project = self.project_by_key_or_id(project_key)
        if project is None:
            raise JiraApiError(400, errors={"project": f"Project '{project_key}' does not exist."})
        type_record = self._issue_type_in(project, issue_type)
        summary = self.check_summary(summary)
        checked_labels = self.check_labels(labels)
        if priority_id is not None:
            self.check_priority(priority_id)
        self.check_assignee(assignee_id)
        if type_record.subtask and parent_id is None:
            raise JiraApiError(400, errors={"parent": "Sub-tasks must have a parent issue."})

        now = self.clock.now_ms()
        workflow = self.workflows[project.workflow_id]
        issue = IssueRecord(
            id=self.allocate_issue_id(),
            key=f"{project.key}-{project.next_number}",
            project_id=project.id,
            issue_type_id=type_record.id,
            summary=summary,
            status_id=workflow.initial_status_id,
            reporter_id=reporter_id or actor,
            creator_id=actor,
            created_ms=now,
            updated_ms=now,
            status_changed_ms=now,
            priority_id=priority_id,
            assignee_id=assignee_id,
            parent_id=parent_id,
            labels=checked_labels,
            description=description,
            sprint_ids=[sprint_id] if sprint_id is not None else [],
        )
        project.next_number += 1
        self.register_issue(issue)

        status = self.statuses[issue.status_id]
        items = [self._user_item("assignee", None, assignee_id)] if assignee_id else []
        if description is not None:
            items.append(
                self._item("description", None, None, None, self.wiki(description), "description")
            )
        if priority_id is not None:
            items.append(
                self._item(
                    "priority",
                    None,
                    None,
                    priority_id,
                    self.priorities[priority_id].name,
                    "priority",
                )
            )
        items.append(self._user_item("reporter", None, issue.reporter_id))
        items.append(self._item("Status", None, None, status.id, status.name, "status"))
        items.append(self._item("summary", None, None, None, summary, "summary"))
        history = self._record(issue, actor, now, items)
        logger.info(
            "created issue cloud_id=%s issue_id=%s key=%s", self.cloud_id, issue.id, issue.key
        )
        self._issue_event("jira:issue_created", issue, actor, now, "issue_created", history)
        return issue

    def _issue_type_in(self, project: Project, name_or_id: str) -> IssueType:
        for type_id in project.issue_type_ids:
            record = self.issue_types[type_id]
            if record.id == name_or_id or record.name.lower() == name_or_id.lower():
                return record
        raise JiraApiError(
            400,
            errors={
                "issuetype": f"The issue type '{name_or_id}' is not valid in project {project.key}."
            },
        )

    def edit_issue(
        self,
        issue: IssueRecord,
        *,
        summary: str = _UNSET,
        description: dict[str, Any] | None = _UNSET,
        priority_id: str | None = _UNSET,
        labels: list[str] = _UNSET,
        assignee_id: str | None = _UNSET,
        parent_id: int | None = _UNSET,
        actor_id: str | None = None,
    ) -> History | None:
        """Apply field changes as one history and emit one `jira:issue_updated`.

        Fields left unset are untouched; a change to the current value records
        nothing, and an edit that changes nothing emits no event.
        """
        actor = self._actor(actor_id)
        items: list[dict[str, Any]] = []

        if summary is not _UNSET:
            summary = self.check_summary(summary)
            if summary != issue.summary:
                items.append(self._item("summary", None, issue.summary, None, summary, "summary"))
        if description is not _UNSET:
            old_description = self.description_of(issue)
            if description != old_description:
                items.append(
                    self._item(
                        "description",
                        None,
                        self.wiki(old_description) if old_description else None,
                        None,
                        self.wiki(description) if description else None,
                        "description",
                    )
                )
        if priority_id is not _UNSET:
            if priority_id is not None:
                self.check_priority(priority_id)
            if priority_id != issue.priority_id:
                items.append(
                    self._item(
                        "priority",
                        issue.priority_id,
                        self.priorities[issue.priority_id].name if issue.priority_id else None,
                        priority_id,
                        self.priorities[priority_id].name if priority_id else None,
                        "priority",
                    )
                )
        if labels is not _UNSET:
            labels = self.check_labels(labels)
            if sorted(labels) != sorted(issue.labels):
                items.append(
                    self._item(
                        "labels",
                        None,
                        " ".join(sorted(issue.labels)),
                        None,
                        " ".join(sorted(labels)),
                        "labels",
                    )
                )
        if assignee_id is not _UNSET:
            self.check_assignee(assignee_id)
            if assignee_id != issue.assignee_id:
                items.append(self._user_item("assignee", issue.assignee_id, assignee_id))
        if parent_id is not _UNSET and parent_id != issue.parent_id:
            items.append(self._parent_item(issue, parent_id))

        if not items:
            return None

        now = self.clock.now_ms()
        if summary is not _UNSET:
            issue.summary = summary
        if description is not _UNSET:
            issue.description = description
            issue.description_seed = None
        if priority_id is not _UNSET:
            issue.priority_id = priority_id
        if labels is not _UNSET:
            issue.labels = list(labels)
        if assignee_id is not _UNSET:
            issue.assignee_id = assignee_id
        if parent_id is not _UNSET and parent_id != issue.parent_id:
            self._reparent(issue, parent_id)
        self._touch(issue, now)
        history = self._record(issue, actor, now, items)

        only_assignee = all(item["field"] == "assignee" for item in items)
        event_type = "issue_assigned" if only_assignee else "issue_updated"
        logger.info(
            "edited issue cloud_id=%s issue_id=%s key=%s fields=%s",
            self.cloud_id,
            issue.id,
            issue.key,
            [item["field"] for item in items],
        )
        self._issue_event("jira:issue_updated", issue, actor, now, event_type, history)
        return history

    def _parent_item(self, issue: IssueRecord, parent_id: int | None) -> dict[str, Any]:
        if parent_id is not None:
            parent = self.issues.get(parent_id)
            if parent is None or parent.deleted:
                raise JiraApiError(
                    400, errors={"parent": f"Could not find issue by id or key: {parent_id}"}
                )
            own_level = self.issue_types[issue.issue_type_id].hierarchy_level
            parent_level = self.issue_types[parent.issue_type_id].hierarchy_level
            if parent_level != own_level + 1:
                raise JiraApiError(
                    400,
                    errors={"parent": f"Issue {parent.key} cannot be the parent of {issue.key}."},
                )
        old = self.issues.get(issue.parent_id) if issue.parent_id is not None else None
        new = self.issues.get(parent_id) if parent_id is not None else None
        return self._item(
            "IssueParentAssociation",
            str(old.id) if old else None,
            old.key if old else None,
            str(new.id) if new else None,
            new.key if new else None,
            "parent",
        )

    def _reparent(self, issue: IssueRecord, parent_id: int | None) -> None:
        if issue.parent_id is not None:
            siblings = self.children.get(issue.parent_id, [])
            if issue.id in siblings:
                siblings.remove(issue.id)
        issue.parent_id = parent_id
        if parent_id is not None:
            self.children.setdefault(parent_id, []).append(issue.id)

    def assign(
        self, issue: IssueRecord, account_id: str | None, *, actor_id: str | None = None
    ) -> History | None:
        return self.edit_issue(issue, assignee_id=account_id, actor_id=actor_id)

    def transition(
        self,
        issue: IssueRecord,
        transition_id: str,
        *,
        resolution_id: str | None = None,
        actor_id: str | None = None,
    ) -> History:
        """Run one workflow transition and emit `jira:issue_updated` with `issue_generic`."""
        actor = self._actor(actor_id)
        transition = next(
            (item for item in self.available_transitions(issue) if item.id == transition_id), None
        )
        if transition is None:
            raise JiraApiError(
                400,
                [f"Transition id '{transition_id}' is not valid for this issue."],
            )
        if transition.requires_resolution and resolution_id is None:
            raise JiraApiError(400, errors={"resolution": "Resolution is required."})
        if resolution_id is not None and resolution_id not in self.resolutions:
            raise JiraApiError(
                400, errors={"resolution": f"Resolution with id '{resolution_id}' does not exist."}
            )

        now = self.clock.now_ms()
        old_status = self.statuses[issue.status_id]
        new_status = self.statuses[transition.to_status_id]
        items: list[dict[str, Any]] = []
        new_resolution = resolution_id
        if new_status.category_key == "done" and new_resolution is None:
            new_resolution = issue.resolution_id or "10000"
        if new_status.category_key != "done":
            new_resolution = None
        if new_resolution != issue.resolution_id:
            old_name = self.resolutions[issue.resolution_id].name if issue.resolution_id else None
            new_name = self.resolutions[new_resolution].name if new_resolution else None
            items.append(
                self._item(
                    "resolution",
                    issue.resolution_id,
                    old_name,
                    new_resolution,
                    new_name,
                    "resolution",
                )
            )
        items.append(
            self._item(
                "status", old_status.id, old_status.name, new_status.id, new_status.name, "status"
            )
        )

        issue.status_id = new_status.id
        if old_status.category_key != new_status.category_key:
            issue.status_changed_ms = now
        if new_resolution != issue.resolution_id:
            issue.resolution_id = new_resolution
            issue.resolution_ms = now if new_resolution else None
        self._touch(issue, now)
        history = self._record(issue, actor, now, items)
        logger.info(
            "transitioned issue cloud_id=%s issue_id=%s key=%s status=%s",
            self.cloud_id,
            issue.id,
            issue.key,
            new_status.name,
        )
        self._issue_event("jira:issue_updated", issue, actor, now, "issue_generic", history)
        return history

    def transition_path(self, issue: IssueRecord, status_name_or_id: str) -> list[Transition]:
        """Return the shortest transition path to a status, raising when none exists."""
        workflow = self.workflow_of(issue)
        target = next(
            (
                status_id
                for status_id in workflow.status_ids
                if status_id == status_name_or_id
                or self.statuses[status_id].name.lower() == status_name_or_id.lower()
            ),
            None,
        )
        if target is None:
            raise JiraApiError(
                400, [f"Status '{status_name_or_id}' is not in workflow {workflow.name}."]
            )

        previous: dict[str, tuple[str, Transition] | None] = {issue.status_id: None}
        queue = deque([issue.status_id])
        while queue:
            current = queue.popleft()
            if current == target:
                break
            for transition in workflow.transitions:
                if transition.available_from(current) and transition.to_status_id not in previous:
                    previous[transition.to_status_id] = (current, transition)
                    queue.append(transition.to_status_id)
        if target not in previous:
            raise JiraApiError(
                400,
                [
                    f"No transition path from '{self.statuses[issue.status_id].name}' to "
                    f"'{self.statuses[target].name}' in workflow {workflow.name}."
                ],
            )

        path: list[Transition] = []
        step = previous[target]
        while step is not None:
            path.append(step[1])
            step = previous[step[0]]
        return list(reversed(path))

    def move_to_status(
        self,
        issue: IssueRecord,
        status_name_or_id: str,
        *,
        resolution_id: str | None = None,
        actor_id: str | None = None,
    ) -> list[History]:
        """Walk the shortest transition path, emitting one event per transition."""
        histories = []
        for transition in self.transition_path(issue, status_name_or_id):
            resolution = resolution_id or ("10000" if transition.requires_resolution else None)
            histories.append(
                self.transition(issue, transition.id, resolution_id=resolution, actor_id=actor_id)
            )
        return histories

    def move_issue(
        self, issue: IssueRecord, project_key: str, *, actor_id: str | None = None
    ) -> History:
        """Move an issue to another project: new key, same id, the old key stays resolvable."""
        actor = self._actor(actor_id)
        target = self.project_by_key_or_id(project_key)
        if target is None:
            raise JiraApiError(400, errors={"project": f"Project '{project_key}' does not exist."})
        if target.id == issue.project_id:
            raise JiraApiError(400, [f"Issue {issue.key} is already in project {target.key}."])

        source = self.projects[issue.project_id]
        old_type = self.issue_types[issue.issue_type_id]
        new_type = self._matching_type(target, old_type)
        old_workflow = self.workflows[source.workflow_id]
        new_workflow = self.workflows[target.workflow_id]
        old_status = self.statuses[issue.status_id]
        new_status = self._matching_status(new_workflow, old_status)

        now = self.clock.now_ms()
        old_key = issue.key
        new_key = f"{target.key}-{target.next_number}"
        target.next_number += 1
        items = [
            self._item("project", source.id, source.name, target.id, target.name, "project"),
        ]
        if new_type.id != old_type.id:
            items.append(
                self._item(
                    "issuetype", old_type.id, old_type.name, new_type.id, new_type.name, "issuetype"
                )
            )
        if new_status.id != old_status.id:
            items.append(
                self._item(
                    "status",
                    old_status.id,
                    old_status.name,
                    new_status.id,
                    new_status.name,
                    "status",
                )
            )
        if new_workflow.id != old_workflow.id:
            items.append(
                self._item(
                    "Workflow",
                    old_workflow.id,
                    old_workflow.name,
                    new_workflow.id,
                    new_workflow.name,
                )
            )
        items.append(self._item("Key", None, old_key, None, new_key))

        issue.old_keys.append(old_key)
        issue.key = new_key
        issue.project_id = target.id
        issue.issue_type_id = new_type.id
        if new_status.id != old_status.id:
            issue.status_id = new_status.id
            issue.status_changed_ms = now
        self.key_index[new_key.upper()] = issue.id
        self._touch(issue, now)
        history = self._record(issue, actor, now, items)
        logger.info(
            "moved issue cloud_id=%s issue_id=%s from=%s to=%s",
            self.cloud_id,
            issue.id,
            old_key,
            new_key,
        )
        self._issue_event("jira:issue_updated", issue, actor, now, "issue_moved", history)
        return history

    def _matching_type(self, project: Project, old: IssueType) -> IssueType:
        candidates = [self.issue_types[type_id] for type_id in project.issue_type_ids]
        for record in candidates:
            if record.name == old.name:
                return record
        for record in candidates:
            if record.hierarchy_level == old.hierarchy_level:
                return record
        return candidates[0]

    def _matching_status(self, workflow: Workflow, old: Status) -> Status:
        statuses = [self.statuses[status_id] for status_id in workflow.status_ids]
        for record in statuses:
            if record.name == old.name:
                return record
        for record in statuses:
            if record.category_key == old.category_key:
                return record
        return self.statuses[workflow.initial_status_id]

    def delete_issue(self, issue: IssueRecord, *, actor_id: str | None = None) -> None:
        """Delete an issue and its sub-tasks, each emitting `jira:issue_deleted` with its state."""
        actor = self._actor(actor_id)
        for child in self.subtasks_of(issue):
            self.delete_issue(child, actor_id=actor)

        now = self.clock.now_ms()
        rendered = render.issue_v2(self, issue, self.webhook_time_zone)
        issue.deleted = True
        issue.version += 1
        logger.info(
            "deleted issue cloud_id=%s issue_id=%s key=%s", self.cloud_id, issue.id, issue.key
        )
        self._emit(
            ChangeEvent(
                cloud_id=self.cloud_id,
                webhook_event="jira:issue_deleted",
                timestamp_ms=now,
                actor=self.users_v2(actor),
                issue=rendered,
            )
        )

    # Comments

    def add_comment(
        self, issue: IssueRecord, body: dict[str, Any], *, actor_id: str | None = None
    ) -> Comment:
        actor = self._actor(actor_id)
        now = self.clock.now_ms()
        record = Comment(
            id=self.next_comment_id,
            author_id=actor,
            body=body,
            created_ms=now,
            updated_ms=now,
            update_author_id=actor,
        )
        self.next_comment_id += 1
        issue.comments.append(record)
        self._touch(issue, now)
        self._comment_event("comment_created", issue, record, actor, now)
        return record

    def update_comment(
        self,
        issue: IssueRecord,
        comment_id: int,
        body: dict[str, Any],
        *,
        actor_id: str | None = None,
    ) -> Comment:
        actor = self._actor(actor_id)
        record = self._comment(issue, comment_id)
        now = self.clock.now_ms()
        record.body = body
        record.updated_ms = now
        record.update_author_id = actor
        self._touch(issue, now)
        self._comment_event("comment_updated", issue, record, actor, now)
        return record

    def delete_comment(
        self, issue: IssueRecord, comment_id: int, *, actor_id: str | None = None
    ) -> None:
        actor = self._actor(actor_id)
        record = self._comment(issue, comment_id)
        now = self.clock.now_ms()
        issue.comments.remove(record)
        self._touch(issue, now)
        self._comment_event("comment_deleted", issue, record, actor, now)

    def _comment(self, issue: IssueRecord, comment_id: int) -> Comment:
        for record in issue.comments:
            if record.id == comment_id:
                return record
        raise JiraApiError(404, [f"Can not find a comment for the id: {comment_id}."])

    def _comment_event(
        self, name: str, issue: IssueRecord, record: Comment, actor: str, now: int
    ) -> None:
        time_zone = self.webhook_time_zone
        self._emit(
            ChangeEvent(
                cloud_id=self.cloud_id,
                webhook_event=name,
                timestamp_ms=now,
                actor=self.users_v2(actor),
                issue=render.issue_v2_trimmed(self, issue, time_zone),
                comment=render.comment(self, issue, record, time_zone, api=2),
            )
        )

    # Sprints

    def create_sprint(self, board_id: int, name: str, *, goal: str | None = None) -> Sprint:
        if board_id not in self.boards:
            raise JiraApiError(400, errors={"originBoardId": f"Board {board_id} does not exist."})
        sprint = Sprint(
            id=self.next_sprint_id, name=name, state="future", board_id=board_id, goal=goal
        )
        self.next_sprint_id += 1
        self.sprints[sprint.id] = sprint
        self._sprint_event("sprint_created", sprint)
        return sprint

    def start_sprint(self, sprint_id: int, *, days: float = 14) -> Sprint:
        sprint = self._sprint(sprint_id)
        if sprint.state != "future":
            raise JiraApiError(
                400, [f"Sprint {sprint_id} is {sprint.state}; only a future sprint can start."]
            )
        old = render.sprint_agile(self, sprint)
        now = self.clock.now_ms()
        sprint.state = "active"
        sprint.start_ms = now
        sprint.end_ms = now + int(days * 86_400_000)
        self._sprint_event("sprint_updated", sprint, old)
        self._sprint_event("sprint_started", sprint)
        return sprint

    def close_sprint(self, sprint_id: int) -> Sprint:
        sprint = self._sprint(sprint_id)
        if sprint.state != "active":
            raise JiraApiError(
                400, [f"Sprint {sprint_id} is {sprint.state}; only an active sprint can close."]
            )
        old = render.sprint_agile(self, sprint)
        sprint.state = "closed"
        sprint.complete_ms = self.clock.now_ms()
        self._sprint_event("sprint_updated", sprint, old)
        self._sprint_event("sprint_closed", sprint)
        return sprint

    def delete_sprint(self, sprint_id: int) -> None:
        sprint = self._sprint(sprint_id)
        del self.sprints[sprint_id]
        for issue in self.live_issues():
            if sprint_id in issue.sprint_ids:
                issue.sprint_ids.remove(sprint_id)
                issue.version += 1
        self._sprint_event("sprint_deleted", sprint)

    def _sprint(self, sprint_id: int) -> Sprint:
        sprint = self.sprints.get(sprint_id)
        if sprint is None:
            raise JiraApiError(404, [f"Sprint with id {sprint_id} does not exist."])
        return sprint

    def _sprint_event(self, name: str, sprint: Sprint, old: dict[str, Any] | None = None) -> None:
        self._emit(
            ChangeEvent(
                cloud_id=self.cloud_id,
                webhook_event=name,
                timestamp_ms=self.clock.now_ms(),
                actor=self.app_account,
                issue_event_type_name=None,
                sprint=render.sprint_agile(self, sprint, include_self=name != "sprint_deleted"),
                old_sprint=old,
            )
        )

    def move_to_sprint(
        self, sprint_id: int, issues: Iterable[IssueRecord], *, actor_id: str | None = None
    ) -> None:
        """Make each issue a member of the sprint, leaving its earlier open sprint.

        Issues in closed sprints keep them, as Jira keeps completed sprints in
        the sprint field.
        """
        actor = self._actor(actor_id)
        sprint = self._sprint(sprint_id)
        if sprint.state == "closed":
            raise JiraApiError(400, [f"Issues cannot be moved to closed sprint {sprint_id}."])
        for issue in issues:
            if sprint_id in issue.sprint_ids:
                continue
            if self.issue_types[issue.issue_type_id].subtask:
                raise JiraApiError(
                    400,
                    [
                        f"Sub-task {issue.key} moves with its parent and cannot be moved to a "
                        "sprint."
                    ],
                )
            old_ids = list(issue.sprint_ids)
            kept = [
                other
                for other in old_ids
                if other in self.sprints and self.sprints[other].state == "closed"
            ]
            new_ids = [*kept, sprint_id]

            now = self.clock.now_ms()
            item = {
                "field": "Sprint",
                "fieldtype": "custom",
                "fieldId": self.sprint_field_id,
                "from": ", ".join(str(value) for value in old_ids),
                "fromString": ", ".join(
                    self.sprints[value].name for value in old_ids if value in self.sprints
                ),
                "to": ", ".join(str(value) for value in new_ids),
                "toString": ", ".join(self.sprints[value].name for value in new_ids),
            }
            issue.sprint_ids = new_ids
            self._touch(issue, now)
            history = self._record(issue, actor, now, [item])
            self._issue_event("jira:issue_updated", issue, actor, now, "issue_updated", history)

    # Permissions

    def hide_project(self, account_id: str, project_key: str) -> None:
        project = self.project_by_key_or_id(project_key)
        if project is None:
            raise JiraApiError(404, [f"No project could be found with key '{project_key}'."])
        self.hidden_projects.setdefault(account_id, set()).add(project.id)

    def unhide_project(self, account_id: str, project_key: str) -> None:
        project = self.project_by_key_or_id(project_key)
        if project is None:
            raise JiraApiError(404, [f"No project could be found with key '{project_key}'."])
        self.hidden_projects.get(account_id, set()).discard(project.id)

    def visible_projects(self, account_id: str | None) -> list[Project]:
        hidden = self.hidden_projects.get(account_id, set()) if account_id else set()
        return [project for project in self.projects.values() if project.id not in hidden]
