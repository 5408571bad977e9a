"""The write-back state of one edit, as an explicit state machine.

Every change of state goes through :func:`transition`, which checks it against
:data:`ALLOWED`. An edit starts ``received``; it ends ``confirmed`` (Jira has
the value), ``conflict`` (Jira changed the field after the edit's base),
``rejected`` (the edit cannot be applied as it is) or ``failed`` (retries ran out).
"""

from __future__ import annotations

from enum import StrEnum

from writeback.errors import InvalidTransition


class EditState(StrEnum):
    RECEIVED = "received"
    PENDING = "pending"
    SENT = "sent"
    CONFIRMED = "confirmed"
    CONFLICT = "conflict"
    REJECTED = "rejected"
    FAILED = "failed"
    RETRYING = "retrying"

    @property
    def terminal(self) -> bool:
        """Whether no further transition is allowed from this state."""
        return self in TERMINAL


TERMINAL: frozenset[EditState] = frozenset(
    {EditState.CONFIRMED, EditState.CONFLICT, EditState.REJECTED, EditState.FAILED}
)

_FINISH = TERMINAL

# received: the edit is read and not yet planned. pending: the echo marker is
# published and the request may be sent. sent: the request left, and its outcome
# is unknown until Jira responds or the issue is read again. retrying: an attempt
# failed with a retriable error, and another one follows after a back-off.
ALLOWED: dict[EditState, frozenset[EditState]] = {
    EditState.RECEIVED: _FINISH | {EditState.PENDING, EditState.RETRYING},
    EditState.PENDING: _FINISH | {EditState.SENT, EditState.RETRYING},
    EditState.SENT: _FINISH | {EditState.RETRYING},
    EditState.RETRYING: _FINISH | {EditState.PENDING, EditState.RETRYING},
    EditState.CONFIRMED: frozenset(),
    EditState.CONFLICT: frozenset(),
    EditState.REJECTED: frozenset(),
    EditState.FAILED: frozenset(),
}


def transition(current: EditState, new: EditState) -> EditState:
    """Return ``new`` when the move from ``current`` is allowed; raise otherwise."""
    if new not in ALLOWED[current]:
        raise InvalidTransition(current.value, new.value)
    return new
