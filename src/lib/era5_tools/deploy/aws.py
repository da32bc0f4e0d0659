"""The AWS side: compare each resource with what the account has, write only differences.

A run uploads the artifacts, then creates or updates the IAM roles (unless their ARNs are
given), the Glue database, the Glue jobs, the state machine's log group and the state
machine. A second run reports ``unchanged`` everywhere; a dry run reports the plan and
writes nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, cast

from era5_tools import repository_root

from .artifacts import Artifact, artifacts
from .settings import Settings, deploy_variables
from .templates import render_job, render_policy, render_state_machine

if TYPE_CHECKING:  # types-boto3's stubs (dev extras); never needed at run time
    from types_boto3_glue import GlueClient
    from types_boto3_glue.type_defs import JobUpdateTypeDef
    from types_boto3_iam import IAMClient
    from types_boto3_logs import CloudWatchLogsClient
    from types_boto3_s3 import S3Client
    from types_boto3_stepfunctions import SFNClient
    from types_boto3_stepfunctions.type_defs import LoggingConfigurationTypeDef
    from types_boto3_sts import STSClient

logger = logging.getLogger(__name__)

MAINTAINED_TABLES = ("contour_features", "daily_summary")


@dataclass(frozen=True)
class Change:
    """What a sync did (or, in a dry run, would do) to one resource."""

    kind: str
    name: str
    action: str  # "created", "updated" or "unchanged"
    detail: str = ""

    def line(self, dry_run: bool = False) -> str:
        """One line for the deploy's output."""
        action = self.action
        if dry_run and action != "unchanged":
            action = {"created": "would create", "updated": "would update"}[action]
        text = f"{action:<13} {self.kind} {self.name}"
        return f"{text} ({self.detail})" if self.detail else text


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _same(desired: Any, current: Any, exact: bool = False) -> bool:
    """Whether ``current`` (from AWS) already is ``desired`` (from the files).

    Dicts compare on the desired keys only (AWS adds computed fields), except when
    ``exact``; numbers compare by value (``180 == 180.0``).
    """
    if isinstance(desired, Mapping):
        if not isinstance(current, Mapping):
            return False
        if exact and set(desired) != set(current):
            return False
        return all(_same(v, current.get(k), exact) for k, v in desired.items())
    if isinstance(desired, (list, tuple)):
        return (
            isinstance(current, (list, tuple))
            and len(desired) == len(current)
            and all(_same(d, c, exact) for d, c in zip(desired, current, strict=True))
        )
    if isinstance(desired, (int, float)) and not isinstance(desired, bool):
        return isinstance(current, (int, float)) and float(desired) == float(current)
    return bool(desired == current)


#: Job fields whose value is a whole map: extra keys on AWS's side are a difference.
_EXACT_JOB_FIELDS = ("DefaultArguments", "NonOverridableArguments")


