r"""Glue Python shell job: ERA5 / ERA5-Land month by month from the Climate Data Store.

Runs unchanged as an AWS Glue Python shell job (Python 3.9) and locally::

    python src/jobs/ingest_era5.py --dataset era5 --variables t2m,tp \
        --start_month 2020-07 --end_month 2020-08 --area 52,-6,40,10 \
        --output_path data/era5-input [--cds_secret_id NAME] [--max_parallel_requests N]

Files land in ``{output_path}/{dataset}/{YYYY}/{MM}/`` with a ``_manifest.json`` per
month; the contour job reads ``{output_path}/{dataset}`` as its ``--input_path``. The CDS
key comes from ``--cds_secret_id`` (AWS Secrets Manager), else ``CDSAPI_URL`` /
``CDSAPI_KEY`` (also from ``.env`` locally), else ``~/.cdsapirc``. Exit code: 0 every
month complete, 1 some month failed or incomplete, 2 a problem of the run (arguments,
credentials, unwritable output).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

try:
    import era5_ingest  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from era5_common.env import load_env_file
from era5_common.errors import RunError
from era5_common.glue_args import join_values
from era5_common.logs import CHATTY, configure_logging
from era5_ingest import credentials
from era5_ingest.cds import CdsError, CdsService
from era5_ingest.config import HELP, OPTIONS, REQUIRED, IngestConfig
from era5_ingest.ingest import run_ingest

logger = logging.getLogger("ingest_era5")


def parse_args(argv: Sequence[str]) -> dict[str, str]:
    """The job's options from Glue-style ``--name value`` (or ``--name=value``) arguments.

    Glue Python shell adds arguments of its own (``--job-bookmark-option``,
    ``--scriptLocation``, ``--JOB_ID``...): they are ignored, and option names are never
    abbreviated, so none of them can be taken for one of ours. Values may begin with a
    minus sign.
    """
    parser = argparse.ArgumentParser(
        prog="ingest_era5",
        description="ERA5 / ERA5-Land from the Climate Data Store, month by month.",
        allow_abbrev=False,
    )
    for name, default in OPTIONS.items():
        required = " (required)" if name in REQUIRED else f" (default: {default or 'none'})"
        parser.add_argument(f"--{name}", default=default, help=HELP[name] + required)
    parser.add_argument("--log_level", default="INFO", help="logging level (default: INFO)")
    known, _glue_own = parser.parse_known_args(join_values(argv, [*OPTIONS, "log_level"]))
    parsed: dict[str, str] = vars(known)
    return parsed


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; the process exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    load_env_file(__file__)  # local runs: CDSAPI_URL / CDSAPI_KEY may be in .env
    args = parse_args(argv)
    # The client's own INFO lines repeat the progress lines (request id, status changes);
    # its warnings (CDS and dataset notices) stay.
    configure_logging(
        str(args.get("log_level", "INFO")), quiet=(*CHATTY, "multiurl", "ecmwf.datastores")
    )
    try:
        config = IngestConfig.from_args(args)
    except ValueError as exc:
        logger.error("invalid arguments: %s", exc)
        return 2
    try:
        creds = credentials.resolve(
            config.cds_secret_id or None, endpoint_url=config.aws_endpoint_url or None
        )
        service = CdsService(creds, config.retry, config.poll, timeout=config.http_timeout)
        logger.info("CDS %s, key from %s", creds.url, creds.source)
        service.check_authentication()
        report = run_ingest(config, service)
    except (credentials.CredentialsError, RunError, CdsError) as exc:
        logger.error("ingest failed: %s", exc)
        return 2
    print(report.text(), flush=True)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
