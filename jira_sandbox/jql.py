"""The subset of JQL the sandbox evaluates, compiled to a predicate and a sort key.

Supported: `AND`, `OR`, `NOT`, parentheses; clauses on `project`, `key` /
`issuekey`, `id`, `updated`, `created`, `status`, `statusCategory`,
`assignee`, `reporter`, `issuetype` / `type`, `priority`, `labels`,
`sprint`, `parent`, `summary ~`; operators `=`, `!=`, `>`, `>=`, `<`,
`<=`, `IN`, `NOT IN`, `IS [NOT] EMPTY`; `ORDER BY id|key|updated|created|
priority ASC|DESC`. Date values are epoch milliseconds, `"yyyy-MM-dd HH:mm"`
/ `"yyyy/MM/dd HH:mm"` / `"yyyy-MM-dd"` read in the caller's profile time
zone at minute precision, or periods such as `-5d` and `-2h`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jira_sandbox import render
from jira_sandbox.model import IssueRecord, JiraApiError

if TYPE_CHECKING:
    from jira_sandbox.site import Site

Predicate = Callable[[IssueRecord], bool]

UNBOUNDED_MESSAGE = (
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query."
)
_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>!=|>=|<=|!~|=|>|<|~)
      | (?P<punct>[(),])
      | (?P<word>[^\s"'(),=!<>~]+)
    )""",
    re.VERBOSE,
)
_PERIOD = re.compile(r"^([-+]?)(\d+)([wdhm])$")
_PERIOD_MS = {"w": 7 * 86_400_000, "d": 86_400_000, "h": 3_600_000, "m": 60_000}
_DATE_FORMATS = ("%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M", "%Y-%m-%d", "%Y/%m/%d")


def jql_error(message: str) -> JiraApiError:
    return JiraApiError(400, [message])


@dataclass(frozen=True)
class Token:
    kind: str
    value: str
    quoted: bool = False


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    stripped_length = len(text.rstrip())
    while position < stripped_length:
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise jql_error(
                f"Error in the JQL Query: The character '{text[position]}' is a reserved JQL "
                f"character. (line 1, character {position + 1})"
            )
        position = match.end()
        if match.group("string") is not None:
            raw = match.group("string")[1:-1]
            tokens.append(Token("value", re.sub(r"\\(.)", r"\1", raw), quoted=True))
        elif match.group("op") is not None:
            tokens.append(Token("op", match.group("op")))
        elif match.group("punct") is not None:
            tokens.append(Token(match.group("punct"), match.group("punct")))
        else:
            tokens.append(Token("value", match.group("word")))
    return tokens


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


@dataclass(frozen=True)
class CompiledQuery:
    predicate: Predicate
    order: tuple[SortKey, ...]

    def sort(self, site: Site, issues: list[IssueRecord]) -> list[IssueRecord]:
        ordered = list(issues)
        order = self.order or (SortKey("id", False),)
        for key in reversed(order):
            ordered.sort(key=_sort_function(site, key.field), reverse=key.descending)
        return ordered


def _sort_function(site: Site, field: str) -> Callable[[IssueRecord], Any]:
    if field == "id":
        return lambda issue: issue.id
    if field in {"key", "issuekey"}:

        def by_key(issue: IssueRecord) -> tuple[str, int]:
            project_key, _, number = issue.key.rpartition("-")
            return (project_key, int(number))

        return by_key
    if field == "updated":
        return lambda issue: issue.updated_ms
    if field == "created":
        return lambda issue: issue.created_ms
    if field == "priority":
        # Highest first when descending, with unset priorities last either way.
        return lambda issue: -int(issue.priority_id) if issue.priority_id else -99
    raise jql_error(
        f"Error in the JQL Query: Field '{field}' does not exist or you do not have permission to "
        "view it."
    )


