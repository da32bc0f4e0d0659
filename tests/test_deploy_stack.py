"""The stack template and the state machine, checked without AWS.

The template (deploy/cloudformation/stack.yaml) is the one description of the resources:
these tests resolve it as CloudFormation would (tests/cfn_support.py) and hold its Glue
jobs to the job's options, the artifact keys the deploy uploads and each other; its roles
to the jobs, tables and state machine they serve (and parliament); the whole to cfn-lint.
The state machine's definition (deploy/state_machines/contours.asl.json) is checked with
asl-validator and its JSONata evaluated against ``chunk_dates``. Tests marked
``integration`` need npm (asl-validator and jsonata, installed with ``npm ci --prefix
deploy`` by the fixture when node_modules is absent).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml
from cfn_support import Resolver
from deploy_support import (
    ASL_PATH,
    DEPLOY,
    ROOT,
    STACK_PATH,
    fake_external_libs,
    settings_for,
    template,
)

from era5_contours.config import OPTIONS
from era5_contours.schema import TABLES
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
            "StateMachineRole.Arn": role_arn(f"{settings.stack_name}-state-machine"),
            "StateMachineLogGroup.Arn": "log-group-arn",
            "StateMachine": f"arn:aws:states:eu-west-1:{ACCOUNT}:stateMachine:x",
        },
    )
    return resolver, built


# --------------------------------------------------------------------------------------
# The Glue jobs
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("version", "logical"), [("4.0", "Glue4Job"), ("5.0", "Glue5Job")])
def test_glue_jobs_run_the_uploaded_code_with_the_job_options(tmp_path, version, logical):
    settings = settings_for(ERA5_STACK_NAME="contours", GLUE_JOB_VERSIONS="4,5")
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
    assert args["--extra-py-files"] in uploaded
    assert args["--extra-py-files"].endswith("/" + d.LIBRARY_ZIP_NAME)
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


def test_the_two_glue_jobs_differ_only_where_the_glue_version_does():
    jobs = template()["Resources"]
    glue4, glue5 = (json.dumps(jobs[n]) for n in ("Glue4Job", "Glue5Job"))
    # Swap every spelling of the version and the two jobs must be the same text.
    for a, b in (
        ("Glue4", "Glue5"),
        ("glue4", "glue5"),
        ("Glue 4.0", "Glue 5.0"),
        ('"4.0"', '"5.0"'),
    ):
        glue4 = glue4.replace(a, b)
    assert glue4 == glue5


def test_only_the_deployed_jobs_and_the_asked_for_roles_and_database_exist(tmp_path):
    settings = settings_for(
        GLUE_VERSION="5",
        GLUE_ROLE_ARN="arn:aws:iam::1:role/glue",
        STATE_MACHINE_ROLE_ARN="arn:aws:iam::1:role/sfn",
        ERA5_CREATE_DATABASE="false",
    )
    resolver, _ = resolved(settings, tmp_path)
    resources = resolver.resources()
    assert set(resources) == {"Glue5Job", "StateMachineLogGroup", "StateMachine"}
    assert resources["Glue5Job"]["Role"] == "arn:aws:iam::1:role/glue"
    assert resources["StateMachine"]["RoleArn"] == "arn:aws:iam::1:role/sfn"
    assert resources["StateMachine"]["DefinitionSubstitutions"]["GLUE_JOB_NAME"] == (
        "era5-contours-glue5"
    )
    outputs = {k: resolver.value(v["Value"]) for k, v in template()["Outputs"].items()}
    assert outputs["GlueJobName"] == "era5-contours-glue5"
    assert outputs["GlueJobRoleArn"] == "arn:aws:iam::1:role/glue"


# --------------------------------------------------------------------------------------
# Roles and state machine
# --------------------------------------------------------------------------------------


def test_roles_grant_what_the_jobs_and_the_state_machine_use(tmp_path):
    settings = settings_for(ERA5_STACK_NAME="contours", GLUE_JOB_VERSIONS="4,5")
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
    for logical in ("Glue4Job", "Glue5Job"):
        name = resources[logical]["Name"]
        assert f"arn:aws:glue:eu-west-1:{ACCOUNT}:job/{name}" in job_arns
    tables = statements["AthenaIcebergCommits"]["Resource"]
    for table in TABLES:
        assert f"arn:aws:glue:eu-west-1:{ACCOUNT}:table/climate/{table}" in tables


def test_trust_policies_name_the_service_and_guard_against_confused_deputies(tmp_path):
    resolver, _ = resolved(settings_for(), tmp_path)
    resources = resolver.resources()
    for logical, service in [
        ("GlueJobRole", "glue.amazonaws.com"),
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
    }
    assert machine["StateMachineName"] == "era5-contours"
    assert machine["LoggingConfiguration"]["Level"] == "ERROR"


def test_state_machine_concurrency_fits_the_jobs():
    run_chunks = asl()["States"]["RunChunks"]
    for logical in ("Glue4Job", "Glue5Job"):
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
    ("StateMachineRole", "PERMISSIONS_MANAGEMENT_ACTIONS", "logs:putresourcepolicy"),
}


@pytest.mark.parametrize("logical", ["GlueJobRole", "StateMachineRole"])
def test_parliament_finds_nothing_above_low_in_the_role_policies(tmp_path, logical):
    resolver, _ = resolved(settings_for(GLUE_JOB_VERSIONS="4,5"), tmp_path)
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
    breakages = {
        "worker": lambda t: t["Resources"]["Glue4Job"]["Properties"].update(WorkerType="G.3X"),
        "role": lambda t: t["Resources"]["StateMachine"]["Properties"].update(
            RoleArn={"Fn::GetAtt": ["NoSuchRole", "Arn"]}
        ),
        "parameter": lambda t: t["Resources"]["Glue5Job"]["Properties"]["Command"].update(
            ScriptLocation={"Fn::Sub": "s3://${BucketName}/${NoSuchParameter}"}
        ),
    }
    paths = []
    for name, breakage in breakages.items():
        broken = template()
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
