"""What a run did: counts per status, failures, phases and executors, and its exit code."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .outcome import FAILED, INCOMPLETE, OK, VariableOutcome


@dataclass
class RunReport:
    """What a run did, for the log, the exit code and the benchmarks."""

    run_id: str
    days: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    day_status: dict[str, int] = field(default_factory=dict)
    features: int = 0
    failures: list[str] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    workers: int = 0
    max_concurrent_tasks: int = 0
    task_seconds: float = 0.0
    allow_failed_days: bool = False
    #: Data files the run committed, per table.
    table_files: dict[str, int] = field(default_factory=dict)
    _intervals: list[tuple[float, float]] = field(default_factory=list, repr=False)
    _workers: set[str] = field(default_factory=set, repr=False)

    @property
    def exit_code(self) -> int:
        """1 when a day failed (unless failed days are allowed), else 0."""
        return 1 if self.day_status.get(FAILED, 0) and not self.allow_failed_days else 0

    def add_day(self, outcomes: Sequence[VariableOutcome]) -> None:
        """Count one day's outcomes in."""
        for out in outcomes:
            self.status_counts[out.status] = self.status_counts.get(out.status, 0) + 1
            self.features += out.feature_count
            self.task_seconds += out.seconds
            if out.status == FAILED:
                self.failures.append(out.error or f"{out.day} {out.variable}")
            if out.worker:
                self._workers.add(out.worker)
        timed = [o for o in outcomes if o.worker]
        if timed:
            self._intervals.append((min(o.started for o in timed), max(o.finished for o in timed)))
        status = _day_status(o.status for o in outcomes)
        self.day_status[status] = self.day_status.get(status, 0) + 1
        self.workers = len(self._workers)
        self.max_concurrent_tasks = _max_overlap(self._intervals)

    def note_kept(self, outcomes: Sequence[VariableOutcome]) -> None:
        """Say, next to each failure, that an earlier ok result was kept."""
        kept = {o.error: o.kept_run_id for o in outcomes if o.kept_run_id and o.status == FAILED}
        self.failures = [
            f"{msg} (the ok result of run {kept[msg]} is kept)" if msg in kept else msg
            for msg in self.failures
        ]

    def text(self) -> str:
        """The run summary, as printed at the end of a run."""
        total = self.seconds.get("total", 0.0)
        lines = [
            f"run {self.run_id}: {self.days} days in {total:.1f} s "
            f"({60 * self.days / total if total else 0:.1f} days/min)",
            "  days: "
            + ", ".join(f"{k} {self.day_status.get(k, 0)}" for k in (OK, INCOMPLETE, FAILED)),
            "  (day, variable): "
            + ", ".join(f"{k} {self.status_counts.get(k, 0)}" for k in (OK, INCOMPLETE, FAILED)),
            f"  features: {self.features}",
            f"  executors: {self.workers} worker processes, up to {self.max_concurrent_tasks} "
            f"days at once; per-day work {self.task_seconds:.1f} s of task time",
            "  phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.seconds.items()),
        ]
        lines += [f"  {k}: {v}" for k, v in self.outputs.items()]
        lines += [f"  FAILED {msg}" for msg in self.failures[:20]]
        if len(self.failures) > 20:
            lines.append(f"  ... and {len(self.failures) - 20} more failures")
        return "\n".join(lines)


def _max_overlap(intervals: Sequence[tuple[float, float]]) -> int:
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    level = peak = 0
    for _, delta in events:
        level += delta
        peak = max(peak, level)
    return peak


def _day_status(statuses: Iterable[str]) -> str:
    statuses = list(statuses)
    if FAILED in statuses:
        return FAILED
    if INCOMPLETE in statuses:
        return INCOMPLETE
    return OK


def report_dict(report: RunReport) -> dict[str, Any]:
    """JSON-friendly form of a report (benchmarks and tests)."""
    out = asdict(report)
    out.pop("_intervals", None)
    out.pop("_workers", None)
    out["exit_code"] = report.exit_code
    return out
