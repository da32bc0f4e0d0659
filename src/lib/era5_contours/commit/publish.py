"""Publishing a run's maps: staged GeoJSON and PNG moved into place once both tables commit.

Maps follow the tables: a run stages its maps under ``{output}/_staging/{attempt}/`` and
they are moved to ``contours/`` and ``plots/`` only after both of its table commits, by
the run itself or, after a kill, by whoever finishes its intent.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor

from era5_common import storage

from .intent import CommitIntent

logger = logging.getLogger(__name__)


def publish_maps(intent: CommitIntent, *, missing_ok: bool = False) -> int:
    """Move the intent's staged maps into place and remove the ones it unpublishes.

    ``missing_ok``: a staged map that is not there was moved already (finishing an
    interrupted publish), not an error.
    """
    staging, output = intent.staging, intent.output_path
    moves = [(storage.join(staging, rel), storage.join(output, rel)) for rel in intent.publish]
    deletes = [storage.join(output, rel) for rel in intent.unpublish]

    def move(pair: tuple[str, str]) -> int:
        try:
            storage.move(*pair)
        except FileNotFoundError:
            if not missing_ok:
                raise
            return 0
        except Exception as exc:
            if missing_ok and ("NoSuchKey" in str(exc) or "Not Found" in str(exc)):
                return 0
            raise
        return 1

    # S3 copies are round trips: a few threads keep a long run's publishing short.
    with ThreadPoolExecutor(max_workers=8 if storage.is_s3(output) else 1) as pool:
        moved = sum(pool.map(move, moves))
        list(pool.map(storage.delete, deletes))
    try:
        storage.delete_prefix(staging)
    except Exception as exc:  # noqa: BLE001 - a leftover for the maintenance command
        logger.warning("could not remove the staging folder %s: %s", staging, exc)
    return moved
