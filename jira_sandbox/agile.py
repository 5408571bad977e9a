"""Jira Software Agile API routes under `/ex/jira/{cloud_id}/rest/agile/1.0/...`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from jira_sandbox import render
from jira_sandbox.model import JiraApiError
from jira_sandbox.rest import ApiContext, JSONResponse, int_param, offset_page, read_json

AGILE = "/ex/jira/{cloud_id}/rest/agile/1.0"
# NOTE: Jira Software endpoints accept only the granular OAuth scopes, not read:jira-work.
READ_BOARDS = ("read:board-scope:jira-software", "read:project:jira")
READ_SPRINTS = ("read:sprint:jira-software",)
WRITE_SPRINTS = ("write:sprint:jira-software",)
MOVE_TO_SPRINT_MAX = 50


def _page(values: list[Any], start_at: int, max_results: int) -> dict[str, Any]:
    page, is_last = offset_page(values, start_at, max_results)
    return {
        "maxResults": max_results,
        "startAt": start_at,
        "total": len(values),
        "isLast": is_last,
        "values": page,
    }


class AgileApi:
    def __init__(self, context: ApiContext) -> None:
        self.context = context

    def routes(self) -> list[BaseRoute]:
        route = self.context.route
        return [
            route(f"{AGILE}/board", self.boards, ["GET"]),
            route(f"{AGILE}/board/{{board_id:int}}", self.board, ["GET"]),
            route(f"{AGILE}/board/{{board_id:int}}/sprint", self.board_sprints, ["GET"]),
            route(f"{AGILE}/sprint/{{sprint_id:int}}", self.sprint, ["GET"]),
            route(
                f"{AGILE}/sprint/{{sprint_id:int}}/issue", self.move_issues, ["POST"], write=True
            ),
        ]

    async def boards(self, request: Request) -> Response:
        caller = self.context.caller(request, READ_BOARDS)
        site = caller.site
        visible = {project.id for project in site.visible_projects(caller.account_id)}
        requested_project = request.query_params.get("projectKeyOrId")
        requested_type = request.query_params.get("type")
        boards = []
        for record in site.boards.values():
            project = site.projects[record.project_id]
            if project.id not in visible:
                continue
            if requested_project and requested_project not in {project.id, project.key}:
                continue
            if requested_type and record.type != requested_type:
                continue
            boards.append(render.board(site, record))
        start_at = int_param(request, "startAt", 0)
        max_results = min(int_param(request, "maxResults", 50), 50)
        return JSONResponse(_page(boards, start_at, max_results))

    async def board(self, request: Request) -> Response:
        caller = self.context.caller(request, READ_BOARDS)
        record = caller.site.boards.get(request.path_params["board_id"])
        if record is None:
            raise JiraApiError(
                404,
                [
                    f"Board {request.path_params['board_id']} does not exist or you do not have "
                    "permission to see it."
                ],
            )
        return JSONResponse(render.board(caller.site, record))

    async def board_sprints(self, request: Request) -> Response:
        caller = self.context.caller(request, READ_SPRINTS)
        site = caller.site
        board_id = request.path_params["board_id"]
        if board_id not in site.boards:
            raise JiraApiError(
                404, [f"Board {board_id} does not exist or you do not have permission to see it."]
            )
        states_raw = request.query_params.get("state")
        states = {item.strip() for item in states_raw.split(",")} if states_raw else None
        sprints = [
            render.sprint_agile(site, sprint)
            for sprint in sorted(site.sprints.values(), key=lambda item: item.id)
            if sprint.board_id == board_id and (states is None or sprint.state in states)
        ]
        start_at = int_param(request, "startAt", 0)
        max_results = min(int_param(request, "maxResults", 50), 50)
        return JSONResponse(_page(sprints, start_at, max_results))

    async def sprint(self, request: Request) -> Response:
        caller = self.context.caller(request, READ_SPRINTS)
        sprint = caller.site.sprints.get(request.path_params["sprint_id"])
        if sprint is None:
            raise JiraApiError(
                404, [f"Sprint with id {request.path_params['sprint_id']} does not exist."]
            )
        return JSONResponse(render.sprint_agile(caller.site, sprint))

    async def move_issues(self, request: Request) -> Response:
        caller = self.context.caller(request, WRITE_SPRINTS)
        site = caller.site
        body = await read_json(request)
        keys = body.get("issues") if isinstance(body, dict) else None
        if not isinstance(keys, list) or not keys:
            raise JiraApiError(
                400, errors={"issues": "Provide the ids or keys of the issues to move."}
            )
        if len(keys) > MOVE_TO_SPRINT_MAX:
            raise JiraApiError(
                400,
                [
                    f"At most {MOVE_TO_SPRINT_MAX} issues can be moved at once; {len(keys)} were "
                    "given."
                ],
            )
        issues = [site.visible_issue(str(key), caller.account_id) for key in keys]
        site.move_to_sprint(request.path_params["sprint_id"], issues, actor_id=caller.account_id)
        return Response(status_code=204)
