"""Tests of era5_tools.deploy and the deploy files (deploy/, sh/, external_libs/).

Pure parts run everywhere. Tests marked ``integration`` need more: npm (asl-validator and
jsonata, installed with ``npm ci --prefix deploy`` by the fixture when node_modules is
absent), PyPI (the lock check), moto's server (on 127.0.0.1, a free port), parliament,
cfn-lint; each skips with the reason when its tool is missing.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest
import yaml

from era5_contours.config import OPTIONS
from era5_tools import deploy as d

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
ASL_PATH = DEPLOY / "state_machines" / "contours.asl.json"
STACK_PATH = DEPLOY / "cloudformation" / "stack.yaml"
NODE_MODULES = DEPLOY / "node_modules"


def asl() -> dict:
    return json.loads(ASL_PATH.read_text())


def job_yaml(version: str) -> dict:
    return yaml.safe_load(d.job_definition_path(ROOT, version).read_text())


def settings_for(**env: str) -> d.Settings:
    base = {"ERA5_BUCKET": "era5-bucket", "AWS_REGION": "eu-west-1"}
    base.update(env)
    return d.Settings.from_env(base)


# --------------------------------------------------------------------------------------
# Placeholders, .env, settings
# --------------------------------------------------------------------------------------


def test_substitute_fills_nested_strings_and_keys_and_keeps_other_values():
    value = {"${K}": ["s3://${B}/x", 3, True, None], "n": {"deep": "${B}-${B}"}}
    out = d.substitute(value, {"K": "key", "B": "bkt"})
    assert out == {"key": ["s3://bkt/x", 3, True, None], "n": {"deep": "bkt-bkt"}}
    assert value["n"]["deep"] == "${B}-${B}"  # input untouched


def test_substitute_escape_gives_a_literal_placeholder():
    assert d.substitute("$${KEEP} and ${X}", {"X": "1"}) == "${KEEP} and 1"
    assert d.placeholders("$${KEEP} ${X}") == {"X"}


def test_substitute_names_every_missing_placeholder():
    with pytest.raises(d.PlaceholderError) as info:
        d.substitute({"a": "${ONE}", "b": ["${TWO}", "${OK}"]}, {"OK": "x"})
    assert info.value.names == ["ONE", "TWO"]
    assert "ONE, TWO" in str(info.value)


def test_jsonata_and_dollar_text_are_not_placeholders():
    text = "{% $states.input.start_date & $string($i) %} costs $5 {not} ${"
    assert d.placeholders(text) == set()
    assert d.substitute(text, {}) == text


def test_settings_defaults_and_derived_names():
    s = settings_for()
    assert (s.prefix, s.stack_name, s.glue_version, s.job_versions) == (
        "era5-contours",
        "era5-contours",
        "4.0",
        ("4.0",),
    )
    assert (s.input_bucket, s.input_prefix) == ("era5-bucket", "era5-contours/input")
    assert s.job_name("4.0") == "era5-contours-glue4"
    assert s.job_name("5.0") == "era5-contours-glue5"
    assert s.artifacts_prefix == "era5-contours/artifacts"
    v = d.deploy_variables(s, "111122223333", {"4.0": ["s3://b/w1.whl", "s3://b/w2.whl"]})
    assert v["GLUE4_WHEELS"] == "s3://b/w1.whl,s3://b/w2.whl"
    assert "GLUE5_WHEELS" not in v
    assert v["GLUE_ROLE_ARN"] == "arn:aws:iam::111122223333:role/era5-contours-glue-job"
    assert v["WAREHOUSE_PATH"] == "s3://era5-bucket/era5-contours/warehouse"
    assert v["GLUE_JOB_NAME"] == "era5-contours-glue4"


def test_settings_glue_version_5_and_given_roles():
    s = settings_for(
        GLUE_VERSION="5",
        GLUE_JOB_VERSIONS="4.0",
        GLUE_ROLE_ARN="arn:aws:iam::1:role/r",
        GLUE_INPUT_PATH="s3://other/raw/era5/",
        ERA5_PREFIX="/p/q/",
    )
    assert s.glue_version == "5.0"
    assert s.job_versions == ("5.0", "4.0")  # the state machine's job is always deployed
    assert (s.input_bucket, s.input_prefix, s.prefix) == ("other", "raw/era5", "p/q")
    v = d.deploy_variables(s, "1")
    assert v["GLUE_ROLE_ARN"] == "arn:aws:iam::1:role/r"
    assert v["GLUE_JOB_NAME"] == "era5-contours-glue5"
    assert v["INPUT_PATH"] == "s3://other/raw/era5/"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"ERA5_BUCKET": ""}, "ERA5_BUCKET"),
        ({"AWS_REGION": ""}, "AWS_REGION"),
        ({"GLUE_VERSION": "3.0"}, "Glue version"),
        ({"GLUE_INPUT_PATH": "data/era5"}, "s3://"),
        ({"GLUE_INPUT_PATH": "s3://bucket-only"}, "key prefix"),
        ({"ERA5_STACK_NAME": "bad name"}, "ERA5_STACK_NAME"),
    ],
)
def test_settings_reject_bad_environments(env, message):
    with pytest.raises(ValueError, match=message):
        settings_for(**env)


# --------------------------------------------------------------------------------------
# Lock files and wheels
# --------------------------------------------------------------------------------------


def test_parse_pins_normalises_and_rejects_floating_lines():
    text = "# c\nPillow==9.4.0  # glue\n\ntyping_extensions==4.16.0\nnetCDF4==1.7.2\n"
    assert d.parse_pins(text) == [
        ("pillow", "9.4.0"),
        ("typing-extensions", "4.16.0"),
        ("netcdf4", "1.7.2"),
    ]
    for bad in ("numpy>=1.23", "numpy", "pyiceberg[glue]==0.12.0", "-r other.txt"):
        with pytest.raises(ValueError, match="exact"):
            d.parse_pins(bad)


def test_shipped_pins_skip_exactly_the_provided_versions():
    lock = "numpy==1.23.5\npandas==1.5.2\nxarray==2024.3.0\n"
    provided = "numpy==1.23.5\npandas==1.5.1\n"
    assert d.shipped_pins(lock, provided) == [("pandas", "1.5.2"), ("xarray", "2024.3.0")]


def test_wheel_pin():
    assert d.wheel_pin("netcdf4-1.7.5.1.post1-cp311-abi3-manylinux_2_28_x86_64.whl") == (
        "netcdf4",
        "1.7.5.1.post1",
    )
    assert d.wheel_pin("pydantic_core-2.50.4-1-cp310-cp310-manylinux2014_x86_64.whl") == (
        "pydantic-core",
        "2.50.4",
    )
    with pytest.raises(ValueError):
        d.wheel_pin("not-a-wheel.whl")


def test_select_wheels_in_pin_order_and_names_missing_ones(tmp_path):
    for name in ("b_pkg-2.0-py3-none-any.whl", "a-1.0-cp310-cp310-manylinux2014_x86_64.whl"):
        (tmp_path / name).write_bytes(b"x")
    chosen = d.select_wheels([("b-pkg", "2.0"), ("a", "1.0")], tmp_path)
    assert [p.name for p in chosen] == [
        "b_pkg-2.0-py3-none-any.whl",
        "a-1.0-cp310-cp310-manylinux2014_x86_64.whl",
    ]
    with pytest.raises(FileNotFoundError, match=r"c==3\.0, a==9"):
        d.select_wheels([("c", "3.0"), ("a", "9"), ("a", "1.0")], tmp_path)


@pytest.mark.parametrize("target", ["glue4", "glue5"])
def test_lock_files_are_exact_and_respect_what_glue_provides(target):
    libs = ROOT / "external_libs"
    lock = d.parse_pins((libs / f"{target}-requirements.lock").read_text())
    provided = dict(d.parse_pins((libs / f"{target}-provided.txt").read_text()))
    names = [n for n, _ in lock]
    assert len(names) == len(set(names))
    locked = dict(lock)
    # NumPy 1.x and pandas stay as Glue ships them: its compiled stack depends on them.
    assert locked["numpy"] == provided["numpy"]
    assert locked["pandas"] == provided["pandas"]
    # The SDK Glue runs on is never replaced.
    assert not {"boto3", "botocore", "s3transfer"} & set(locked)
    # What the library needs is there, at least at its pyproject floors.
    for name, floor in [("matplotlib", (3, 8)), ("shapely", (2, 1)), ("pyarrow", (18, 0))]:
        assert tuple(int(x) for x in locked[name].split(".")[:2]) >= floor, name
    for name in ("xarray", "netcdf4", "h5netcdf", "h5py", "contourpy", "pyproj", "pyiceberg"):
        assert name in locked


@pytest.mark.parametrize("target", ["glue4", "glue5"])
def test_every_runtime_dependency_is_locked_or_provided(target):
    """What pyproject declares for the runtime reaches Glue: from the lock, or from what
    that Glue version provides, at a version that satisfies the declaration."""
    from packaging.requirements import Requirement
    from packaging.version import Version

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    libs = ROOT / "external_libs"
    locked = dict(d.parse_pins((libs / f"{target}-requirements.lock").read_text()))
    provided = dict(d.parse_pins((libs / f"{target}-provided.txt").read_text()))
    problems = []
    for line in project["dependencies"]:
        req = Requirement(line)
        name = d.normalise_name(req.name)
        version = locked.get(name) or provided.get(name)
        if version is None:
            problems.append(f"{req.name}: neither locked nor provided")
        elif not req.specifier.contains(Version(version), prereleases=True):
            problems.append(f"{req.name}: {version} does not satisfy {req.specifier}")
    assert problems == []


def test_glue4_keeps_pandas_1_and_pyarrow_with_manylinux2014_wheels():
    locked = dict(d.parse_pins((ROOT / "external_libs" / "glue4-requirements.lock").read_text()))
    assert locked["pandas"].startswith("1.")  # Spark 3.3 breaks on pandas 2
    assert locked["pyarrow"] == "20.0.0"  # last release with manylinux2014 wheels


# --------------------------------------------------------------------------------------
# Library zip
# --------------------------------------------------------------------------------------


def test_library_zip_is_reproducible_sorted_and_importable(tmp_path):
    package = ROOT / "src" / "lib" / "era5_contours"
    cache = package / "__pycache__"
    first = d.build_library_zip(package)
    assert d.build_library_zip(package) == first
    with zipfile.ZipFile(__import__("io").BytesIO(first)) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert "era5_contours/__init__.py" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert {i.date_time for i in infos} == {d.ZIP_TIMESTAMP}
    expected = sorted(
        f"era5_contours/{p.relative_to(package).as_posix()}"
        for p in package.rglob("*")
        if p.is_file() and cache not in p.parents and p.suffix != ".pyc"
    )
    assert names == expected
    target = tmp_path / "lib.zip"
    target.write_bytes(first)
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(target)!r}); import era5_contours; "
            "print(era5_contours.__file__)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == str(target / "era5_contours" / "__init__.py")


#: What Glue runs: the job's own modules, and nothing of the tools around it.
RUNTIME_MODULES = {
    "__init__",
    "borders",
    "catalog",
    "config",
    "contours",
    "daily",
    "datasets",
    "errors",
    "features",
    "geojson",
    "levels",
    "pipeline",
    "plots",
    "reading",
    "schema",
    "spark",
    "storage",
    "remote",
    "units",
    "variables",
    "layout",
}


def test_library_zip_holds_the_runtime_only(tmp_path):
    data = d.build_library_zip(ROOT / "src" / "lib" / "era5_contours")
    with zipfile.ZipFile(__import__("io").BytesIO(data)) as archive:
        names = archive.namelist()
    assert {n.removeprefix("era5_contours/").removesuffix(".py") for n in names} == RUNTIME_MODULES
    target = tmp_path / "lib.zip"
    target.write_bytes(data)
    # Every runtime module imports from the zip alone, without the tools package.
    modules = ", ".join(f"era5_contours.{m}" for m in sorted(RUNTIME_MODULES - {"__init__"}))
    out = subprocess.run(
        [
            sys.executable,
            "-I",
            "-c",
            f"import sys; sys.path.insert(0, {str(target)!r}); import {modules}; "
            "print(sorted(m for m in sys.modules if m.startswith('era5_')))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    loaded = eval(out.stdout)
    assert loaded and all(m.startswith("era5_contours") for m in loaded), loaded


def test_package_library_script_writes_the_same_zip(tmp_path):
    out = tmp_path / "x" / "era5_contours.zip"
    subprocess.run(
        ["bash", str(ROOT / "sh" / "package_library.sh"), str(out)],
        check=True,
        capture_output=True,
        env={**os.environ, "PYTHON": sys.executable},
    )
    assert out.read_bytes() == d.build_library_zip(ROOT / "src" / "lib" / "era5_contours")


# --------------------------------------------------------------------------------------
# Plan and diff
# --------------------------------------------------------------------------------------


def test_job_differences_ignore_computed_fields_but_not_extra_arguments():
    desired = {
        "Name": "j",
        "Timeout": 180,
        "Command": {"Name": "glueetl", "PythonVersion": "3"},
        "DefaultArguments": {"--a": "1"},
        "Tags": {"x": "y"},
    }
    current = {
        "Name": "j",
        "Timeout": 180.0,
        "Command": {"Name": "glueetl", "PythonVersion": "3", "Runtime": "x"},
        "DefaultArguments": {"--a": "1"},
        "MaxCapacity": 4.0,
        "CreatedOn": "yesterday",
    }
    assert d.job_differences(desired, current) == []
    extra = copy.deepcopy(current)
    extra["DefaultArguments"]["--old"] = "2"
    assert d.job_differences(desired, extra) == ["DefaultArguments"]
    changed = copy.deepcopy(current)
    changed["Timeout"] = 60
    changed["Command"]["PythonVersion"] = "2"
    assert d.job_differences(desired, changed) == ["Timeout", "Command"]


def test_change_lines_for_runs_and_plans():
    assert d.Change("glue job", "j", "created").line() == "created       glue job j"
    assert d.Change("glue job", "j", "updated", "Timeout").line(dry_run=True) == (
        "would update  glue job j (Timeout)"
    )
    assert (
        d.Change("s3 object", "s3://b/k", "unchanged").line(dry_run=True).startswith("unchanged ")
    )


# --------------------------------------------------------------------------------------
# Chunks
# --------------------------------------------------------------------------------------


def test_chunk_dates_cover_the_range_in_order():
    assert d.chunk_dates(date(2024, 2, 27), date(2024, 3, 2), 2) == [
        (date(2024, 2, 27), date(2024, 2, 28)),
        (date(2024, 2, 29), date(2024, 3, 1)),
        (date(2024, 3, 2), date(2024, 3, 2)),
    ]
    assert d.chunk_dates(date(2024, 1, 1), date(2024, 1, 1)) == [
        (date(2024, 1, 1), date(2024, 1, 1))
    ]
    assert d.chunk_dates(date(2023, 12, 25), date(2024, 1, 14), 7) == [
        (date(2023, 12, 25), date(2023, 12, 31)),
        (date(2024, 1, 1), date(2024, 1, 7)),
        (date(2024, 1, 8), date(2024, 1, 14)),
    ]


def test_chunk_dates_reject_bad_input():
    with pytest.raises(ValueError, match="before"):
        d.chunk_dates(date(2024, 1, 2), date(2024, 1, 1))
    with pytest.raises(ValueError, match="chunk_days"):
        d.chunk_dates(date(2024, 1, 1), date(2024, 1, 2), 0)


def test_chunks_command_prints_the_chunks(capsys):
    assert d.main(["chunks", "2024-01-30", "2024-02-02", "--chunk-days", "3"]) == 0
    assert json.loads(capsys.readouterr().out) == [
        {"start_date": "2024-01-30", "end_date": "2024-02-01"},
        {"start_date": "2024-02-02", "end_date": "2024-02-02"},
    ]


# --------------------------------------------------------------------------------------
# The deploy files
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "target"), [("4.0", "glue4"), ("5.0", "glue5")])
def test_job_definitions(version, target):
    job = job_yaml(version)
    args = job["DefaultArguments"]
    assert job["GlueVersion"] == version
    assert job["Command"] == {
        "Name": "glueetl",
        "ScriptLocation": "s3://${ERA5_BUCKET}/${ARTIFACTS_PREFIX}/scripts/extract_contours.py",
        "PythonVersion": "3",
    }
    assert job["Name"] == "${NAME_PREFIX}-" + target
    assert args["--additional-python-modules"] == "${" + target.upper() + "_WHEELS}"
    assert args["--python-modules-installer-option"] == "--no-index"
    assert args["--extra-py-files"].endswith("/lib/" + d.LIBRARY_ZIP_NAME)
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    assert "--datalake-formats" not in args
    assert args["--catalog_type"] == "glue"
    assert args["--enable-metrics"] == "true"
    assert args["--enable-continuous-cloudwatch-log"] == "true"
    # Every job option set here is one the job script really takes.
    glue_own = {k for k in args if "-" in k[2:]}  # Glue's arguments are hyphenated
    job_options = {k[2:] for k in set(args) - glue_own}
    assert job_options <= set(OPTIONS), job_options - set(OPTIONS)
    assert {"input_path", "output_path", "warehouse_path", "database"} <= job_options
    # Run-specific options come from the state machine, never from the defaults.
    assert not {"--start_date", "--end_date", "--run_id"} & set(args)
    # The job's variables default is the one config.OPTIONS documents.
    assert args["--variables"] == OPTIONS["variables"]


def test_state_machine_concurrency_fits_the_jobs():
    machine = asl()
    run_chunks = machine["States"]["RunChunks"]
    for version in d.GLUE_VERSIONS:
        assert (
            run_chunks["MaxConcurrency"]
            <= job_yaml(version)["ExecutionProperty"]["MaxConcurrentRuns"]
        )
    assert run_chunks["MaxConcurrency"] >= 1


def test_state_machine_retries_only_transient_glue_errors_and_fails_with_the_cause():
    machine = asl()
    task = machine["States"]["RunChunks"]["ItemProcessor"]["States"]["RunGlueJob"]
    assert task["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
    assert task["Arguments"]["JobName"] == "${GLUE_JOB_NAME}"
    retried = {e for r in task["Retry"] for e in r["ErrorEquals"]}
    assert {
        "Glue.ConcurrentRunsExceededException",
        "Glue.ThrottlingException",
        "Glue.InternalServiceException",
    } <= retried
    assert not retried & {"States.TaskFailed", "States.ALL", "States.Timeout"}
    for name in ("RunChunks", "Maintenance"):
        catch = machine["States"][name]["Catch"]
        assert catch[0]["Next"] == "Failed"
    failed = machine["States"]["Failed"]
    assert failed["Type"] == "Fail"
    assert "$states.input.Error" in failed["Error"]
    assert "$states.input.Cause" in failed["Cause"]


def test_maintenance_branch_runs_optimize_then_vacuum_on_both_tables():
    machine = asl()
    assert machine["States"]["Route"]["Default"] == "InvalidInput"
    maintenance = machine["States"]["Maintenance"]
    assert maintenance["Items"] == list(d.MAINTAINED_TABLES)
    assert maintenance["MaxConcurrency"] == 1
    states = maintenance["ItemProcessor"]["States"]
    assert states["Optimize"]["Next"] == "Vacuum"
    for state in states.values():
        assert state["Resource"] == "arn:aws:states:::athena:startQueryExecution.sync"
    assert "OPTIMIZE ${DATABASE}." in states["Optimize"]["Arguments"]["QueryString"]
    assert "REWRITE DATA USING BIN_PACK" in states["Optimize"]["Arguments"]["QueryString"]
    assert "VACUUM ${DATABASE}." in states["Vacuum"]["Arguments"]["QueryString"]


def test_trust_policies_name_the_service_and_guard_against_confused_deputies():
    for name, service in [
        ("glue_job_trust_policy.json", "glue.amazonaws.com"),
        ("state_machine_trust_policy.json", "states.amazonaws.com"),
    ]:
        policy = json.loads((DEPLOY / "iam" / name).read_text())
        (statement,) = policy["Statement"]
        assert statement["Principal"] == {"Service": service}
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == "${AWS_ACCOUNT_ID}"


def test_every_deploy_placeholder_has_a_value():
    s = settings_for(GLUE_JOB_VERSIONS="4,5")
    variables = d.deploy_variables(s, "123456789012", {"4.0": ["w4"], "5.0": ["w5"]})
    files = [
        *(DEPLOY / "glue_jobs").glob("*.yaml"),
        ASL_PATH,
        *(DEPLOY / "iam").glob("*.json"),
    ]
    used = set()
    for path in files:
        data = yaml.safe_load(path.read_text())  # JSON is YAML
        used |= d.placeholders(data)
        d.substitute(data, variables)  # raises on a missing value
    assert {"ERA5_BUCKET", "GLUE4_WHEELS", "GLUE5_WHEELS", "GLUE_JOB_NAME"} <= used


# --------------------------------------------------------------------------------------
# CloudFormation says the same as the deploy files
# --------------------------------------------------------------------------------------

_CFN_SUB = re.compile(r"\$\{([A-Za-z0-9:.]+)\}")


def resolve_cfn(node, params: dict, conditions: dict, attrs: dict):
    """Evaluate the intrinsic functions stack.yaml uses (Ref, Sub, GetAtt, If)."""
    if isinstance(node, list):
        return [resolve_cfn(x, params, conditions, attrs) for x in node]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        return params[node["Ref"]]
    if set(node) == {"Fn::Sub"}:
        return _CFN_SUB.sub(
            lambda m: attrs[m.group(1)] if "." in m.group(1) else params[m.group(1)],
            node["Fn::Sub"],
        )
    if set(node) == {"Fn::GetAtt"}:
        return attrs[".".join(node["Fn::GetAtt"])]
    if set(node) == {"Fn::If"}:
        name, yes, no = node["Fn::If"]
        return resolve_cfn(yes if conditions[name] else no, params, conditions, attrs)
    return {k: resolve_cfn(v, params, conditions, attrs) for k, v in node.items()}


@pytest.mark.parametrize("glue_version", ["4.0", "5.0"])
def test_cloudformation_resolves_to_the_deploy_files(glue_version):
    template = yaml.safe_load(STACK_PATH.read_text())
    account, region = "123456789012", "eu-west-1"
    params = {
        "BucketName": "data-bucket",
        "DataPrefix": "p/q",
        "InputBucket": "raw-bucket",
        "InputPrefix": "hourly/era5",
        "StackNamePrefix": "contours",
        "DatabaseName": "db1",
        "AthenaWorkGroup": "wg1",
        "GlueVersion": glue_version,
        "Glue4AdditionalPythonModules": "s3://w/4a.whl,s3://w/4b.whl",
        "Glue5AdditionalPythonModules": "s3://w/5a.whl",
        "LogRetentionDays": 90,
        "AWS::Region": region,
        "AWS::AccountId": account,
    }
    settings = d.Settings.from_env(
        {
            "ERA5_BUCKET": "data-bucket",
            "ERA5_PREFIX": "p/q",
            "GLUE_INPUT_PATH": "s3://raw-bucket/hourly/era5",
            "ERA5_STACK_NAME": "contours",
            "ERA5_DATABASE": "db1",
            "ATHENA_WORKGROUP": "wg1",
            "GLUE_VERSION": glue_version,
            "GLUE_JOB_VERSIONS": "4,5",
            "AWS_REGION": region,
        }
    )
    variables = d.deploy_variables(
        settings, account, {"4.0": ["s3://w/4a.whl", "s3://w/4b.whl"], "5.0": ["s3://w/5a.whl"]}
    )
    attrs = {
        "GlueJobRole.Arn": variables["GLUE_ROLE_ARN"],
        "StateMachineRole.Arn": variables["STATE_MACHINE_ROLE_ARN"],
        "StateMachineLogGroup.Arn": "log-group-arn",
    }
    conditions = {"RunGlue5": glue_version == "5.0"}
    resources = template["Resources"]

    def props(name):
        return resolve_cfn(resources[name]["Properties"], params, conditions, attrs)

    for logical, version in [("Glue4Job", "4.0"), ("Glue5Job", "5.0")]:
        assert props(logical) == d.render_job(ROOT, version, variables), logical
    for logical, stem, role_name in [
        ("GlueJobRole", "glue_job", settings.glue_role_name),
        ("StateMachineRole", "state_machine", settings.state_machine_role_name),
    ]:
        role = props(logical)
        assert role["RoleName"] == role_name
        assert role["AssumeRolePolicyDocument"] == d.render_policy(
            ROOT, f"{stem}_trust_policy.json", variables
        )
        (policy,) = role["Policies"]
        assert policy["PolicyDocument"] == d.render_policy(
            ROOT, f"{stem}_role_policy.json", variables
        )
    machine = props("StateMachine")
    assert machine["StateMachineName"] == settings.state_machine_name
    assert machine["RoleArn"] == variables["STATE_MACHINE_ROLE_ARN"]
    definition = d.substitute(machine["Definition"], machine["DefinitionSubstitutions"])
    assert definition == d.render_state_machine(ROOT, variables)
    assert props("StateMachineLogGroup")["LogGroupName"] == settings.state_machine_log_group
    assert props("GlueDatabase")["DatabaseInput"]["Name"] == settings.database
    for key in ("BucketName", "DataPrefix", "InputBucket", "InputPrefix", "StackNamePrefix"):
        assert key in template["Parameters"]


def test_cfn_parameters_command_prints_the_stack_parameters(tmp_path, monkeypatch):
    libs = fake_external_libs(tmp_path / "libs")
    env = tmp_path / ".env"
    env.write_text(f"ERA5_BUCKET=b1\nAWS_REGION=eu-west-1\nEXTERNAL_LIBS_DIR={libs}\n")
    for key in ("ERA5_BUCKET", "AWS_REGION", "EXTERNAL_LIBS_DIR", "GLUE_VERSION"):
        monkeypatch.delenv(key, raising=False)
    out = subprocess.run(
        [sys.executable, "-m", "era5_tools.deploy", "cfn-parameters", "--env-file", str(env)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    values = dict(line.split("=", 1) for line in out.splitlines())
    template = yaml.safe_load(STACK_PATH.read_text())
    assert set(values) <= set(template["Parameters"])
    assert values["BucketName"] == "b1"
    assert values["Glue4AdditionalPythonModules"].startswith(
        "s3://b1/era5-contours/artifacts/wheels/glue4/"
    )


# --------------------------------------------------------------------------------------
# External linters and validators
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node_tools() -> Path:
    """deploy/node_modules/.bin, installed with `npm ci --prefix deploy` when absent."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node/npm not installed (asl-validator and jsonata come from npm)")
    if not (NODE_MODULES / ".bin" / "asl-validator").exists():
        result = subprocess.run(
            ["npm", "ci", "--prefix", str(DEPLOY), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            pytest.fail(f"npm ci --prefix deploy failed:\n{result.stderr[-2000:]}")
    return NODE_MODULES / ".bin"


def run_asl_validator(bin_dir: Path, path: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / "asl-validator"), "--json-path", str(path)],
        capture_output=True,
        text=True,
    )


