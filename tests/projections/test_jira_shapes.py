from __future__ import annotations

from datetime import UTC, datetime

import pytest

from projections.errors import ShapeError
from projections.jira_shapes import (
    canonical_issue,
    canonical_time,
    find_sprint_field_id,
    sprint_ids,
)

LEGACY = "com.atlassian.greenhopper.service.sprint.Sprint@1a2b[completeDate=<null>,endDate=<null>,"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-10T09:15:02.123+0900", "2024-03-10T00:15:02.123Z"),
        ("2024-03-10T09:15:02+0000", "2024-03-10T09:15:02.000Z"),
        ("2020-07-07T00:37:08.707Z", "2020-07-07T00:37:08.707Z"),
        ("2024-12-29T08:41:23.303+05:30", "2024-12-29T03:11:23.303Z"),
        (1596504990138, "2020-08-04T01:36:30.138Z"),
        ("1596504990138", "2020-08-04T01:36:30.138Z"),
    ],
)
def test_time_parses_to_utc(text: object, expected: str) -> None:
    assert canonical_time(text) == expected


def test_time_repeated_hour_distinct() -> None:
    first = canonical_time("2024-11-03T01:30:00.000-0400")
    second = canonical_time("2024-11-03T01:30:00.000-0500")
    assert first < second


@pytest.mark.parametrize("text", ["6/13/2019, 12:51:58 PM,687", "2024-03-10T09:15:02", None])
def test_time_invalid_rejected(text: object) -> None:
    with pytest.raises(ShapeError):
        canonical_time(text)


def test_sprint_both_shapes_same_ids() -> None:
    objects = [{"id": 197, "name": "S3", "state": "active", "boardId": 9}]
    legacy = [
        LEGACY + "goal=ship, then [rest]\nid=5,id=197,name=S3, [x],rapidViewId=9,sequence=197,"
        "startDate=<null>,state=ACTIVE]"
    ]
    assert sprint_ids(objects)[0] == ["197"]
    assert sprint_ids(legacy)[0] == ["197"]


def test_sprint_unknown_kept_raw() -> None:
    ids, unknown = sprint_ids(["not a sprint", {"id": 3}])
    assert ids == ["3"]
    assert unknown == ["not a sprint"]


def test_sprint_field_by_schema() -> None:
    schema = {"customfield_10021": {"custom": "com.pyxis.greenhopper.jira:gh-sprint"}}
    assert find_sprint_field_id({}, schema) == "customfield_10021"


def test_sprint_field_by_value() -> None:
    fields = {
        "customfield_1": ["x"],
        "customfield_10107": [LEGACY + "id=1,name=a,rapidViewId=2,state=FUTURE]"],
    }
    assert find_sprint_field_id(fields) == "customfield_10107"


def _issue(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "project": {"id": "1", "key": "KAN"},
        "issuetype": {"id": "5", "name": "Sub-task", "subtask": True, "hierarchyLevel": -1},
        "summary": "s",
        "status": {"id": "3", "name": "Done", "statusCategory": {"key": "done"}},
        "created": "2024-03-10T09:15:02+0000",
        "updated": "2024-03-10T09:15:02+0000",
    }
    fields.update(overrides)
    return {"id": "9", "key": "KAN-9", "fields": fields}


def test_absent_fields_import() -> None:
    snapshot = canonical_issue(
        _issue(), representation="v3", sprint_field_id=None, epic_link_field_id=None
    )
    assert snapshot["priority"] is None
    assert snapshot["assignee"] is None
    assert snapshot["parent"] is None
    assert snapshot["labels"] == []
    assert snapshot["sprint_ids"] == []
    assert snapshot["description_adf"] is None


def test_null_fields_import() -> None:
    issue = _issue(priority=None, assignee=None, parent=None, labels=None, customfield_10020=None)
    snapshot = canonical_issue(
        issue, representation="v3", sprint_field_id="customfield_10020", epic_link_field_id=None
    )
    assert snapshot["priority"] is None
    assert snapshot["labels"] == []
    assert snapshot["sprint_ids"] == []


def test_subtask_parent_kind() -> None:
    issue = _issue(
        parent={"id": "7", "key": "KAN-7", "fields": {"issuetype": {"hierarchyLevel": 0}}}
    )
    snapshot = canonical_issue(
        issue, representation="v3", sprint_field_id=None, epic_link_field_id=None
    )
    assert snapshot["parent"] == {"id": "7", "key": "KAN-7", "kind": "subtask"}


def test_epic_link_parent() -> None:
    issue = _issue(
        issuetype={"id": "1", "name": "Story", "subtask": False, "hierarchyLevel": 0},
        customfield_10014="KAN-1",
    )
    snapshot = canonical_issue(
        issue, representation="v2", sprint_field_id=None, epic_link_field_id="customfield_10014"
    )
    assert snapshot["parent"] == {"id": None, "key": "KAN-1", "kind": "epic"}
    assert snapshot["description_known"] is False


def test_assignee_by_account_id() -> None:
    issue = _issue(assignee={"accountId": "557058:abc", "active": False})
    snapshot = canonical_issue(
        issue, representation="v3", sprint_field_id=None, epic_link_field_id=None
    )
    assert snapshot["assignee"] == "557058:abc"


def test_utc_is_aware() -> None:
    assert datetime.fromisoformat(canonical_time(0).replace("Z", "+00:00")).tzinfo == UTC
