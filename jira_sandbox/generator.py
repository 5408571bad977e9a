"""Deterministic generation of sandbox sites from a seed.

The same seed and counts always build the same world: every value comes
from seeded `random.Random` instances and a fixed base date, never from the
wall clock. Issues store compact state (a description is one integer seed
until first read), so 100,000 issues build in seconds.
"""

from __future__ import annotations

import random
import uuid
from typing import Any

from jira_sandbox import render
from jira_sandbox.clock import Clock
from jira_sandbox.model import (
    Account,
    Board,
    Comment,
    History,
    IssueRecord,
    IssueType,
    Priority,
    Project,
    Resolution,
    Sprint,
    Status,
    Transition,
    User,
    Workflow,
    World,
)
from jira_sandbox.site import Site

# 2025-01-01T00:00:00Z; generated issues are created during the year after it.
BASE_MS = 1_735_689_600_000
DAY_MS = 86_400_000

SITE_NAMES = ("acme-dev", "globex", "initech", "umbrella-labs", "hooli", "stark-eng")
SPRINT_FIELD_IDS = ("customfield_10020", "customfield_10107")
TIME_ZONES = (
    "Asia/Kolkata",
    "Europe/Berlin",
    "America/New_York",
    "UTC",
    "Australia/Sydney",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Europe/Moscow",
)
FIRST_NAMES = (
    "Alex",
    "Blair",
    "Casey",
    "Dana",
    "Emery",
    "Finley",
    "Gray",
    "Harper",
    "Алекс",
    "Блэр",
    "美咲",
    "翔太",
)
LAST_NAMES = ("Example", "Sample", "Tester", "Placeholder", "Пример", "Образец", "山田", "佐藤")
PROJECT_NAMES = (
    ("CORE", "Core Platform"),
    ("WEB", "Web Storefront"),
    ("OPS", "Operations"),
    ("MOB", "Mobile Apps"),
    ("DATA", "Data Pipeline"),
    ("SEC", "Security"),
    ("API", "Public API"),
    ("INF", "Infrastructure"),
)
LABELS = (
    "backend",
    "frontend",
    "tech-debt",
    "customer",
    "regression",
    "perf",
    "ux",
    "security",
    "release-blocker",
    "needs-triage",
    "релиз",
    "バグ",
)
SUMMARY_VERBS = (
    "Fix",
    "Add",
    "Investigate",
    "Refactor",
    "Document",
    "Remove",
    "Migrate",
    "Speed up",
)
SUMMARY_OBJECTS = (
    "checkout retry logic",
    "payment gateway timeout",
    "login session refresh",
    "dashboard export to CSV",
    "webhook delivery backoff",
    "search index rebuild",
    "отчёт о продажах",  # noqa: RUF001 (Russian text: the Cyrillic letters are meant)
    "очередь уведомлений",
    "決済エラーの表示",
    "用户资料同步",
    "dark mode 🌙 toggle",
    "release notes 🚀",
    "cache invalidation on deploy",
)

STATUS_CATALOGUE = (
    Status("10000", "To Do", "new"),
    Status("3", "In Progress", "indeterminate"),
    Status("10001", "In Review", "indeterminate"),
    Status("10002", "Done", "done"),
    Status("6", "Closed", "done"),
    Status("10003", "Backlog", "new"),
    Status("10004", "Selected for Development", "new"),
    Status("10005", "Blocked", "indeterminate"),
    Status("10006", "Parked", "indeterminate"),
)
PRIORITIES = (
    Priority("1", "Highest", "highest_new", "#d04437"),
    Priority("2", "High", "high_new", "#f15C75"),
    Priority("3", "Medium", "medium_new", "#f79232"),
    Priority("4", "Low", "low_new", "#707070"),
    Priority("5", "Lowest", "lowest_new", "#999999"),
)
RESOLUTIONS = (
    Resolution("10000", "Done", "Work has been completed on this issue."),
    Resolution("10001", "Won't Do", "This issue won't be actioned."),
    Resolution("10002", "Duplicate", "The problem is a duplicate of an existing issue."),
)
COMPANY_TYPES = (
    IssueType("10000", "Epic", 1, "A big user story that needs to be broken down.", 10307),
    IssueType("10001", "Story", 0, "Functionality or a feature expressed as a user goal.", 10315),
    IssueType("10002", "Task", 0, "A small, distinct piece of work.", 10318),
    IssueType("10003", "Bug", 0, "A problem or error.", 10303),
    IssueType(
        "10004", "Sub-task", -1, "A small piece of work that's part of a larger task.", 10316
    ),
    IssueType("10005", "Spike", 0, "Time-boxed research to answer a question.", 10311),
)

