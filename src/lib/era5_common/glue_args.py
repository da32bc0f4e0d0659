"""Glue's job parameters as argparse can read them (shared by both job scripts).

Python 3.9 code: the ingest job, a Glue Python shell job, imports it too.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence


def join_values(argv: Sequence[str], names: Collection[str]) -> list[str]:
    """Each ``--name value`` of the job's own options as ``--name=value``.

    Glue passes every parameter as two words, and argparse takes a value that begins with
    ``-`` for an option: ``--t2m_levels -10,0,10`` or a southern ``--area
    -10,110,-45,155`` would fail with "expected one argument". A following word that
    begins with ``--`` is an option, not a value, and is left for argparse to report.
    """
    out: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if (
            token.startswith("--")
            and token[2:] in names
            and i + 1 < len(argv)
            and not argv[i + 1].startswith("--")
        ):
            out.append(f"{token}={argv[i + 1]}")
            i += 2
        else:
            out.append(token)
            i += 1
    return out
