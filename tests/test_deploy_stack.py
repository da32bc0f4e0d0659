"""The stack template and the state machine, checked without AWS.

The template (deploy/cloudformation/stack.yaml) is the one description of the resources:
these tests resolve it as CloudFormation would (tests/cfn_support.py) and hold its Glue
jobs (the contour jobs and the CDS ingest) to their scripts' options, the artifact keys
the deploy uploads and each other; its roles to the jobs, prefixes, secret, tables and
state machine they serve (and parliament); the whole to cfn-lint.
The state machine's definition (deploy/state_machines/contours.asl.json) is checked with
asl-validator and its JSONata evaluated against ``chunk_dates``. Tests marked
``integration`` need npm (asl-validator and jsonata, installed with ``npm ci --prefix
deploy`` by the fixture when node_modules is absent).
"""

from __future__ import annotations

import fnmatch
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from cfn_support import Resolver
from deploy_support import (
    ASL_PATH,
    DEPLOY,
    GLUE_JOBS,
    ROOT,
    STACK_PATH,
    fake_external_libs,
    raw_template,
    settings_for,
    template,
)

from era5_contours.run.config import OPTIONS
from era5_contours.tables.schema import TABLES
from era5_ingest.config import IngestConfig
from era5_tools import deploy as d

NODE_MODULES = DEPLOY / "node_modules"
ACCOUNT = "123456789012"


def asl() -> dict:
    return json.loads(ASL_PATH.read_text())


def role_arn(name: str) -> str:
    return f"arn:aws:iam::{ACCOUNT}:role/{name}"


def resolved(settings: d.Settings, tmp_path: Path) -> tuple[Resolver, d.Artifacts]:
    """The template resolved with the parameters the deploy would send for ``settings``."""
    libs = fake_external_libs(tmp_path / "libs")
    settings = d.Settings(**{**settings.__dict__, "external_libs": libs})
    built = d.build_artifacts(ROOT, settings)
    parameters = d.stack_parameters(settings, built, d.load_template(ROOT))
    resolver = Resolver(
        template(),
        parameters,
        stack_name=settings.stack_name,
        account=ACCOUNT,
        attributes={
            "GlueJobRole.Arn": role_arn(f"{settings.stack_name}-glue-job"),
            "IngestJobRole.Arn": role_arn(f"{settings.stack_name}-ingest-job"),
            "StateMachineRole.Arn": role_arn(f"{settings.stack_name}-state-machine"),
            "StateMachineLogGroup.Arn": "log-group-arn",
            "StateMachine": f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:x",
        },
    )
    return resolver, built


# --------------------------------------------------------------------------------------
# The Glue jobs
# --------------------------------------------------------------------------------------


ALL_JOBS = ",".join(d.GLUE_VERSIONS)


