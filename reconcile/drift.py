"""Drift between Jira's census and the graph, and the report a run produces.

Pure: no I/O. :func:`compare` takes two ``issue id -> updated (epoch ms)``
maps and sorts every difference into one of three kinds:

- *missing*: Jira has the issue, the graph does not;
- *stale*: both have it, and Jira's ``updated`` is newer than the graph's;
- *extra*: the graph has it, the census does not (deleted, hidden or moved
  out of the census query; a fetch of the issue tells which).

A graph version newer than the census is not drift: search results are
eventually consistent, so the census may lag a webhook the graph already saw.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict

from streams.contract import ThreadMessagePosted


@dataclass(frozen=True)
class Drift:
    """The issue ids on which Jira and the graph disagree, by kind."""

    missing: frozenset[str]
    stale: frozenset[str]
    extra: frozenset[str]

    @property
    def to_fetch(self) -> frozenset[str]:
        """Ids whose current state must be read from Jira again."""
        return self.missing | self.stale

    @property
    def total(self) -> int:
        return len(self.missing) + len(self.stale) + len(self.extra)

    def counts(self) -> dict[str, int]:
        return {"missing": len(self.missing), "stale": len(self.stale), "extra": len(self.extra)}


def compare(census: Mapping[str, int], graph: Mapping[str, int]) -> Drift:
    """Return the drift between Jira's ``census`` and the ``graph``, both keyed by issue id."""
    missing = frozenset(issue_id for issue_id in census if issue_id not in graph)
    extra = frozenset(issue_id for issue_id in graph if issue_id not in census)
    stale = frozenset(
        issue_id
        for issue_id, updated_ms in census.items()
        if issue_id in graph and updated_ms > graph[issue_id]
    )
    return Drift(missing=missing, stale=stale, extra=extra)


class DriftReport(BaseModel):
    """What one reconciliation run found and did for one connection.

    ``missing``, ``stale`` and ``extra`` count the drift found. ``repaired``
    counts the observations published to repair it (0 on a dry run).
    ``deleted`` counts extra issues Jira confirmed gone with a 404, and
    ``reappeared`` those Jira still returned. ``access_lost`` counts projects
    that left the account's view, and ``issues_access_lost`` the issues of such
    projects for which Jira returned 404, whose nodes are kept and marked.
    ``api_calls`` counts every Jira request the run
    made, ``census_calls`` the part spent on the id census and ``webhook_calls``
    the part spent on webhook upkeep. ``partial`` is
    set when the run stopped early, and ``error`` then says why.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    space_id: str
    cloud_id: str
    started_at_ms: int
    missing: int = 0
    stale: int = 0
    extra: int = 0
    repaired: int = 0
    deleted: int = 0
    reappeared: int = 0
    access_lost: int = 0
    issues_access_lost: int = 0
    projects_found: int = 0
    census_size: int = 0
    duration_s: float = 0.0
    api_calls: int = 0
    census_calls: int = 0
    webhook_calls: int = 0
    webhooks_refreshed: int = 0
    webhooks_registered: int = 0
    webhook_errors: tuple[str, ...] = ()
    dry_run: bool = False
    partial: bool = False
    error: str | None = None

    @property
    def drift_total(self) -> int:
        return self.missing + self.stale + self.extra + self.access_lost

    def counts(self) -> dict[str, int]:
        """Return the integer counts the import thread shows, keyed by name."""
        return {
            "missing": self.missing,
            "stale": self.stale,
            "extra": self.extra,
            "repaired": self.repaired,
            "deleted": self.deleted,
            "reappeared": self.reappeared,
            "access_lost": self.access_lost,
            "issues_access_lost": self.issues_access_lost,
            "projects_found": self.projects_found,
            "census_size": self.census_size,
            "api_calls": self.api_calls,
            "webhooks_refreshed": self.webhooks_refreshed,
            "webhooks_registered": self.webhooks_registered,
        }


def report_text(report: DriftReport) -> str:
    """Return the import-thread text for ``report``, in plain sentences."""
    sentences: list[str] = []

    if report.dry_run:
        sentences.append("Dry-run reconciliation: nothing was changed.")
    if report.drift_total == 0:
        sentences.append(f"Reconciliation checked {report.census_size} issues and found no drift.")
    else:
        sentences.append(
            f"Reconciliation checked {report.census_size} issues: "
            f"{report.missing} missing, {report.stale} out of date, "
            f"{report.extra} no longer found by search."
        )

    if report.extra:
        sentences.append(
            f"Jira confirmed {report.deleted} of them deleted "
            f"and still returned {report.reappeared}."
        )
    if report.access_lost:
        sentences.append(
            f"{report.access_lost} projects are no longer visible to the connected account; "
            "their nodes are kept."
        )
    if report.issues_access_lost:
        sentences.append(
            f"{report.issues_access_lost} issues of projects out of the account's view are "
            "kept and marked as access lost."
        )
    if report.projects_found:
        sentences.append(f"{report.projects_found} new projects were found.")
    if report.repaired:
        sentences.append(f"{report.repaired} repairs were sent to the graph.")
    if report.webhooks_registered or report.webhooks_refreshed:
        sentences.append(
            f"Webhooks: {report.webhooks_registered} registered again, "
            f"{report.webhooks_refreshed} refreshed."
        )
    for message in report.webhook_errors:
        sentences.append(f"Webhook registration failed: {message}")
    if report.partial:
        sentences.append(
            f"The run stopped early ({report.error or 'no reason recorded'}); "
            "the next run continues the repair."
        )

    sentences.append(f"It took {report.duration_s:.1f} s and {report.api_calls} Jira requests.")
    return " ".join(sentences)


def thread_message(report: DriftReport) -> ThreadMessagePosted:
    """Return the import-thread message that carries ``report``."""
    return ThreadMessagePosted(
        space_id=report.space_id,
        kind="drift_report",
        text=report_text(report),
        counts=report.counts(),
        details={
            "run_id": report.run_id,
            "cloud_id": report.cloud_id,
            "dry_run": report.dry_run,
            "partial": report.partial,
            "error": report.error,
            "duration_s": report.duration_s,
            "census_calls": report.census_calls,
            "webhook_calls": report.webhook_calls,
        },
    )