WORKFLOW_CLASSIC = "10100"
WORKFLOW_SIMPLIFIED = "10101"
WORKFLOW_RESTRICTED = "10102"


def _workflows() -> list[Workflow]:
    classic = Workflow(
        id=WORKFLOW_CLASSIC,
        name="Software Development Workflow",
        initial_status_id="10000",
        status_ids=("10000", "3", "10001", "10002", "6"),
        transitions=(
            Transition("11", "To Do", "10000"),
            Transition("21", "In Progress", "3"),
            Transition("31", "In Review", "10001", frozenset({"3"})),
            Transition("41", "Done", "10002", frozenset({"3", "10001"}), requires_resolution=True),
            Transition("51", "Won't Do", "6", requires_resolution=True),
        ),
    )
    simplified = Workflow(
        id=WORKFLOW_SIMPLIFIED,
        name="Simplified Workflow",
        initial_status_id="10000",
        status_ids=("10000", "3", "10002"),
        transitions=(
            Transition("11", "To Do", "10000"),
            Transition("21", "In Progress", "3"),
            Transition("31", "Done", "10002"),
        ),
    )
    # Blocked and Parked only lead to each other, so there is no path from them to Done.
    restricted = Workflow(
        id=WORKFLOW_RESTRICTED,
        name="Gated Release Workflow",
        initial_status_id="10003",
        status_ids=("10003", "10004", "3", "10002", "10005", "10006"),
        transitions=(
            Transition("101", "Select", "10004", frozenset({"10003"})),
            Transition("111", "Start", "3", frozenset({"10004"})),
            Transition("121", "Finish", "10002", frozenset({"3"}), requires_resolution=True),
            Transition("131", "Block", "10005", frozenset({"3"})),
            Transition("141", "Park", "10006", frozenset({"10005"})),
            Transition("151", "Unpark", "10005", frozenset({"10006"})),
        ),
    )
    return [classic, simplified, restricted]


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _account_id(rng: random.Random, index: int) -> str:
    if index % 2 == 0:
        return f"{rng.getrandbits(96):024x}"
    return f"557058:{_uuid(rng)}"