def job_differences(desired: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """The top-level fields of a Glue job definition that AWS has differently."""
    return [
        key
        for key, value in desired.items()
        if key not in ("Name", "Tags")
        and not _same(value, current.get(key), exact=key in _EXACT_JOB_FIELDS)
    ]


def sync_object(s3: S3Client, bucket: str, artifact: Artifact, dry_run: bool) -> Change:
    """Put ``artifact`` unless the object already holds the same bytes.

    Sameness is the ``sha256`` metadata this function writes, else an ETag equal to the
    MD5 (single-part uploads without SSE-KMS).
    """
    uri = f"s3://{bucket}/{artifact.key}"
    try:
        head = s3.head_object(Bucket=bucket, Key=artifact.key)
    except Exception as exc:
        if _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
            raise
        action = "created"
    else:
        stored = head.get("Metadata", {}).get("sha256")
        etag = head.get("ETag", "").strip('"')
        if stored == artifact.sha256 or (not stored and etag == artifact.md5):
            return Change("s3 object", uri, "unchanged")
        action = "updated"
    if not dry_run:
        s3.put_object(
            Bucket=bucket,
            Key=artifact.key,
            Body=artifact.body,
            ContentMD5=base64.b64encode(bytes.fromhex(artifact.md5)).decode(),
            Metadata={"sha256": artifact.sha256},
        )
    return Change("s3 object", uri, action, f"{len(artifact.body):,} bytes")


def _retry_until_assumable(call: Callable[[], Any], wait_s: float, attempts: int) -> Any:
    """Run ``call``, retrying while IAM has not yet propagated a new role."""
    for attempt in range(attempts):
        try:
            return call()
        except Exception as exc:
            code = _error_code(exc)
            message = str(exc)
            retryable = code in ("AccessDeniedException", "InvalidArn") or "assume" in message
            if not retryable or attempt == attempts - 1:
                raise
            logger.info("role not assumable yet (%s); retrying in %.0f s", code, wait_s)
            time.sleep(wait_s)
    raise AssertionError("unreachable")


def sync_role(
    iam: IAMClient,
    name: str,
    trust_policy: Mapping[str, Any],
    policy_name: str,
    policy: Mapping[str, Any],
    description: str,
    dry_run: bool,
) -> Change:
    """Create the role with its inline policy, or bring trust and policy up to date."""
    try:
        role = iam.get_role(RoleName=name)["Role"]
    except Exception as exc:
        if _error_code(exc) != "NoSuchEntity":
            raise
        if not dry_run:
            iam.create_role(
                RoleName=name,
                AssumeRolePolicyDocument=json.dumps(trust_policy),
                Description=description,
                Tags=[{"Key": "project", "Value": "era5-contours"}],
            )
            iam.put_role_policy(
                RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(policy)
            )
        return Change("iam role", name, "created")
    changed = []
    current_trust = role.get("AssumeRolePolicyDocument")
    if isinstance(current_trust, str):  # URL-encoded JSON when not decoded by botocore
        from urllib.parse import unquote

        current_trust = json.loads(unquote(current_trust))
    if not _same(trust_policy, current_trust, exact=True):
        changed.append("trust policy")
        if not dry_run:
            iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust_policy))
    try:
        current_policy = iam.get_role_policy(RoleName=name, PolicyName=policy_name)[
            "PolicyDocument"
        ]
    except Exception as exc:
        if _error_code(exc) != "NoSuchEntity":
            raise
        current_policy = None
    if isinstance(current_policy, str):
        from urllib.parse import unquote

        current_policy = json.loads(unquote(current_policy))
    if not _same(policy, current_policy, exact=True):
        changed.append(f"policy {policy_name}")
        if not dry_run:
            iam.put_role_policy(
                RoleName=name, PolicyName=policy_name, PolicyDocument=json.dumps(policy)
            )
    if changed:
        return Change("iam role", name, "updated", ", ".join(changed))
    return Change("iam role", name, "unchanged")


def sync_database(glue: GlueClient, name: str, description: str, dry_run: bool) -> Change:
    """Create the Glue database when absent (an existing one is left as it is)."""
    try:
        glue.get_database(Name=name)
    except Exception as exc:
        if _error_code(exc) != "EntityNotFoundException":
            raise
        if not dry_run:
            glue.create_database(DatabaseInput={"Name": name, "Description": description})
        return Change("glue database", name, "created")
    return Change("glue database", name, "unchanged")


