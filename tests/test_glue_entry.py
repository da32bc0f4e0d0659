"""The Glue entry point with Glue's own code.

src/jobs/extract_contours.py's options are parsed by aws-glue-libs' ``getResolvedOptions``
(branch glue-4.0, vendored unmodified in tests/vendor/awsglue) from the argv Glue passes:
the deployed job definition's DefaultArguments, the run's arguments and what Glue adds
itself. The run goes between the real ``Job``'s init and commit; only GlueContext, whose
JVM half is in Glue's jars, is stood in for.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import itertools
import json
import re
import sys
from datetime import date
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pytest
from independent import era5_daily
from realdata import FRANCE_T2M, FRANCE_TP, require

from era5_contours.config import JobConfig
from era5_tools.deploy.templates import job_definition_path, load_yaml, placeholders, substitute

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src" / "jobs"))
import extract_contours

REPO = Path(__file__).resolve().parents[1]
VENDOR = Path(__file__).resolve().parent / "vendor"
JOB_SCRIPT = REPO / "src" / "jobs" / "extract_contours.py"

#: Values for the job definitions' ${NAME} placeholders, as deploy fills them in.
DEPLOY_VALUES = {
    "INPUT_PATH": "s3://era5-input/reanalysis-era5-single-levels/",
    "OUTPUT_PATH": "s3://era5-data/contours/output/",
    "WAREHOUSE_PATH": "s3://era5-data/contours/warehouse",
    "DATABASE": "climate_prod",
    "ERA5_BUCKET": "era5-data",
    "ARTIFACTS_PREFIX": "contours/artifacts",
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


def deployed_arguments(glue_version: str) -> dict[str, str]:
    """A job definition's DefaultArguments with its placeholders filled in."""
    arguments = load_yaml(job_definition_path(REPO, glue_version))["DefaultArguments"]
    values = {name: f"s3://era5-data/{name.lower()}" for name in placeholders(arguments)}
    return substitute(arguments, {**values, **DEPLOY_VALUES})


def as_argv(arguments: dict[str, str], form: str) -> list[str]:
    """Glue's name-value pairs as argv words: ``--name value`` or ``--name=value``."""
    if form == "space":
        return [word for pair in arguments.items() for word in pair]
    return [f"{name}={value}" for name, value in arguments.items()]


def glue_run_argv(form: str = "space", glue_version: str = "4.0", **options: str) -> list[str]:
    """A run's argv as Glue passes it: defaults, the run's arguments, Glue's own."""
    run = {**RUN_ARGUMENTS, **{f"--{k}": v for k, v in options.items()}}
    return as_argv({**deployed_arguments(glue_version), **run, **GLUE_ADDS}, form)


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
@pytest.mark.parametrize("glue_version", ["4.0", "5.0"])
def test_deployed_job_resolves_as_glue_parses_it(awsglue, form, glue_version):
    argv = glue_run_argv(form, glue_version)
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


def test_negative_values_as_glue_passes_them(awsglue):
    """Glue passes ``--t2m_levels -10,0,10`` as two words, which argparse alone refuses."""
    with pytest.raises(awsglue.GlueArgumentError, match="expected one argument"):
        awsglue.getResolvedOptions(
            ["job", "--JOB_NAME", "j", "--t2m_levels", "-10,0,10"], ["JOB_NAME", "t2m_levels"]
        )
    args = extract_contours.resolve_glue_options(glue_run_argv(t2m_levels="-10,0,10"))
    assert JobConfig.from_args(args).schemes["t2m"].values == (-10.0, 0.0, 10.0)


def test_glue_options_of_its_own_pass_by(awsglue):
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
    argv = [*glue_run_argv(), *as_argv(extra, "space")]
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
        ("--t2m", "--t2m_levels or --t2m_cmap"),
        ("--min_samples=20", "--min_samples_per_day"),
    ],
)
def test_misspelt_options_stop_the_run(awsglue, caplog, word, meant):
    """Dropped or prefix-matched silently, they would run the job without the value given."""
    argv = [*glue_run_argv(), *([word] if "=" in word else [word, "1"])]
    with pytest.raises(ValueError, match=re.escape(f"did you mean {meant}?")):
        extract_contours.resolve_glue_options(argv)
    assert extract_contours.main(argv) == 2
    assert f"unknown option {word.split('=')[0]}" in caplog.text


def test_missing_required_option_is_one_line(awsglue, caplog):
    argv = [w for w in glue_run_argv("equals") if not w.startswith("--end_date=")]
    assert extract_contours.main(argv) == 2
    assert "invalid arguments: the following arguments are required: --end_date" in caplog.text


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