@pytest.mark.parametrize(("version", "logical"), GLUE_JOBS.items())
def test_glue_jobs_run_the_uploaded_code_with_the_job_options(tmp_path, version, logical):
    settings = settings_for(ERA5_STACK_NAME="contours", GLUE_JOB_VERSIONS=ALL_JOBS)
    resolver, built = resolved(settings, tmp_path)
    job = resolver.resources()[logical]
    artifacts = f"s3://era5-bucket/{settings.artifacts_prefix}"
    args = job["DefaultArguments"]
    assert job["Name"] == settings.job_name(version)
    assert job["GlueVersion"] == version
    assert job["Role"] == role_arn("contours-glue-job")
    # The keys the template refers to are the keys the deploy uploads.
    assert job["Command"] == {
        "Name": "glueetl",
        "ScriptLocation": f"{artifacts}/scripts/"
        + d.content_key("x", "", (ROOT / "src/jobs/extract_contours.py").read_bytes()).split("/")[1]
        + "/extract_contours.py",
        "PythonVersion": "3",
    }
    uploaded = {f"s3://era5-bucket/{item.key}" for item in built.items}
    assert job["Command"]["ScriptLocation"] in uploaded
    kernel_zip, contours_zip = args["--extra-py-files"].split(",")
    assert {kernel_zip, contours_zip} <= uploaded
    assert kernel_zip.endswith("/era5_common.zip")
    assert contours_zip.endswith("/" + d.LIBRARY_ZIP_NAME)
    wheels = args["--additional-python-modules"].split(",")
    assert wheels == built.wheels[version]
    assert set(wheels) <= uploaded
    assert all(f"/wheels/{d.GLUE_VERSIONS[version]}/" in w for w in wheels)
    assert args["--python-modules-installer-option"] == "--no-index"
    assert args["--job-bookmark-option"] == "job-bookmark-disable"
    assert "--datalake-formats" not in args
    assert args["--catalog_type"] == "glue"
    assert args["--input_path"] == "s3://era5-bucket/era5-contours/input/"
    assert args["--output_path"] == "s3://era5-bucket/era5-contours/output/"
    assert args["--warehouse_path"] == "s3://era5-bucket/era5-contours/warehouse"
    assert args["--database"] == "climate"
    # Every job option set here is one the job script really takes.
    glue_own = {k for k in args if "-" in k[2:]}  # Glue's arguments are hyphenated
    job_options = {k[2:] for k in set(args) - glue_own}
    assert job_options <= set(OPTIONS), job_options - set(OPTIONS)
    # Run-specific options come from the state machine, never from the defaults.
    assert not {"--start_date", "--end_date", "--run_id"} & set(args)
    # The job's variables default is the one config.OPTIONS documents.
    assert args["--variables"] == OPTIONS["variables"]
    # The GeoJSON's precision and simplification show in the console, derived from the
    # grid unless a run says otherwise.
    for name in ("geojson_precision", "geojson_simplify_tolerance"):
        assert args[f"--{name}"] == OPTIONS[name] == "auto"


def test_the_jobs_variables_come_from_the_registry_or_the_settings(tmp_path):
    from era5_common.variables import DEFAULTS, VARIABLES

    declared = raw_template()["Parameters"]["Variables"]
    # The template's default is the registry's, and its pattern knows every variable.
    assert declared["Default"] == ",".join(DEFAULTS)
    pattern = re.compile(declared["AllowedPattern"])
    assert pattern.fullmatch(",".join(VARIABLES))
    for name in VARIABLES:
        assert pattern.fullmatch(name), name
    for bad in ("", "t2m,", "t2m,rain", "T2M", "t2m tp"):
        assert not pattern.fullmatch(bad), bad
    settings = settings_for(ERA5_VARIABLES="t2m, msl,t2m", GLUE_JOB_VERSIONS="4,6")
    assert settings.variables == ("t2m", "msl")
    resolver, _ = resolved(settings, tmp_path)
    resources = resolver.resources()
    for logical in ("Glue4Job", "Glue6Job", "IngestJob"):
        assert resources[logical]["DefaultArguments"]["--variables"] == "t2m,msl", logical
    with pytest.raises(ValueError, match="ERA5_VARIABLES must name variables among t2m, tp"):
        settings_for(ERA5_VARIABLES="t2m,rain")


def test_the_glue_role_may_read_the_ncar_copy_where_the_job_reads(tmp_path):
    from era5_contours.inputs import ncar

    resolver, _ = resolved(settings_for(), tmp_path)
    (policy,) = resolver.resources()["GlueJobRole"]["Policies"]
    statements = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    listing = statements["ListNsfNcarEra5"]
    assert listing["Action"] == "s3:ListBucket"
    assert listing["Resource"] == "arn:aws:s3:::nsf-ncar-era5"
    prefixes = listing["Condition"]["StringLike"]["s3:prefix"]
    reads = resources_of(statements["ReadNsfNcarEra5"])
    assert statements["ReadNsfNcarEra5"]["Action"] == "s3:GetObject"
    # Every file the job would read for a year of every variable the copy makes.
    from era5_common.variables import VARIABLES

    days = [date(2020, 1, 1) + timedelta(days=i) for i in range(366)]
    files, _ = ncar.expected_files("s3://nsf-ncar-era5", days, list(VARIABLES))
    assert files
    for f in files:
        key = f.path.removeprefix("s3://nsf-ncar-era5/")
        assert any(fnmatch.fnmatchcase(f"arn:aws:s3:::nsf-ncar-era5/{key}", r) for r in reads)
        assert any(fnmatch.fnmatchcase(key, p) for p in prefixes), key
    # Nothing else of the bucket.
    assert not any(
        fnmatch.fnmatchcase("arn:aws:s3:::nsf-ncar-era5/e5.oper.an.pl/x.nc", r) for r in reads
    )


