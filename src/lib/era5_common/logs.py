"""Log lines of the jobs and tools (the library only ever calls ``logging.getLogger(__name__)``)."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import TextIO

#: Libraries whose INFO lines drown the run's own (Spark's gateway, AWS SDK, plotting).
CHATTY = ("py4j", "botocore", "boto3", "urllib3", "matplotlib", "pyiceberg", "s3transfer")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(
    level: str = "INFO", *, stream: TextIO | None = None, quiet: Iterable[str] = CHATTY
) -> None:
    """Log lines at ``level`` to ``stream`` (stdout: a Glue job's log), quietening ``quiet``.

    An unknown level name reads as INFO.
    """
    logging.basicConfig(
        level=getattr(logging, str(level).upper(), logging.INFO),
        format=FORMAT,
        stream=sys.stdout if stream is None else stream,
    )
    for name in quiet:
        logging.getLogger(name).setLevel(logging.WARNING)
