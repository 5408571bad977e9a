"""Generator: determinism, realistic content and the 100k-issue build time."""

from __future__ import annotations

import time

import orjson
import pytest

from jira_sandbox import render
from jira_sandbox.generator import build_world, generate_issue_payloads
from jira_sandbox.model import World
from jira_sandbox.truth import truth


def snapshot(world: World) -> bytes:
    parts = []
    for site in world.sites.values():
        time_zone = "UTC"
        issues = [
            render.issue_v3(site, issue, time_zone, fields=["*all"], expand={"changelog"})
            for issue in site.live_issues()
        ]
        parts.append({"cloud_id": site.cloud_id, "truth": truth(site), "issues": issues})
    accounts = {key: vars(account) for key, account in world.accounts.items()}
    return orjson.dumps({"sites": parts, "accounts": accounts})


def test_generator_same_seed_identical() -> None:
    first = snapshot(build_world(5, sites=2, issues=150))
    second = snapshot(build_world(5, sites=2, issues=150))
    assert first == second


def test_generator_other_seed_differs() -> None:
    assert snapshot(build_world(5, sites=1, issues=50)) != snapshot(
        build_world(6, sites=1, issues=50)
    )


def test_generator_shapes() -> None:
    world = build_world(3, sites=2, issues=400)
    sites = list(world.sites.values())
    site = sites[0]
    issues = list(site.live_issues())
    levels = {site.issue_types[issue.issue_type_id].hierarchy_level for issue in issues}

    assert levels == {-1, 0, 1}
    assert any(issue.priority_id is None for issue in issues)
    assert any(issue.assignee_id is None for issue in issues)
    assert any(not issue.sprint_ids for issue in issues)
    assert any(issue.description_seed is None and issue.description is None for issue in issues)
    assert all(
        issue.parent_id is not None
        for issue in issues
        if site.issue_types[issue.issue_type_id].subtask
    )
    assert any(project.simplified for project in site.projects.values())
    assert any(not project.simplified for project in site.projects.values())
    assert {sprint.state for sprint in site.sprints.values()} == {"closed", "active", "future"}
    assert sites[0].sprint_field_id != sites[1].sprint_field_id
    assert any(len(account.site_ids) == 2 for account in world.accounts.values())
    assert any(":" in user_id for user_id in site.users)
    assert any(":" not in user_id and len(user_id) == 24 for user_id in site.users)
    assert any(user.email is None for user in site.users.values())
    assert any(not user.active for user in site.users.values())
    assert any(user.account_type == "app" for user in site.users.values())


def test_generator_descriptions_rich() -> None:
    world = build_world(3, sites=1, issues=60)
    site = next(iter(world.sites.values()))
    documents = [site.description_of(issue) for issue in site.live_issues()]
    present = [document for document in documents if document is not None]
    sizes = [len(orjson.dumps(document)) for document in present]
    kinds = orjson.dumps(present).decode()

    assert min(sizes) >= 2000
    assert max(sizes) <= 10_000
    for node_type in (
        "mention",
        "table",
        "codeBlock",
        "panel",
        "media",
        "status",
        "emoji",
        "date",
        "inlineCard",
    ):
        assert f'"type":"{node_type}"' in kinds, node_type


def test_generate_issue_payloads_count() -> None:
    payloads = generate_issue_payloads(2, 30)
    assert len(payloads) == 30
    assert all("summary" in payload["fields"] for payload in payloads)


@pytest.mark.slow
def test_generator_100k_time() -> None:
    started = time.perf_counter()
    world = build_world(7, sites=1, projects_per_site=6, issues=100_000)
    elapsed = time.perf_counter() - started
    site = next(iter(world.sites.values()))
    print(f"generated 100000 issues in {elapsed:.2f} s")
    assert sum(1 for _ in site.live_issues()) == 100_000