def test_the_contour_jobs_are_one_definition_unrolled_per_glue_version():
    written = raw_template()
    # As written: one AWS::Glue::Job of Spark, inside the loop over the versions' suffixes.
    loop = written["Resources"]["Fn::ForEach::GlueJobs"]
    suffixes = [folder.removeprefix("glue") for folder in d.GLUE_VERSIONS.values()]
    assert loop[:2] == ["Job", suffixes]
    assert written["Conditions"]["Fn::ForEach::GlueJobConditions"][1] == suffixes
    assert not [
        name
        for name, resource in written["Resources"].items()
        if not name.startswith("Fn::ForEach::") and resource["Type"] == "AWS::Glue::Job"
        if resource["Properties"]["Command"]["Name"] == "glueetl"
    ]
    # The mappings say the same versions as the deploy, both ways round.
    mappings = written["Mappings"]
    assert {s: m["GlueVersion"] for s, m in mappings["GlueJobs"].items()} == {
        folder.removeprefix("glue"): version for version, folder in d.GLUE_VERSIONS.items()
    }
    assert {v: m["Job"] for v, m in mappings["JobOfGlueVersion"].items()} == d.GLUE_VERSIONS
    assert written["Parameters"]["GlueVersion"]["AllowedValues"] == list(d.GLUE_VERSIONS)
    # Unrolled and resolved: the jobs differ only where the Glue version does.
    settings = settings_for(GLUE_JOB_VERSIONS=ALL_JOBS)
    resolver = Resolver(written, {}, attributes={"GlueJobRole.Arn": "role-arn"})
    assert resolver.template["Resources"].keys() >= set(GLUE_JOBS.values())
    texts = {}
    for version, logical in GLUE_JOBS.items():
        job = resolver.value(resolver.template["Resources"][logical])
        assert job["Properties"]["GlueVersion"] == job["Properties"]["Tags"]["glue-version"]
        assert job["Properties"]["GlueVersion"] == version
        assert job["Properties"]["Name"] == settings.job_name(version)
        text = json.dumps(job)
        for spelling in (logical.removesuffix("Job"), d.GLUE_VERSIONS[version]):
            text = text.replace(spelling, "<job>")
        texts[version] = text.replace(f"Glue {version}", "<version>").replace(
            f'"{version}"', "<version>"
        )
    assert len(set(texts.values())) == 1, texts


