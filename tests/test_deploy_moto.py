"""The deploy against moto's server: artifacts to S3, the real stack through change sets.

moto's CloudFormation creates the IAM roles (the contour jobs', the ingest job's, the state
machine's), the log group and the state machine of deploy/cloudformation/stack.yaml. It has no AWS::Glue::Job nor AWS::Glue::Database: it
lists them in change sets like any resource but creates nothing for them (it warns and
skips them, moto/cloudformation/parsing.py ``parse_resource``), and it keeps no state
machine definition given by ``DefinitionS3Location``. Those are checked by
tests/test_deploy_stack.py on the template itself, against the same artifact keys.

Three gaps of moto are filled in this process (tests/moto_support.py): the template's
AWS::LanguageExtensions transform (its Fn::ForEach loops, unrolled by tests/cfn_support.py
where CloudFormation unrolls them), change sets that see parameter changes, as
CloudFormation's do, and, for one test, a change set that fails.
"""

from __future__ import annotations

import ast
import json
import logging
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import boto3
import pytest
from cfn_support import Resolver
from deploy_support import ROOT, fake_external_libs, template
from moto_support import (
    change_sets_see_parameters,
    fail_change_sets,
    language_extensions,
    threaded_moto,
)

from era5_tools import deploy as d

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def moto_url():
    pytest.importorskip("moto.server", reason="moto[server] not installed")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with threaded_moto() as endpoint:
        yield endpoint


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
    # moto warns for each Glue resource it skips; the module docstring says why that is fine.
    warnings.filterwarnings("ignore", message=".*not supported by moto's CloudFormation")
    change_sets_see_parameters(monkeypatch)
    language_extensions(monkeypatch)
    return moto_url


