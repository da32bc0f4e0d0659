"""The Glue entry points with Glue's own code, on the job definitions the stack deploys.

src/jobs/extract_contours.py's options are parsed by aws-glue-libs' ``getResolvedOptions``
(branch glue-4.0, vendored unmodified in tests/vendor/awsglue) from the argv Glue passes:
the job's DefaultArguments as deploy/cloudformation/stack.yaml defines them (read by the
deploy's own reader and resolved with the parameters the deploy sends), the run's
arguments and what Glue adds itself. The run goes between the real ``Job``'s init and
commit; only GlueContext, whose JVM half is in Glue's jars, is stood in for. The CDS
ingest (src/jobs/ingest_era5.py, Glue Python shell) does not use getResolvedOptions: its
own parser is given the ingest job's DefaultArguments the same way. The stack defines no
maintenance job (src/jobs/maintain_tables.py runs by hand or from the dev container).
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import importlib.util
import itertools
import json
import re
import sys
from datetime import date
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest
from cfn_support import Resolver
from deploy_support import GLUE_JOBS, ROOT, fake_external_libs, settings_for
from independent import era5_daily
from realdata import FRANCE_T2M, FRANCE_TP, require

from era5_contours.run.config import JobConfig
from era5_ingest.config import IngestConfig
from era5_tools import deploy as d

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src" / "jobs"))
import extract_contours

# Depends on what differs between the Glue runtimes: the lanes run it (sh/test_glue_lane.sh).
pytestmark = pytest.mark.runtime

REPO = ROOT
VENDOR = Path(__file__).resolve().parent / "vendor"
JOB_SCRIPT = REPO / "src" / "jobs" / "extract_contours.py"

#: The deployment: what deploy's environment says (see era5_tools.deploy.settings).
DEPLOY_ENV = {
    "ERA5_BUCKET": "era5-data",
    "ERA5_PREFIX": "contours",
    "GLUE_INPUT_PATH": "s3://era5-input/reanalysis-era5-single-levels/",
    "ERA5_DATABASE": "climate_prod",
    "GLUE_JOB_VERSIONS": ",".join(d.GLUE_VERSIONS),
}
#: The stack's logical id of each job (the contour jobs' as its loop names them).
JOBS = {**GLUE_JOBS, "ingest": "IngestJob"}


@pytest.fixture(scope="module")
def stack_jobs(tmp_path_factory) -> dict[str, dict[str, Any]]:
    """The stack's Glue jobs (by JOBS key), resolved as CloudFormation would.

    The template is read by the deploy's ``load_template`` and its parameters are those
    ``stack_parameters`` sends for DEPLOY_ENV (artifact keys of stand-in wheels).
    """
    settings = settings_for(**DEPLOY_ENV)
    libs = fake_external_libs(tmp_path_factory.mktemp("libs"))
    settings = d.Settings(**{**settings.__dict__, "external_libs": libs})
    template = d.load_template(REPO)
    parameters = d.stack_parameters(settings, d.build_artifacts(REPO, settings), template)
    resolver = Resolver(template.body, parameters, stack_name=settings.stack_name)
    resources = resolver.template["Resources"]  # the contour jobs' loop unrolled
    # The role is another resource's attribute, which only CloudFormation knows.
    return {
        key: {
            name: resolver.value(value)
            for name, value in resources[logical]["Properties"].items()
            if name != "Role"
        }
        for key, logical in JOBS.items()
    }


#: What Glue itself adds to a run's argv. The names are those aws-glue-libs' Job
#: reserves (id_params, job_bookmark_options; TempDir is the job's temporary directory).
GLUE_ADDS = {
    "--JOB_ID": "j_3f1c9a6e0b2d4c8e",
    "--JOB_RUN_ID": "jr_8d2e4f6a1b3c5d7e9f0a",
    "--JOB_NAME": "era5-contours-glue4",
    "--TempDir": "s3://aws-glue-assets-123456789012-eu-west-1/temporary/",
}

#: The run arguments the state machine gives each chunk (deploy/state_machines).
RUN_ARGUMENTS = {
    "--start_date": "2020-07-01",
    "--end_date": "2020-07-07",
    "--run_id": "backfill-2020-07-0",
}


@pytest.fixture
def awsglue(monkeypatch):
    """aws-glue-libs' awsglue package (utils, job) importable for one test."""
    monkeypatch.syspath_prepend(str(VENDOR))
    yield importlib.import_module("awsglue.utils")
    for name in [m for m in sys.modules if m == "awsglue" or m.startswith("awsglue.")]:
        del sys.modules[name]