@pytest.mark.integration
def test_asl_validator_accepts_the_state_machine_and_rejects_a_broken_one(node_tools, tmp_path):
    result = run_asl_validator(node_tools, ASL_PATH)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = asl()
    broken["States"]["CheckPlan"]["Choices"][0]["Next"] = "NoSuchState"
    path = tmp_path / "broken.asl.json"
    path.write_text(json.dumps(broken))
    assert run_asl_validator(node_tools, path).returncode != 0


def evaluate_jsonata(expressions: dict[str, str], cases: list[dict]) -> list[dict]:
    """Evaluate JSONata expressions (the ASL's {% %} bodies) with the jsonata npm package."""
    script = r"""
const jsonata = require('jsonata');
const {expressions, cases} = JSON.parse(require('fs').readFileSync(0, 'utf8'));
(async () => {
  const out = [];
  for (const c of cases) {
    const states = {input: c, context: {Execution: {Name: 'exec-1'}}};
    const row = {};
    for (const [k, e] of Object.entries(expressions)) {
      try { row[k] = await jsonata(e).evaluate({}, {states}); }
      catch (err) { row[k] = {error: String(err.message || err)}; }
    }
    out.push(row);
  }
  process.stdout.write(JSON.stringify(out));
})();
"""
    result = subprocess.run(
        ["node", "-e", script],
        input=json.dumps({"expressions": expressions, "cases": cases}),
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )
    return json.loads(result.stdout)


