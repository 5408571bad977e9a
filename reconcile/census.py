"""The id census: every issue id of the visible projects with its ``updated``.

Search is asked for the ``updated`` field only, so each page is small and the
server can return its largest page size. JQL must be bounded, so each query
names its projects; long project lists are split into several queries.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from reconcile.counting import CountingClient
from reconcile.jiratime import parse_jira_time
from reconcile.shapes import issue_id_of, issues_of, updated_of

logger = logging.getLogger(__name__)

CENSUS_FIELDS = ("updated",)

# Jira allows up to 5000 issues per page when few fields are requested and caps
# larger requests itself, so asking for the maximum costs nothing.
CENSUS_PAGE_SIZE = 5000

# Project ids per census query; keeps each JQL string short.
PROJECTS_PER_QUERY = 50


def census_queries(project_ids: Sequence[str], *, per_query: int = PROJECTS_PER_QUERY) -> list[str]:
    """Return bounded JQL queries that together cover ``project_ids``.

    Ids are numeric, so they need no quoting; ordering by id keeps the page
    walk stable while issues change during the census.
    """
    ordered = sorted(set(project_ids), key=_numeric_first)
    queries = []
    for start in range(0, len(ordered), per_query):
        chunk = ordered[start : start + per_query]
        queries.append(f"project in ({', '.join(chunk)}) ORDER BY id ASC")
    return queries


def _numeric_first(value: str) -> tuple[int, str]:
    return (int(value), value) if value.isdigit() else (0, value)


async def take_census(
    client: CountingClient, project_ids: Sequence[str], *, cloud_id: str
) -> dict[str, int]:
    """Return ``issue id -> updated (epoch ms)`` for every issue of ``project_ids``.

    Raises the client's error when a page fails: a census with a hole would make
    every issue of the hole look deleted.
    """
    census: dict[str, int] = {}

    for jql in census_queries(project_ids):
        pages = 0
        async for page in client.search_jql(jql, CENSUS_FIELDS, max_results=CENSUS_PAGE_SIZE):
            pages += 1
            for issue in issues_of(page):
                updated = updated_of(issue)
                issue_id = issue_id_of(issue)
                if updated is None:
                    # Without a version the issue can only be compared as present.
                    logger.warning(
                        "census issue without updated field cloud_id=%s issue_id=%s",
                        cloud_id,
                        issue_id,
                    )
                    census[issue_id] = 0
                    continue
                census[issue_id] = parse_jira_time(updated)
        logger.debug("census query done cloud_id=%s pages=%d jql=%s", cloud_id, pages, jql)

    return census