def as_argv(arguments: dict[str, str], form: str) -> list[str]:
    """Glue's name-value pairs as argv words: ``--name value`` or ``--name=value``."""
    if form == "space":
        return [word for pair in arguments.items() for word in pair]
    return [f"{name}={value}" for name, value in arguments.items()]


def glue_run_argv(
    jobs: dict[str, dict[str, Any]], form: str = "space", glue_version: str = "4.0", **options: str
) -> list[str]:
    """A run's argv as Glue passes it: the job's defaults, the run's arguments, Glue's own."""
    run = {**RUN_ARGUMENTS, **{f"--{k}": v for k, v in options.items()}}
    return as_argv({**jobs[glue_version]["DefaultArguments"], **run, **GLUE_ADDS}, form)


def test_vendored_sources_are_glue_4_0s():
    """The copies are byte for byte those the README names (aws-glue-libs, glue-4.0)."""
    table = (VENDOR / "README.md").read_text()
    rows = re.findall(r"\| `(awsglue/[\w.]+)` \| `[0-9a-f]{40}` \| `([0-9a-f]{64})` \|", table)
    assert {name for name, _ in rows} == {
        "awsglue/utils.py",
        "awsglue/job.py",
        "awsglue/LICENSE.txt",
        "awsglue/NOTICE.txt",
    }
    for name, digest in rows:
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert "Amazon Software License" in (VENDOR / "awsglue" / "utils.py").read_text()


@pytest.mark.parametrize("form", ["space", "equals"])
@pytest.mark.parametrize("glue_version", list(GLUE_JOBS))
def test_deployed_job_resolves_as_glue_parses_it(
    awsglue, stack_jobs, form, glue_version, monkeypatch
):
    assert stack_jobs[glue_version]["GlueVersion"] == glue_version
    if glue_version == "6.0":
        # Glue 6.0's getResolvedOptions no longer takes an unambiguous prefix for an option
        # (aws-glue-libs' 6.0 release notes: GlueArgumentParser(allow_abbrev=False)); the
        # vendored 4.0 parser is made to refuse them too, as 6.0's does.
        parser = awsglue.GlueArgumentParser
        monkeypatch.setattr(
            awsglue,
            "GlueArgumentParser",
            lambda *a, **k: parser(*a, **{**k, "allow_abbrev": False}),
        )
    argv = glue_run_argv(stack_jobs, form, glue_version)
    args = extract_contours.resolve_glue_options(argv)
    # Glue's own: getResolvedOptions copies TempDir to RedshiftTempDir and keeps the
    # bookmark option the job definition sets.
    assert args["JOB_NAME"] == "era5-contours-glue4"
    assert args["JOB_RUN_ID"] == GLUE_ADDS["--JOB_RUN_ID"]
    assert args["TempDir"] == args["RedshiftTempDir"] == GLUE_ADDS["--TempDir"]
    assert args["job_bookmark_option"] == "job-bookmark-disable"
    config = JobConfig.from_args(args)
    assert config.input_path == "s3://era5-input/reanalysis-era5-single-levels"
    assert config.output_path == "s3://era5-data/contours/output"
    assert config.warehouse_path == "s3://era5-data/contours/warehouse"
    assert config.catalog_type == "glue" and config.database == "climate_prod"
    assert config.variables == ("t2m", "tp") and config.dataset == "auto"
    assert (config.start_date, config.end_date) == (date(2020, 7, 1), date(2020, 7, 7))
    assert config.run_id == "backfill-2020-07-0"
    # Not given: the documented defaults (README, "Job options").
    assert config.allow_failed_days is False and config.lines and config.plots
    assert (config.precision, config.simplify_tolerance) == (4, 0.0)
    assert config.min_samples_per_day is None and config.assume_units == {}
    assert config.aws_endpoint_url == ""
    assert config.schemes["tp"].values == (0.1, 1, 2, 5, 10, 20, 50, 100)