class _Parser:
    def __init__(
        self,
        tokens: list[Token],
        site: Site,
        *,
        account_id: str | None,
        time_zone: str,
        now_ms: int,
    ) -> None:
        self.tokens = tokens
        self.position = 0
        self.site = site
        self.account_id = account_id
        self.time_zone = time_zone
        self.now_ms = now_ms

    def peek(self, offset: int = 0) -> Token | None:
        index = self.position + offset
        return self.tokens[index] if index < len(self.tokens) else None

    def is_keyword(self, word: str, offset: int = 0) -> bool:
        token = self.peek(offset)
        return (
            token is not None
            and token.kind == "value"
            and not token.quoted
            and token.value.upper() == word
        )

    def take(self) -> Token:
        token = self.peek()
        if token is None:
            raise jql_error("Error in the JQL Query: Expected a value but the query ended.")
        self.position += 1
        return token

    def expect(self, kind: str) -> Token:
        token = self.take()
        if token.kind != kind:
            raise jql_error(f"Error in the JQL Query: Expected '{kind}' but got '{token.value}'.")
        return token

    def parse(self) -> CompiledQuery:
        predicate: Predicate | None = None
        if self.peek() is not None and not (self.is_keyword("ORDER") and self.is_keyword("BY", 1)):
            predicate = self.parse_or()
        order: list[SortKey] = []
        if self.is_keyword("ORDER"):
            self.take()
            if not self.is_keyword("BY"):
                raise jql_error("Error in the JQL Query: Expecting 'BY' after 'ORDER'.")
            self.take()
            order = self.parse_order()
        if self.peek() is not None:
            raise jql_error(f"Error in the JQL Query: Unexpected '{self.peek().value}'.")  # type: ignore[union-attr]
        if predicate is None:
            raise jql_error(UNBOUNDED_MESSAGE)
        return CompiledQuery(predicate, tuple(order))

    def parse_order(self) -> list[SortKey]:
        order = []
        while True:
            field = self.expect("value").value.lower()
            descending = False
            if self.is_keyword("ASC") or self.is_keyword("DESC"):
                descending = self.take().value.upper() == "DESC"
            _sort_function(self.site, field)
            order.append(SortKey(field, descending))
            if self.peek() is None or self.peek().kind != ",":  # type: ignore[union-attr]
                return order
            self.take()

    def parse_or(self) -> Predicate:
        parts = [self.parse_and()]
        while self.is_keyword("OR"):
            self.take()
            parts.append(self.parse_and())
        if len(parts) == 1:
            return parts[0]
        return lambda issue: any(part(issue) for part in parts)

    def parse_and(self) -> Predicate:
        parts = [self.parse_not()]
        while self.is_keyword("AND"):
            self.take()
            parts.append(self.parse_not())
        if len(parts) == 1:
            return parts[0]
        return lambda issue: all(part(issue) for part in parts)

    def parse_not(self) -> Predicate:
        if self.is_keyword("NOT"):
            self.take()
            inner = self.parse_not()
            return lambda issue: not inner(issue)
        token = self.peek()
        if token is not None and token.kind == "(":
            self.take()
            inner = self.parse_or()
            self.expect(")")
            return inner
        return self.parse_clause()

    def parse_clause(self) -> Predicate:
        field = self.expect("value").value.lower()
        token = self.take()
        if token.kind == "op":
            operator = token.value
        elif token.kind == "value" and token.value.upper() == "IN":
            operator = "in"
        elif token.kind == "value" and token.value.upper() == "NOT" and self.is_keyword("IN"):
            self.take()
            operator = "not in"
        elif token.kind == "value" and token.value.upper() == "IS":
            negate = self.is_keyword("NOT")
            if negate:
                self.take()
            empty = self.take()
            if empty.value.upper() not in {"EMPTY", "NULL"}:
                raise jql_error(
                    "Error in the JQL Query: Expecting EMPTY or NULL after IS but got "
                    f"'{empty.value}'."
                )
            test = self.empty_test(field)
            return (lambda issue: not test(issue)) if negate else test
        else:
            raise jql_error(
                f"Error in the JQL Query: Expecting an operator after '{field}' but got "
                f"'{token.value}'."
            )

        if operator in {"in", "not in"}:
            values = self.parse_list()
            test = self.membership(field, values)
            return (lambda issue: not test(issue)) if operator == "not in" else test

        value = self.parse_value()
        if operator in {"=", "!="}:
            if not value.quoted and value.value.upper() in {"EMPTY", "NULL"}:
                test = self.empty_test(field)
            else:
                test = self.membership(field, [value])
            return (lambda issue: not test(issue)) if operator == "!=" else test
        if operator in {"~", "!~"}:
            test = self.contains(field, value.value)
            return (lambda issue: not test(issue)) if operator == "!~" else test
        return self.compare(field, operator, value.value)

    def parse_value(self) -> Token:
        token = self.expect("value")
        following = self.peek()
        if following is not None and following.kind == "(" and not token.quoted:
            self.take()
            self.expect(")")
            return Token("function", token.value.lower())
        return token

    def parse_list(self) -> list[Token]:
        token = self.peek()
        if token is not None and token.kind == "value" and not token.quoted:
            function = self.parse_value()
            if function.kind == "function":
                return [function]
            raise jql_error(f"Error in the JQL Query: Expecting '(' before '{function.value}'.")
        self.expect("(")
        values = [self.parse_value()]
        while self.peek() is not None and self.peek().kind == ",":  # type: ignore[union-attr]
            self.take()
            values.append(self.parse_value())
        self.expect(")")
        return values

    # Field semantics

    def membership(self, field: str, values: list[Token]) -> Predicate:
        site = self.site
        if field == "project":
            project_ids = {self.project_id(token.value) for token in values}
            return lambda issue: issue.project_id in project_ids
        if field in {"key", "issuekey", "issue", "id"}:
            issue_ids = set()
            for token in values:
                found = site.find_issue(token.value)
                malformed = not token.value.isdigit() and "-" not in token.value
                if found is None and field != "id" and malformed:
                    raise jql_error(
                        f"The issue key '{token.value}' for field '{field}' is invalid."
                    )
                if found is not None:
                    issue_ids.add(found.id)
            return lambda issue: issue.id in issue_ids
        if field == "status":
            requested = {token.value.lower() for token in values}
            ids = {
                status.id
                for status in site.statuses.values()
                if status.id in requested or status.name.lower() in requested
            }
            self.require_known(field, values, ids)
            return lambda issue: issue.status_id in ids
        if field == "statuscategory":
            requested = {token.value.lower() for token in values}
            ids = {
                status.id
                for status in site.statuses.values()
                if {status.category.key, status.category.name.lower(), str(status.category.id)}
                & requested
            }
            return lambda issue: issue.status_id in ids
        if field in {"assignee", "reporter"}:
            accounts = {self.account_value(token) for token in values}
            attribute = "assignee_id" if field == "assignee" else "reporter_id"
            return lambda issue: getattr(issue, attribute) in accounts
        if field in {"issuetype", "type"}:
            requested = {token.value.lower() for token in values}
            ids = {
                item.id
                for item in site.issue_types.values()
                if item.id in requested or item.name.lower() in requested
            }
            self.require_known(field, values, ids)
            return lambda issue: issue.issue_type_id in ids
        if field == "priority":
            requested = {token.value.lower() for token in values}
            ids = {
                item.id
                for item in site.priorities.values()
                if item.id in requested or item.name.lower() in requested
            }
            self.require_known(field, values, ids)
            return lambda issue: issue.priority_id in ids
        if field == "labels":
            labels = {token.value for token in values}
            return lambda issue: any(label in labels for label in issue.labels)
        if field in {
            "sprint",
            site.sprint_field_id,
            f"cf[{site.sprint_field_id.removeprefix('customfield_')}]",
        }:
            sprint_ids = self.sprint_ids(values)
            return lambda issue: any(sprint_id in sprint_ids for sprint_id in issue.sprint_ids)
        if field == "parent":
            parent_ids = {
                found.id for token in values if (found := site.find_issue(token.value)) is not None
            }
            return lambda issue: issue.parent_id in parent_ids
        if field in {"updated", "created"}:
            if len(values) != 1:
                raise jql_error(
                    "Error in the JQL Query: The operator 'in' is not supported by the "
                    f"'{field}' field."
                )
            return self.compare(field, "=", values[0].value)
        raise jql_error(f"Field '{field}' does not exist or you do not have permission to view it.")

    def require_known(self, field: str, values: list[Token], ids: set[str]) -> None:
        if not ids:
            raise jql_error(
                f"The value '{values[0].value}' does not exist for the field '{field}'."
            )

    def project_id(self, value: str) -> str:
        project = self.site.project_by_key_or_id(value)
        hidden = self.site.hidden_projects.get(self.account_id or "", set())
        if project is None or project.id in hidden:
            raise jql_error(f"The value '{value}' does not exist for the field 'project'.")
        return project.id

    def account_value(self, token: Token) -> str | None:
        if token.kind == "function" and token.value == "currentuser":
            return self.account_id
        if not token.quoted and token.value.upper() in {"EMPTY", "NULL"}:
            return None
        return token.value

    def sprint_ids(self, values: list[Token]) -> set[int]:
        site = self.site
        result: set[int] = set()
        for token in values:
            if token.kind == "function":
                states = {"opensprints": {"active", "future"}, "closedsprints": {"closed"}}.get(
                    token.value
                )
                if states is None:
                    raise jql_error(f"Unable to find JQL function '{token.value}()'.")
                result.update(
                    sprint.id for sprint in site.sprints.values() if sprint.state in states
                )
            elif token.value.isdigit():
                result.add(int(token.value))
            else:
                result.update(
                    sprint.id for sprint in site.sprints.values() if sprint.name == token.value
                )
        return result

    def empty_test(self, field: str) -> Predicate:
        site = self.site
        if field == "assignee":
            return lambda issue: issue.assignee_id is None
        if field == "priority":
            return lambda issue: issue.priority_id is None
        if field == "labels":
            return lambda issue: not issue.labels
        if field in {"sprint", site.sprint_field_id}:
            return lambda issue: not issue.sprint_ids
        if field == "parent":
            return lambda issue: issue.parent_id is None
        if field == "description":
            return lambda issue: issue.description is None and issue.description_seed is None
        raise jql_error(
            f"Error in the JQL Query: The field '{field}' does not support searching for "
            "EMPTY values."
        )

    def contains(self, field: str, value: str) -> Predicate:
        if field not in {"summary", "text"}:
            raise jql_error(
                f"Error in the JQL Query: The operator '~' is not supported by the '{field}' field."
            )
        needle = value.lower().strip("*")
        return lambda issue: needle in issue.summary.lower()

    def compare(self, field: str, operator: str, value: str) -> Predicate:
        if field in {"updated", "created"}:
            instant = parse_date(value, field, time_zone=self.time_zone, now_ms=self.now_ms)
            attribute = "updated_ms" if field == "updated" else "created_ms"
            return _ordering(operator, instant, lambda issue: getattr(issue, attribute))
        if field == "id":
            if not value.isdigit():
                raise jql_error(f"The issue key '{value}' for field 'id' is invalid.")
            return _ordering(operator, int(value), lambda issue: issue.id)
        raise jql_error(
            f"Error in the JQL Query: The operator '{operator}' is not supported by the "
            f"'{field}' field."
        )