def test_the_transform_unrolls_as_cfn_lint_does():
    """tests/cfn_support.py's Fn::ForEach against cfn-lint's own AWS::LanguageExtensions
    (an independent implementation, by AWS): the loops give the same conditions and
    resources, and the rest of the template is left as written."""
    template_module = pytest.importorskip("cfnlint.template", reason="cfn-lint not installed")
    from cfnlint.decode import decode_str

    decoded, matches = decode_str(STACK_PATH.read_text())
    assert not matches
    linted = template_module.Template(str(STACK_PATH), decoded, ["eu-west-1"])
    assert not linted.transform()
    mappings = raw_template()["Mappings"]

    def normal(node):
        """Fn::FindInMap of literals looked up (cfn-lint does it while unrolling), the two
        sides of Fn::Equals in one order (cfn-lint's condition analysis swaps them)."""
        if isinstance(node, list):
            return [normal(x) for x in node]
        if not isinstance(node, dict):
            return node
        args = node.get("Fn::FindInMap")
        if len(node) == 1 and args and all(isinstance(a, str) for a in args):
            return mappings[args[0]][args[1]][args[2]]
        if len(node) == 1 and "Fn::Equals" in node:
            return {"Fn::Equals": sorted(normal(node["Fn::Equals"]), key=json.dumps)}
        return {k: normal(v) for k, v in node.items()}

    ours, theirs = normal(template()), normal(json.loads(json.dumps(linted.template)))
    written = raw_template()
    assert "Transform" not in ours
    for section in ("Conditions", "Resources", "Outputs"):
        assert ours[section].keys() == theirs[section].keys(), section
        # What the loops made; the rest is the template as written (cfn-lint also picks
        # values for Fn::FindInMap of parameters there, to lint them, which we do not).
        unrolled = set(ours[section]) - set(written[section])
        assert {k: ours[section][k] for k in unrolled} == {
            k: theirs[section][k] for k in unrolled
        }, section
        for key in set(ours[section]) & set(written[section]):
            assert ours[section][key] == normal(written[section][key]), key


def test_only_the_deployed_jobs_and_the_asked_for_roles_and_database_exist(tmp_path):
    settings = settings_for(
        GLUE_VERSION="5",
        GLUE_ROLE_ARN="arn:aws:iam::1:role/glue",
        INGEST_ROLE_ARN="arn:aws:iam::1:role/ingest",
        STATE_MACHINE_ROLE_ARN="arn:aws:iam::1:role/sfn",
        ERA5_CREATE_DATABASE="false",
    )
    resolver, _ = resolved(settings, tmp_path)
    resources = resolver.resources()
    assert set(resources) == {"Glue5Job", "IngestJob", "StateMachineLogGroup", "StateMachine"}
    assert resources["Glue5Job"]["Role"] == "arn:aws:iam::1:role/glue"
    assert resources["IngestJob"]["Role"] == "arn:aws:iam::1:role/ingest"
    assert resources["StateMachine"]["RoleArn"] == "arn:aws:iam::1:role/sfn"
    assert resources["StateMachine"]["DefinitionSubstitutions"]["GLUE_JOB_NAME"] == (
        "era5-contours-glue5"
    )
    outputs = {k: resolver.value(v["Value"]) for k, v in template()["Outputs"].items()}
    assert outputs["GlueJobName"] == "era5-contours-glue5"
    assert outputs["GlueJobRoleArn"] == "arn:aws:iam::1:role/glue"
    assert outputs["IngestJobRoleArn"] == "arn:aws:iam::1:role/ingest"
    assert outputs["IngestJobName"] == "era5-contours-ingest"


