"""Row filters of the tables: a (variable, month) partition, a set of (day, variable) pairs."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from pyiceberg.expressions import (
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    LessThanOrEqual,
    Or,
    Reference,
)
from pyiceberg.expressions.literals import literal

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)


def replace_keys(replace: Iterable[tuple[date, str]]) -> dict[str, set[date]]:
    """``{variable: days}`` of (day, variable) pairs; refuses a day that is not a date."""
    keys: dict[str, set[date]] = {}
    for day, variable in replace:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"replace holds (day, variable) pairs, got day {day!r}")
        keys.setdefault(variable, set()).add(day)
    return keys


def equal_to(column: str, value: Any) -> EqualTo:
    """``column == value`` as a pyiceberg predicate.

    Spelt with the pydantic field names (``term``, ``value``): pyiceberg's own
    ``__init__(term, literal)`` accepts them, and type checkers read the model's fields
    (pydantic's dataclass_transform), not that ``__init__``.
    """
    return EqualTo(term=Reference(column), value=literal(value))


def at_least(column: str, value: Any) -> GreaterThanOrEqual:
    """``column >= value`` as a pyiceberg predicate (see :func:`equal_to`)."""
    return GreaterThanOrEqual(term=Reference(column), value=literal(value))


def at_most(column: str, value: Any) -> LessThanOrEqual:
    """``column <= value`` as a pyiceberg predicate (see :func:`equal_to`)."""
    return LessThanOrEqual(term=Reference(column), value=literal(value))


def replace_filter(replace: Iterable[tuple[date, str]]) -> BooleanExpression:
    """Row filter selecting exactly the (day, variable) pairs of ``replace``.

    Per variable, each run of consecutive days becomes one range (``day >= a AND day <=
    b``): a file whose day statistics lie within a range is dropped from the metadata
    without being read, and the expression stays shallow however many days a run covers.
    """
    keys = replace_keys(replace)
    if not keys:
        raise ValueError("empty replace: nothing to filter")
    parts: list[BooleanExpression] = []
    for variable, days in sorted(keys.items()):
        spans: list[BooleanExpression] = []
        for first, last in day_runs(days):
            if first == last:
                spans.append(equal_to("day", first.isoformat()))
            else:
                spans.append(
                    And(
                        at_least("day", first.isoformat()),
                        at_most("day", last.isoformat()),
                    )
                )
        days_filter = spans[0] if len(spans) == 1 else Or(*spans)
        parts.append(And(equal_to("variable", variable), days_filter))
    return parts[0] if len(parts) == 1 else Or(*parts)


def day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days ``(first, last)``."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs
