"""JSON renderings of site state, shaped like Jira Cloud's REST v3 and v2 payloads."""

from __future__ import annotations

import datetime as dt
import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import orjson

from jira_sandbox import adf
from jira_sandbox.model import (
    Board,
    Comment,
    History,
    IssueRecord,
    IssueType,
    Priority,
    Project,
    Sprint,
    Status,
    User,
)

if TYPE_CHECKING:
    from jira_sandbox.site import Site

JsonDict = dict[str, Any]

# Embedded collections stop here; the full lists are paged through their own endpoints.
EMBEDDED_COMMENT_LIMIT = 20
EMBEDDED_CHANGELOG_LIMIT = 20
RENDER_CACHE_MAX_ENTRIES = 200_000
AVATAR_BASE = "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/initials"


@functools.lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def format_timestamp(ms: int, time_zone: str) -> str:
    """Format epoch ms as Jira does: `2024-12-29T08:41:23.303+0530` (no colon in the offset)."""
    moment = dt.datetime.fromtimestamp(ms // 1000, zone(time_zone))
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{ms % 1000:03d}{moment.strftime('%z')}"


def format_utc(ms: int) -> str:
    """Format epoch ms in UTC with a `Z` suffix, as the Agile API writes sprint dates."""
    moment = dt.datetime.fromtimestamp(ms // 1000, dt.UTC)
    return f"{moment.strftime('%Y-%m-%dT%H:%M:%S')}.{ms % 1000:03d}Z"


def avatar_urls(initials: str) -> dict[str, str]:
    url = f"{AVATAR_BASE}/{initials}-0.png"
    return {"48x48": url, "24x24": url, "16x16": url, "32x32": url}


def user(site: Site, record: User, api: int = 3) -> JsonDict:
    initials = "".join(part[:1] for part in record.display_name.split()[:2]).upper() or "U"
    body: JsonDict = {
        "self": f"{site.url}/rest/api/{api}/user?accountId={quote(record.account_id, safe='')}",
        "accountId": record.account_id,
    }
    if record.email is not None:
        body["emailAddress"] = record.email
    body["avatarUrls"] = avatar_urls(initials)
    body["displayName"] = record.display_name
    body["active"] = record.active
    body["timeZone"] = record.time_zone
    body["accountType"] = record.account_type
    return body


def status(site: Site, record: Status, api: int = 3) -> JsonDict:
    category = record.category
    return {
        "self": f"{site.url}/rest/api/{api}/status/{record.id}",
        "description": record.description,
        "iconUrl": f"{site.url}/",
        "name": record.name,
        "id": record.id,
        "statusCategory": {
            "self": f"{site.url}/rest/api/{api}/statuscategory/{category.id}",
            "id": category.id,
            "key": category.key,
            "colorName": category.color_name,
            "name": category.name,
        },
    }


def priority(site: Site, record: Priority, api: int = 3) -> JsonDict:
    return {
        "self": f"{site.url}/rest/api/{api}/priority/{record.id}",
        "iconUrl": f"{site.url}/images/icons/priorities/{record.icon}.svg",
        "name": record.name,
        "id": record.id,
    }


def issue_type(site: Site, record: IssueType, api: int = 3) -> JsonDict:
    body: JsonDict = {
        "self": f"{site.url}/rest/api/{api}/issuetype/{record.id}",
        "id": record.id,
        "description": record.description,
        "iconUrl": (
            f"{site.url}/rest/api/2/universal_avatar/view/type/issuetype/avatar/"
            f"{record.avatar_id}?size=medium"
        ),
        "name": record.name,
        "subtask": record.subtask,
        "avatarId": record.avatar_id,
    }
    if record.entity_id is not None:
        body["entityId"] = record.entity_id
    body["hierarchyLevel"] = record.hierarchy_level
    return body


def project_short(site: Site, record: Project, api: int = 3) -> JsonDict:
    avatar = (
        f"{site.url}/rest/api/{api}/universal_avatar/view/type/project/avatar/{record.avatar_id}"
    )
    return {
        "self": f"{site.url}/rest/api/{api}/project/{record.id}",
        "id": record.id,
        "key": record.key,
        "name": record.name,
        "projectTypeKey": "software",
        "simplified": record.simplified,
        "style": "next-gen" if record.simplified else "classic",
        "projectCategory": {
            "self": f"{site.url}/rest/api/{api}/projectCategory/10000",
            "id": "10000",
            "name": "Engineering",
            "description": "Product engineering projects",
        },
        "avatarUrls": {
            "48x48": avatar,
            "24x24": avatar + "?size=small",
            "16x16": avatar + "?size=xsmall",
            "32x32": avatar + "?size=medium",
        },
    }


def project_full(site: Site, record: Project) -> JsonDict:
    body = project_short(site, record)
    body["expand"] = "description,lead,issueTypes,url,projectKeys,permissions,insight"
    body["description"] = record.description
    body["lead"] = user(site, site.users[record.lead_account_id])
    body["issueTypes"] = [
        issue_type(site, site.issue_types[type_id]) for type_id in record.issue_type_ids
    ]
    body["isPrivate"] = False
    body["properties"] = {}
    return body


def sprint_agile(site: Site, record: Sprint, *, include_self: bool = True) -> JsonDict:
    """Render a sprint as the Agile API and sprint webhooks do (UTC dates with Z)."""
    body: JsonDict = {"id": record.id}
    if include_self:
        body["self"] = f"{site.url}/rest/agile/1.0/sprint/{record.id}"
    body["state"] = record.state
    body["name"] = record.name
    if record.start_ms is not None:
        body["startDate"] = format_utc(record.start_ms)
    if record.end_ms is not None:
        body["endDate"] = format_utc(record.end_ms)
    if record.complete_ms is not None:
        body["completeDate"] = format_utc(record.complete_ms)
    body["originBoardId"] = record.board_id
    if record.goal is not None:
        body["goal"] = record.goal
    return body


def sprint_field_value(record: Sprint) -> JsonDict:
    """Render a sprint as the issue's sprint custom field holds it."""
    body: JsonDict = {
        "id": record.id,
        "name": record.name,
        "state": record.state,
        "boardId": record.board_id,
        "goal": record.goal or "",
    }
    if record.start_ms is not None:
        body["startDate"] = format_utc(record.start_ms)
    if record.end_ms is not None:
        body["endDate"] = format_utc(record.end_ms)
    if record.complete_ms is not None:
        body["completeDate"] = format_utc(record.complete_ms)
    return body


def board(site: Site, record: Board) -> JsonDict:
    project = site.projects[record.project_id]
    return {
        "id": record.id,
        "self": f"{site.url}/rest/agile/1.0/board/{record.id}",
        "name": record.name,
        "type": record.type,
        "location": {
            "projectId": int(project.id),
            "displayName": f"{project.name} ({project.key})",
            "projectName": project.name,
            "projectKey": project.key,
            "projectTypeKey": "software",
            "name": f"{project.name} ({project.key})",
        },
    }


def comment(
    site: Site, issue: IssueRecord, record: Comment, time_zone: str, api: int = 3
) -> JsonDict:
    body: Any = record.body if api == 3 else site.wiki(record.body)
    return {
        "self": f"{site.url}/rest/api/{api}/issue/{issue.id}/comment/{record.id}",
        "id": str(record.id),
        "author": user(site, site.users[record.author_id], api),
        "body": body,
        "updateAuthor": user(site, site.users[record.update_author_id], api),
        "created": format_timestamp(record.created_ms, time_zone),
        "updated": format_timestamp(record.updated_ms, time_zone),
        "jsdPublic": True,
    }


def history(site: Site, record: History, time_zone: str) -> JsonDict:
    return {
        "id": str(record.id),
        "author": user(site, site.users[record.author_id]),
        "created": format_timestamp(record.created_ms, time_zone),
        "items": record.items,
    }


def issue_reference(site: Site, issue: IssueRecord, api: int = 3) -> JsonDict:
    """Render the short issue form used by `parent` and `subtasks`."""
    fields: JsonDict = {
        "summary": issue.summary,
        "status": status(site, site.statuses[issue.status_id], api),
        "priority": priority(site, site.priorities[issue.priority_id], api)
        if issue.priority_id
        else None,
        "issuetype": issue_type(site, site.issue_types[issue.issue_type_id], api),
    }
    return {
        "id": str(issue.id),
        "key": issue.key,
        "self": f"{site.url}/rest/api/{api}/issue/{issue.id}",
        "fields": fields,
    }


def _own_fields(site: Site, issue: IssueRecord, time_zone: str) -> JsonDict:
    """Render the fields that depend only on the issue's own state (cacheable per version)."""
    project = site.projects[issue.project_id]
    resolution = site.resolutions[issue.resolution_id] if issue.resolution_id else None
    key = issue.key
    return {
        "statuscategorychangedate": format_timestamp(issue.status_changed_ms, time_zone),
        "issuetype": issue_type(site, site.issue_types[issue.issue_type_id]),
        "timespent": None,
        "project": project_short(site, project),
        "fixVersions": [],
        "aggregatetimespent": None,
        "resolution": (
            {
                "self": f"{site.url}/rest/api/3/resolution/{resolution.id}",
                "id": resolution.id,
                "description": resolution.description,
                "name": resolution.name,
            }
            if resolution
            else None
        ),
        "resolutiondate": (
            format_timestamp(issue.resolution_ms, time_zone) if issue.resolution_ms else None
        ),
        "workratio": -1,
        "issuerestriction": {"issuerestrictions": {}, "shouldDisplay": True},
        "lastViewed": None,
        "watches": {
            "self": f"{site.url}/rest/api/3/issue/{key}/watchers",
            "watchCount": 0,
            "isWatching": False,
        },
        "created": format_timestamp(issue.created_ms, time_zone),
        "priority": (
            priority(site, site.priorities[issue.priority_id]) if issue.priority_id else None
        ),
        "labels": list(issue.labels),
        "versions": [],
        "issuelinks": [],
        "assignee": user(site, site.users[issue.assignee_id]) if issue.assignee_id else None,
        "updated": format_timestamp(issue.updated_ms, time_zone),
        "status": status(site, site.statuses[issue.status_id]),
        "components": [],
        "timeoriginalestimate": None,
        "description": site.description_of(issue),
        "timetracking": {},
        "security": None,
        "aggregatetimeestimate": None,
        "attachment": [],
        "summary": issue.summary,
        "creator": user(site, site.users[issue.creator_id]),
        "reporter": user(site, site.users[issue.reporter_id]),
        "aggregateprogress": {"progress": 0, "total": 0},
        "environment": None,
        "duedate": None,
        "progress": {"progress": 0, "total": 0},
        "votes": {
            "self": f"{site.url}/rest/api/3/issue/{key}/votes",
            "votes": 0,
            "hasVoted": False,
        },
        site.rank_field_id: f"0|i{issue.id:05x}:",
    }


def all_fields(site: Site, issue: IssueRecord, time_zone: str) -> JsonDict:
    """Render every field of an issue (the `*all` set) in REST v3 form.

    The issue's own fields are cached per (issue version, time zone); fields
    that show other objects (parent, sub-tasks, sprints, comments) are
    rendered fresh because those objects change on their own.
    """
    cache_key = (issue.id, issue.version, time_zone)
    own = site.render_cache.get(cache_key)
    if own is None:
        if len(site.render_cache) >= RENDER_CACHE_MAX_ENTRIES:
            # Entries of older versions are never read again, so a full reset is cheap.
            site.render_cache.clear()
        own = _own_fields(site, issue, time_zone)
        site.render_cache[cache_key] = own

    fields = dict(own)
    parent = site.issues.get(issue.parent_id) if issue.parent_id is not None else None
    if parent is not None:
        fields["parent"] = issue_reference(site, parent)
    fields["subtasks"] = [issue_reference(site, child) for child in site.subtasks_of(issue)]

    sprints = [
        site.sprints[sprint_id] for sprint_id in issue.sprint_ids if sprint_id in site.sprints
    ]
    fields[site.sprint_field_id] = [sprint_field_value(sprint) for sprint in sprints] or None
    epic_parent = parent is not None and site.issue_types[parent.issue_type_id].hierarchy_level == 1
    fields[site.epic_link_field_id] = parent.key if epic_parent and parent is not None else None

    recent = issue.comments[-EMBEDDED_COMMENT_LIMIT:]
    fields["comment"] = {
        "comments": [comment(site, issue, record, time_zone) for record in recent],
        "self": f"{site.url}/rest/api/3/issue/{issue.id}/comment",
        "maxResults": len(recent),
        "total": len(issue.comments),
        "startAt": len(issue.comments) - len(recent),
    }
    fields["worklog"] = {"startAt": 0, "maxResults": 20, "total": 0, "worklogs": []}
    return fields


NAVIGABLE_EXCLUDED = frozenset({"comment", "worklog", "timetracking", "attachment"})


def select_fields(site: Site, rendered: JsonDict, requested: list[str] | None) -> JsonDict:
    """Pick the requested fields the way Jira reads the `fields` parameter.

    `*all` and `*navigable` select groups, a leading `-` removes a field, and
    unknown names are ignored.
    """
    if not requested:
        return {}

    chosen: set[str] = set()
    removed: set[str] = set()
    for name in requested:
        if name == "*all":
            chosen.update(rendered)
        elif name == "*navigable":
            chosen.update(key for key in rendered if key not in NAVIGABLE_EXCLUDED)
        elif name.startswith("-"):
            removed.add(name[1:])
        else:
            chosen.add(site.field_alias(name))
    return {key: value for key, value in rendered.items() if key in chosen and key not in removed}


def issue_v3(
    site: Site,
    issue: IssueRecord,
    time_zone: str,
    *,
    fields: list[str] | None,
    expand: set[str],
    changelog_limit: int = EMBEDDED_CHANGELOG_LIMIT,
) -> JsonDict:
    body: JsonDict = {
        "expand": (
            "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations"
        ),
        "id": str(issue.id),
        "self": f"{site.url}/rest/api/3/issue/{issue.id}",
        "key": issue.key,
    }
    if fields:
        body["fields"] = select_fields(site, all_fields(site, issue, time_zone), fields)

    if "changelog" in expand:
        # NOTE: embedded histories are the most recent ones, newest first,
        # which matches the capped history of the token-paged search.
        recent = list(reversed(issue.histories[-changelog_limit:]))
        body["changelog"] = {
            "startAt": 0,
            "maxResults": len(recent),
            "total": len(issue.histories),
            "histories": [history(site, record, time_zone) for record in recent],
        }
    if "names" in expand and fields:
        body["names"] = {key: site.field_name(key) for key in body["fields"]}
    return body


def issue_v2(site: Site, issue: IssueRecord, time_zone: str) -> JsonDict:
    """Render an issue as webhook bodies carry it: REST v2 URLs and wiki-markup text.

    The issue's `self` has no `/issue/` segment, as in Jira Cloud webhook payloads.
    """
    fields = all_fields(site, issue, time_zone)
    fields.pop("comment", None)
    fields.pop("worklog", None)
    description = site.description_of(issue)
    fields["description"] = None

    # Swapping the API version in every URL is safe because no user text is in the fields
    # except summary and labels, which are restored after the swap.
    converted = orjson.loads(orjson.dumps(fields).replace(b"/rest/api/3/", b"/rest/api/2/"))
    converted["summary"] = issue.summary
    converted["labels"] = list(issue.labels)
    converted["description"] = site.wiki(description) if description is not None else None

    # Captured webhook bodies carry the time-tracking estimates, even when empty, and
    # no project `style`, which only REST v3 responses show.
    converted["project"].pop("style", None)
    converted.setdefault("timeestimate", None)
    converted.setdefault("aggregatetimeoriginalestimate", None)
    return {
        "id": str(issue.id),
        "self": f"{site.url}/rest/api/2/{issue.id}",
        "key": issue.key,
        "fields": converted,
    }


def issue_v2_trimmed(site: Site, issue: IssueRecord, time_zone: str) -> JsonDict:
    """Render the reduced issue that comment webhooks carry."""
    full = issue_v2(site, issue, time_zone)
    keep = ("summary", "issuetype", "project", "assignee", "priority", "status")
    full["fields"] = {key: full["fields"].get(key) for key in keep}
    return full


def plain_text(document: JsonDict | None) -> str:
    return adf.plain_text(document)