def ingest_script_parser():
    """``parse_args`` of src/jobs/ingest_era5.py: what the job really reads from its argv."""
    spec = importlib.util.spec_from_file_location(
        "ingest_era5_script", ROOT / "src" / "jobs" / "ingest_era5.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.parse_args


def lock_lines(target: str) -> list[str]:
    """The ``name==version`` lines of external_libs/<target>-requirements.lock, as written."""
    text = (ROOT / "external_libs" / f"{target}-requirements.lock").read_text()
    return [line.strip() for line in text.splitlines() if line.strip() and line[0] != "#"]


def test_ingest_job_runs_the_uploaded_code_with_the_ingest_options(tmp_path):
    settings = settings_for(ERA5_STACK_NAME="contours", GLUE_INPUT_PATH="s3://raw/hourly/era5/")
    resolver, built = resolved(settings, tmp_path)
    job = resolver.resources()["IngestJob"]
    args = job["DefaultArguments"]
    artifacts = f"s3://era5-bucket/{settings.artifacts_prefix}"
    uploaded = {f"s3://era5-bucket/{item.key}": item.body for item in built.items}
    assert job["Name"] == settings.ingest_job_name == "contours-ingest"
    assert job["Role"] == role_arn("contours-ingest-job")
    # A Python shell job on Python 3.9 with the analytics library set, 1/16 DPU.
    assert job["GlueVersion"] == "3.0"
    assert job["Command"]["Name"] == "pythonshell"
    assert job["Command"]["PythonVersion"] == "3.9"
    assert args["library-set"] == "analytics"
    assert job["MaxCapacity"] == 0.0625
    assert "WorkerType" not in job and "NumberOfWorkers" not in job
    assert job["MaxRetries"] == 0
    # The script and the two zips are the uploaded objects, keyed by their content.
    script = (ROOT / "src/jobs/ingest_era5.py").read_bytes()
    assert job["Command"]["ScriptLocation"] == (
        f"{artifacts}/{d.content_key('scripts', 'ingest_era5.py', script)}"
    )
    assert uploaded[job["Command"]["ScriptLocation"]] == script
    kernel_zip, ingest_zip = args["--extra-py-files"].split(",")
    assert ingest_zip.startswith(f"{artifacts}/lib/") and ingest_zip.endswith("/era5_ingest.zip")
    assert uploaded[ingest_zip] == d.build_library_zip(ROOT / "src/lib/era5_ingest")
    # The kernel both jobs share, never the contour library.
    assert kernel_zip.endswith("/era5_common.zip")
    assert uploaded[kernel_zip] == d.build_library_zip(ROOT / "src/lib/era5_common")
    # Its modules are the lock's pins as written (Python shell provides none of them),
    # installed exactly: no dependency resolution, no SDK of its own.
    assert args["--additional-python-modules"].split(",") == lock_lines("pyshell")
    assert args["--python-modules-installer-option"] == "--no-deps"
    names = {line.split("==")[0].lower() for line in lock_lines("pyshell")}
    assert {"ecmwf-datastores-client", "multiurl", "netcdf4"} <= names
    assert not {"boto3", "botocore", "s3transfer"} & names
    # Every option set here is one the job script takes; the run-specific ones are not set.
    glue_own = {k for k in args if not k.startswith("--") or "-" in k[2:]}
    options = {k[2:] for k in set(args) - glue_own}
    parse_args = ingest_script_parser()
    known = set(parse_args([]))
    assert options <= known, options - known
    run_specific = {"dataset", "area", "start_month", "end_month"}
    assert not run_specific & options
    # With what the state machine adds for a month, the script accepts the whole.
    argv = [x for k in sorted(set(args) - glue_own) for x in (k, args[k])]
    month = ["--dataset", "era5", "--start_month", "2020-07", "--end_month", "2020-07"]
    config = IngestConfig.from_args(parse_args([*argv, *month, "--area", "52,-6,40,10"]))
    # It writes the contour jobs' input prefix and reads the key from <stack>/cds-api-key.
    assert args["--output_path"] == "s3://raw/hourly/era5/"
    assert config.output_path.rstrip("/") == "s3://raw/hourly/era5"
    assert config.cds_secret_id == "contours/cds-api-key"
    assert config.variables == ("t2m", "tp")
    assert config.max_parallel_requests <= job["ExecutionProperty"]["MaxConcurrentRuns"]
    # A request still queued gives up before Glue stops the run (Timeout is in minutes).
    assert config.poll.timeout < job["Timeout"] * 60


# --------------------------------------------------------------------------------------
# Roles and state machine
# --------------------------------------------------------------------------------------


def test_roles_grant_what_the_jobs_and_the_state_machine_use(tmp_path):
    settings = settings_for(ERA5_STACK_NAME="contours", GLUE_JOB_VERSIONS=ALL_JOBS)
    resolver, built = resolved(settings, tmp_path)
    resources = resolver.resources()
    glue_role, machine_role = resources["GlueJobRole"], resources["StateMachineRole"]
    assert glue_role["RoleName"] == "contours-glue-job"
    assert machine_role["RoleName"] == "contours-state-machine"
    (glue_policy,) = glue_role["Policies"]
    statements = {s["Sid"]: s for s in glue_policy["PolicyDocument"]["Statement"]}
    read = statements["ReadInputAndArtifacts"]["Resource"]
    assert "arn:aws:s3:::era5-bucket/era5-contours/input/*" in read
    assert "arn:aws:s3:::era5-bucket/era5-contours/artifacts/*" in read
    for item in built.items:  # every artifact lies under what the jobs may read
        assert item.key.startswith("era5-contours/artifacts/")
    (machine_policy,) = machine_role["Policies"]
    statements = {s["Sid"]: s for s in machine_policy["PolicyDocument"]["Statement"]}
    job_arns = statements["RunContourJobsSync"]["Resource"]
    assert len(job_arns) == len(GLUE_JOBS)
    for logical in GLUE_JOBS.values():
        name = resources[logical]["Name"]
        assert f"arn:aws:glue:eu-west-1:{ACCOUNT}:job/{name}" in job_arns
    tables = statements["AthenaIcebergCommits"]["Resource"]
    for table in TABLES:
        assert f"arn:aws:glue:eu-west-1:{ACCOUNT}:table/climate/{table}" in tables
    ingest_arn = f"arn:aws:glue:eu-west-1:{ACCOUNT}:job/{resources['IngestJob']['Name']}"
    assert statements["RunIngestJobSync"]["Resource"] == ingest_arn


def resources_of(statement: dict) -> list[str]:
    value = statement["Resource"]
    return [value] if isinstance(value, str) else value


def test_the_ingest_role_covers_its_job_and_nothing_more(tmp_path):
    settings = settings_for(ERA5_STACK_NAME="contours", GLUE_INPUT_PATH="s3://raw/hourly/era5")
    resolver, _ = resolved(settings, tmp_path)
    resources = resolver.resources()
    role, job = resources["IngestJobRole"], resources["IngestJob"]
    args = job["DefaultArguments"]
    assert role["RoleName"] == "contours-ingest-job"
    (policy,) = role["Policies"]
    statements = policy["PolicyDocument"]["Statement"]

    def allowed(action: str, resource: str) -> bool:
        return any(
            s["Effect"] == "Allow"
            and action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
            and any(fnmatch.fnmatchcase(resource, r) for r in resources_of(s))
            for s in statements
        )

    # Glue reads the script and the zips with the job's role.
    for uri in [job["Command"]["ScriptLocation"], *args["--extra-py-files"].split(",")]:
        assert allowed("s3:GetObject", "arn:aws:s3:::" + uri.removeprefix("s3://")), uri
    # The months, their manifests and multipart uploads, under --output_path only.
    output = args["--output_path"]
    assert output == "s3://raw/hourly/era5/"
    month = "arn:aws:s3:::raw/hourly/era5/era5/2020/07/"
    for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"):
        assert allowed(action, month + "era5_2020-07_t2m.nc"), action
        assert allowed(action, month + "_manifest.json"), action
        assert not allowed(action, "arn:aws:s3:::raw/hourly/other.nc"), action
    (listing,) = [s for s in statements if s["Action"] == "s3:ListBucket"]
    assert listing["Resource"] == "arn:aws:s3:::raw"
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["hourly/era5", "hourly/era5/*"]
    # No way into the contour outputs, the warehouse or the catalog.
    for key in ("era5-contours/output/x.geojson", "era5-contours/warehouse/t/data/x.parquet"):
        assert not allowed("s3:PutObject", f"arn:aws:s3:::era5-bucket/{key}")
        assert not allowed("s3:GetObject", f"arn:aws:s3:::era5-bucket/{key}")
    assert not any("glue:" in str(s["Action"]) for s in statements)
    # One secret: the one --cds_secret_id names (its ARN ends in six random characters).
    secret = args["--cds_secret_id"]
    arn = f"arn:aws:secretsmanager:eu-west-1:{ACCOUNT}:secret:{secret}-"
    assert allowed("secretsmanager:GetSecretValue", arn + "AbC123")
    assert not allowed("secretsmanager:GetSecretValue", arn + "2-AbC123")
    assert not allowed("secretsmanager:GetSecretValue", arn.replace("contours/", "x/") + "AbC123")
    (reading,) = [s for s in statements if "secretsmanager" in str(s["Action"])]
    assert reading["Action"] == "secretsmanager:GetSecretValue"
    # Its logs go where Glue writes them.
    assert allowed(
        "logs:PutLogEvents",
        f"arn:aws:logs:eu-west-1:{ACCOUNT}:log-group:/aws-glue/python-jobs/output:log-stream:jr_1",
    )


def test_trust_policies_name_the_service_and_guard_against_confused_deputies(tmp_path):
    resolver, _ = resolved(settings_for(), tmp_path)
    resources = resolver.resources()
    for logical, service in [
        ("GlueJobRole", "glue.amazonaws.com"),
        ("IngestJobRole", "glue.amazonaws.com"),
        ("StateMachineRole", "states.amazonaws.com"),
    ]:
        (statement,) = resources[logical]["AssumeRolePolicyDocument"]["Statement"]
        assert statement["Principal"] == {"Service": service}
        assert statement["Action"] == "sts:AssumeRole"
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == ACCOUNT


def test_the_state_machine_definition_is_the_uploaded_file_with_every_placeholder_filled(
    tmp_path,
):
    resolver, built = resolved(settings_for(ERA5_DATABASE="db1"), tmp_path)
    machine = resolver.resources()["StateMachine"]
    location = machine["DefinitionS3Location"]
    key = f"{location['Bucket']}/{location['Key']}"
    (item,) = [i for i in built.items if f"era5-bucket/{i.key}" == key]
    assert item.body == ASL_PATH.read_bytes()
    used = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", ASL_PATH.read_text()))
    assert used == set(machine["DefinitionSubstitutions"])
    assert machine["DefinitionSubstitutions"] == {
        "GLUE_JOB_NAME": "era5-contours-glue4",
        "DATABASE": "db1",
        "ATHENA_WORKGROUP": "primary",
        "ATHENA_OUTPUT_LOCATION": "s3://era5-bucket/era5-contours/athena-results/",
        "INGEST_JOB_NAME": "era5-contours-ingest",
        "INPUT_PATH": "s3://era5-bucket/era5-contours/input/",
    }
    assert machine["StateMachineName"] == "era5-contours"
    assert machine["LoggingConfiguration"]["Level"] == "ERROR"


def test_state_machine_concurrency_fits_the_jobs():
    run_chunks = asl()["States"]["RunChunks"]
    for logical in GLUE_JOBS.values():
        job = template()["Resources"][logical]["Properties"]
        assert run_chunks["MaxConcurrency"] <= job["ExecutionProperty"]["MaxConcurrentRuns"]
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
    assert maintenance["Items"] == list(TABLES)
    assert maintenance["MaxConcurrency"] == 1
    states = maintenance["ItemProcessor"]["States"]
    assert states["Optimize"]["Next"] == "Vacuum"
    for state in states.values():
        assert state["Resource"] == "arn:aws:states:::athena:startQueryExecution.sync"
    assert "OPTIMIZE ${DATABASE}." in states["Optimize"]["Arguments"]["QueryString"]
    assert "REWRITE DATA USING BIN_PACK" in states["Optimize"]["Arguments"]["QueryString"]
    assert "VACUUM ${DATABASE}." in states["Vacuum"]["Arguments"]["QueryString"]


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
        # The NSF NCAR copy over France, no ingest.
        {
            "start_date": "2020-07-01",
            "end_date": "2020-07-31",
            "chunk_days": 10,
            "input_path": "s3://nsf-ncar-era5",
            "area": "52,-6,40,10",
            "dataset": "era5",
        },
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
            extra = {
                f"--{k}": case[k]
                for k in ("variables", "input_path", "area", "dataset")
                if k in case
            }
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
        {"start_date": "2024-01-01", "end_date": "2024-01-02", "input_path": "nsf-ncar-era5"},
        {"start_date": "2024-01-01", "end_date": "2024-01-02", "input_path": "s3://"},
        {"start_date": "2024-01-01", "end_date": "2024-01-02", "input_path": 7},
        {"start_date": "2024-01-01", "end_date": "2024-01-02", "area": "52,-6,40"},
        {"start_date": "2024-01-01", "end_date": "2024-01-02", "area": [52, -6, 40, 10]},
        {"start_date": "2024-01-01", "end_date": "2024-01-02", "dataset": "era6"},
        # The ingest sets where the runs read and the product: not both.
        {
            "start_date": "2024-01-01",
            "end_date": "2024-01-02",
            "input_path": "s3://nsf-ncar-era5",
            "ingest": {"dataset": "era5", "area": "52,-6,40,10"},
        },
        {
            "start_date": "2024-01-01",
            "end_date": "2024-01-02",
            "dataset": "era5",
            "ingest": {"dataset": "era5", "area": "52,-6,40,10"},
        },
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
    ("StateMachineRole", "PERMISSIONS_MANAGEMENT_ACTIONS", "logs:putresourcepolicy"),
}