def sync_glue_job(
    glue: GlueClient, definition: Mapping[str, Any], job_arn: str, dry_run: bool
) -> Change:
    """Create the job, or update it when a field of ``definition`` differs on AWS.

    Tags in the definition are added or corrected; tags set by others are kept.
    """
    name = definition["Name"]
    tags = dict(definition.get("Tags") or {})
    try:
        current = glue.get_job(JobName=name)["Job"]
    except Exception as exc:
        if _error_code(exc) != "EntityNotFoundException":
            raise
        if not dry_run:
            glue.create_job(**definition)
        return Change("glue job", name, "created")
    changed = job_differences(definition, current)
    if changed and not dry_run:
        update = {k: v for k, v in definition.items() if k not in ("Name", "Tags")}
        # The definition file holds CreateJob's fields; botocore checks them against the
        # API model before sending.
        glue.update_job(JobName=name, JobUpdate=cast("JobUpdateTypeDef", update))
    if tags:
        current_tags = glue.get_tags(ResourceArn=job_arn).get("Tags", {})
        stale = {k: v for k, v in tags.items() if current_tags.get(k) != v}
        if stale:
            changed.append("Tags")
            if not dry_run:
                glue.tag_resource(ResourceArn=job_arn, TagsToAdd=stale)
    if changed:
        return Change("glue job", name, "updated", ", ".join(changed))
    return Change("glue job", name, "unchanged")


def sync_log_group(
    logs: CloudWatchLogsClient, name: str, retention_days: int, dry_run: bool
) -> Change:
    """Create the log group with its retention, or correct the retention."""
    groups = logs.describe_log_groups(logGroupNamePrefix=name).get("logGroups", [])
    group = next((g for g in groups if g["logGroupName"] == name), None)
    if group is None:
        if not dry_run:
            logs.create_log_group(logGroupName=name, tags={"project": "era5-contours"})
            logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
        return Change("log group", name, "created")
    if group.get("retentionInDays") != retention_days:
        if not dry_run:
            logs.put_retention_policy(logGroupName=name, retentionInDays=retention_days)
        return Change("log group", name, "updated", f"retention {retention_days} days")
    return Change("log group", name, "unchanged")


def find_state_machine(sfn: SFNClient, name: str) -> str | None:
    """ARN of the state machine called ``name``, if any."""
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return machine["stateMachineArn"]
    return None


def sync_state_machine(
    sfn: SFNClient,
    name: str,
    definition: Mapping[str, Any],
    role_arn: str,
    logging_configuration: LoggingConfigurationTypeDef,
    dry_run: bool,
    role_is_new: bool = False,
) -> Change:
    """Create the state machine, or update it when definition, role or logging differ."""
    arn = find_state_machine(sfn, name)
    body = json.dumps(definition, indent=2)
    if arn is None:
        if not dry_run:
            _retry_until_assumable(
                lambda: sfn.create_state_machine(
                    name=name,
                    definition=body,
                    roleArn=role_arn,
                    type="STANDARD",
                    loggingConfiguration=logging_configuration,
                    tags=[{"key": "project", "value": "era5-contours"}],
                ),
                wait_s=5.0,
                attempts=12 if role_is_new else 1,
            )
        return Change("state machine", name, "created")
    current = sfn.describe_state_machine(stateMachineArn=arn)
    changed = []
    if json.loads(current["definition"]) != definition:
        changed.append("definition")
    if current.get("roleArn") != role_arn:
        changed.append("role")
    if not _same(logging_configuration, current.get("loggingConfiguration") or {}):
        changed.append("logging")
    if not changed:
        return Change("state machine", name, "unchanged")
    if not dry_run:
        _retry_until_assumable(
            lambda: sfn.update_state_machine(
                stateMachineArn=arn,
                definition=body,
                roleArn=role_arn,
                loggingConfiguration=logging_configuration,
            ),
            wait_s=5.0,
            attempts=12 if role_is_new else 1,
        )
    return Change("state machine", name, "updated", ", ".join(changed))


class AwsClients(TypedDict):
    """The boto3 clients a deploy uses, by service name."""

    s3: S3Client
    glue: GlueClient
    stepfunctions: SFNClient
    iam: IAMClient
    logs: CloudWatchLogsClient
    sts: STSClient