def jsonata_body(text: str) -> str:
    assert text.startswith("{%") and text.endswith("%}")
    return text[2:-2]


@pytest.mark.integration
def test_plan_state_computes_the_same_chunks_as_chunk_dates(node_tools):
    machine = asl()
    expressions = {
        "valid": jsonata_body(machine["States"]["Validate"]["Choices"][0]["Condition"]),
        "chunks": jsonata_body(machine["States"]["Plan"]["Assign"]["chunks"]),
    }
    cases = [
        {"start_date": "2024-02-27", "end_date": "2024-03-02", "chunk_days": 2},
        {"start_date": "2024-01-01", "end_date": "2024-01-01"},
        {"start_date": "2023-12-25", "end_date": "2024-01-10", "variables": "tp"},
        {"start_date": "2021-03-20", "end_date": "2021-11-02", "chunk_days": 30},
        {"start_date": "1999-12-31", "end_date": "2000-03-01", "chunk_days": 366},
    ]
    results = evaluate_jsonata(expressions, cases)
    for case, result in zip(cases, results, strict=True):
        assert result["valid"] is True, case
        expected = d.chunk_dates(
            date.fromisoformat(case["start_date"]),
            date.fromisoformat(case["end_date"]),
            case.get("chunk_days", 7),
        )
        chunks = result["chunks"]
        assert [(c["start_date"], c["end_date"]) for c in chunks] == [
            (a.isoformat(), b.isoformat()) for a, b in expected
        ], case
        for i, chunk in enumerate(chunks):
            extra = {"--variables": case["variables"]} if "variables" in case else {}
            assert chunk["index"] == i
            assert chunk["arguments"] == {
                "--start_date": chunk["start_date"],
                "--end_date": chunk["end_date"],
                "--run_id": f"exec-1-{i}",
                **extra,
            }


