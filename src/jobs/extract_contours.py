r"""Glue job: hourly ERA5 / ERA5-Land NetCDF to daily contour GeoJSON, PNG and Iceberg rows.

Runs unchanged in the Glue console and locally::

    python src/jobs/extract_contours.py --input_path sample_data --output_path output \
        --start_date 2024-07-01 --end_date 2024-07-03

On Glue (which always passes ``--JOB_NAME``) the options are read by Glue's own
``getResolvedOptions`` and the run sits between ``Job.init`` and ``Job.commit``; locally
argparse reads the same options, each of which may also come from the environment or
``.env`` as ``ERA5_<OPTION>`` (e.g. ``ERA5_INPUT_PATH``). ``awsglue`` is imported here only,
inside the Glue branch: GlueContext and Job in :func:`glue_session`, getResolvedOptions in
:func:`resolve_glue_options`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

try:
    import era5_contours  # noqa: F401
except ImportError:  # running from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lib"))

from era5_common.env import load_env_file
from era5_common.errors import RunError
from era5_common.glue_args import join_values
from era5_common.logs import configure_logging
from era5_contours.run.config import OPTIONS, REQUIRED, JobConfig
from era5_contours.run.pipeline import run_contour_job

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

logger = logging.getLogger("extract_contours")


def on_glue(argv: Sequence[str]) -> bool:
    """Glue always passes --JOB_NAME; a local run never needs it."""
    return any(a == "--JOB_NAME" or a.startswith("--JOB_NAME=") for a in argv)


def check_spelling(argv: Sequence[str], names: Collection[str] = OPTIONS) -> None:
    """Refuse a job option not spelt in full (``--simplify``, ``--tp-levels``, ``--Run_Id``).

    Glue passes options of its own (``--TempDir``, ``--enable-metrics``...), so unknown
    options cannot all be refused. But one whose name, lower-cased and with ``-`` read as
    ``_``, is or begins one of the job's would otherwise be dropped without a word, or
    taken by argparse's prefix matching: the run would go on without the value it was given.

    Raises
    ------
    ValueError
        Naming the option and what it may have meant.
    """
    for token in argv:
        if not token.startswith("--"):
            continue
        given = token[2:].split("=", 1)[0]
        key = given.lower().replace("-", "_")
        if given in names or not key:
            continue
        meant = [n for n in names if n.startswith(key)]
        if meant:
            alternatives = " or ".join(f"--{n}" for n in meant)
            raise ValueError(f"unknown option --{given}: did you mean {alternatives}?")


def glue_argv(argv: Sequence[str]) -> list[str]:
    """What the job hands to getResolvedOptions: the defaults first, then Glue's argv.

    Every optional option is given its default ("" for none) ahead of what Glue passed;
    argparse keeps the last value of an option, so a given value always wins and an
    absent one resolves to its default. getResolvedOptions can then be asked for every
    option (it makes each one it is asked for required), and the required ones stay so.
    """
    defaults = [f"--{name}={default}" for name, default in OPTIONS.items() if name not in REQUIRED]
    return [*defaults, *join_values(argv, OPTIONS)]


def resolve_glue_options(argv: Sequence[str]) -> dict[str, Any]:
    """The job's options from Glue's argv, parsed by Glue's own ``getResolvedOptions``.

    The result also holds what Glue adds (``JOB_NAME``, ``JOB_RUN_ID``, ``TempDir``,
    ``job_bookmark_option``...), which ``Job.init`` is given.

    Raises
    ------
    ValueError
        For a misspelt option, a missing required one or a value argparse refuses.
    """
    from awsglue.utils import GlueArgumentError, getResolvedOptions

    check_spelling(argv)
    try:
        resolved: dict[str, Any] = getResolvedOptions(
            ["extract_contours.py", *glue_argv(argv)], ["JOB_NAME", *OPTIONS]
        )
    except GlueArgumentError as exc:
        raise ValueError(str(exc)) from None
    return resolved


def parse_local_args(argv: Sequence[str]) -> dict[str, str]:
    """argparse with the same option names; defaults from ERA5_<OPTION> or .env.

    Options are spelt in full (no prefixes), as on Glue.
    """
    load_env_file(__file__)
    parser = argparse.ArgumentParser(
        prog="extract_contours",
        description="Daily contour features from hourly ERA5 / ERA5-Land NetCDF.",
        allow_abbrev=False,
    )
    for name, default in OPTIONS.items():
        env_default = os.environ.get(f"ERA5_{name.upper()}", default)
        parser.add_argument(f"--{name}", default=env_default, help=f"default: {default!r}")
    parser.add_argument(
        "--master", default=os.environ.get("SPARK_MASTER", "local[*]"), help="Spark master"
    )
    parser.add_argument("--log_level", default=os.environ.get("LOG_LEVEL", "INFO"))
    return vars(parser.parse_args(join_values(argv, OPTIONS)))


@contextmanager
def glue_session(args: Mapping[str, Any]) -> Iterator[SparkSession]:
    """Glue's SparkSession, inside ``Job.init`` and ``Job.commit`` (the seam to Glue's jars).

    GlueContext and the JVM side of Job live in Glue's own jars, present on Glue and in
    its container images only (no package registry has them); this function is all the
    job asks of them, and the tests stand in for GlueContext here. The commit is reached
    only when the run returns; a run that raises is not committed.
    """
    from awsglue.context import GlueContext
    from awsglue.job import Job
    from pyspark.context import SparkContext

    glue_context = GlueContext(SparkContext.getOrCreate())
    job = Job(glue_context)
    job.init(args["JOB_NAME"], dict(args))
    yield glue_context.spark_session
    job.commit()


@contextmanager
def spark_session(args: Mapping[str, Any], glue: bool) -> Iterator[SparkSession]:
    """Glue's session (:func:`glue_session`) on Glue; a local SparkSession elsewhere."""
    if glue:
        with glue_session(args) as spark:
            yield spark
        return
    from era5_contours.run.spark import local_spark_session

    spark = local_spark_session(args.get("master") or "local[*]")
    try:
        yield spark
    finally:
        spark.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """Run the job; the process exit code (0 ok, 1 failed days, 2 run-level problem)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    glue = on_glue(argv)
    args: Mapping[str, Any]
    if glue:
        configure_logging("INFO")
        try:
            args = resolve_glue_options(argv)
        except ValueError as exc:
            logger.error("invalid arguments: %s", exc)
            return 2
    else:
        args = parse_local_args(argv)
        configure_logging(str(args.get("log_level") or "INFO"))
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
