"""Jira Cloud REST API v3 routes under `/ex/jira/{cloud_id}/rest/api/3/...`.

Every route authenticates the bearer token through `world.oauth` unless the
app was built with authentication off (unit tests), in which case the caller
is the account named by the `X-Sandbox-Account` header or the site's
consenting account.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from jira_sandbox import adf, jql, render
from jira_sandbox.model import IssueRecord, JiraApiError, SandboxError, World
from jira_sandbox.site import Site

logger = logging.getLogger(__name__)

API = "/ex/jira/{cloud_id}/rest/api/3"
READ = ("read:jira-work",)
WRITE = ("write:jira-work",)
SEARCH_DEFAULT_MAX = 50
SEARCH_MAX_WITH_FIELDS = 100
SEARCH_MAX_ID_ONLY = 5000
BULKFETCH_MAX = 100
CHANGELOG_BULKFETCH_MAX_ISSUES = 1000
TOKEN_LIFETIME_MS = 7 * 86_400_000
EDIT_ID_HEADER = "x-naumu-edit-id"

Handler = Callable[[Request], Awaitable[Response]]


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(error: JiraApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status)


@dataclass
class Caller:
    site: Site
    account_id: str
    time_zone: str


@dataclass
class SearchSnapshot:
    """Ordered result ids of one search; every page token of the walk points into it."""

    issue_ids: list[int]
    fields: list[str] | None
    expand: set[str]
    created_ms: int
    # Token of the page that starts at each offset, so a repeated token gets the same next token.
    tokens_by_offset: dict[int, str] = field(default_factory=dict)


@dataclass
class PageToken:
    snapshot: SearchSnapshot
    offset: int
    max_results: int


class ApiContext:
    """State shared by the REST, Agile and control routes of one app."""

    def __init__(self, world: World, *, require_auth: bool = True) -> None:
        self.world = world
        self.require_auth = require_auth
        self.page_tokens: dict[str, PageToken] = {}

    def site(self, request: Request) -> Site:
        cloud_id = request.path_params["cloud_id"]
        site = self.world.sites.get(cloud_id)
        if site is None:
            raise JiraApiError(404, [f"Site with cloud id '{cloud_id}' does not exist."])
        return site

    def caller(self, request: Request, scopes: tuple[str, ...]) -> Caller:
        """Return the authenticated caller, raising OAuthError or JiraApiError."""
        site = self.site(request)
        if self.require_auth and self.world.oauth is not None:
            grant = self.world.oauth.authenticate(
                request.headers.get("authorization"), site.cloud_id, required_scopes=scopes
            )
            account_id = grant.account_id
        else:
            account_id = request.headers.get("x-sandbox-account") or site.app_account_id
        account = self.world.accounts.get(account_id)
        if account is not None:
            time_zone = account.time_zone
        elif account_id in site.users:
            time_zone = site.users[account_id].time_zone
        else:
            time_zone = "UTC"
        return Caller(site, account_id, time_zone)

    def route(
        self, path: str, handler: Handler, methods: list[str], *, write: bool = False
    ) -> Route:
        """Wrap a handler so Jira-shaped errors become responses and writes are logged."""

        async def endpoint(request: Request) -> Response:
            body_bytes = await request.body() if write else b""
            try:
                response = await handler(request)
            except JiraApiError as error:
                response = error_response(error)
            except SandboxError as error:
                if not hasattr(error, "status") or not hasattr(error, "body"):
                    raise
                status = int(error.status)
                response = JSONResponse(error.body, status_code=status)
            if write:
                self._log_write(request, body_bytes, response.status_code)
            return response

        return Route(path, endpoint, methods=methods)

    def _log_write(self, request: Request, body: bytes, status: int) -> None:
        site = self.world.sites.get(request.path_params.get("cloud_id", ""))
        if site is None:
            return
        try:
            parsed: Any = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            parsed = body.decode("utf-8", "replace")
        entry = {
            "method": request.method,
            "path": request.url.path,
            "json": parsed,
            "edit_id": request.headers.get(EDIT_ID_HEADER),
            "status": status,
            "time_ms": self.world.clock.peek_ms(),
        }
        site.write_log.append(entry)
        logger.info(
            "REST write cloud_id=%s method=%s path=%s status=%s edit_id=%s",
            site.cloud_id,
            request.method,
            request.url.path,
            status,
            entry["edit_id"],
        )


async def read_json(request: Request) -> Any:
    body = await request.body()
    if not body:
        return {}
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise JiraApiError(
            400,
            [
                "Invalid request payload. Refer to the REST API documentation and try again. "
                f"({error})"
            ],
        ) from error


def split_list(values: list[str]) -> list[str] | None:
    """Read a repeated or comma-separated query parameter."""
    if not values:
        return None
    result = [item.strip() for value in values for item in value.split(",") if item.strip()]
    return result


def int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as error:
        raise JiraApiError(
            400, [f"The value '{raw}' for parameter '{name}' is not a valid integer."]
        ) from error


def offset_page(values: list[Any], start_at: int, max_results: int) -> tuple[list[Any], bool]:
    page = values[start_at : start_at + max_results]
    return page, start_at + len(page) >= len(values)


class RestApi:
    def __init__(self, context: ApiContext) -> None:
        self.context = context

    def routes(self) -> list[BaseRoute]:
        route = self.context.route
        return [
            route(f"{API}/search/jql", self.search, ["GET", "POST"]),
            route(f"{API}/search/approximate-count", self.approximate_count, ["POST"]),
            route(f"{API}/issue/bulkfetch", self.bulkfetch, ["POST"]),
            route(f"{API}/issue/{{key}}", self.get_issue, ["GET"]),
            route(f"{API}/issue/{{key}}", self.edit_issue, ["PUT"], write=True),
            route(f"{API}/issue/{{key}}/transitions", self.get_transitions, ["GET"]),
            route(f"{API}/issue/{{key}}/transitions", self.post_transition, ["POST"], write=True),
            route(f"{API}/issue/{{key}}/assignee", self.assign, ["PUT"], write=True),
            route(f"{API}/issue/{{key}}/comment", self.get_comments, ["GET"]),
            route(f"{API}/issue/{{key}}/comment", self.add_comment, ["POST"], write=True),
            route(f"{API}/issue/{{key}}/changelog", self.get_changelog, ["GET"]),
            route(f"{API}/changelog/bulkfetch", self.changelog_bulkfetch, ["POST"]),
            route(f"{API}/field", self.fields, ["GET"]),
            route(f"{API}/project/search", self.project_search, ["GET"]),
            route(f"{API}/project/{{key}}", self.get_project, ["GET"]),
            route(f"{API}/priority", self.priorities, ["GET"]),
            route(f"{API}/status", self.statuses, ["GET"]),
            route(f"{API}/statuses", self.statuses, ["GET"]),
            route(f"{API}/resolution", self.resolutions, ["GET"]),
            route(f"{API}/users/search", self.users_search, ["GET"]),
            route(f"{API}/user", self.get_user, ["GET"]),
            route(f"{API}/myself", self.myself, ["GET"]),
        ]

    # Search

    async def search(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        if request.method == "POST":
            body = await read_json(request)
            jql_text = body.get("jql", "")
            token = body.get("nextPageToken")
            max_results = body.get("maxResults", SEARCH_DEFAULT_MAX)
            fields = body.get("fields")
            expand_raw = body.get("expand") or ""
            if isinstance(expand_raw, list):
                expand_raw = ",".join(expand_raw)
        else:
            params = request.query_params
            jql_text = params.get("jql", "")
            token = params.get("nextPageToken")
            max_results = int_param(request, "maxResults", SEARCH_DEFAULT_MAX)
            fields = split_list(params.getlist("fields"))
            expand_raw = params.get("expand", "")
        expand = {item.strip() for item in str(expand_raw).split(",") if item.strip()}
        if not isinstance(max_results, int) or max_results < 0:
            raise JiraApiError(
                400,
                [f"The value '{max_results}' for 'maxResults' is invalid; use a positive integer."],
            )

        site = caller.site
        id_only = not fields or set(fields) <= {"id", "key"}
        cap = (
            SEARCH_MAX_ID_ONLY if id_only and "changelog" not in expand else SEARCH_MAX_WITH_FIELDS
        )
        page_size = min(max_results or SEARCH_DEFAULT_MAX, cap)

        now = self.context.world.clock.peek_ms()
        if token:
            page_token = self.context.page_tokens.get(token)
            if page_token is None or now - page_token.snapshot.created_ms > TOKEN_LIFETIME_MS:
                raise JiraApiError(400, ["The provided next page token is invalid or expired."])
            snapshot, offset = page_token.snapshot, page_token.offset
            page_size = page_token.max_results
        else:
            query = jql.compile_jql(
                jql_text, site, account_id=caller.account_id, time_zone=caller.time_zone, now_ms=now
            )
            matches = jql.search(site, query, caller.account_id)
            snapshot = SearchSnapshot([issue.id for issue in matches], fields, expand, now)
            offset = 0

        page_ids = snapshot.issue_ids[offset : offset + page_size]
        issues = [
            self._search_issue(caller, site.issues[issue_id], snapshot.fields, snapshot.expand)
            for issue_id in page_ids
            if not site.issues[issue_id].deleted
            and site.is_visible(site.issues[issue_id], caller.account_id)
        ]
        next_offset = offset + len(page_ids)
        body_out: dict[str, Any] = {"issues": issues}
        if next_offset < len(snapshot.issue_ids):
            next_token = snapshot.tokens_by_offset.get(next_offset)
            if next_token is None:
                next_token = secrets.token_urlsafe(24)
                snapshot.tokens_by_offset[next_offset] = next_token
                self.context.page_tokens[next_token] = PageToken(snapshot, next_offset, page_size)
            body_out["nextPageToken"] = next_token
            body_out["isLast"] = False
        else:
            body_out["isLast"] = True
        return JSONResponse(body_out)

    def _search_issue(
        self, caller: Caller, issue: IssueRecord, fields: list[str] | None, expand: set[str]
    ) -> dict[str, Any]:
        if not fields or set(fields) <= {"id"}:
            return {"id": str(issue.id)}
        return render.issue_v3(caller.site, issue, caller.time_zone, fields=fields, expand=expand)

    async def approximate_count(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        body = await read_json(request)
        query = jql.compile_jql(
            body.get("jql", ""),
            caller.site,
            account_id=caller.account_id,
            time_zone=caller.time_zone,
            now_ms=self.context.world.clock.peek_ms(),
        )
        return JSONResponse({"count": len(jql.search(caller.site, query, caller.account_id))})

    async def bulkfetch(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        body = await read_json(request)
        requested = body.get("issueIdsOrKeys")
        if not isinstance(requested, list) or not requested:
            raise JiraApiError(
                400, errors={"issueIdsOrKeys": "You must provide at least one issue id or key."}
            )
        if len(requested) > BULKFETCH_MAX:
            raise JiraApiError(
                400,
                [
                    f"You can request at most {BULKFETCH_MAX} issues; {len(requested)} were "
                    "requested."
                ],
            )
        fields = body.get("fields") or ["*navigable"]
        expand = set(body.get("expand") or [])

        found: dict[int, IssueRecord] = {}
        for value in requested:
            issue = caller.site.find_issue(str(value))
            if issue is not None and caller.site.is_visible(issue, caller.account_id):
                found[issue.id] = issue
        issues = [
            render.issue_v3(
                caller.site,
                found[issue_id],
                caller.time_zone,
                fields=fields,
                expand=expand,
                changelog_limit=40,
            )
            for issue_id in sorted(found)
        ]
        return JSONResponse({"expand": "schema,names", "issues": issues, "issueErrors": []})

    # Single issue

    async def get_issue(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        issue = caller.site.visible_issue(request.path_params["key"], caller.account_id)
        fields = split_list(request.query_params.getlist("fields")) or ["*all"]
        expand = set(split_list(request.query_params.getlist("expand")) or [])
        return JSONResponse(
            render.issue_v3(caller.site, issue, caller.time_zone, fields=fields, expand=expand)
        )

    async def edit_issue(self, request: Request) -> Response:
        caller = self.context.caller(request, WRITE)
        site = caller.site
        issue = site.visible_issue(request.path_params["key"], caller.account_id)
        body = await read_json(request)
        changes, sprint_id = parse_edit(site, issue, body)

        if changes:
            site.edit_issue(issue, actor_id=caller.account_id, **changes)
        if sprint_id is not None:
            site.move_to_sprint(sprint_id, [issue], actor_id=caller.account_id)

        if request.query_params.get("returnIssue", "").lower() == "true":
            return JSONResponse(
                render.issue_v3(site, issue, caller.time_zone, fields=["*all"], expand=set())
            )
        return Response(status_code=204)

    async def get_transitions(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        site = caller.site
        issue = site.visible_issue(request.path_params["key"], caller.account_id)
        with_fields = "transitions.fields" in (request.query_params.get("expand") or "")
        requested_id = request.query_params.get("transitionId")
        transitions = [
            render_transition(site, transition, with_fields=with_fields)
            for transition in site.available_transitions(issue)
            if requested_id is None or transition.id == requested_id
        ]
        return JSONResponse({"expand": "transitions", "transitions": transitions})

    async def post_transition(self, request: Request) -> Response:
        caller = self.context.caller(request, WRITE)
        site = caller.site
        issue = site.visible_issue(request.path_params["key"], caller.account_id)
        body = await read_json(request)
        transition = body.get("transition") or {}
        transition_id = str(transition.get("id", "")) if isinstance(transition, dict) else ""
        if not transition_id:
            raise JiraApiError(400, ["Transition id must be specified."])

        resolution_id = None
        resolution = (body.get("fields") or {}).get("resolution")
        if resolution is not None:
            resolution_id = resolve_named(site.resolutions, resolution, "resolution")
        site.transition(
            issue, transition_id, resolution_id=resolution_id, actor_id=caller.account_id
        )

        for operation in (body.get("update") or {}).get("comment", []):
            added = operation.get("add") if isinstance(operation, dict) else None
            if isinstance(added, dict) and adf.is_document(added.get("body")):
                site.add_comment(issue, added["body"], actor_id=caller.account_id)
        return Response(status_code=204)

    async def assign(self, request: Request) -> Response:
        caller = self.context.caller(request, WRITE)
        site = caller.site
        issue = site.visible_issue(request.path_params["key"], caller.account_id)
        body = await read_json(request)
        if not isinstance(body, dict) or "accountId" not in body:
            raise JiraApiError(
                400, errors={"accountId": "accountId is required; use null to unassign."}
            )
        account_id = body["accountId"]
        if account_id == "-1":
            account_id = None
        if account_id is not None and account_id not in site.users:
            raise JiraApiError(404, [f"User with account id '{account_id}' does not exist."])
        site.assign(issue, account_id, actor_id=caller.account_id)
        return Response(status_code=204)

    async def get_comments(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        issue = caller.site.visible_issue(request.path_params["key"], caller.account_id)
        start_at = int_param(request, "startAt", 0)
        max_results = min(int_param(request, "maxResults", 100), 100)
        page, _ = offset_page(issue.comments, start_at, max_results)
        return JSONResponse(
            {
                "startAt": start_at,
                "maxResults": max_results,
                "total": len(issue.comments),
                "comments": [
                    render.comment(caller.site, issue, record, caller.time_zone) for record in page
                ],
            }
        )

    async def add_comment(self, request: Request) -> Response:
        caller = self.context.caller(request, WRITE)
        issue = caller.site.visible_issue(request.path_params["key"], caller.account_id)
        body = await read_json(request)
        if not adf.is_document(body.get("body")):
            raise JiraApiError(
                400,
                errors={"comment": "Comment body must be an Atlassian Document Format document."},
            )
        record = caller.site.add_comment(issue, body["body"], actor_id=caller.account_id)
        return JSONResponse(
            render.comment(caller.site, issue, record, caller.time_zone), status_code=201
        )

    async def get_changelog(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        site = caller.site
        issue = site.visible_issue(request.path_params["key"], caller.account_id)
        start_at = int_param(request, "startAt", 0)
        max_results = min(int_param(request, "maxResults", 100), 100)
        page, is_last = offset_page(issue.histories, start_at, max_results)
        base = f"{site.url}/rest/api/3/issue/{issue.key}/changelog"
        body: dict[str, Any] = {"self": f"{base}?maxResults={max_results}&startAt={start_at}"}
        if not is_last:
            body["nextPage"] = f"{base}?maxResults={max_results}&startAt={start_at + len(page)}"
        body.update(
            {
                "maxResults": max_results,
                "startAt": start_at,
                "total": len(issue.histories),
                "isLast": is_last,
                "values": [render.history(site, record, caller.time_zone) for record in page],
            }
        )
        return JSONResponse(body)

    async def changelog_bulkfetch(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        site = caller.site
        body = await read_json(request)
        requested = body.get("issueIdsOrKeys") or []
        if not requested or len(requested) > CHANGELOG_BULKFETCH_MAX_ISSUES:
            raise JiraApiError(
                400, [f"Provide between 1 and {CHANGELOG_BULKFETCH_MAX_ISSUES} issue ids or keys."]
            )
        field_ids = set(body.get("fieldIds") or [])
        if len(field_ids) > 10:
            raise JiraApiError(400, ["You can filter by at most 10 field ids."])
        max_results = min(int(body.get("maxResults") or 1000), 10_000)
        skip = 0
        token = body.get("nextPageToken")
        if token:
            try:
                skip = int(token)
            except ValueError as error:
                raise JiraApiError(
                    400, ["The provided next page token is invalid or expired."]
                ) from error

        issues = sorted(
            {
                found.id: found
                for value in requested
                if (found := site.find_issue(str(value))) is not None
                and site.is_visible(found, caller.account_id)
            }.values(),
            key=lambda issue: issue.id,
        )
        entries = []
        position = 0
        emitted = 0
        next_token: str | None = None
        for issue in issues:
            histories = []
            for record in issue.histories:
                items = [
                    item
                    for item in record.items
                    if not field_ids or item.get("fieldId") in field_ids
                ]
                if not items:
                    continue
                position += 1
                if position <= skip:
                    continue
                if emitted >= max_results:
                    next_token = str(position - 1)
                    break
                emitted += 1
                histories.append(
                    {
                        "author": render.user(site, site.users[record.author_id]),
                        "created": record.created_ms,
                        "id": str(record.id),
                        "items": items,
                    }
                )
            if histories:
                entries.append({"changeHistories": histories, "issueId": str(issue.id)})
            if next_token is not None:
                break
        result: dict[str, Any] = {"issueChangeLogs": entries}
        if next_token is not None:
            result["nextPageToken"] = next_token
        return JSONResponse(result)

    # Catalogue

    async def fields(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        return JSONResponse(field_catalogue(caller.site))

    async def project_search(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        site = caller.site
        start_at = int_param(request, "startAt", 0)
        max_results = min(int_param(request, "maxResults", 50), 100)
        projects = sorted(site.visible_projects(caller.account_id), key=lambda project: project.key)
        page, is_last = offset_page(projects, start_at, max_results)
        base = f"{site.url}/rest/api/3/project/search"
        body: dict[str, Any] = {"self": f"{base}?maxResults={max_results}&startAt={start_at}"}
        if not is_last:
            body["nextPage"] = f"{base}?maxResults={max_results}&startAt={start_at + len(page)}"
        body.update(
            {
                "maxResults": max_results,
                "startAt": start_at,
                "total": len(projects),
                "isLast": is_last,
                "values": [render.project_full(site, project) for project in page],
            }
        )
        return JSONResponse(body)

    async def get_project(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        key = request.path_params["key"]
        project = caller.site.project_by_key_or_id(key)
        if project is None or project not in caller.site.visible_projects(caller.account_id):
            raise JiraApiError(404, [f"No project could be found with key '{key}'."])
        return JSONResponse(render.project_full(caller.site, project))

    async def priorities(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        site = caller.site
        return JSONResponse(
            [
                {**render.priority(site, item), "statusColor": item.color, "description": item.name}
                for item in site.priorities.values()
            ]
        )

    async def statuses(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        return JSONResponse(
            [render.status(caller.site, item) for item in caller.site.statuses.values()]
        )

    async def resolutions(self, request: Request) -> Response:
        caller = self.context.caller(request, READ)
        site = caller.site
        return JSONResponse(
            [
                {
                    "self": f"{site.url}/rest/api/3/resolution/{item.id}",
                    "id": item.id,
                    "description": item.description,
                    "name": item.name,
                }
                for item in site.resolutions.values()
            ]
        )

    async def users_search(self, request: Request) -> Response:
        caller = self.context.caller(request, ("read:jira-user",))
        site = caller.site
        start_at = int_param(request, "startAt", 0)
        max_results = min(int_param(request, "maxResults", 50), 1000)
        users = list(site.users.values())
        page, _ = offset_page(users, start_at, max_results)
        return JSONResponse([render.user(site, record) for record in page])

    async def get_user(self, request: Request) -> Response:
        caller = self.context.caller(request, ("read:jira-user",))
        account_id = request.query_params.get("accountId", "")
        record = caller.site.users.get(account_id)
        if record is None:
            raise JiraApiError(404, [f"User with account id '{account_id}' does not exist."])
        return JSONResponse(render.user(caller.site, record))

    async def myself(self, request: Request) -> Response:
        caller = self.context.caller(request, ("read:jira-user",))
        record = caller.site.users.get(caller.account_id)
        if record is None:
            raise JiraApiError(404, [f"User with account id '{caller.account_id}' does not exist."])
        body = render.user(caller.site, record)
        body["locale"] = record.locale
        return JSONResponse(body)


def resolve_named(catalogue: dict[str, Any], value: Any, field_name: str) -> str:
    """Return the id of a catalogue entry given `{"id": ...}` or `{"name": ...}`."""
    if isinstance(value, dict):
        if "id" in value and str(value["id"]) in catalogue:
            return str(value["id"])
        if "name" in value:
            for key, item in catalogue.items():
                if item.name == value["name"]:
                    return str(key)
    raise JiraApiError(
        400,
        errors={
            field_name: f"The {field_name} {value!r} is invalid; specify an existing id or name."
        },
    )


SETTABLE = {"summary", "description", "priority", "labels", "assignee", "parent"}


def parse_edit(site: Site, issue: IssueRecord, body: Any) -> tuple[dict[str, Any], int | None]:
    """Translate a PUT issue body into `Site.edit_issue` keyword arguments.

    Returns the changes and the sprint id to move the issue to (or None).
    Raises JiraApiError(400) with per-field errors as Jira does.
    """
    if not isinstance(body, dict):
        raise JiraApiError(
            400, ["Invalid request payload. Refer to the REST API documentation and try again."]
        )
    fields = body.get("fields") or {}
    update = body.get("update") or {}
    errors: dict[str, str] = {}

    for name in sorted(set(fields) & set(update)):
        errors[name] = (
            f"Field '{name}' cannot be set in both 'fields' and 'update'; use one of them."
        )
    operations: dict[str, Any] = {}
    for name, value in fields.items():
        operations[name] = [{"set": value}]
    for name, value in update.items():
        if not isinstance(value, list):
            errors[name] = f"The update of field '{name}' must be a list of operations."
            continue
        operations[name] = value

    changes: dict[str, Any] = {}
    sprint_id: int | None = None
    labels = list(issue.labels)
    for name, ops in operations.items():
        if name in errors:
            continue
        key = site.field_alias(name)
        if key == site.sprint_field_id:
            value = ops[-1].get("set") if ops and isinstance(ops[-1], dict) else None
            if not isinstance(value, int) or value not in site.sprints:
                errors[name] = (
                    f"Sprint id {value!r} is invalid; specify the numeric id of an open sprint."
                )
            else:
                sprint_id = value
            continue
        if key not in SETTABLE:
            errors[name] = (
                f"Field '{name}' cannot be set. It is not on the appropriate screen, or unknown."
            )
            continue
        for operation in ops:
            if not isinstance(operation, dict) or len(operation) != 1:
                errors[name] = f"Each operation on '{name}' must be an object with one verb."
                break
            verb, value = next(iter(operation.items()))
            try:
                if key == "labels":
                    labels = apply_label_operation(site, labels, verb, value)
                    changes["labels"] = labels
                elif verb != "set":
                    errors[name] = (
                        f"Operation '{verb}' is not supported for field '{name}'; use 'set'."
                    )
                else:
                    changes.update(parse_set(site, key, value))
            except JiraApiError as error:
                errors.update(error.errors or {name: "; ".join(error.error_messages)})
    if errors:
        raise JiraApiError(400, errors=errors)
    return changes, sprint_id


def apply_label_operation(site: Site, labels: list[str], verb: str, value: Any) -> list[str]:
    if verb == "set":
        if not isinstance(value, list):
            raise JiraApiError(400, errors={"labels": "Setting labels needs a list of strings."})
        return site.check_labels(value)
    if verb == "add":
        site.check_labels([value])
        return labels if value in labels else [*labels, value]
    if verb == "remove":
        return [label for label in labels if label != value]
    raise JiraApiError(
        400,
        errors={
            "labels": f"Operation '{verb}' is not supported for labels; use set, add or remove."
        },
    )


def parse_set(site: Site, key: str, value: Any) -> dict[str, Any]:
    if key == "summary":
        return {"summary": site.check_summary(value)}
    if key == "description":
        if value is not None and not adf.is_document(value):
            raise JiraApiError(
                400,
                errors={
                    "description": (
                        "Operation value must be an Atlassian Document (see the Atlassian "
                        "Document Format)."
                    )
                },
            )
        return {"description": value}
    if key == "priority":
        if value is None:
            return {"priority_id": None}
        return {"priority_id": resolve_named(site.priorities, value, "priority")}
    if key == "assignee":
        if value is None:
            return {"assignee_id": None}
        account_id = value.get("accountId") if isinstance(value, dict) else None
        return {"assignee_id": site.check_assignee(account_id)}
    if key == "parent":
        if value is None or (isinstance(value, dict) and value.get("none") is True):
            return {"parent_id": None}
        reference = None
        if isinstance(value, dict):
            reference = value.get("id") or value.get("key")
        parent = site.find_issue(str(reference)) if reference is not None else None
        if parent is None:
            raise JiraApiError(
                400, errors={"parent": f"Could not find issue by id or key: {reference}"}
            )
        return {"parent_id": parent.id}
    raise JiraApiError(
        400,
        errors={
            key: f"Field '{key}' cannot be set. It is not on the appropriate screen, or unknown."
        },
    )


def render_transition(site: Site, transition: Any, *, with_fields: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": transition.id,
        "name": transition.name,
        "to": render.status(site, site.statuses[transition.to_status_id]),
        "hasScreen": transition.requires_resolution,
        "isGlobal": transition.from_status_ids is None,
        "isInitial": False,
        "isAvailable": True,
        "isConditional": False,
        "isLooped": False,
    }
    if with_fields:
        body["fields"] = {}
        if transition.requires_resolution:
            body["fields"]["resolution"] = {
                "required": True,
                "schema": {"type": "resolution", "system": "resolution"},
                "name": "Resolution",
                "key": "resolution",
                "operations": ["set"],
                "allowedValues": [
                    {
                        "self": f"{site.url}/rest/api/3/resolution/{item.id}",
                        "id": item.id,
                        "name": item.name,
                        "description": item.description,
                    }
                    for item in site.resolutions.values()
                ],
            }
    return body


def field_catalogue(site: Site) -> list[dict[str, Any]]:
    system = [
        ("summary", "Summary", "string"),
        ("description", "Description", "string"),
        ("status", "Status", "status"),
        ("priority", "Priority", "priority"),
        ("labels", "Labels", "array"),
        ("assignee", "Assignee", "user"),
        ("reporter", "Reporter", "user"),
        ("creator", "Creator", "user"),
        ("issuetype", "Issue Type", "issuetype"),
        ("project", "Project", "project"),
        ("parent", "Parent", "issuelink"),
        ("created", "Created", "datetime"),
        ("updated", "Updated", "datetime"),
        ("resolution", "Resolution", "resolution"),
        ("comment", "Comment", "comments-page"),
        ("subtasks", "Sub-tasks", "array"),
    ]
    catalogue: list[dict[str, Any]] = [
        {
            "id": field_id,
            "key": field_id,
            "name": name,
            "custom": False,
            "orderable": True,
            "navigable": True,
            "searchable": True,
            "clauseNames": [field_id],
            "schema": {"type": schema_type, "system": field_id},
        }
        for field_id, name, schema_type in system
    ]
    custom = [
        (
            site.sprint_field_id,
            "Sprint",
            {"type": "array", "items": "json", "custom": "com.pyxis.greenhopper.jira:gh-sprint"},
        ),
        (
            site.epic_link_field_id,
            "Epic Link",
            {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-epic-link"},
        ),
        (
            site.rank_field_id,
            "Rank",
            {"type": "any", "custom": "com.pyxis.greenhopper.jira:gh-lexo-rank"},
        ),
    ]
    for field_id, name, schema in custom:
        number = int(field_id.removeprefix("customfield_"))
        catalogue.append(
            {
                "id": field_id,
                "key": field_id,
                "name": name,
                "untranslatedName": name,
                "custom": True,
                "orderable": True,
                "navigable": True,
                "searchable": True,
                "clauseNames": [f"cf[{number}]", name],
                "schema": {**schema, "customId": number},
            }
        )
    return catalogue
