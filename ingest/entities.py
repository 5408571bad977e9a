"""The entity part of ``{cloud_id}:{entity id}`` record keys on site-scoped topics.

An issue is keyed by its numeric id alone. Other kinds carry a prefix, because
Jira numbers sprints, boards and projects independently of issues and the same
number would otherwise put two entities under one key.
"""

from __future__ import annotations

from streams.topics import entity_key


def issue_key(cloud_id: str, issue_id: str | int) -> str:
    return entity_key(cloud_id, str(issue_id))


def sprint_key(cloud_id: str, sprint_id: str | int) -> str:
    return entity_key(cloud_id, f"sprint-{sprint_id}")


def board_key(cloud_id: str, board_id: str | int) -> str:
    return entity_key(cloud_id, f"board-{board_id}")


def project_key(cloud_id: str, project_id: str | int) -> str:
    return entity_key(cloud_id, f"project-{project_id}")


def user_key(cloud_id: str, account_id: str) -> str:
    return entity_key(cloud_id, f"user-{account_id}")


def connection_key(cloud_id: str, space_id: str) -> str:
    return entity_key(cloud_id, f"connection-{space_id}")
