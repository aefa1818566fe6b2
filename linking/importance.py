"""How much one request weighs in an issue's demand: its importance, 1 to 3, as
Productboard's +1..+3 weighs a note (nice-to-have, important, critical).

A person's word wins (`pmsync links importance`, or the links CSV's importance column);
else the ticket's priority in its tool says it; a request with neither weighs 1, so an
issue whose requests carry no priority has as many weighted requests as requests."""

from __future__ import annotations

from collections.abc import Mapping

from models import Feedback

LOWEST, HIGHEST = 1, 3
# Feedback.priority, in the words the connectors keep: low and normal are the everyday
# request, high an important one, urgent a critical one.
BY_PRIORITY = {"low": 1, "normal": 1, "high": 2, "urgent": 3}


def from_priority(priority: str | None) -> int:
    return BY_PRIORITY.get((priority or "").lower(), LOWEST)


def importance_of(item: Feedback, set_by_person: Mapping[tuple[str, str], int]) -> int:
    """The importance a person set for the request, else its priority's."""
    chosen = set_by_person.get((item.source, item.id))
    return chosen if chosen is not None else from_priority(item.priority)
