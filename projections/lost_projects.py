"""The projects each connection can no longer see, for ``FoldContext.lost_project_ids``.

Jira answers 404 for the issues of a project the account cannot see, as for
deleted issues. The fold keeps such an issue's node, marked access lost, only
when the issue's project is in the context's ``lost_project_ids``. This index
supplies them. It learns from the observations that mark a project:
``jira.project.access_lost`` adds the project and ``jira.project.observed``
removes it. A new index starts from the project nodes the projection marks
access lost, because the index lives in memory and a restarted worker has to
know the projects that left the account's view before it started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from streams.envelope import Envelope

logger = logging.getLogger(__name__)

ACCESS_LOST = "jira.project.access_lost"
OBSERVED = "jira.project.observed"

# (space id, cloud id) of one connection's site.
SiteKey = tuple[str, str]


class LostProjects:
    """Project ids out of each site's view, per space and site.

    ``nodes`` returns the projection's live nodes; it is read once, at the first
    use, so that the projection has been restored by then.
    """

    def __init__(self, nodes: Callable[[], Iterable[dict[str, Any]]]) -> None:
        self._nodes = nodes
        self._lost: dict[SiteKey, frozenset[str]] | None = None

    def of(self, space_id: str, cloud_id: str) -> frozenset[str]:
        """Return the ids of the projects the space's site no longer shows."""
        return self._loaded().get((space_id, cloud_id), frozenset())

    def note(self, envelope: Envelope) -> None:
        """Record the project visibility a ``jira.inbound`` observation reports, if any."""
        if envelope.type == ACCESS_LOST:
            project_id = str(envelope.data["project_id"])
            lost = True
        elif envelope.type == OBSERVED:
            project_id = str((envelope.data.get("project") or {}).get("id"))
            lost = False
        else:
            return

        site = (str(envelope.data["space_id"]), str(envelope.data["cloud_id"]))
        known = self._loaded()
        current = known.get(site, frozenset())
        updated = current | {project_id} if lost else current - {project_id}
        if updated == current:
            return

        known[site] = updated
        logger.info(
            "project visibility changed space_id=%s cloud_id=%s project_id=%s access_lost=%s",
            site[0],
            site[1],
            project_id,
            lost,
        )

    def _loaded(self) -> dict[SiteKey, frozenset[str]]:
        if self._lost is None:
            self._lost = _from_nodes(self._nodes())
        return self._lost


def _from_nodes(nodes: Iterable[dict[str, Any]]) -> dict[SiteKey, frozenset[str]]:
    found: dict[SiteKey, set[str]] = {}
    for node in nodes:
        source = node.get("source") or {}
        if source.get("kind") != "project" or not node.get("access_lost"):
            continue
        site = (str(node["space_id"]), str(source.get("cloud_id")))
        found.setdefault(site, set()).add(str(source["jira_id"]))

    if found:
        logger.info(
            "projects out of view loaded from the projection sites=%d projects=%d",
            len(found),
            sum(len(ids) for ids in found.values()),
        )
    return {site: frozenset(ids) for site, ids in found.items()}