@pytest.mark.integration
def test_validate_state_rejects_bad_inputs(node_tools):
    condition = jsonata_body(asl()["States"]["Validate"]["Choices"][0]["Condition"])
    bad = [
        {"start_date": "2024-01-02", "end_date": "2024-01-01"},
        {"start_date": 20240101, "end_date": "2024-01-02"},
        {"start_date": "2024-1-1", "end_date": "2024-01-02"},
        {"end_date": "2024-01-02"},
        {"start_date": "2024-01-01", "end_date": "2024-01-02", "chunk_days": 0},
        {"start_date": "2024-01-01", "end_date": "2024-01-02", "chunk_days": 2.5},
        {"start_date": "2024-01-01", "end_date": "2024-01-02", "chunk_days": "7"},
        {"start_date": "2024-01-01", "end_date": "2024-01-02", "chunk_days": 367},
        {"start_date": "2024-01-01", "end_date": "2024-01-02", "variables": ["t2m"]},
    ]
    results = evaluate_jsonata({"valid": condition}, bad)
    assert [r["valid"] for r in results] == [False] * len(bad)


def policy_findings(text: str) -> list[tuple[str, str, str]]:
    parliament = pytest.importorskip("parliament", reason="parliament not installed (pip)")
    # What `parliament --include-community-auditors` does before analysing.
    parliament.override_config(
        Path(parliament.__file__).parent / "community_auditors" / "config_override.yaml"
    )
    policy = parliament.analyze_policy_string(text, include_community_auditors=True)
    findings = []
    for finding in policy.findings:
        parliament.enhance_finding(finding)
        where = json.dumps([finding.detail, finding.location], default=str)
        findings.append((finding.severity, finding.issue, where))
    return findings