def _make_users(rng: random.Random, count: int) -> list[User]:
    users = []
    for index in range(count):
        first = FIRST_NAMES[index % len(FIRST_NAMES)]
        last = LAST_NAMES[(index // len(FIRST_NAMES) + index) % len(LAST_NAMES)]
        account_id = _account_id(rng, index)
        hidden_email = index % 3 == 2
        users.append(
            User(
                account_id=account_id,
                display_name=f"{first} {last}",
                email=None if hidden_email else f"user{index}@example.com",
                active=index % 7 != 6,
                time_zone=TIME_ZONES[index % len(TIME_ZONES)],
            )
        )
    users.append(
        User(
            account_id=f"557058:{_uuid(rng)}",
            display_name="Automation for Jira",
            email=None,
            active=True,
            account_type="app",
            time_zone="UTC",
        )
    )
    return users


class _SiteBuilder:
    def __init__(
        self,
        world: World,
        seed: int,
        index: int,
        admin: Account,
        *,
        projects: int,
        issues: int,
        users: int,
        sprints_per_board: int,
    ) -> None:
        self.world = world
        self.rng = random.Random(f"jira-sandbox:{seed}:{index}")
        self.index = index
        self.admin = admin
        self.project_count = projects
        self.issue_count = issues
        self.user_count = users
        self.sprints_per_board = sprints_per_board
        self.site = Site(
            cloud_id=_uuid(self.rng),
            name=SITE_NAMES[index % len(SITE_NAMES)]
            + ("" if index < len(SITE_NAMES) else f"-{index}"),
            clock=world.clock,
            app_account_id=admin.account_id,
            sprint_field_id=SPRINT_FIELD_IDS[index % len(SPRINT_FIELD_IDS)],
            description_seed_base=seed * 1_000_003 + index * 10_000_019,
        )

    def build(self) -> Site:
        site = self.site
        for status in STATUS_CATALOGUE:
            site.statuses[status.id] = status
        for workflow in _workflows():
            site.workflows[workflow.id] = workflow
        for priority in PRIORITIES:
            site.priorities[priority.id] = priority
        for resolution in RESOLUTIONS:
            site.resolutions[resolution.id] = resolution
        for issue_type in COMPANY_TYPES:
            site.issue_types[issue_type.id] = issue_type

        self._users()
        self._projects()
        self._issues()
        return site

    def _users(self) -> None:
        site = self.site
        admin_user = User(
            account_id=self.admin.account_id,
            display_name=self.admin.display_name,
            email=self.admin.email,
            time_zone=self.admin.time_zone,
        )
        site.users[admin_user.account_id] = admin_user
        for user in _make_users(self.rng, self.user_count):
            site.users[user.account_id] = user
        self.assignable = [
            user.account_id
            for user in site.users.values()
            if user.active and user.account_type == "atlassian"
        ]
        self.everyone = [
            user.account_id for user in site.users.values() if user.account_type == "atlassian"
        ]

    def _projects(self) -> None:
        site = self.site
        next_type_id = 10100
        for number in range(self.project_count):
            key, name = PROJECT_NAMES[number % len(PROJECT_NAMES)]
            if number >= len(PROJECT_NAMES):
                key, name = f"{key}{number}", f"{name} {number}"
            simplified = number % 3 == 1
            if simplified:
                type_ids = []
                for template in COMPANY_TYPES:
                    own = IssueType(
                        id=str(next_type_id),
                        name=template.name,
                        hierarchy_level=template.hierarchy_level,
                        description=template.description,
                        avatar_id=template.avatar_id,
                        entity_id=_uuid(self.rng),
                    )
                    next_type_id += 1
                    site.issue_types[own.id] = own
                    type_ids.append(own.id)
                workflow_id = WORKFLOW_SIMPLIFIED
            else:
                type_ids = [issue_type.id for issue_type in COMPANY_TYPES]
                workflow_id = WORKFLOW_RESTRICTED if number % 3 == 2 else WORKFLOW_CLASSIC
            project = Project(
                id=str(10000 + number),
                key=key,
                name=name,
                simplified=simplified,
                workflow_id=workflow_id,
                issue_type_ids=tuple(type_ids),
                lead_account_id=self.admin.account_id,
                description=f"{name} work items.",
            )
            site.projects[project.id] = project

            board = Board(id=number + 1, name=f"{key} board", type="scrum", project_id=project.id)
            site.boards[board.id] = board
            self._sprints(board)

    def _sprints(self, board: Board) -> None:
        site = self.site
        count = self.sprints_per_board
        for position in range(count):
            start = BASE_MS + (position * 14 + board.id) * DAY_MS
            if position < count - 2:
                state = "closed"
            elif position == count - 2:
                state = "active"
            else:
                state = "future"
            sprint = Sprint(
                id=site.next_sprint_id,
                name=f"{site.projects[board.project_id].key} Sprint {position + 1}",
                state=state,
                board_id=board.id,
                goal=self.rng.choice(("", "Ship the checkout 🚀", "Стабилизация релиза", None)),
                start_ms=start if state != "future" else None,
                end_ms=start + 14 * DAY_MS if state != "future" else None,
                complete_ms=start + 14 * DAY_MS + 3_600_000 if state == "closed" else None,
            )
            site.next_sprint_id += 1
            site.sprints[sprint.id] = sprint

    def _issues(self) -> None:
        site = self.site
        projects = list(site.projects.values())
        if not projects:
            return
        per_project = [self.issue_count // len(projects)] * len(projects)
        for extra in range(self.issue_count % len(projects)):
            per_project[extra] += 1
        for project, count in zip(projects, per_project, strict=True):
            self._project_issues(project, count)

    def _project_issues(self, project: Project, count: int) -> None:
        site = self.site
        rng = self.rng
        types = [site.issue_types[type_id] for type_id in project.issue_type_ids]
        epic_type = next(item for item in types if item.hierarchy_level == 1)
        subtask_type = next(item for item in types if item.hierarchy_level == -1)
        standard_types = [item for item in types if item.hierarchy_level == 0]
        workflow = site.workflows[project.workflow_id]
        open_sprints = [
            sprint.id
            for sprint in site.sprints.values()
            if site.boards[sprint.board_id].project_id == project.id
        ]

        epic_count = max(1, count // 20) if count >= 4 else 0
        subtask_count = count * 15 // 100 if count >= 10 else 0
        standard_count = count - epic_count - subtask_count
        epics: list[int] = []
        standards: list[int] = []

        for position in range(count):
            if position < epic_count:
                issue_type, parent_id = epic_type, None
            elif position < epic_count + standard_count:
                issue_type = standard_types[rng.randrange(len(standard_types))]
                parent_id = (
                    epics[rng.randrange(len(epics))] if epics and rng.random() < 0.5 else None
                )
            else:
                issue_type, parent_id = subtask_type, standards[rng.randrange(len(standards))]
            issue = self._issue(project, issue_type, parent_id, workflow, open_sprints)
            if issue_type is epic_type:
                epics.append(issue.id)
            elif issue_type is not subtask_type:
                standards.append(issue.id)

    def _issue(
        self,
        project: Project,
        issue_type: IssueType,
        parent_id: int | None,
        workflow: Workflow,
        sprint_ids: list[int],
    ) -> IssueRecord:
        site = self.site
        rng = self.rng
        created = BASE_MS + rng.randrange(300 * DAY_MS)
        updated = created + rng.randrange(30 * DAY_MS)
        status_id = workflow.status_ids[rng.randrange(len(workflow.status_ids))]
        done = site.statuses[status_id].category_key == "done"
        roll = rng.random()
        verb = SUMMARY_VERBS[rng.randrange(len(SUMMARY_VERBS))]
        summary = f"{verb} {SUMMARY_OBJECTS[rng.randrange(len(SUMMARY_OBJECTS))]}"
        if roll < 0.02:
            summary += " — “quoted” & <escaped> Ünïcödé"

        issue = IssueRecord(
            id=site.allocate_issue_id(),
            key=f"{project.key}-{project.next_number}",
            project_id=project.id,
            issue_type_id=issue_type.id,
            summary=summary,
            status_id=status_id,
            reporter_id=self.everyone[rng.randrange(len(self.everyone))],
            creator_id=self.everyone[rng.randrange(len(self.everyone))],
            created_ms=created,
            updated_ms=updated,
            status_changed_ms=updated,
            priority_id=None if roll > 0.95 else PRIORITIES[rng.randrange(5)].id,
            assignee_id=None
            if rng.random() < 0.2
            else self.assignable[rng.randrange(len(self.assignable))],
            parent_id=parent_id,
            labels=sorted(set(rng.sample(LABELS, rng.randrange(4)))),
            sprint_ids=(
                [sprint_ids[rng.randrange(len(sprint_ids))]]
                if sprint_ids and not issue_type.subtask and rng.random() < 0.7
                else []
            ),
            resolution_id=("10000" if rng.random() < 0.8 else "10001") if done else None,
            resolution_ms=updated if done else None,
            description_seed=None if rng.random() < 0.1 else rng.getrandbits(31),
        )
        project.next_number += 1
        site.register_issue(issue)

        if rng.random() < 0.2:
            self._history(issue, created, updated)
        if rng.random() < 0.1:
            self._comments(issue, created, 25 if rng.random() < 0.05 else rng.randint(1, 4))
        return issue

    def _history(self, issue: IssueRecord, created: int, updated: int) -> None:
        site = self.site
        author = self.everyone[self.rng.randrange(len(self.everyone))]
        status = site.statuses[issue.status_id]
        items: list[dict[str, Any]] = [
            {
                "field": "status",
                "fieldtype": "jira",
                "fieldId": "status",
                "from": "10000",
                "fromString": "To Do",
                "to": status.id,
                "toString": status.name,
            }
        ]
        entry = History(
            id=site.next_history_id,
            author_id=author,
            created_ms=max(created, updated - 1),
            items=items,
        )
        site.next_history_id += 1
        issue.histories.append(entry)

    def _comments(self, issue: IssueRecord, created: int, count: int) -> None:
        site = self.site
        for position in range(count):
            author = self.everyone[self.rng.randrange(len(self.everyone))]
            at = created + position * 60_000
            body = {
                "type": "doc",
                "version": 1,
                "content": [
                    {
                        "type": "paragraph",
                        "content": [
                            {"type": "text", "text": f"Comment {position + 1} on {issue.key}."}
                        ],
                    }
                ],
            }
            issue.comments.append(
                Comment(
                    id=site.next_comment_id,
                    author_id=author,
                    body=body,
                    created_ms=at,
                    updated_ms=at,
                    update_author_id=author,
                )
            )
            site.next_comment_id += 1


def build_world(
    seed: int,
    *,
    sites: int = 2,
    projects_per_site: int = 3,
    issues: int = 200,
    users: int = 12,
    sprints_per_board: int = 4,
    clock: Clock | None = None,
) -> World:
    """Build a deterministic world; `issues` is the number of issues on each site.

    Each site gets its own admin account (the one that consents to the app);
    when there are two or more sites, the first admin reaches the first two
    sites, so a consent can offer a choice of site.
    """
    world = World(clock=clock)
    rng = random.Random(f"jira-sandbox-accounts:{seed}")
    admins = [
        Account(
            account_id=f"557058:{_uuid(rng)}" if index % 2 == 0 else f"{rng.getrandbits(96):024x}",
            display_name=("Admin Example", "Админ Пример", "管理者 例")[index % 3]
            + ("" if index < 3 else f" {index}"),
            email=f"admin{index}@example.com" if index % 2 == 0 else None,
            time_zone=("Asia/Kolkata", "America/New_York", "Europe/Berlin")[index % 3],
        )
        for index in range(sites)
    ]

    for index in range(sites):
        builder = _SiteBuilder(
            world,
            seed,
            index,
            admins[index],
            projects=projects_per_site,
            issues=issues,
            users=users,
            sprints_per_board=sprints_per_board,
        )
        site = builder.build()
        world.add_site(site)
        admins[index].site_ids.append(site.cloud_id)

    if sites >= 2:
        first_admin = admins[0]
        second_site = world.sites[admins[1].site_ids[0]]
        second_site.users[first_admin.account_id] = User(
            account_id=first_admin.account_id,
            display_name=first_admin.display_name,
            email=first_admin.email,
            time_zone=first_admin.time_zone,
        )
        first_admin.site_ids.append(second_site.cloud_id)

    for admin in admins:
        world.add_account(admin)
    return world


def generate_issue_payloads(seed: int, n: int) -> list[dict[str, Any]]:
    """Return `n` REST v3 issue payloads with every field, for benchmarks."""
    world = build_world(seed, sites=1, projects_per_site=3, issues=n, users=12, sprints_per_board=4)
    site = next(iter(world.sites.values()))
    time_zone = world.accounts[site.app_account_id].time_zone
    return [
        render.issue_v3(site, issue, time_zone, fields=["*all"], expand=set())
        for issue in site.live_issues()
    ]
