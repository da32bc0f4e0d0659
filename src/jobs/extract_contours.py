r"""Glue job: hourly ERA5 / ERA5-Land NetCDF to daily contour GeoJSON, PNG and Iceberg rows.

Runs unchanged in the Glue console (Glue passes ``--JOB_NAME``: GlueContext,
getResolvedOptions, Job.init/commit) and locally::

    python src/jobs/extract_contours.py --input_path sample_data --output_path output \
        --start_date 2024-07-01 --end_date 2024-07-03

Locally every option may also come from the environment or ``.env`` as ``ERA5_<OPTION>``
(e.g. ``ERA5_INPUT_PATH``). ``awsglue`` is imported here only, inside the Glue branch.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

try:
    import era5_contours  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from era5_contours.config import OPTIONS, REQUIRED, JobConfig
from era5_contours.errors import RunError
from era5_contours.pipeline import run_contour_job

logger = logging.getLogger("extract_contours")


def on_glue(argv: Sequence[str]) -> bool:
    """Glue always passes --JOB_NAME; a local run never needs it."""
    return any(a == "--JOB_NAME" or a.startswith("--JOB_NAME=") for a in argv)


def with_defaults(argv: Sequence[str], options: dict[str, str]) -> list[str]:
    """Append ``--name default`` for each option absent from ``argv``.

    getResolvedOptions makes every listed option required; giving the defaults first
    keeps the optional ones optional in the Glue console too.
    """
    present = {a[2:].split("=", 1)[0] for a in argv if a.startswith("--")}
    out = list(argv)
    for name, default in options.items():
        if name not in present and default != "":
            out += [f"--{name}", default]
    return out


def glue_option_names(argv: Sequence[str]) -> list[str]:
    """The options to resolve on Glue: the required ones, and the others given.

    getResolvedOptions demands every name it is handed; an optional option without a
    default (``--run_id``, ``--assume_units``...) that the run does not give must not be
    among them, or the job would fail asking for it.
    """
    present = {a[2:].split("=", 1)[0] for a in argv if a.startswith("--")}
    return [n for n in OPTIONS if n in REQUIRED or n in present]


def parse_local_args(argv: Sequence[str]) -> dict[str, str]:
    """argparse with the same option names; defaults from ERA5_<OPTION> or .env."""
    try:
        from dotenv import load_dotenv

        load_dotenv(override=False)
    except ImportError:
        pass
    parser = argparse.ArgumentParser(
        prog="extract_contours",
        description="Daily contour features from hourly ERA5 / ERA5-Land NetCDF.",
    )
    for name, default in OPTIONS.items():
        env_default = os.environ.get(f"ERA5_{name.upper()}", default)
        parser.add_argument(f"--{name}", default=env_default, help=f"default: {default!r}")
    parser.add_argument(
        "--master", default=os.environ.get("SPARK_MASTER", "local[*]"), help="Spark master"
    )
    parser.add_argument("--log_level", default=os.environ.get("LOG_LEVEL", "INFO"))
    return vars(parser.parse_args(list(argv)))


@contextmanager
def spark_session(args: dict[str, str], glue: bool) -> Iterator[object]:
    """GlueContext + Job.init/commit on Glue; a local SparkSession elsewhere."""
    if glue:
        from awsglue.context import GlueContext
        from awsglue.job import Job
        from pyspark.context import SparkContext

        glue_context = GlueContext(SparkContext.getOrCreate())
        job = Job(glue_context)
        job.init(args["JOB_NAME"], args)
        yield glue_context.spark_session
        job.commit()
        return
    from era5_contours.spark import local_spark_session

    spark = local_spark_session(args.get("master") or "local[*]")
    try:
        yield spark
    finally:
        spark.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; the process exit code (0 ok, 1 failed days, 2 run-level problem)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    glue = on_glue(argv)
    if glue:
        from awsglue.utils import getResolvedOptions

        full = with_defaults(argv, OPTIONS)
        args = getResolvedOptions(["job", *full], ["JOB_NAME", *glue_option_names(full)])
        level = "INFO"
    else:
        args = parse_local_args(argv)
        level = args.get("log_level", "INFO")
    logging.basicConfig(
        level=getattr(logging, str(level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stdout,
    )
    for noisy in ("py4j", "botocore", "urllib3", "matplotlib", "pyiceberg"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        config = JobConfig.from_args(args)
    except ValueError as exc:
        logger.error("invalid arguments: %s", exc)
        return 2
    try:
        with spark_session(args, glue) as spark:
            report = run_contour_job(spark, config)
    except RunError as exc:
        # A problem of the run as a whole (input, output, catalog, commit): one line.
        logger.error("run %s failed: %s", config.run_id, exc)
        return 2
    print(report.text(), flush=True)
    return report.exit_code


if __name__ == "__main__":
    sys.exit(main())