#: Findings above LOW that are accepted, with the reason.
ACCEPTED_FINDINGS = {
    # Step Functions' execution logging to CloudWatch Logs needs these log-delivery actions
    # on "*" (they have no resource-level permissions); logs:PutResourcePolicy is how the
    # service sets the log group's resource policy for its vended log delivery.
    ("state_machine_role_policy.json", "PERMISSIONS_MANAGEMENT_ACTIONS", "logs:putresourcepolicy"),
}


@pytest.mark.parametrize("name", ["glue_job_role_policy.json", "state_machine_role_policy.json"])
def test_parliament_finds_nothing_above_low_in_the_role_policies(name):
    variables = d.deploy_variables(settings_for(), "123456789012", {"4.0": ["w"], "5.0": ["w"]})
    text = json.dumps(d.render_policy(ROOT, name, variables))
    unexpected = []
    for severity, issue, detail in policy_findings(text):
        if severity in ("LOW", "INFO"):
            continue
        if not any(n == name and i == issue and a in detail for n, i, a in ACCEPTED_FINDINGS):
            unexpected.append((severity, issue, detail))
    assert unexpected == []


def test_parliament_does_flag_a_bad_policy():
    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "s3:GetObjects", "Resource": "arn:aws:s3:::b/*"},
            {
                "Effect": "Allow",
                "Action": "s3:GetBucketLocation",
                "Resource": "arn:aws:s3:::b",
                "Condition": {"StringLike": {"s3:prefix": ["x/*"]}},
            },
        ],
    }
    issues = {issue for _, issue, _ in policy_findings(json.dumps(bad))}
    assert {"UNKNOWN_ACTION", "UNKNOWN_CONDITION_FOR_ACTION"} <= issues


