"""``_manifest.json``: what one month's folder holds, how it was asked for, and its state.

One manifest per ``{output_path}/{dataset}/{YYYY}/{MM}/``, written after every request
of the month (``in_progress``) and at its end (``complete``, ``incomplete`` or
``failed``). It holds the month's specification (dataset, collection, variables, area,
whether the next day's 00 UTC sample is part of it), each CDS request with its request
id, and each file with its size, SHA-256, variables and ``valid_time`` range. A rerun
skips a month whose manifest says ``complete`` for the same specification and whose files
still have their size and hash; it fetches again only the requests whose files are
missing or differ.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

MANIFEST_NAME = "_manifest.json"
FORMAT_VERSION = 1

COMPLETE = "complete"
INCOMPLETE = "incomplete"
FAILED = "failed"
IN_PROGRESS = "in_progress"
STATUSES = (COMPLETE, INCOMPLETE, FAILED, IN_PROGRESS)


class ManifestError(ValueError):
    """A manifest that cannot be read (not JSON, another format, missing keys)."""


def utc_now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def iso_hour(stamp: datetime) -> str:
    """A valid time as ``YYYY-MM-DDTHH:MM:SS`` (UTC, as the files hold it)."""
    return stamp.strftime("%Y-%m-%dT%H:%M:%S")


@dataclass
class FileEntry:
    """One file of the month."""

    name: str
    size: int
    sha256: str
    variables: list[str]
    valid_time_first: str
    valid_time_last: str
    valid_time_count: int
    #: The request (part label) it came from, and the CDS request id.
    part: str
    request_id: str
    #: Its name in the CDS download (a ZIP member, or the download itself).
    source_name: str

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "variables": list(self.variables),
            "valid_time": {
                "first": self.valid_time_first,
                "last": self.valid_time_last,
                "count": self.valid_time_count,
            },
            "part": self.part,
            "request_id": self.request_id,
            "source_name": self.source_name,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FileEntry:
        """From the JSON form."""
        valid = data["valid_time"]
        return cls(
            name=str(data["name"]),
            size=int(data["size"]),
            sha256=str(data["sha256"]),
            variables=[str(v) for v in data["variables"]],
            valid_time_first=str(valid["first"]),
            valid_time_last=str(valid["last"]),
            valid_time_count=int(valid["count"]),
            part=str(data["part"]),
            request_id=str(data["request_id"]),
            source_name=str(data.get("source_name", data["name"])),
        )


@dataclass
class PartEntry:
    """One CDS request of the month."""

    label: str
    request: dict[str, Any]
    status: str
    request_id: str | None = None
    files: list[str] = field(default_factory=list)
    bytes: int = 0
    submitted_at: str | None = None
    finished_at: str | None = None
    error: str | None = None
    #: Per variable: valid times asked for, found in the files, and missing (as ranges).
    coverage: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PartEntry:
        """From the JSON form."""
        return cls(
            label=str(data["label"]),
            request=dict(data["request"]),
            status=str(data["status"]),
            request_id=data.get("request_id"),
            files=[str(f) for f in data.get("files", [])],
            bytes=int(data.get("bytes", 0)),
            submitted_at=data.get("submitted_at"),
            finished_at=data.get("finished_at"),
            error=data.get("error"),
            coverage=dict(data.get("coverage", {})),
        )


@dataclass
class Manifest:
    """The manifest of one month."""

    spec: dict[str, Any]
    status: str = IN_PROGRESS
    error: str | None = None
    parts: list[PartEntry] = field(default_factory=list)
    files: list[FileEntry] = field(default_factory=list)
    #: Per variable over the month: valid times expected, found, missing (as ranges).
    coverage: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)
    software: dict[str, str] = field(default_factory=dict)

    def part(self, label: str) -> PartEntry | None:
        """The part of that label, if any."""
        return next((p for p in self.parts if p.label == label), None)

    def files_of(self, label: str) -> list[FileEntry]:
        """The files a part produced."""
        return [f for f in self.files if f.part == label]

    def to_json(self) -> dict[str, Any]:
        """JSON form (``format_version`` first)."""
        return {
            "format_version": FORMAT_VERSION,
            "status": self.status,
            "error": self.error,
            "request": self.spec,
            "parts": [p.to_json() for p in self.parts],
            "files": [f.to_json() for f in self.files],
            "coverage": self.coverage,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "software": self.software,
        }

    def dumps(self) -> bytes:
        """UTF-8 JSON, indented, keys in a stable order."""
        return (json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n").encode()

    @classmethod
    def loads(cls, text: bytes | str) -> Manifest:
        """Parse a manifest.

        Raises
        ------
        ManifestError
            Naming what is wrong.
        """
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ManifestError(f"not JSON: {exc}") from exc
        if not isinstance(data, dict) or data.get("format_version") != FORMAT_VERSION:
            raise ManifestError(
                f"not a format {FORMAT_VERSION} manifest "
                f"(format_version {data.get('format_version') if isinstance(data, dict) else None!r})"
            )
        try:
            status = str(data["status"])
            if status not in STATUSES:
                raise ManifestError(f"unknown status {status!r}")
            return cls(
                spec=dict(data["request"]),
                status=status,
                error=data.get("error"),
                parts=[PartEntry.from_json(p) for p in data.get("parts", [])],
                files=[FileEntry.from_json(f) for f in data.get("files", [])],
                coverage=dict(data.get("coverage", {})),
                created_at=str(data.get("created_at") or utc_now()),
                updated_at=str(data.get("updated_at") or utc_now()),
                software=dict(data.get("software", {})),
            )
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, ManifestError):
                raise
            raise ManifestError(f"missing or malformed entry: {exc!r}") from exc