# (option, value given, what the config then holds, what it holds when absent)
OPTIONAL = [
    ("min_samples_per_day", "20", 20, None),
    ("assume_units", "t2m=degC,tp=mm", {"t2m": "degC", "tp": "mm"}, {}),
    ("aws_endpoint_url", "http://127.0.0.1:5000", "http://127.0.0.1:5000", ""),
    ("tp_levels", "0.5,1,5", (0.5, 1.0, 5.0), (0.1, 1, 2, 5, 10, 20, 50, 100)),
    # t2m's default: every 2 degC from -50 to 50 (step, min, max of an interval scheme)
    ("t2m_levels", "-20,-10,0,10", (-20.0, -10.0, 0.0, 10.0), (2.0, -50.0, 50.0)),
    ("precision", "2", 2, 4),
    ("simplify_tolerance", "0.01", 0.01, 0.0),
    ("lines", "false", False, True),
    ("allow_failed_days", "true", True, False),
    ("dataset", "era5-land", "era5-land", "auto"),
]


def _held(config: JobConfig, option: str):
    if option.endswith("_levels"):
        scheme = config.schemes[option.removesuffix("_levels")]
        if scheme.kind == "interval":
            return (scheme.step, scheme.vmin, scheme.vmax)
        return scheme.values
    return getattr(config, option)


@pytest.mark.parametrize("form", ["space", "equals"])
@pytest.mark.parametrize(("option", "value", "given", "absent"), OPTIONAL)
def test_optional_options_given_or_absent(awsglue, form, option, value, given, absent):
    """Through Glue's parser, a given option wins over any default; an absent one defaults.

    Every option is asked of getResolvedOptions (which makes each one it is asked for
    required): those without a default must resolve when absent, not fail the run.
    """
    plain = {**RUN_ARGUMENTS, **GLUE_ADDS, "--input_path": "s3://i/", "--output_path": "s3://o"}
    without = JobConfig.from_args(extract_contours.resolve_glue_options(as_argv(plain, form)))
    with_it = JobConfig.from_args(
        extract_contours.resolve_glue_options(as_argv({**plain, f"--{option}": value}, form))
    )
    assert _held(with_it, option) == given
    assert _held(without, option) == absent


def test_negative_values_as_glue_passes_them(awsglue, stack_jobs):
    """Glue passes ``--t2m_levels -10,0,10`` as two words, which argparse alone refuses."""
    with pytest.raises(awsglue.GlueArgumentError, match="expected one argument"):
        awsglue.getResolvedOptions(
            ["job", "--JOB_NAME", "j", "--t2m_levels", "-10,0,10"], ["JOB_NAME", "t2m_levels"]
        )
    args = extract_contours.resolve_glue_options(glue_run_argv(stack_jobs, t2m_levels="-10,0,10"))
    assert JobConfig.from_args(args).schemes["t2m"].values == (-10.0, 0.0, 10.0)


def test_glue_options_of_its_own_pass_by(awsglue, stack_jobs):
    """Special parameters Glue consumes, some with values that look like options."""
    extra = {
        "--conf": "spark.sql.shuffle.partitions=8",
        "--enable-glue-datacatalog": "true",
        "--datalake-formats": "iceberg",
        "--enable-spark-ui": "true",
        "--spark-event-logs-path": "s3://era5-data/sparkui/",
        "--encryption-type": "sse-s3",
        "--enable-data-lineage": "true",
    }
    argv = [*glue_run_argv(stack_jobs), *as_argv(extra, "space")]
    assert "--no-index" in argv  # --python-modules-installer-option's value
    args = extract_contours.resolve_glue_options(argv)
    assert JobConfig.from_args(args).database == "climate_prod"
    assert args["encryption_type"] == "sse-s3"