def moto_setup(tmp_path: Path, moto_url: str, stack: str, **extra: str):
    """Settings and clients of one stack (each test its own) and its bucket."""
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
    # The services the stack creates resources in, to look at what it made.
    for key, service in (("iam", "iam"), ("sfn", "stepfunctions"), ("logs", "logs")):
        clients[key] = boto3.client(
            service, region_name=settings.region, endpoint_url=settings.endpoint_url
        )
    clients["s3"].create_bucket(
        Bucket=settings.bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    return env, settings, clients


def run(settings, clients, root=ROOT, dry_run=False, **kwargs):
    lines: list[str] = []
    outcome = d.deploy(settings, clients, root, dry_run, lines.append, poll_s=0, **kwargs)
    return outcome, lines


def document(value):
    """A policy document as IAM returns it: a dict, or from moto's CloudFormation the
    Python repr of the dict it was given."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return ast.literal_eval(value)
    return value


def snapshot(settings: d.Settings, clients: dict) -> dict:
    """Everything a deploy may touch, to compare before and after a run."""
    cfn = clients["cloudformation"]
    objects = clients["s3"].list_objects_v2(Bucket=settings.bucket).get("Contents", [])
    stack = d.find_stack(cfn, settings.stack_name)
    resources = []
    if stack:
        stack = {k: v for k, v in stack.items() if k != "ResponseMetadata"}
        resources = cfn.describe_stack_resources(StackName=settings.stack_name)["StackResources"]
    iam = clients["iam"]
    roles = {}
    for role in iam.list_roles()["Roles"]:
        name = role["RoleName"]
        if name.startswith(settings.stack_name):
            policies = iam.list_role_policies(RoleName=name)["PolicyNames"]
            roles[name] = {
                "trust": role["AssumeRolePolicyDocument"],
                "policies": {
                    p: document(iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"])
                    for p in policies
                },
            }
    machines = [
        m for m in clients["sfn"].list_state_machines()["stateMachines"]
        if m["name"] == settings.state_machine_name
    ]  # fmt: skip
    groups = clients["logs"].describe_log_groups(
        logGroupNamePrefix=f"/aws/vendedlogs/states/{settings.stack_name}"
    )["logGroups"]
    change_sets = []
    if stack:
        change_sets = cfn.list_change_sets(StackName=settings.stack_name)["Summaries"]
    return {
        "objects": sorted((o["Key"], o["ETag"], o["LastModified"]) for o in objects),
        "stack": stack,
        "resources": resources,
        "roles": roles,
        "machines": machines,
        "log groups": [(g["logGroupName"], g.get("retentionInDays")) for g in groups],
        "change sets": change_sets,
    }


def test_first_deploy_creates_the_stack_and_the_second_changes_nothing(aws_env, tmp_path):
    _env, settings, clients = moto_setup(tmp_path, aws_env, "first")

    outcome, lines = run(settings, clients)
    assert outcome.result == "created"
    assert d.find_stack(clients["cloudformation"], "first")["StackStatus"] == "CREATE_COMPLETE"
    # The change set named every resource of the template (moto also names those whose
    # condition is false; none is false here).
    assert {(r.action, r.logical_id) for r in outcome.changes} == {
        ("Add", name) for name in template()["Resources"]
    }
    assert lines[-1].endswith("CREATE_COMPLETE")  # the stack's events were followed

    # S3 holds the artifacts byte for byte, at the keys the stack's parameters name.
    built = d.build_artifacts(ROOT, settings)
    s3 = clients["s3"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=settings.bucket)["Contents"]}
    assert keys == {item.key for item in built.items}
    for item in built.items:
        assert s3.get_object(Bucket=settings.bucket, Key=item.key)["Body"].read() == item.body
    stack = d.find_stack(clients["cloudformation"], "first")
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}
    for parameter in (*d.JOB_SCRIPTS, *d.STATE_MACHINES, *d.LIBRARY_ZIPS):
        assert f"{settings.artifacts_prefix}/{parameters[parameter]}" in keys
    wheels = "".join(parameters[f"Glue4Wheels{i}"] for i in (1, 2, 3)).split(",")
    assert {w.removeprefix(f"s3://{settings.bucket}/") for w in wheels} <= keys

    # What moto built from the template is what the template says, resolved independently.
    account = "123456789012"  # moto's default account
    resolved = Resolver(
        template(),
        parameters,
        stack_name="first",
        account=account,
        attributes={
            "GlueJobRole.Arn": f"arn:aws:iam::{account}:role/first-glue-job",
            "IngestJobRole.Arn": f"arn:aws:iam::{account}:role/first-ingest-job",
            "StateMachineRole.Arn": f"arn:aws:iam::{account}:role/first-state-machine",
            "StateMachineLogGroup.Arn": "(not compared)",
        },
    ).resources()
    after = snapshot(settings, clients)
    assert set(after["roles"]) == {"first-glue-job", "first-ingest-job", "first-state-machine"}
    for logical in ("GlueJobRole", "IngestJobRole", "StateMachineRole"):
        role = resolved[logical]
        made = after["roles"][role["RoleName"]]
        assert made["trust"] == role["AssumeRolePolicyDocument"]
        (policy,) = role["Policies"]
        assert made["policies"] == {policy["PolicyName"]: policy["PolicyDocument"]}
    (machine,) = after["machines"]
    described = clients["sfn"].describe_state_machine(stateMachineArn=machine["stateMachineArn"])
    assert described["roleArn"] == f"arn:aws:iam::{account}:role/first-state-machine"
    assert after["log groups"] == [("/aws/vendedlogs/states/first", 90)]

    # Again, unchanged: nothing uploaded, no change set left, the stack as it was.
    outcome, lines = run(settings, clients)
    assert outcome.result == "no changes"
    assert all(line.startswith("unchanged ") for line in lines)
    assert d.summary(outcome, False) == ["no changes: stack first is up to date"]
    assert snapshot(settings, clients) == after


def test_dry_run_shows_a_changed_parameter_as_modify_and_executes_nothing(aws_env, tmp_path):
    _env, settings, clients = moto_setup(tmp_path, aws_env, "second")
    run(settings, clients)
    before = snapshot(settings, clients)

    changed = d.Settings(**{**settings.__dict__, "athena_workgroup": "analysts"})
    outcome, lines = run(changed, clients, dry_run=True)
    assert outcome.result == "planned"
    assert outcome.parameters == [("AthenaWorkGroup", "primary", "analysts")]
    rows = {r.logical_id: r for r in outcome.changes}
    assert rows["StateMachine"].action == "Modify"
    assert "GlueJobRole" not in rows
    text = d.summary(outcome, True)
    assert "  AthenaWorkGroup: primary -> analysts" in text
    modify = ["Modify", "StateMachine", "AWS::StepFunctions::StateMachine", "replace:"]
    assert any(line.split()[:3] == modify[:3] for line in text)
    assert text[-1].startswith("dry run: ")
    assert all(line.startswith("unchanged ") for line in lines)
    # Nothing executed, nothing uploaded, the change set gone.
    assert snapshot(settings, clients) == before


def test_dry_run_of_changed_code_names_the_jobs_and_uploads_nothing(aws_env, tmp_path):
    _env, settings, clients = moto_setup(tmp_path, aws_env, "third")
    run(settings, clients)
    before = snapshot(settings, clients)

    root = tmp_path / "repo"
    skip = shutil.ignore_patterns("node_modules", "__pycache__", "*.egg-info")
    for part in ("src", "deploy"):
        shutil.copytree(ROOT / part, root / part, ignore=skip)
    with (root / "src/lib/era5_contours/science/contours.py").open("a") as f:
        f.write("\n# a change\n")
    outcome, lines = run(settings, clients, root=root, dry_run=True)
    assert [p[0] for p in outcome.parameters] == ["LibraryZip"]
    # The contour library is the contour jobs' alone: the ingest job ships the kernel.
    assert {(r.action, r.logical_id) for r in outcome.changes} == {
        ("Modify", "Glue4Job"),
        ("Modify", "Glue5Job"),
    }
    (would,) = [line for line in lines if line.startswith("would upload")]
    assert "/lib/" in would and would.split()[2] not in {o[0] for o in before["objects"]}
    assert snapshot(settings, clients) == before

    # The real run uploads the new zip and updates the stack; the old zip stays.
    outcome, _ = run(settings, clients, root=root)
    assert outcome.result == "updated"
    after = snapshot(settings, clients)
    assert len(after["objects"]) == len(before["objects"]) + 1
    assert after["stack"]["StackStatus"] == "UPDATE_COMPLETE"


def test_a_changed_ingest_lock_modifies_the_ingest_job_only(aws_env, tmp_path):
    _env, settings, clients = moto_setup(tmp_path, aws_env, "ingestlock")
    run(settings, clients)
    before = snapshot(settings, clients)
    lock = settings.external_libs / "pyshell-requirements.lock"
    lock.write_text(lock.read_text().replace("\ntqdm==", "\ntqdm==9"))
    outcome, lines = run(settings, clients, dry_run=True)
    ((name, old, new),) = outcome.parameters
    assert name == "IngestPythonModules"
    assert ",tqdm==9" in new and ",tqdm==9" not in old
    assert [(r.action, r.logical_id) for r in outcome.changes] == [("Modify", "IngestJob")]
    assert all(line.startswith("unchanged ") for line in lines)  # nothing is uploaded for it
    assert snapshot(settings, clients) == before


def test_dry_run_of_a_new_stack_leaves_no_trace(aws_env, tmp_path):
    _env, settings, clients = moto_setup(tmp_path, aws_env, "fourth")
    before = snapshot(settings, clients)
    outcome, lines = run(settings, clients, dry_run=True)
    assert outcome.result == "planned"
    assert {r.action for r in outcome.changes} == {"Add"}
    assert lines and all(line.startswith("would upload ") for line in lines)
    assert d.find_stack(clients["cloudformation"], "fourth") is None
    assert snapshot(settings, clients) == before


def test_given_roles_and_an_existing_database_are_not_created(aws_env, tmp_path):
    _env, settings, clients = moto_setup(
        tmp_path,
        aws_env,
        "fifth",
        GLUE_JOB_VERSIONS="",
        GLUE_ROLE_ARN="arn:aws:iam::123456789012:role/existing-glue",
        INGEST_ROLE_ARN="arn:aws:iam::123456789012:role/existing-ingest",
        STATE_MACHINE_ROLE_ARN="arn:aws:iam::123456789012:role/existing-sfn",
        ERA5_CREATE_DATABASE="false",
    )
    outcome, _ = run(settings, clients)
    assert outcome.result == "created"
    after = snapshot(settings, clients)
    assert after["roles"] == {}
    (machine,) = after["machines"]
    described = clients["sfn"].describe_state_machine(stateMachineArn=machine["stateMachineArn"])
    assert described["roleArn"] == "arn:aws:iam::123456789012:role/existing-sfn"
    # Only the Glue 4.0 job's wheels were uploaded.
    keys = [o[0] for o in after["objects"]]
    assert any("/wheels/glue4/" in k for k in keys)
    assert not any("/wheels/glue5/" in k for k in keys)


def test_a_template_too_big_to_send_is_read_from_s3(aws_env, tmp_path):
    _env, settings, clients = moto_setup(tmp_path, aws_env, "sixth")
    outcome, lines = run(settings, clients, max_template_body=1000)
    assert outcome.result == "created"
    assert any("/artifacts/templates/" in line for line in lines)
    assert snapshot(settings, clients)["roles"]


def deploy_script(env: dict, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env_file = tmp_path / "deploy.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    clean = {k: v for k, v in os.environ.items() if k not in env}
    return subprocess.run(
        ["bash", str(ROOT / "sh" / "deploy.sh"), "--env-file", str(env_file), *args],
        capture_output=True,
        text=True,
        env={**clean, "PYTHON": sys.executable},
    )


def test_deploy_script_plans_and_the_command_deploys(aws_env, tmp_path, monkeypatch, capsys):
    env, _settings, clients = moto_setup(tmp_path, aws_env, "seventh")
    # The script runs in another process: moto's change sets there are its own (no patch).
    result = deploy_script(env, tmp_path, "--dry-run", "--poll-seconds", "0")
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    add = ["Add", "StateMachine", "AWS::StepFunctions::StateMachine"]
    assert any(line.split() == add for line in out)
    # 11: moto also names the two jobs whose condition is false (5.1 and 6.0, not deployed
    # here); CloudFormation's change set would name 9.
    assert out[-1].startswith("dry run: 11 resource change(s); change set dry-run-")
    assert d.find_stack(clients["cloudformation"], "seventh") is None
    # The same command, in this process: deploy, then again.
    for key in env:
        monkeypatch.delenv(key, raising=False)
    args = ["--env-file", str(tmp_path / "deploy.env"), "--poll-seconds", "0"]
    assert d.main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "done: stack seventh created, 11 resource change(s)"
    assert d.main(args) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "no changes: stack seventh is up to date"


def test_a_failing_change_set_is_one_line_and_leaves_nothing(
    aws_env, tmp_path, monkeypatch, capsys
):
    env, settings, clients = moto_setup(tmp_path, aws_env, "eighth")
    reason = "No export named era5-network-SubnetIds found. Rollback requested by user."
    fail_change_sets(monkeypatch, reason)
    env_file = tmp_path / "deploy.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    for key in env:
        monkeypatch.delenv(key, raising=False)
    assert d.main(["--env-file", str(env_file), "--poll-seconds", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("error: change set deploy-")
    assert err[0].endswith(f"of stack eighth failed: {reason}")
    # The change set and the empty stack it made are gone; nothing was executed.
    assert d.find_stack(clients["cloudformation"], "eighth") is None
    assert snapshot(settings, clients)["roles"] == {}
