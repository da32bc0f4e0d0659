"""The date chunks the state machine's Plan state makes of a run's range."""

from __future__ import annotations

from datetime import date, timedelta


def chunk_dates(start: date, end: date, chunk_days: int = 7) -> list[tuple[date, date]]:
    """Inclusive ``(first, last)`` day ranges of ``chunk_days`` days covering start..end.

    The state machine's ``Plan`` state computes the same chunks in JSONata; this is the
    reference the tests hold it to, and what ``python -m era5_tools.deploy chunks``
    prints.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if not 1 <= chunk_days <= 366:
        raise ValueError(f"chunk_days must be in 1..366, got {chunk_days}")
    chunks = []
    first = start
    while first <= end:
        last = min(end, first + timedelta(days=chunk_days - 1))
        chunks.append((first, last))
        first = last + timedelta(days=1)
    return chunks
