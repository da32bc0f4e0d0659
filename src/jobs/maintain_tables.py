r"""Maintenance of the Iceberg tables: finish interrupted commits, expire, remove orphans.

Locally or as a Glue Python shell job::

    python src/jobs/maintain_tables.py --warehouse_path output/quickstart/warehouse \
        --output_path output/quickstart --dry_run

Options (Glue style, ``--name value``): ``--catalog_type sql|glue``, ``--warehouse_path``,
``--database`` (climate), ``--output_path`` (its ``_staging`` folders are cleaned too),
``--snapshot_retention_hours`` (168), ``--retain_last`` (5), ``--orphan_age_hours`` (72),
``--dry_run`` (or ``--dry_run true``), ``--aws_endpoint_url``. Exit codes: 0 done, 2 a
problem of the run (catalog unreachable, the commit lease not had in time).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

try:
    import era5_contours  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from era5_common import storage
from era5_common.logs import configure_logging
from era5_common.options import parse_bool
from era5_contours.commit.maintenance import maintain
from era5_contours.tables import catalog
from era5_contours.tables.schema import DATABASE

logger = logging.getLogger("maintain_tables")


def _flag(text: str) -> bool:
    try:
        return parse_bool(text, "--dry_run", empty=None)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The options; unknown ones (Glue adds its own, e.g. ``--JOB_NAME``) are ignored."""
    parser = argparse.ArgumentParser(prog="maintain_tables", description=__doc__.splitlines()[0])
    parser.add_argument("--catalog_type", default="sql", choices=catalog.CATALOG_TYPES)
    parser.add_argument("--warehouse_path", required=True)
    parser.add_argument("--database", default=DATABASE)
    parser.add_argument("--output_path", default="")
    parser.add_argument("--snapshot_retention_hours", type=float, default=168.0)
    parser.add_argument("--retain_last", type=int, default=5)
    parser.add_argument("--orphan_age_hours", type=float, default=72.0)
    parser.add_argument("--dry_run", nargs="?", const=True, default=False, type=_flag)
    parser.add_argument("--lease_wait_seconds", type=float, default=3600.0)
    parser.add_argument("--aws_endpoint_url", default="")
    args, unknown = parser.parse_known_args(list(argv))
    if unknown:
        logger.info("ignoring options not of this job: %s", " ".join(unknown))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the maintenance; the exit code."""
    configure_logging("INFO")
    args = parse_args(sys.argv[1:] if argv is None else argv)
    storage.use_endpoint(args.aws_endpoint_url)
    try:
        cat = catalog.load_catalog(
            args.catalog_type,
            args.warehouse_path,
            glue_endpoint=args.aws_endpoint_url or None,
            s3_endpoint=args.aws_endpoint_url or None,
        )
        report = maintain(
            cat,
            args.database,
            args.warehouse_path.rstrip("/"),
            output_path=args.output_path.rstrip("/") or None,
            snapshot_retention=timedelta(hours=args.snapshot_retention_hours),
            retain_last=args.retain_last,
            orphan_age=timedelta(hours=args.orphan_age_hours),
            dry_run=args.dry_run,
            lease_wait_seconds=args.lease_wait_seconds,
        )
    except Exception as exc:  # noqa: BLE001 - one line, exit 2, as the contour job
        logger.error("maintenance failed: %s: %s", type(exc).__name__, " ".join(str(exc).split()))
        return 2
    print(report.text(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