@pytest.mark.parametrize(
    ("word", "meant"),
    [
        ("--simplify", "--simplify_tolerance"),
        ("--tp-levels", "--tp_levels"),
        ("--Run_Id", "--run_id"),
        ("--msl", "--msl_levels or --msl_cmap"),
        ("--min_samples=20", "--min_samples_per_day"),
    ],
)
def test_misspelt_options_stop_the_run(awsglue, stack_jobs, caplog, word, meant):
    """Dropped or prefix-matched silently, they would run the job without the value given."""
    argv = [*glue_run_argv(stack_jobs), *([word] if "=" in word else [word, "1"])]
    with pytest.raises(ValueError, match=re.escape(f"did you mean {meant}?")):
        extract_contours.resolve_glue_options(argv)
    assert extract_contours.main(argv) == 2
    assert f"unknown option {word.split('=')[0]}" in caplog.text


def test_missing_required_option_is_one_line(awsglue, stack_jobs, caplog):
    argv = [w for w in glue_run_argv(stack_jobs, "equals") if not w.startswith("--end_date=")]
    assert extract_contours.main(argv) == 2
    assert "invalid arguments: the following arguments are required: --end_date" in caplog.text


def ingest_script() -> ModuleType:
    """src/jobs/ingest_era5.py, loaded as the Python shell job runs it."""
    spec = importlib.util.spec_from_file_location(
        "ingest_era5_entry", REPO / "src" / "jobs" / "ingest_era5.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


#: What Glue Python shell adds to a run's argv besides the job's DefaultArguments.
PYTHON_SHELL_ADDS = {
    "--scriptLocation": "s3://era5-data/contours/artifacts/scripts/ingest_era5.py",
    "--job-bookmark-option": "job-bookmark-disable",
    "--JOB_ID": "j_9a8b7c6d5e4f",
    "--JOB_RUN_ID": "jr_1a2b3c4d5e6f",
    "--JOB_NAME": "era5-contours-ingest",
}


@pytest.mark.parametrize("form", ["space", "equals"])
def test_deployed_ingest_job_reads_its_options(stack_jobs, form):
    """The ingest job's defaults, one month of the state machine's, a southern area.

    The area's north bound is negative: given as two words (``--area -10,110,-45,155``)
    argparse alone would take it for an option and stop the run.
    """
    job = stack_jobs["ingest"]
    assert job["Command"]["Name"] == "pythonshell" and job["Command"]["PythonVersion"] == "3.9"
    # The arguments of one month's run, as the state machine's months list gives them.
    month = {
        "--start_month": "2020-07",
        "--end_month": "2020-07",
        "--dataset": "era5-land",
        "--area": "-10,110,-45,155",
        "--next_day": "false",
    }
    argv = as_argv({**job["DefaultArguments"], **month, **PYTHON_SHELL_ADDS}, form)
    config = IngestConfig.from_args(ingest_script().parse_args(argv))
    assert config.output_path.rstrip("/") == "s3://era5-input/reanalysis-era5-single-levels"
    assert config.cds_secret_id == "era5-contours/cds-api-key"
    assert config.dataset == "era5-land" and config.variables == ("t2m", "tp")
    area = config.area
    assert (area.north, area.west, area.south, area.east) == (-10.0, 110.0, -45.0, 155.0)
    assert config.max_parallel_requests == 2 and config.next_day is False
    assert config.poll.timeout == 20 * 3600  # --max_queue_hours 20 of the job definition
    assert [(m.year, m.month) for m in config.months] == [(2020, 7)]


def test_ingest_option_followed_by_an_option_is_refused(stack_jobs):
    """A value left out is not taken from the next option's name."""
    argv = as_argv(stack_jobs["ingest"]["DefaultArguments"], "space")
    with pytest.raises(SystemExit) as stopped:
        ingest_script().parse_args([*argv, "--area", "--start_month", "2020-07"])
    assert stopped.value.code == 2


def test_awsglue_is_imported_by_the_job_only_and_lazily():
    """The library never imports awsglue; the job script only inside functions."""
    for path in (REPO / "src" / "lib").rglob("*.py"):
        assert "awsglue" not in path.read_text(), path
    tree = ast.parse(JOB_SCRIPT.read_text())
    lazy = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("awsglue"):
            lazy.append(node.module)
    module_level = [
        n for n in tree.body if isinstance(n, ast.ImportFrom) and n.module.startswith("awsglue")
    ]
    assert sorted(set(lazy)) == ["awsglue.context", "awsglue.job", "awsglue.utils"]
    assert module_level == []


class JvmJob:
    """The JVM half of awsglue.job.Job (Glue's jars): records what the job asks of it."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def init(self, name, glue_scala_context, args):
        self.calls.append(("init", name, glue_scala_context, dict(args)))

    def commit(self):
        self.calls.append(("commit",))


@pytest.fixture
def glue_context(awsglue, monkeypatch, spark):
    """A stand-in for awsglue.context.GlueContext on the local SparkSession."""
    from pyspark.sql import SparkSession

    jvm_job = JvmJob()

    class GlueContext:
        def __init__(self, spark_context):
            assert spark_context is spark.sparkContext
            self._jvm = SimpleNamespace(Job=jvm_job)
            self._glue_scala_context = "glue-scala-context"
            self.spark_session = SparkSession.builder.getOrCreate()

    module = ModuleType("awsglue.context")
    module.GlueContext = GlueContext
    monkeypatch.setitem(sys.modules, "awsglue.context", module)
    return jvm_job


@pytest.mark.spark
@pytest.mark.realdata
def test_glue_run_between_job_init_and_commit(glue_context, tmp_path):
    """One real day through Glue's parser and Job, with negative levels as Glue passes them."""
    require(FRANCE_T2M, FRANCE_TP)
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / FRANCE_T2M.name).symlink_to(FRANCE_T2M)
    levels = (-5.0, 5.0, 15.0, 25.0)
    argv = as_argv(
        {
            **GLUE_ADDS,
            "--job-bookmark-option": "job-bookmark-disable",
            "--input_path": str(inputs),
            "--output_path": str(tmp_path / "out"),
            "--start_date": "2020-07-15",
            "--end_date": "2020-07-15",
            "--variables": "t2m",
            "--t2m_levels": ",".join(f"{v:g}" for v in levels),
            "--plots": "false",
            "--run_id": "glue-entry",
        },
        "space",
    )
    assert extract_contours.main(argv) == 0
    init, commit = glue_context.calls
    assert init[:3] == ("init", "era5-contours-glue4", "glue-scala-context")
    assert init[3]["JOB_RUN_ID"] == GLUE_ADDS["--JOB_RUN_ID"] and init[3]["run_id"] == "glue-entry"
    assert commit == ("commit",)
    # The bands are those of the levels given, no others: every band (lower, upper] the
    # day's field reaches (its range computed here from the raw file), open at the ends.
    t2m = era5_daily(date(2020, 7, 15), FRANCE_T2M, FRANCE_TP)["t2m"]
    low, high = float(np.nanmin(t2m)), float(np.nanmax(t2m))
    bounds = [None, *levels, None]
    expected = {
        (a, b)
        for a, b in itertools.pairwise(bounds)
        if (a is None or a < high) and (b is None or b >= low)
    }
    geojson = json.loads((tmp_path / "out" / "contours" / "t2m" / "2020-07-15.geojson").read_text())
    bands = {
        (f["properties"]["level_lower"], f["properties"]["level_upper"])
        for f in geojson["features"]
        if "level_lower" in f["properties"]
    }
    assert len(expected) >= 2 and bands == expected


@pytest.mark.spark
def test_failed_run_is_not_committed(glue_context, tmp_path):
    """A run-level problem (no input files) exits 2 after Job.init and before any commit."""
    (tmp_path / "empty").mkdir()
    argv = as_argv(
        {
            **GLUE_ADDS,
            "--input_path": str(tmp_path / "empty"),
            "--output_path": str(tmp_path / "out"),
            "--start_date": "2020-07-15",
            "--end_date": "2020-07-15",
        },
        "equals",
    )
    assert extract_contours.main(argv) == 2
    assert [c[0] for c in glue_context.calls] == ["init"]
