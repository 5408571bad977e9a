from __future__ import annotations

import pytest

from writeback.errors import InvalidTransition
from writeback.state import ALLOWED, TERMINAL, EditState, transition


def test_state_happy_path() -> None:
    state = EditState.RECEIVED
    for new in (EditState.PENDING, EditState.SENT, EditState.CONFIRMED):
        state = transition(state, new)
    assert state is EditState.CONFIRMED


def test_state_retry_path() -> None:
    state = EditState.SENT
    for new in (EditState.RETRYING, EditState.RETRYING, EditState.PENDING, EditState.SENT):
        state = transition(state, new)
    assert state is EditState.SENT


@pytest.mark.parametrize("terminal", sorted(TERMINAL))
def test_state_terminal_has_no_exit(terminal: EditState) -> None:
    assert ALLOWED[terminal] == frozenset()
    assert terminal.terminal


def test_state_invalid_names_both() -> None:
    with pytest.raises(InvalidTransition, match="'confirmed' cannot move to 'sent'") as caught:
        transition(EditState.CONFIRMED, EditState.SENT)
    assert caught.value.current == "confirmed"
    assert caught.value.new == "sent"


def test_state_received_cannot_skip_to_sent() -> None:
    with pytest.raises(InvalidTransition):
        transition(EditState.RECEIVED, EditState.SENT)


def test_state_table_covers_every_state() -> None:
    assert set(ALLOWED) == set(EditState)
