"""The deploy files, filled in.

``${NAME}`` placeholders, job definitions, the state machine, IAM policies, and the date
chunks the state machine's Plan state makes.

What is deployed is described by files: ``deploy/glue_jobs/contours-glue{4,5}.yaml`` (Glue
``CreateJob`` arguments), ``deploy/state_machines/contours.asl.json`` and
``deploy/iam/*.json``. ``${NAME}`` placeholders in them are replaced by values of
:func:`~era5_tools.deploy.settings.deploy_variables`; ``$${`` stands for a literal ``${``;
an unknown name is an error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from .settings import GLUE_VERSIONS

_PLACEHOLDER = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)\}")


class PlaceholderError(KeyError):
    """Placeholders without a value; ``names`` lists them."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))
        super().__init__(f"no value for placeholder(s): {', '.join(self.names)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def placeholders(value: Any) -> set[str]:
    """Names of the ``${NAME}`` placeholders in a string or nested list/dict."""
    found: set[str] = set()

    def visit(v: Any) -> None:
        if isinstance(v, str):
            found.update(m.group(2) for m in _PLACEHOLDER.finditer(v) if not m.group(1))
        elif isinstance(v, Mapping):
            for k, item in v.items():
                visit(k)
                visit(item)
        elif isinstance(v, (list, tuple)):
            for item in v:
                visit(item)

    visit(value)
    return found


def substitute(value: Any, variables: Mapping[str, str]) -> Any:
    """Replace ``${NAME}`` by ``variables[NAME]`` in every string of ``value``.

    Works on strings and nested dicts/lists (keys too); other values are returned as they
    are. ``$${NAME}`` gives the literal ``${NAME}``.

    Raises
    ------
    PlaceholderError
        Naming every placeholder that ``variables`` lacks.
    """
    missing = placeholders(value) - set(variables)
    if missing:
        raise PlaceholderError(missing)

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "${" + match.group(2) + "}"
        return str(variables[match.group(2)])

    def visit(v: Any) -> Any:
        if isinstance(v, str):
            return _PLACEHOLDER.sub(replace, v)
        if isinstance(v, Mapping):
            return {visit(k): visit(item) for k, item in v.items()}
        if isinstance(v, (list, tuple)):
            return [visit(item) for item in v]
        return v

    return visit(value)


def load_yaml(path: Path) -> Any:
    """A YAML deploy file, parsed."""
    import yaml  # deploy-time dependency only; the Glue job never imports this module

    return yaml.safe_load(path.read_text())


def job_definition_path(root: Path, glue_version: str) -> Path:
    """The job definition file of one Glue version."""
    return root / "deploy" / "glue_jobs" / f"contours-{GLUE_VERSIONS[glue_version]}.yaml"


def _document(value: Any, path: Path, variables: Mapping[str, str]) -> dict[str, Any]:
    """A parsed deploy file, which must be a mapping, with its placeholders filled in."""
    if not isinstance(value, dict):
        raise ValueError(f"{path}: expected a mapping at the top, got {type(value).__name__}")
    filled: dict[str, Any] = substitute(value, variables)
    return filled


def render_job(root: Path, glue_version: str, variables: Mapping[str, str]) -> dict[str, Any]:
    """The Glue job definition of a version with its placeholders filled in."""
    path = job_definition_path(root, glue_version)
    return _document(load_yaml(path), path, variables)


def render_state_machine(root: Path, variables: Mapping[str, str]) -> dict[str, Any]:
    """The state machine's ASL with its placeholders filled in."""
    path = root / "deploy" / "state_machines" / "contours.asl.json"
    return _document(json.loads(path.read_text()), path, variables)


def render_policy(root: Path, name: str, variables: Mapping[str, str]) -> dict[str, Any]:
    """An IAM policy of deploy/iam with its placeholders filled in."""
    path = root / "deploy" / "iam" / name
    return _document(json.loads(path.read_text()), path, variables)


def chunk_dates(start: date, end: date, chunk_days: int = 7) -> list[tuple[date, date]]:
    """Inclusive ``(first, last)`` day ranges of ``chunk_days`` days covering start..end.

    The state machine's ``Plan`` state computes the same chunks in JSONata; this is the
    reference the tests hold it to, and what ``python -m era5_contours.deploy chunks``
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
