"""What an executor reports of one (day, variable): the driver's unit of account."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from era5_contours.tables.schema import FAILED, INCOMPLETE, OK, STATUSES

__all__ = ["FAILED", "INCOMPLETE", "OK", "STATUSES", "VariableOutcome"]


@dataclass
class VariableOutcome:
    """What an executor reports for one (day, variable): small, no feature rows."""

    day: date
    variable: str
    status: str
    error: str | None = None
    samples: int = 0
    feature_count: int = 0
    #: The staged feature rows (Arrow IPC), written into the tables by the month rewrite.
    rows: str | None = None
    #: Staged outputs, published to their final paths once the tables commit.
    geojson: str | None = None
    png: str | None = None
    #: The daily_summary row (column -> value): the driver writes and commits these.
    summary: dict[str, Any] = field(default_factory=dict)
    #: Set by the driver when this outcome is not ok and an earlier run's ok result of the
    #: same (day, variable) is kept instead (the run_id of that result).
    kept_run_id: str | None = None
    seconds: float = 0.0
    worker: str = ""
    started: float = 0.0
    finished: float = 0.0