def run_cfn_lint(path: Path) -> subprocess.CompletedProcess:
    exe = shutil.which("cfn-lint") or str(Path(sys.executable).with_name("cfn-lint"))
    if not Path(exe).exists():
        pytest.skip("cfn-lint not installed (pip install cfn-lint)")
    return subprocess.run([exe, str(path)], capture_output=True, text=True)


def test_cfn_lint_passes_the_stack_and_fails_a_broken_one(tmp_path):
    result = run_cfn_lint(STACK_PATH)
    assert result.returncode == 0, result.stdout + result.stderr
    template = yaml.safe_load(STACK_PATH.read_text())
    template["Resources"]["Glue4Job"]["Properties"]["WorkerType"] = "G.3X"
    template["Resources"]["StateMachine"]["Properties"]["RoleArn"] = {
        "Fn::GetAtt": ["NoSuchRole", "Arn"]
    }
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(template))
    assert run_cfn_lint(broken).returncode != 0


def build_script(*args: str, libs: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHON": sys.executable}
    if libs is not None:
        env["EXTERNAL_LIBS_DIR"] = str(libs)
    return subprocess.run(
        ["bash", str(ROOT / "sh" / "build_external_libs.sh"), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
    )


def test_build_script_rejects_a_floating_pin(tmp_path):
    (tmp_path / "glue4-requirements.lock").write_text("numpy==1.23.5\nxarray>=2024\n")
    result = build_script("--check", "glue4", libs=tmp_path)
    assert result.returncode != 0
    assert "not an exact name==version pin: xarray>=2024" in result.stderr


@pytest.mark.integration
def test_glue4_lock_resolves_for_the_glue4_platform():
    result = build_script("--check", "glue4")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "[glue4] OK" in result.stdout


@pytest.mark.integration
def test_lock_check_fails_when_a_dependency_is_missing_from_the_lock(tmp_path):
    # pandas needs numpy, python-dateutil, pytz and tzdata: a lock of pandas alone is open.
    (tmp_path / "glue5-requirements.lock").write_text("pandas==2.2.2\n")
    result = build_script("--check", "glue5", libs=tmp_path)
    assert result.returncode != 0
    assert "+numpy==" in result.stdout
    assert "pip resolves another set" in result.stderr


# --------------------------------------------------------------------------------------
# Deploying against moto's server
# --------------------------------------------------------------------------------------


def fake_external_libs(folder: Path) -> Path:
    """Lock and provided files of the repo, with a tiny stand-in for each shipped wheel."""
    folder.mkdir(parents=True, exist_ok=True)
    for target in d.GLUE_VERSIONS.values():
        for suffix in ("-requirements.lock", "-provided.txt"):
            shutil.copy(ROOT / "external_libs" / f"{target}{suffix}", folder)
        wheels = folder / target
        wheels.mkdir(exist_ok=True)
        lock = (folder / f"{target}-requirements.lock").read_text()
        for name, version in d.shipped_pins(lock, (folder / f"{target}-provided.txt").read_text()):
            stem = f"{name.replace('-', '_')}-{version}"
            (wheels / f"{stem}-py3-none-any.whl").write_bytes(f"{target}:{stem}".encode())
    return folder


@pytest.fixture(scope="module")
def moto_url():
    server_module = pytest.importorskip("moto.server", reason="moto[server] not installed")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_env(monkeypatch, tmp_path, moto_url):
    """Dummy credentials for moto, isolated from any real AWS configuration."""
    for key in (
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    return moto_url


def moto_setup(tmp_path: Path, moto_url: str, stack: str, **extra: str):
    env = {
        "ERA5_BUCKET": f"{stack}-bucket",
        "AWS_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL": moto_url,
        "ERA5_STACK_NAME": stack,
        "GLUE_JOB_VERSIONS": "4,5",
        "EXTERNAL_LIBS_DIR": str(fake_external_libs(tmp_path / "external_libs")),
        **extra,
    }
    settings = d.Settings.from_env(env)
    clients = d.aws_clients(settings, env)
    clients["s3"].create_bucket(
        Bucket=settings.bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return env, settings, clients


def snapshot(settings: d.Settings, clients: dict) -> dict:
    """Everything a deploy may touch, to compare before and after a run."""
    objects = clients["s3"].list_objects_v2(Bucket=settings.bucket).get("Contents", [])
    glue = clients["glue"]
    jobs = {}
    for version in d.GLUE_VERSIONS:
        try:
            jobs[version] = glue.get_job(JobName=settings.job_name(version))["Job"]
        except glue.exceptions.EntityNotFoundException:
            jobs[version] = None
    arn = d.find_state_machine(clients["stepfunctions"], settings.state_machine_name)
    machine = None
    if arn:
        machine = clients["stepfunctions"].describe_state_machine(stateMachineArn=arn)
        machine.pop("ResponseMetadata", None)
    roles = sorted(r["RoleName"] for r in clients["iam"].list_roles()["Roles"])
    return {
        "objects": sorted((o["Key"], o["ETag"], o["LastModified"]) for o in objects),
        "jobs": jobs,
        "machine": machine,
        "roles": roles,
        "databases": sorted(x["Name"] for x in glue.get_databases()["DatabaseList"]),
    }


@pytest.mark.integration
def test_deploy_to_moto_creates_then_changes_nothing(aws_env, tmp_path):
    _env, settings, clients = moto_setup(tmp_path, aws_env, "first")
    before = snapshot(settings, clients)

    plan = d.deploy(settings, clients, ROOT, dry_run=True)
    assert {c.action for c in plan} == {"created"}
    assert snapshot(settings, clients) == before  # a dry run writes nothing

    created = d.deploy(settings, clients, ROOT)
    assert [(c.kind, c.name) for c in created] == [(c.kind, c.name) for c in plan]
    assert {c.action for c in created} == {"created"}
    kinds = [c.kind for c in created]
    for kind in ("iam role", "glue database", "glue job", "log group", "state machine"):
        assert kind in kinds

    # S3 holds exactly the artifacts, byte for byte.
    items, wheel_uris = d.artifacts(ROOT, settings)
    s3 = clients["s3"]
    for item in items:
        body = s3.get_object(Bucket=settings.bucket, Key=item.key)["Body"].read()
        assert body == item.body, item.key
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket)["Contents"]}
    assert keys == {i.key for i in items}
    assert f"{settings.artifacts_prefix}/scripts/extract_contours.py" in keys
    assert f"{settings.artifacts_prefix}/lib/era5_contours.zip" in keys

    # The Glue jobs are what the YAML files say, placeholders filled in.
    account = clients["sts"].get_caller_identity()["Account"]
    variables = d.deploy_variables(settings, account, wheel_uris)
    for version in d.GLUE_VERSIONS:
        expected = d.render_job(ROOT, version, variables)
        job = clients["glue"].get_job(JobName=expected["Name"])["Job"]
        for key, value in expected.items():
            if key != "Tags":
                assert job[key] == value, key
        shipped = job["DefaultArguments"]["--additional-python-modules"].split(",")
        assert shipped == wheel_uris[version]
        assert all(uri.split("/", 3)[3] in keys for uri in shipped)
        assert f"/wheels/{d.GLUE_VERSIONS[version]}/" in shipped[0]
        assert job["DefaultArguments"]["--input_path"] == "s3://first-bucket/era5-contours/input/"

    # The state machine is the ASL file, filled in, with the created role.
    arn = d.find_state_machine(clients["stepfunctions"], "first")
    machine = clients["stepfunctions"].describe_state_machine(stateMachineArn=arn)
    assert json.loads(machine["definition"]) == d.render_state_machine(ROOT, variables)
    run_task = json.loads(machine["definition"])["States"]["RunChunks"]["ItemProcessor"]
    assert run_task["States"]["RunGlueJob"]["Arguments"]["JobName"] == "first-glue4"
    assert machine["roleArn"] == f"arn:aws:iam::{account}:role/first-state-machine"
    assert machine["loggingConfiguration"]["level"] == "ERROR"

    # The roles carry the policies of deploy/iam.
    iam = clients["iam"]
    policy = iam.get_role_policy(RoleName="first-glue-job", PolicyName="first-glue-job-policy")
    assert policy["PolicyDocument"] == d.render_policy(ROOT, "glue_job_role_policy.json", variables)

    after_first = snapshot(settings, clients)
    second = d.deploy(settings, clients, ROOT)
    assert [(c.kind, c.name) for c in second] == [(c.kind, c.name) for c in created]
    assert {c.action for c in second} == {"unchanged"}
    assert snapshot(settings, clients) == after_first

    replan = d.deploy(settings, clients, ROOT, dry_run=True)
    assert {c.action for c in replan} == {"unchanged"}
    assert snapshot(settings, clients) == after_first


@pytest.mark.integration
def test_deploy_to_moto_updates_only_what_changed(aws_env, tmp_path):
    _env, settings, clients = moto_setup(tmp_path, aws_env, "second")
    d.deploy(settings, clients, ROOT)

    # A copy of the repository's deploy inputs with one job argument and one ASL value
    # changed, and one wheel rebuilt.
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "deploy", root / "deploy", ignore=shutil.ignore_patterns("node_modules"))
    shutil.copytree(ROOT / "src", root / "src", ignore=shutil.ignore_patterns("__pycache__"))
    job_file = d.job_definition_path(root, "4.0")
    original_job = job_file.read_text()
    job_file.write_text(original_job.replace("--dataset: auto", "--dataset: era5"))
    machine = json.loads((root / "deploy/state_machines/contours.asl.json").read_text())
    machine["States"]["RunChunks"]["MaxConcurrency"] = 2
    (root / "deploy/state_machines/contours.asl.json").write_text(json.dumps(machine))
    wheel = next((settings.external_libs / "glue5").glob("xarray-*.whl"))
    wheel.write_bytes(b"rebuilt")
    wheel_uri = f"s3://second-bucket/{settings.artifacts_prefix}/wheels/glue5/{wheel.name}"

    before = snapshot(settings, clients)
    plan = d.deploy(settings, clients, root, dry_run=True)
    assert snapshot(settings, clients) == before
    assert {(c.kind, c.name, c.detail) for c in plan if c.action == "updated"} == {
        ("s3 object", wheel_uri, "7 bytes"),
        ("glue job", "second-glue4", "DefaultArguments"),
        ("state machine", "second", "definition"),
    }

    # moto has no UpdateJob (test_sync_glue_job_updates_with_the_whole_definition covers
    # that call): the real run changes the other two.
    job_file.write_text(original_job)
    changes = d.deploy(settings, clients, root)
    assert {(c.kind, c.name) for c in changes if c.action != "unchanged"} == {
        ("s3 object", wheel_uri),
        ("state machine", "second"),
    }
    key = wheel_uri.split("/", 3)[3]
    assert clients["s3"].get_object(Bucket="second-bucket", Key=key)["Body"].read() == b"rebuilt"
    arn = d.find_state_machine(clients["stepfunctions"], "second")
    described = clients["stepfunctions"].describe_state_machine(stateMachineArn=arn)
    assert json.loads(described["definition"])["States"]["RunChunks"]["MaxConcurrency"] == 2
    assert {c.action for c in d.deploy(settings, clients, root)} == {"unchanged"}


class RecordingGlue:
    """A Glue client double holding one job, recording the writes."""

    class exceptions:
        pass

    def __init__(self, job: dict | None, tags: dict | None = None):
        self.job = job
        self.tags = tags or {}
        self.calls: list[tuple[str, dict]] = []

    def get_job(self, JobName):
        if self.job is None:
            error = Exception("not found")
            error.response = {"Error": {"Code": "EntityNotFoundException"}}
            raise error
        return {"Job": self.job}

    def get_tags(self, ResourceArn):
        return {"Tags": self.tags}

    def __getattr__(self, name):
        return lambda **kwargs: self.calls.append((name, kwargs))


def test_sync_glue_job_updates_with_the_whole_definition():
    definition = d.render_job(
        ROOT, "4.0", d.deploy_variables(settings_for(), "1", {"4.0": ["s3://b/w.whl"]})
    )
    current = copy.deepcopy(definition)
    current.pop("Tags")
    current["DefaultArguments"]["--old"] = "x"
    current["MaxCapacity"] = 4.0
    glue = RecordingGlue(current, tags={"project": "era5-contours", "owner": "someone"})
    change = d.sync_glue_job(glue, definition, "arn:job", dry_run=False)
    assert (change.action, change.detail) == ("updated", "DefaultArguments, Tags")
    (update, tag) = glue.calls
    assert update == (
        "update_job",
        {
            "JobName": definition["Name"],
            "JobUpdate": {k: v for k, v in definition.items() if k not in ("Name", "Tags")},
        },
    )
    assert "--old" not in update[1]["JobUpdate"]["DefaultArguments"]
    assert tag == ("tag_resource", {"ResourceArn": "arn:job", "TagsToAdd": {"glue-version": "4.0"}})

    planned = RecordingGlue(current)
    assert d.sync_glue_job(planned, definition, "arn:job", dry_run=True).action == "updated"
    assert planned.calls == []
    created = RecordingGlue(None)
    assert d.sync_glue_job(created, definition, "arn:job", dry_run=False).action == "created"
    assert created.calls == [("create_job", definition)]


@pytest.mark.integration
def test_deploy_to_moto_with_given_roles_leaves_iam_alone(aws_env, tmp_path):
    _env, settings, clients = moto_setup(
        tmp_path,
        aws_env,
        "third",
        GLUE_JOB_VERSIONS="",
        GLUE_ROLE_ARN="arn:aws:iam::123456789012:role/existing-glue",
        STATE_MACHINE_ROLE_ARN="arn:aws:iam::123456789012:role/existing-sfn",
    )
    changes = d.deploy(settings, clients, ROOT)
    assert "iam role" not in {c.kind for c in changes}
    assert [c.name for c in changes if c.kind == "glue job"] == ["third-glue4"]
    job = clients["glue"].get_job(JobName="third-glue4")["Job"]
    assert job["Role"] == "arn:aws:iam::123456789012:role/existing-glue"
    roles = {r["RoleName"] for r in clients["iam"].list_roles()["Roles"]}
    assert not {"third-glue-job", "third-state-machine"} & roles


@pytest.mark.integration
def test_deploy_script_dry_run_against_moto(aws_env, tmp_path):
    env, settings, clients = moto_setup(tmp_path, aws_env, "fourth")
    env_file = tmp_path / "deploy.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    clean = {k: v for k, v in os.environ.items() if k not in env}
    result = subprocess.run(
        ["bash", str(ROOT / "sh" / "deploy.sh"), "--dry-run", "--env-file", str(env_file)],
        capture_output=True,
        text=True,
        env={**clean, "PYTHON": sys.executable},
    )
    assert result.returncode == 0, result.stderr
    assert "would create  glue job fourth-glue4" in result.stdout
    assert "would create  state machine fourth" in result.stdout
    assert "plan: " in result.stdout
    assert clients["glue"].get_jobs()["Jobs"] == [] or all(
        not j["Name"].startswith("fourth") for j in clients["glue"].get_jobs()["Jobs"]
    )
    assert "Contents" not in clients["s3"].list_objects_v2(Bucket=settings.bucket)
