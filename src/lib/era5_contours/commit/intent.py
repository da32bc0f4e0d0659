"""What a run is about to commit, recorded in the commit lease before the first table changes.

A :class:`CommitIntent` names the run, the tables in commit order with their snapshots
before, the data files the run adds to each, its staging folder and the maps it publishes
or removes. It is all that the run's successor needs to finish a commit the run could not
(:func:`~era5_contours.commit.protocol.finish_intent`): it travels through the lease's
JSON record (:meth:`to_json`, :meth:`from_json`) and across processes and machines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

#: The record's format; :meth:`CommitIntent.from_json` refuses others.
FORMAT_VERSION = 1


class IntentError(ValueError):
    """A lease record's intent that cannot be read (another format, a missing key)."""


@dataclass(frozen=True)
class CommitIntent:
    """One run's commit of both tables and its maps."""

    run_id: str
    #: Unique per run and rerun: tags the run's snapshots (``run-attempt``).
    attempt: str
    #: ``database.table`` names, in commit order.
    order: tuple[str, ...]
    #: Each table's current snapshot id before the run's commit (None: no snapshot yet).
    before: Mapping[str, int | None]
    #: Each table's data files that the run adds (paths).
    files: Mapping[str, tuple[str, ...]]
    staging: str
    output_path: str
    #: Map paths relative to the output (and to the staging folder, where they wait).
    publish: tuple[str, ...] = ()
    #: Published maps to remove: days that are not ok now.
    unpublish: tuple[str, ...] = ()
    version: int = field(default=FORMAT_VERSION)

    def to_json(self) -> dict[str, Any]:
        """The JSON form kept in the lease record."""
        return {
            "version": self.version,
            "run_id": self.run_id,
            "attempt": self.attempt,
            "order": list(self.order),
            "before": dict(self.before),
            "files": {name: list(paths) for name, paths in self.files.items()},
            "staging": self.staging,
            "output_path": self.output_path,
            "publish": list(self.publish),
            "unpublish": list(self.unpublish),
        }

    @classmethod
    def from_json(cls, data: Any) -> CommitIntent:
        """From :meth:`to_json`'s form.

        Raises
        ------
        IntentError
            Naming what is missing or malformed.
        """
        if not isinstance(data, Mapping):
            raise IntentError(f"an intent is a JSON object, got {type(data).__name__}")
        version = data.get("version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise IntentError(f"intent format {version!r}, this code reads {FORMAT_VERSION}")
        try:
            order = tuple(str(n) for n in data["order"])
            before = {str(k): None if v is None else int(v) for k, v in data["before"].items()}
            files = {str(k): tuple(str(p) for p in v) for k, v in data["files"].items()}
            intent = cls(
                run_id=str(data["run_id"]),
                attempt=str(data["attempt"]),
                order=order,
                before=before,
                files=files,
                staging=str(data["staging"]),
                output_path=str(data["output_path"]),
                publish=tuple(str(p) for p in data.get("publish", ())),
                unpublish=tuple(str(p) for p in data.get("unpublish", ())),
            )
        except KeyError as exc:
            raise IntentError(f"the intent lacks {exc.args[0]!r}") from None
        except (AttributeError, TypeError, ValueError) as exc:
            raise IntentError(f"malformed intent ({exc})") from None
        missing = [n for n in order if n not in before]
        if missing:
            raise IntentError(f"the intent has no snapshot before for {', '.join(missing)}")
        return intent

    def files_of(self, table: str) -> tuple[str, ...]:
        """The data files the run adds to ``table``."""
        return tuple(self.files.get(table, ()))

    def all_files(self) -> list[str]:
        """Every data file the run adds, all tables."""
        return [p for paths in self.files.values() for p in paths]


def intents_from_json(items: Sequence[Any] | None) -> list[CommitIntent]:
    """The intents of a lease record's ``pending`` list."""
    return [CommitIntent.from_json(item) for item in items or ()]
