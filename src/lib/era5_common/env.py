"""The ``.env`` file of a checkout: read by the tools, loaded by local job runs.

python-dotenv reads it (quotes, ``export`` and comments as a shell would take them); it is
a dependency of local runs and of the deploy, never of Glue, where nothing here is called.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """``KEY=value`` pairs of a ``.env`` file, not executed; a missing file gives ``{}``.

    Raises
    ------
    ValueError
        Naming the line of an entry that is not ``KEY=value``.
    """
    from dotenv import dotenv_values
    from dotenv.parser import parse_stream

    path = Path(path)
    if not path.is_file():
        return {}
    with path.open() as stream:
        for binding in parse_stream(stream):
            if binding.error or (binding.key is not None and binding.value is None):
                number = binding.original.line
                raise ValueError(
                    f"{path}:{number}: expected KEY=value, got {binding.original.string.strip()!r}"
                )
    return {k: v for k, v in dotenv_values(path).items() if v is not None}


def find_env_file(start: str | os.PathLike[str]) -> Path | None:
    """The nearest ``.env`` in ``start`` (a folder or file) or a folder above it."""
    here = Path(start).resolve()
    for folder in (here, *here.parents) if here.is_dir() else here.parents:
        candidate = folder / ".env"
        if candidate.is_file():
            return candidate
    return None


def load_env_file(start: str | os.PathLike[str]) -> dict[str, str]:
    """Put the entries of the nearest ``.env`` into ``os.environ`` where not set; what was set.

    The ``.env`` is looked for from ``start`` up (a job passes its own script, so that the
    checkout's file is found from any working folder). The environment wins over the
    file, as python-dotenv's ``load_dotenv(override=False)``. Without python-dotenv
    installed nothing is read.
    """
    path = find_env_file(start)
    if path is None:
        return {}
    try:
        values = read_env_file(path)
    except ImportError:
        return {}
    added = {k: v for k, v in values.items() if k not in os.environ}
    os.environ.update(added)
    return added


@contextlib.contextmanager
def patched_environ(changes: Mapping[str, str | None]) -> Iterator[None]:
    """Set (a string) or remove (None) environment variables; restore them afterwards.

    For the tools and tests that point boto3 at a local S3 and its test credentials.
    """
    saved = {k: os.environ.get(k) for k in changes}
    try:
        _apply(changes)
        yield
    finally:
        _apply(saved)


def _apply(values: Mapping[str, str | None]) -> None:
    """Set each variable to its string, or remove it where the value is None."""
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