@pytest.mark.parametrize("logical", ["GlueJobRole", "IngestJobRole", "StateMachineRole"])
def test_parliament_finds_nothing_above_low_in_the_role_policies(tmp_path, logical):
    resolver, _ = resolved(settings_for(GLUE_JOB_VERSIONS=ALL_JOBS), tmp_path)
    (policy,) = resolver.resources()[logical]["Policies"]
    unexpected = []
    for severity, issue, detail in policy_findings(json.dumps(policy["PolicyDocument"])):
        if severity in ("LOW", "INFO"):
            continue
        if not any(n == logical and i == issue and a in detail for n, i, a in ACCEPTED_FINDINGS):
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


def test_cfn_lint_passes_the_stack_and_fails_each_broken_copy(tmp_path):
    exe = shutil.which("cfn-lint") or str(Path(sys.executable).with_name("cfn-lint"))
    if not Path(exe).exists():
        pytest.skip("cfn-lint not installed (pip install cfn-lint)")
    # The copies break the template as written: cfn-lint unrolls the loops itself.
    breakages = {
        "worker": lambda t: t["Mappings"]["GlueJobs"]["51"].update(WorkerType="G.3X"),
        "role": lambda t: t["Resources"]["StateMachine"]["Properties"].update(
            RoleArn={"Fn::GetAtt": ["NoSuchRole", "Arn"]}
        ),
        "parameter": lambda t: t["Resources"]["Fn::ForEach::GlueJobs"][2]["Glue${Job}Job"][
            "Properties"
        ]["Command"].update(ScriptLocation={"Fn::Sub": "s3://${BucketName}/${NoSuchParameter}"}),
        "wheels": lambda t: t["Resources"]["Fn::ForEach::GlueJobs"][2]["Glue${Job}Job"][
            "Properties"
        ]["DefaultArguments"]["--additional-python-modules"]["Fn::Join"][1][2].update(
            Ref={"Fn::Sub": "Glue${Job}Wheels4"}
        ),
    }
    paths = []
    for name, breakage in breakages.items():
        broken = raw_template()
        breakage(broken)
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(yaml.safe_dump(broken))
    # One run for all: cfn-lint takes seconds to start.
    result = subprocess.run(
        [exe, "--format", "parseable", str(STACK_PATH), *map(str, paths)],
        capture_output=True,
        text=True,
    )
    # path:line:col:line:col:RULE:message; rules E* are errors (W* warnings, I* notes).
    errors = [line for line in result.stdout.splitlines() if line.split(":")[5].startswith("E")]
    assert not [line for line in errors if line.startswith(f"{STACK_PATH}:")], result.stdout
    for path in paths:
        assert [line for line in errors if line.startswith(f"{path}:")], (path.name, result.stdout)