def aws_clients(settings: Settings, env: Mapping[str, str] | None = None) -> AwsClients:
    """boto3 clients with standard retries, pointed at ``AWS_ENDPOINT_URL`` when set."""
    import boto3
    from botocore.config import Config

    env = env if env is not None else os.environ
    # "default" is what boto3 uses anyway; naming it explicitly would fail without ~/.aws.
    profile = (env.get("AWS_PROFILE") or "").strip()
    session = boto3.Session(
        profile_name=None if profile in ("", "default") else profile, region_name=settings.region
    )
    config = Config(
        retries={"mode": "standard", "max_attempts": settings.max_attempts},
        user_agent_extra="era5-contours-deploy",
    )
    endpoint = settings.endpoint_url
    return {
        "s3": session.client("s3", endpoint_url=endpoint, config=config),
        "glue": session.client("glue", endpoint_url=endpoint, config=config),
        "stepfunctions": session.client("stepfunctions", endpoint_url=endpoint, config=config),
        "iam": session.client("iam", endpoint_url=endpoint, config=config),
        "logs": session.client("logs", endpoint_url=endpoint, config=config),
        "sts": session.client("sts", endpoint_url=endpoint, config=config),
    }


def deploy(
    settings: Settings,
    clients: AwsClients,
    root: Path | None = None,
    dry_run: bool = False,
    report: Callable[[Change], None] | None = None,
    artifacts_only: bool = False,
) -> list[Change]:
    """Bring the AWS account in line with the deploy files; return what changed.

    ``report`` is called with each :class:`Change` as soon as it is known.
    ``artifacts_only`` stops after the S3 uploads (the CloudFormation path, where the
    stack owns everything else).
    """
    root = root or repository_root()
    changes: list[Change] = []

    def record(change: Change) -> None:
        changes.append(change)
        if report:
            report(change)

    account = settings.account_id or clients["sts"].get_caller_identity()["Account"]
    items, wheel_uris = artifacts(root, settings)
    variables = deploy_variables(settings, account, wheel_uris)

    # Render everything first: a placeholder error must stop the run before any write.
    jobs = [render_job(root, v, variables) for v in settings.job_versions]
    machine = render_state_machine(root, variables)
    roles = []
    if not settings.glue_role_arn:
        roles.append(
            (
                settings.glue_role_name,
                render_policy(root, "glue_job_trust_policy.json", variables),
                render_policy(root, "glue_job_role_policy.json", variables),
                "Runs the ERA5 contour Glue jobs",
            )
        )
    if not settings.state_machine_role_arn:
        roles.append(
            (
                settings.state_machine_role_name,
                render_policy(root, "state_machine_trust_policy.json", variables),
                render_policy(root, "state_machine_role_policy.json", variables),
                "Runs the ERA5 contour state machine",
            )
        )

    for item in items:
        record(sync_object(clients["s3"], settings.bucket, item, dry_run))
    if artifacts_only:
        return changes
    new_roles = set()
    for name, trust, policy, description in roles:
        change = sync_role(
            clients["iam"], name, trust, f"{name}-policy", policy, description, dry_run
        )
        if change.action == "created":
            new_roles.add(name)
        record(change)
    record(
        sync_database(
            clients["glue"], settings.database, "ERA5 daily contour tables (Iceberg)", dry_run
        )
    )
    for job in jobs:
        arn = f"arn:aws:glue:{settings.region}:{account}:job/{job['Name']}"
        record(sync_glue_job(clients["glue"], job, arn, dry_run))
    record(
        sync_log_group(
            clients["logs"], settings.state_machine_log_group, settings.log_retention_days, dry_run
        )
    )
    log_group_arn = (
        f"arn:aws:logs:{settings.region}:{account}:log-group:{settings.state_machine_log_group}:*"
    )
    record(
        sync_state_machine(
            clients["stepfunctions"],
            settings.state_machine_name,
            machine,
            variables["STATE_MACHINE_ROLE_ARN"],
            {
                "level": "ERROR",
                "includeExecutionData": False,
                "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": log_group_arn}}],
            },
            dry_run,
            role_is_new=settings.state_machine_role_name in new_roles,
        )
    )
    return changes
