"""The projection sends each node type and select value to the schema agent once per process."""

from __future__ import annotations

from service.pipeline import ForwardedSchemaValues
from streams.contract import SchemaValuesSeen


def _seen(space: str = "s-1", types: list[str] | None = None,
          options: dict[str, list[str]] | None = None) -> SchemaValuesSeen:
    return SchemaValuesSeen(space_id=space, types=types or [], options=options or {})


def test_first_values_pass() -> None:
    forwarded = ForwardedSchemaValues()

    unsent = forwarded.unsent(_seen(types=["Story"], options={"Status": ["Done"]}))

    assert unsent == _seen(types=["Story"], options={"Status": ["Done"]})


def test_repeat_dropped() -> None:
    forwarded = ForwardedSchemaValues()
    forwarded.unsent(_seen(types=["Story"], options={"Status": ["Done"]}))

    assert forwarded.unsent(_seen(types=["Story"], options={"Status": ["Done"]})) is None


def test_only_new_values_kept() -> None:
    forwarded = ForwardedSchemaValues()
    forwarded.unsent(_seen(types=["Story"], options={"Labels": ["a"]}))

    unsent = forwarded.unsent(_seen(types=["Story"], options={"Labels": ["a", "b"],
                                                              "Status": ["Done"]}))

    assert unsent == _seen(options={"Labels": ["b"], "Status": ["Done"]})


def test_spaces_apart() -> None:
    forwarded = ForwardedSchemaValues()
    forwarded.unsent(_seen(space="s-1", types=["Story"]))

    assert forwarded.unsent(_seen(space="s-2", types=["Story"])) == _seen(space="s-2",
                                                                          types=["Story"])


def test_same_name_in_other_attribute() -> None:
    forwarded = ForwardedSchemaValues()
    forwarded.unsent(_seen(options={"Status": ["Done"]}))

    assert forwarded.unsent(_seen(options={"Labels": ["Done"]})) == _seen(
        options={"Labels": ["Done"]})


def test_limit_forgets_and_sends_again() -> None:
    forwarded = ForwardedSchemaValues(limit=2)
    forwarded.unsent(_seen(types=["Story", "Bug"]))

    assert forwarded.unsent(_seen(types=["Story"])) == _seen(types=["Story"])
