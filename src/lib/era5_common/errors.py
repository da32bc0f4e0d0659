"""The library's errors: what went wrong for one (file, day, variable), or for the run.

- :class:`InputError`: bad input that concerns one file, day or variable. The job turns it
  into a ``failed`` row for that (day, variable) and goes on with the other days.
- :class:`IncompleteDayError`: a day lacks samples its daily rule needs (a gap in the data,
  ``incomplete``, unless an unreadable input explains it).
- :class:`RunError`: a problem of the run as a whole (no input, unwritable output,
  unreachable catalog, failed commit). The job prints its one-line message and exits 2.
"""

from __future__ import annotations

from datetime import date


class InputError(Exception):
    """Bad input for one file, day or variable; the message names each one known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        day: date | None = None,
        variable: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.day = day
        self.variable = variable
        where = ", ".join(
            f"{k} {v}" for k, v in (("file", file), ("day", day), ("variable", variable)) if v
        )
        super().__init__(f"{where}: {message}" if where else message)


class IncompleteDayError(InputError):
    """The day lacks samples its rule needs."""

    def __init__(
        self, message: str, *, day: date, variable: str, samples: int, required: int
    ) -> None:
        self.samples = samples
        self.required = required
        super().__init__(message, day=day, variable=variable)


class RunError(Exception):
    """A problem of the whole run: the job reports it in one line and exits 2."""
