from __future__ import annotations

from typing import Any

import httpx
import pytest

from jiraclient.query import with_query

URL = "https://api.example.test/ex/jira/cloud-1/rest/api/3/issue/10001"


@pytest.mark.parametrize("params", [
    {"fields": "summary,updated"},
    {"expand": "transitions.fields"},
    {"startAt": 0, "maxResults": 100},
    {"state": "future,active,closed"},
    {"jql": 'project = KAN AND summary ~ "a b" ORDER BY id'},
    {"flag": True, "off": False, "empty": None, "ratio": 1.5},
    {"ids": [1, 2, "x y"], "keys": ("A-1",)},
    {"text": "üñí/?&=#+~*'()!$;:@"},
])
def test_with_query_matches_httpx(params: dict[str, Any]) -> None:
    expected = str(httpx.Request("GET", URL, params=params).url)

    assert with_query(URL, params) == expected


@pytest.mark.parametrize("params", [None, {}])
def test_with_query_without_params(params: dict[str, Any] | None) -> None:
    assert with_query(URL, params) == URL