def _ordering(operator: str, bound: int, read: Callable[[IssueRecord], int]) -> Predicate:
    if operator == ">=":
        return lambda issue: read(issue) >= bound
    if operator == ">":
        return lambda issue: read(issue) > bound
    if operator == "<=":
        return lambda issue: read(issue) <= bound
    if operator == "<":
        return lambda issue: read(issue) < bound
    if operator == "=":
        return lambda issue: read(issue) == bound
    return lambda issue: read(issue) != bound


def parse_date(value: str, field: str, *, time_zone: str, now_ms: int) -> int:
    """Return the epoch ms a JQL date literal denotes for a caller in `time_zone`.

    Digits alone are epoch milliseconds; calendar strings are local times in the
    caller's profile time zone; periods are relative to now.
    """
    text = value.strip()
    if text.isdigit():
        return int(text)

    period = _PERIOD.match(text.replace(" ", ""))
    if period is not None:
        sign = -1 if period.group(1) == "-" else 1
        return now_ms + sign * int(period.group(2)) * _PERIOD_MS[period.group(3)]

    for pattern in _DATE_FORMATS:
        try:
            naive = dt.datetime.strptime(text, pattern)
        except ValueError:
            continue
        # fold=0 picks the first of two repeated wall-clock times, so an
        # overlapping query never starts after the earlier instant.
        local = naive.replace(tzinfo=render.zone(time_zone), fold=0)
        return int(local.timestamp() * 1000)

    raise jql_error(
        f"Date value '{value}' for field '{field}' is invalid. Valid formats include: "
        "'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', 'yyyy-MM-dd', or a period "
        "format e.g. '-5d', '4w 2d'."
    )


def compile_jql(
    text: str, site: Site, *, account_id: str | None, time_zone: str, now_ms: int
) -> CompiledQuery:
    """Parse JQL into a predicate and sort order; raise JiraApiError(400) as Jira would."""
    tokens = tokenize(text or "")
    parser = _Parser(tokens, site, account_id=account_id, time_zone=time_zone, now_ms=now_ms)
    return parser.parse()


def search(
    site: Site,
    query: CompiledQuery,
    account_id: str | None,
    candidates: Iterable[IssueRecord] | None = None,
) -> list[IssueRecord]:
    """Return the live issues visible to the account that match, in query order."""
    hidden = site.hidden_projects.get(account_id or "", set())
    pool = site.live_issues() if candidates is None else candidates
    matches = [
        issue
        for issue in pool
        if not issue.deleted and issue.project_id not in hidden and query.predicate(issue)
    ]
    return query.sort(site, matches)
