"""Sandbox control routes under `/_sandbox/...`; real Jira has no such paths.

They let tests and demos change a site the way a person in Jira's UI would
(create, edit, transition, move, delete, comment, run sprints, remove a
project permission), read the truth, set faults and read the webhook deliveries
they dropped, age or delete the app's webhook registrations, and move the
clock. Changes
are attributed to `actor` (an account id) or, when it is absent, to the
site's first active human user other than the consenting account.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from jira_sandbox import adf, render
from jira_sandbox.model import JiraApiError
from jira_sandbox.rest import ApiContext, JSONResponse, read_json
from jira_sandbox.site import Site
from jira_sandbox.truth import truth

if TYPE_CHECKING:
    from jira_sandbox.webhooks import WebhookDispatcher

SITE = "/_sandbox/sites/{cloud_id}"


def _description(value: Any) -> dict[str, Any] | None:
    if value is None or adf.is_document(value):
        return value  # type: ignore[no-any-return]
    if isinstance(value, str):
        return adf.from_plain_text(value)
    raise JiraApiError(400, errors={"description": "Use an ADF document, a plain string or null."})


def _human_actor(site: Site, body: dict[str, Any]) -> str:
    actor = body.get("actor")
    if isinstance(actor, str):
        if actor not in site.users:
            raise JiraApiError(
                400, errors={"actor": f"User '{actor}' does not exist on site {site.name}."}
            )
        return actor
    for user in site.users.values():
        if (
            user.active
            and user.account_type == "atlassian"
            and user.account_id != site.app_account_id
        ):
            return user.account_id
    return site.app_account_id


def _issue_summary(site: Site, key: str) -> dict[str, Any]:
    issue = site.find_issue(key)
    if issue is None:
        raise JiraApiError(404, [f"Issue '{key}' does not exist."])
    return {"id": str(issue.id), "key": issue.key, "updated": render.format_utc(issue.updated_ms)}


class ControlApi:
    def __init__(self, context: ApiContext) -> None:
        self.context = context

    def routes(self) -> list[BaseRoute]:
        route = self.context.route
        return [
            route("/_sandbox/sites", self.sites, ["GET"]),
            route("/_sandbox/clock", self.clock, ["GET"]),
            route("/_sandbox/clock/advance", self.advance_clock, ["POST"]),
            route(f"{SITE}/truth", self.truth, ["GET"]),
            route(f"{SITE}/write-log", self.write_log, ["GET"]),
            route(f"{SITE}/faults", self.faults, ["GET", "PUT"]),
            route(f"{SITE}/faults/dropped", self.dropped, ["GET"]),
            route(f"{SITE}/webhooks", self.webhooks, ["GET"]),
            route(f"{SITE}/webhooks/{{webhook_id:int}}", self.set_webhook_expiry, ["PATCH"]),
            route(f"{SITE}/webhooks/{{webhook_id:int}}", self.delete_webhook, ["DELETE"]),
            route(f"{SITE}/issues", self.create_issue, ["POST"]),
            route(f"{SITE}/issues/{{key}}", self.edit_issue, ["PUT", "PATCH"]),
            route(f"{SITE}/issues/{{key}}", self.delete_issue, ["DELETE"]),
            route(f"{SITE}/issues/{{key}}/transition", self.transition, ["POST"]),
            route(f"{SITE}/issues/{{key}}/move", self.move, ["POST"]),
            route(f"{SITE}/issues/{{key}}/comments", self.comment, ["POST"]),
            route(f"{SITE}/sprints", self.create_sprint, ["POST"]),
            route(f"{SITE}/sprints/{{sprint_id:int}}/start", self.start_sprint, ["POST"]),
            route(f"{SITE}/sprints/{{sprint_id:int}}/close", self.close_sprint, ["POST"]),
            route(f"{SITE}/sprints/{{sprint_id:int}}/issues", self.sprint_issues, ["POST"]),
            route(f"{SITE}/projects/{{project}}/hide", self.hide, ["POST"]),
            route(f"{SITE}/projects/{{project}}/unhide", self.unhide, ["POST"]),
        ]

    async def sites(self, request: Request) -> Response:
        world = self.context.world
        return JSONResponse(
            [
                {
                    "cloud_id": site.cloud_id,
                    "name": site.name,
                    "url": site.url,
                    "app_account_id": site.app_account_id,
                    "sprint_field_id": site.sprint_field_id,
                    "projects": [project.key for project in site.projects.values()],
                    "issues": sum(1 for _ in site.live_issues()),
                }
                for site in world.sites.values()
            ]
        )

    async def clock(self, request: Request) -> Response:
        return JSONResponse({"now_ms": self.context.world.clock.peek_ms()})

    async def advance_clock(self, request: Request) -> Response:
        body = await read_json(request)
        try:
            self.context.world.clock.advance(
                days=float(body.get("days", 0)), seconds=float(body.get("seconds", 0))
            )
        except (TypeError, ValueError) as error:
            raise JiraApiError(400, [str(error)]) from error
        return JSONResponse({"now_ms": self.context.world.clock.peek_ms()})

    async def truth(self, request: Request) -> Response:
        site = self.context.site(request)
        return JSONResponse(truth(site, request.query_params.get("account")))

    async def write_log(self, request: Request) -> Response:
        return JSONResponse(self.context.site(request).write_log)

    async def faults(self, request: Request) -> Response:
        site = self.context.site(request)
        registry = self.context.world.faults
        if registry is None:
            raise JiraApiError(404, ["Fault injection is not configured for this app."])
        if request.method == "PUT":
            from jira_sandbox.faults import FaultConfig, FaultConfigError

            body = await read_json(request)
            try:
                config = FaultConfig.from_json(body, base=registry.get(site.cloud_id))
            except FaultConfigError as error:
                raise JiraApiError(400, [str(error)]) from error
            registry.set(site.cloud_id, config)
        return JSONResponse(registry.get(site.cloud_id).to_json())

    async def dropped(self, request: Request) -> Response:
        """List the webhook deliveries fault injection dropped for the site, oldest first."""
        site = self.context.site(request)
        registry = self.context.world.faults
        if registry is None:
            raise JiraApiError(404, ["Fault injection is not configured for this app."])
        return JSONResponse([asdict(item) for item in registry.dropped_for(site.cloud_id)])

    async def webhooks(self, request: Request) -> Response:
        """List every dynamic webhook registration of the site, expired ones included."""
        site = self.context.site(request)
        dispatcher = self._dispatcher()
        now_ms = self.context.world.clock.peek_ms()
        return JSONResponse(
            [
                {
                    "id": item.webhook_id,
                    "events": list(item.events),
                    "jqlFilter": item.jql_filter.text,
                    "expires_ms": item.expires_ms,
                    "expired": item.expires_ms <= now_ms,
                }
                for item in dispatcher.registrations(site.cloud_id)
            ]
        )

    async def set_webhook_expiry(self, request: Request) -> Response:
        """Set a registration's expiry to `expires_in_days` from the sandbox clock's now.

        A negative value makes it expired, so Jira's list leaves it out and its
        deliveries stop.
        """
        site = self.context.site(request)
        body = await read_json(request)
        days = body.get("expires_in_days")
        if not isinstance(days, int | float) or isinstance(days, bool):
            raise JiraApiError(
                400, errors={"expires_in_days": f"Use a number of days, not {days!r}."}
            )
        expires_ms = self.context.world.clock.peek_ms() + round(days * 86_400_000)
        try:
            self._dispatcher().set_expiry(
                site.cloud_id, request.path_params["webhook_id"], expires_ms
            )
        except KeyError as error:
            raise JiraApiError(404, [str(error)]) from error
        return JSONResponse({"id": request.path_params["webhook_id"], "expires_ms": expires_ms})

    async def delete_webhook(self, request: Request) -> Response:
        """Delete one registration, as Jira does when it expires or an admin removes it."""
        site = self.context.site(request)
        webhook_id = request.path_params["webhook_id"]
        dispatcher = self._dispatcher()
        if webhook_id not in {item.webhook_id for item in dispatcher.registrations(site.cloud_id)}:
            raise JiraApiError(404, [f"Webhook {webhook_id} is not registered on this site."])
        dispatcher.delete(site.cloud_id, [webhook_id])
        return Response(status_code=204)

    def _dispatcher(self) -> WebhookDispatcher:
        dispatcher = self.context.world.webhooks
        if dispatcher is None:
            raise JiraApiError(404, ["Webhooks are not configured for this app."])
        return dispatcher

    async def create_issue(self, request: Request) -> Response:
        site = self.context.site(request)
        body = await read_json(request)
        parent = body.get("parent")
        parent_issue = site.find_issue(str(parent)) if parent is not None else None
        if parent is not None and parent_issue is None:
            raise JiraApiError(400, errors={"parent": f"Issue '{parent}' does not exist."})
        issue = site.create_issue(
            project_key=str(body.get("project", "")),
            issue_type=str(body.get("issuetype", "Task")),
            summary=body.get("summary", ""),
            description=_description(body.get("description")),
            priority_id=body.get("priority", "3"),
            labels=body.get("labels") or [],
            assignee_id=body.get("assignee"),
            reporter_id=body.get("reporter"),
            parent_id=parent_issue.id if parent_issue is not None else None,
            sprint_id=body.get("sprint"),
            actor_id=_human_actor(site, body),
        )
        return JSONResponse(_issue_summary(site, issue.key), status_code=201)

    async def edit_issue(self, request: Request) -> Response:
        site = self.context.site(request)
        issue = site.visible_issue(request.path_params["key"], None)
        body = await read_json(request)
        changes: dict[str, Any] = {}
        if "summary" in body:
            changes["summary"] = body["summary"]
        if "description" in body:
            changes["description"] = _description(body["description"])
        if "priority" in body:
            changes["priority_id"] = body["priority"]
        if "labels" in body:
            changes["labels"] = body["labels"]
        if "assignee" in body:
            changes["assignee_id"] = body["assignee"]
        if "parent" in body:
            parent = site.find_issue(str(body["parent"])) if body["parent"] is not None else None
            if body["parent"] is not None and parent is None:
                raise JiraApiError(
                    400, errors={"parent": f"Issue '{body['parent']}' does not exist."}
                )
            changes["parent_id"] = parent.id if parent is not None else None
        site.edit_issue(issue, actor_id=_human_actor(site, body), **changes)
        return JSONResponse(_issue_summary(site, issue.key))

    async def delete_issue(self, request: Request) -> Response:
        site = self.context.site(request)
        issue = site.visible_issue(request.path_params["key"], None)
        site.delete_issue(issue, actor_id=_human_actor(site, {}))
        return Response(status_code=204)

    async def transition(self, request: Request) -> Response:
        """Run one transition (`transition` id) or walk to a status (`status` name or id)."""
        site = self.context.site(request)
        issue = site.visible_issue(request.path_params["key"], None)
        body = await read_json(request)
        actor = _human_actor(site, body)
        if "transition" in body:
            site.transition(
                issue, str(body["transition"]), resolution_id=body.get("resolution"), actor_id=actor
            )
        elif "status" in body:
            site.move_to_status(
                issue, str(body["status"]), resolution_id=body.get("resolution"), actor_id=actor
            )
        else:
            raise JiraApiError(
                400, ["Give either 'transition' (an id) or 'status' (a name or id)."]
            )
        return JSONResponse(_issue_summary(site, issue.key))

    async def move(self, request: Request) -> Response:
        site = self.context.site(request)
        issue = site.visible_issue(request.path_params["key"], None)
        body = await read_json(request)
        site.move_issue(issue, str(body.get("project", "")), actor_id=_human_actor(site, body))
        return JSONResponse(_issue_summary(site, issue.key))

    async def comment(self, request: Request) -> Response:
        site = self.context.site(request)
        issue = site.visible_issue(request.path_params["key"], None)
        body = await read_json(request)
        document = _description(body.get("body"))
        if document is None:
            raise JiraApiError(400, errors={"body": "A comment needs a non-empty body."})
        record = site.add_comment(issue, document, actor_id=_human_actor(site, body))
        return JSONResponse({"id": str(record.id)}, status_code=201)

    async def create_sprint(self, request: Request) -> Response:
        site = self.context.site(request)
        body = await read_json(request)
        sprint = site.create_sprint(
            int(body.get("board", 0)), str(body.get("name", "Sprint")), goal=body.get("goal")
        )
        return JSONResponse(render.sprint_agile(site, sprint), status_code=201)

    async def start_sprint(self, request: Request) -> Response:
        site = self.context.site(request)
        body = await read_json(request)
        sprint = site.start_sprint(
            request.path_params["sprint_id"], days=float(body.get("days", 14))
        )
        return JSONResponse(render.sprint_agile(site, sprint))

    async def close_sprint(self, request: Request) -> Response:
        site = self.context.site(request)
        sprint = site.close_sprint(request.path_params["sprint_id"])
        return JSONResponse(render.sprint_agile(site, sprint))

    async def sprint_issues(self, request: Request) -> Response:
        site = self.context.site(request)
        body = await read_json(request)
        issues = [site.visible_issue(str(key), None) for key in body.get("issues") or []]
        site.move_to_sprint(
            request.path_params["sprint_id"], issues, actor_id=_human_actor(site, body)
        )
        return Response(status_code=204)

    async def hide(self, request: Request) -> Response:
        site = self.context.site(request)
        body = await read_json(request)
        site.hide_project(
            str(body.get("account") or site.app_account_id), request.path_params["project"]
        )
        return Response(status_code=204)

    async def unhide(self, request: Request) -> Response:
        site = self.context.site(request)
        body = await read_json(request)
        site.unhide_project(
            str(body.get("account") or site.app_account_id), request.path_params["project"]
        )
        return Response(status_code=204)
