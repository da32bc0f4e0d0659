"""The ingest's deploy files: Glue Python shell job, IAM role, state machine stage, stack.

They follow the conventions tests/test_deploy.py holds the contour job's files to: the
job's options are the job script's, the pins are the lock's, the stack resolves to the
same definitions, the role policy passes parliament, and the state machine's JSONata
(evaluated with the jsonata npm package) plans the months as Python does here.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import zipfile
from datetime import date
from pathlib import Path

import pytest
import yaml
from test_deploy import (
    ACCEPTED_FINDINGS,
    DEPLOY,
    ROOT,
    STACK_PATH,
    asl,
    build_script,
    evaluate_jsonata,
    jsonata_body,
    node_tools,  # noqa: F401 - the fixture
    policy_findings,
    resolve_cfn,
    settings_for,
)

from era5_ingest.config import OPTIONS, REQUIRED
from era5_ingest.planning import Month, months_between
from era5_tools import deploy as d

JOB_PATH = DEPLOY / "glue_jobs" / "ingest-pyshell.yaml"
POLICY = "ingest_job_role_policy.json"


def job_yaml() -> dict:
    return yaml.safe_load(JOB_PATH.read_text())


def variables() -> dict[str, str]:
    return d.deploy_variables(settings_for(), "123456789012", {"4.0": ["w4"], "5.0": ["w5"]})


def test_python_shell_job_definition():
    job = job_yaml()
    args = job["DefaultArguments"]
    assert job["Name"] == "${NAME_PREFIX}-ingest"
    assert job["Command"] == {
        "Name": "pythonshell",
        "ScriptLocation": "s3://${ERA5_BUCKET}/${ARTIFACTS_PREFIX}/scripts/ingest_era5.py",
        "PythonVersion": "3.9",
    }
    assert job["GlueVersion"] == "3.0" and args["library-set"] == "analytics"
    assert job["MaxCapacity"] in (0.0625, 1.0) and job["MaxRetries"] == 0
    assert args["--extra-py-files"].split(",") == [
        "s3://${ERA5_BUCKET}/${ARTIFACTS_PREFIX}/lib/era5_ingest.zip",
        "s3://${ERA5_BUCKET}/${ARTIFACTS_PREFIX}/lib/" + d.LIBRARY_ZIP_NAME,
    ]
    # Exactly the lock's pins (what Python shell lacks), installed as they are.
    libs = ROOT / "external_libs"
    shipped = d.shipped_pins(
        (libs / "pyshell-requirements.lock").read_text(),
        (libs / "pyshell-provided.txt").read_text(),
    )
    listed = [d.parse_pins(p)[0] for p in args["--additional-python-modules"].split(",")]
    assert listed == shipped
    assert args["--python-modules-installer-option"] == "--no-deps"
    assert not {"boto3", "botocore", "s3transfer"} & {n for n, _ in listed}
    # Every job option set here is one the job script takes; run-specific ones are not.
    glue_own = {k for k in args if not k.startswith("--") or "-" in k[2:]}
    options = {k[2:] for k in set(args) - glue_own}
    assert options <= set(OPTIONS), options - set(OPTIONS)
    assert {"output_path", "cds_secret_id"} <= options
    assert not {"dataset", "area", "start_month", "end_month"} & options
    assert set(REQUIRED) - options == {"dataset", "area", "start_month", "end_month"}


def test_the_role_may_read_the_one_secret_the_job_names():
    values = variables()
    job = d.substitute(job_yaml(), values)
    policy = d.render_policy(ROOT, POLICY, values)
    (statement,) = [s for s in policy["Statement"] if "secretsmanager:GetSecretValue" in str(s)]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    secret = job["DefaultArguments"]["--cds_secret_id"]
    assert secret == "era5-contours/cds-api-key"
    # Secrets Manager appends six random characters to a secret's ARN.
    assert statement["Resource"] == (
        f"arn:aws:secretsmanager:eu-west-1:123456789012:secret:{secret}-??????"
    )
    assert job["Role"] == "arn:aws:iam::123456789012:role/era5-contours-ingest-job"
    # It writes the contour jobs' input prefix, where the job's --output_path points.
    output = job["DefaultArguments"]["--output_path"]
    assert output == values["INPUT_PATH"]
    writes = next(s for s in policy["Statement"] if s["Sid"] == "WriteIngestedMonths")
    assert writes["Resource"] == f"arn:aws:s3:::{values['INPUT_BUCKET']}/{values['INPUT_PREFIX']}/*"


def test_parliament_finds_nothing_above_low_in_the_ingest_role_policy():
    text = json.dumps(d.render_policy(ROOT, POLICY, variables()))
    unexpected = [
        f
        for f in policy_findings(text)
        if f[0] not in ("LOW", "INFO")
        and not any(n == POLICY and i == f[1] and a in f[2] for n, i, a in ACCEPTED_FINDINGS)
    ]
    assert unexpected == []


@pytest.mark.parametrize("glue_version", ["4.0", "5.0"])
def test_cloudformation_has_the_same_ingest_job_and_role(glue_version):
    template = yaml.safe_load(STACK_PATH.read_text())
    account = "123456789012"
    params = {
        "BucketName": "data-bucket",
        "DataPrefix": "p/q",
        "InputBucket": "raw-bucket",
        "InputPrefix": "hourly/era5",
        "StackNamePrefix": "contours",
        "DatabaseName": "db1",
        "AthenaWorkGroup": "wg1",
        "GlueVersion": glue_version,
        "AWS::Region": "eu-west-1",
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
            "AWS_REGION": "eu-west-1",
        }
    )
    values = d.deploy_variables(settings, account)
    attrs = {"IngestJobRole.Arn": f"arn:aws:iam::{account}:role/contours-ingest-job"}
    resources = template["Resources"]

    def props(name):
        return resolve_cfn(resources[name]["Properties"], params, {}, attrs)

    assert props("IngestJob") == d.substitute(job_yaml(), values)
    role = props("IngestJobRole")
    assert role["RoleName"] == "contours-ingest-job"
    assert role["AssumeRolePolicyDocument"] == d.render_policy(
        ROOT, "glue_job_trust_policy.json", values
    )
    (policy,) = role["Policies"]
    assert policy["PolicyDocument"] == d.render_policy(ROOT, POLICY, values)
    substitutions = resolve_cfn(
        resources["StateMachine"]["Properties"]["DefinitionSubstitutions"],
        params,
        {"RunGlue5": glue_version == "5.0"},
        attrs,
    )
    assert substitutions["NAME_PREFIX"] == values["NAME_PREFIX"]
    assert substitutions["INPUT_PATH"] == values["INPUT_PATH"]


def test_state_machine_runs_the_ingest_months_before_the_contour_chunks():
    machine = asl()
    states = machine["States"]
    assert states["CheckPlan"]["Choices"][0]["Next"] == "IngestWanted"
    assert states["IngestWanted"]["Choices"][0]["Next"] == "IngestMonths"
    assert states["IngestWanted"]["Default"] == "RunChunks"
    ingest = states["IngestMonths"]
    assert ingest["Type"] == "Map" and ingest["Next"] == "RunChunks"
    assert ingest["Catch"][0]["Next"] == "Failed"
    # Low: the CDS queues per user; never above what the job lets run at once.
    assert 1 <= ingest["MaxConcurrency"] <= 2
    assert ingest["MaxConcurrency"] <= job_yaml()["ExecutionProperty"]["MaxConcurrentRuns"]
    task = ingest["ItemProcessor"]["States"]["RunIngestJob"]
    assert task["Resource"] == "arn:aws:states:::glue:startJobRun.sync"
    assert task["Arguments"]["JobName"] == "${NAME_PREFIX}-ingest" == job_yaml()["Name"]
    retried = {e for r in task["Retry"] for e in r["ErrorEquals"]}
    assert "Glue.ConcurrentRunsExceededException" in retried
    assert not retried & {"States.TaskFailed", "States.ALL", "States.Timeout"}
    policy = d.render_policy(ROOT, "state_machine_role_policy.json", variables())
    allowed = {
        r
        for s in policy["Statement"]
        if "glue:StartJobRun" in s["Action"]
        for r in ([s["Resource"]] if isinstance(s["Resource"], str) else s["Resource"])
    }
    assert "arn:aws:glue:eu-west-1:123456789012:job/era5-contours-ingest" in allowed


def expected_months(start: str, end: str, dataset: str, area: str, variables=None) -> list:
    """The ingest runs of a range, computed here with the calendar."""
    months = months_between(Month.parse(start[:7]), Month.parse(end[:7]))
    extra = {"--variables": variables} if variables else {}
    return [
        {
            "month": str(m),
            "arguments": {
                "--start_month": str(m),
                "--end_month": str(m),
                "--dataset": dataset,
                "--area": area,
                "--next_day": "true" if i == len(months) - 1 else "false",
                **extra,
            },
        }
        for i, m in enumerate(months)
    ]


@pytest.mark.integration
def test_plan_state_plans_the_ingest_months_and_points_the_chunks_at_them(node_tools):  # noqa: F811
    machine = asl()
    plan = machine["States"]["Plan"]["Assign"]
    expressions = {
        "valid": jsonata_body(machine["States"]["Validate"]["Choices"][0]["Condition"]),
        "months": jsonata_body(plan["months"]),
        "chunks": jsonata_body(plan["chunks"]),
    }
    area = "52,-6,40,10"
    cases = [
        {
            "start_date": "2020-07-01",
            "end_date": "2020-08-31",
            "ingest": {"dataset": "era5", "area": area},
        },
        {
            "start_date": "2020-11-15",
            "end_date": "2021-02-03",
            "chunk_days": 30,
            "variables": "tp",
            "ingest": {"dataset": "era5-land", "area": "10.5, 70, -5.25, 80.75"},
        },
        {
            "start_date": "2024-02-29",
            "end_date": "2024-02-29",
            "ingest": {"dataset": "era5", "area": area},
        },
        {"start_date": "2024-01-01", "end_date": "2024-01-09"},
    ]
    results = evaluate_jsonata(expressions, cases)
    for case, result in zip(cases, results, strict=True):
        assert result["valid"] is True, case
        ingest = case.get("ingest")
        if ingest is None:
            assert result["months"] == []
            assert all("--input_path" not in c["arguments"] for c in result["chunks"])
            continue
        assert result["months"] == expected_months(
            case["start_date"],
            case["end_date"],
            ingest["dataset"],
            ingest["area"],
            case.get("variables"),
        ), case
        chunks = d.chunk_dates(
            date.fromisoformat(case["start_date"]),
            date.fromisoformat(case["end_date"]),
            case.get("chunk_days", 7),
        )
        assert len(result["chunks"]) == len(chunks)
        for chunk in result["chunks"]:
            assert chunk["arguments"]["--input_path"] == "${INPUT_PATH}" + ingest["dataset"] + "/"
            assert chunk["arguments"]["--dataset"] == ingest["dataset"]


@pytest.mark.integration
def test_validate_state_rejects_bad_ingest_inputs(node_tools):  # noqa: F811
    condition = jsonata_body(asl()["States"]["Validate"]["Choices"][0]["Condition"])
    base = {"start_date": "2024-01-01", "end_date": "2024-01-02"}
    bad = [
        {**base, "ingest": "era5"},
        {**base, "ingest": {"dataset": "merra2", "area": "1,0,0,1"}},
        {**base, "ingest": {"dataset": "era5"}},
        {**base, "ingest": {"dataset": "era5", "area": "1,0,0"}},
        {**base, "ingest": {"dataset": "era5", "area": [1, 0, 0, 1]}},
        {**base, "ingest": {"dataset": "era5", "area": "north,0,0,1"}},
    ]
    good = [{**base, "ingest": {"dataset": "era5-land", "area": "-5,-60.5,-20,-40"}}]
    results = evaluate_jsonata({"valid": condition}, bad + good)
    assert [r["valid"] for r in results] == [False] * len(bad) + [True]


def test_ingest_zip_imports_with_the_contour_zip_alone(tmp_path):
    """What --extra-py-files gives the Python shell job: the two zips, nothing else of ours."""
    ingest_zip = tmp_path / "era5_ingest.zip"
    ingest_zip.write_bytes(d.build_library_zip(ROOT / "src" / "lib" / "era5_ingest"))
    contours_zip = tmp_path / d.LIBRARY_ZIP_NAME
    contours_zip.write_bytes(d.build_library_zip(ROOT / "src" / "lib" / "era5_contours"))
    with zipfile.ZipFile(io.BytesIO(ingest_zip.read_bytes())) as archive:
        names = archive.namelist()
    assert "era5_ingest/ingest.py" in names and all(n.startswith("era5_ingest/") for n in names)
    script = ROOT / "src" / "jobs" / "ingest_era5.py"
    code = (
        "import runpy, sys; script = sys.argv[3]; sys.path[:0] = sys.argv[1:3];"
        "sys.argv = [script, '--help']; runpy.run_path(script, run_name='__main__')"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code, str(ingest_zip), str(contours_zip), str(script)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    assert "--cds_secret_id" in out.stdout and "--max_parallel_requests" in out.stdout
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]];"
        "import era5_ingest.ingest, era5_ingest.cds, era5_ingest.credentials;"
        "print(era5_ingest.ingest.__file__);"
        "print(sorted(m for m in sys.modules if m.startswith('era5_')))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", probe, str(ingest_zip), str(contours_zip)],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    where, loaded = out.stdout.splitlines()
    assert where == str(ingest_zip / "era5_ingest" / "ingest.py")
    assert not [m for m in eval(loaded) if m.startswith("era5_tools")]


@pytest.mark.integration
def test_pyshell_lock_resolves_for_the_python_shell_platform():
    result = build_script("--check", "pyshell")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "[pyshell] OK" in result.stdout
    assert Path(ROOT / "external_libs" / "pyshell-requirements.lock").is_file()
