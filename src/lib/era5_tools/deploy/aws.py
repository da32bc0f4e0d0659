"""The AWS side: upload the artifacts, then deploy the stack through a change set.

The calls are thin; what to send and how to read the answers is :mod:`.stack`'s. A run
uploads what S3 lacks, creates a change set (``CREATE`` for a new stack, ``UPDATE``
otherwise), waits for it, and executes it, then follows the stack's events until it is
done. A change set without changes is "no changes" and is deleted. A dry run uploads
nothing, shows the change set and deletes it (and the empty stack a first change set
makes).
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from era5_tools import repository_root

from .artifacts import Artifact, build_artifacts, content_key
from .settings import Settings
from .stack import (
    MAX_TEMPLATE_BODY_BYTES,
    SUCCEEDED,
    DeployError,
    ResourceChange,
    change_set_name,
    change_set_request,
    change_set_type,
    is_no_changes,
    load_template,
    parameter_changes,
    resource_changes,
    stack_event_line,
    stack_failure,
    stack_parameters,
    template_url,
)

if TYPE_CHECKING:  # types-boto3's stubs (dev extras); never needed at run time
    from types_boto3_cloudformation import CloudFormationClient
    from types_boto3_cloudformation.type_defs import (
        StackEventTypeDef,
        StackTypeDef,
    )
    from types_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

_T = TypeVar("_T")


class AwsClients(TypedDict):
    """The clients a deploy talks to."""

    s3: S3Client
    cloudformation: CloudFormationClient


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def _error_message(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Message", "")) or str(exc)


def aws_clients(settings: Settings, env: Mapping[str, str] | None = None) -> AwsClients:
    """boto3 clients (S3, CloudFormation) with standard retries, at ``AWS_ENDPOINT_URL``."""
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
    return {
        "s3": session.client("s3", endpoint_url=settings.endpoint_url, config=config),
        "cloudformation": session.client(
            "cloudformation", endpoint_url=settings.endpoint_url, config=config
        ),
    }


def check_bucket(s3: S3Client, bucket: str) -> None:
    """Raise :class:`DeployError` unless the bucket exists and can be reached."""
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as exc:
        code = _error_code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise DeployError(
                f"bucket {bucket} does not exist: create it first (aws s3 mb s3://{bucket})"
            ) from exc
        if code in ("403", "AccessDenied", "Forbidden"):
            raise DeployError(f"bucket {bucket}: access denied") from exc
        raise


def upload(s3: S3Client, bucket: str, artifact: Artifact, dry_run: bool) -> str:
    """Put ``artifact`` unless the object already holds the same bytes; what was done.

    Sameness is the ``sha256`` metadata this function writes, else an ETag equal to the
    MD5 (single-part uploads without SSE-KMS). Returns ``uploaded``, ``replaced`` (same
    key, other bytes: a rebuilt wheel), ``unchanged``, or in a dry run ``would upload``
    and ``would replace``.
    """
    try:
        head = s3.head_object(Bucket=bucket, Key=artifact.key)
    except ClientError as exc:
        if _error_code(exc) not in ("404", "NoSuchKey", "NotFound"):
            raise
        action = "upload"
    else:
        stored = head.get("Metadata", {}).get("sha256")
        etag = head.get("ETag", "").strip('"')
        if stored == artifact.sha256 or (not stored and etag == artifact.md5):
            return "unchanged"
        action = "replace"
    if dry_run:
        return f"would {action}"
    s3.put_object(
        Bucket=bucket,
        Key=artifact.key,
        Body=artifact.body,
        ContentMD5=base64.b64encode(bytes.fromhex(artifact.md5)).decode(),
        Metadata={"sha256": artifact.sha256},
    )
    return {"upload": "uploaded", "replace": "replaced"}[action]


def find_stack(cfn: CloudFormationClient, name: str) -> StackTypeDef | None:
    """The stack called ``name`` (``DescribeStacks``), or None when there is none."""
    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        if _error_code(exc) == "ValidationError" and "does not exist" in _error_message(exc):
            return None
        raise
    return stacks[0] if stacks else None


def _wait(
    fetch: Callable[[], _T],
    done: Callable[[_T], bool],
    what: str,
    poll_s: float,
    timeout_s: float,
) -> _T:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = fetch()
        if done(answer):
            return answer
        if time.monotonic() > deadline:
            raise DeployError(f"{what}: still not done after {timeout_s:.0f} s")
        time.sleep(poll_s)


def wait_change_set(
    cfn: CloudFormationClient, stack_name: str, change_set_id: str, poll_s: float, timeout_s: float
) -> dict[str, Any]:
    """The change set once CloudFormation has computed it, with the changes of all pages."""
    described = _wait(
        lambda: cfn.describe_change_set(ChangeSetName=change_set_id, StackName=stack_name),
        lambda d: d["Status"] not in ("CREATE_PENDING", "CREATE_IN_PROGRESS"),
        f"change set {change_set_id}",
        poll_s,
        timeout_s,
    )
    changes = list(described.get("Changes") or [])
    token = described.get("NextToken")
    while token:
        page = cfn.describe_change_set(
            ChangeSetName=change_set_id, StackName=stack_name, NextToken=token
        )
        changes.extend(page.get("Changes") or [])
        token = page.get("NextToken")
    return {**described, "Changes": changes}


def new_events(
    cfn: CloudFormationClient, stack_name: str, seen: str | None
) -> list[StackEventTypeDef]:
    """The stack's events after the one with id ``seen``, oldest first."""
    events: list[StackEventTypeDef] = []
    token = None
    while True:
        kwargs = {"StackName": stack_name, **({"NextToken": token} if token else {})}
        page = cfn.describe_stack_events(**kwargs)
        for event in page.get("StackEvents") or []:  # newest first
            if event.get("EventId") == seen:
                return events[::-1]
            events.append(event)
        token = page.get("NextToken")
        if not token:
            return events[::-1]


def wait_stack(
    cfn: CloudFormationClient,
    stack_name: str,
    since_event: str | None,
    poll_s: float,
    timeout_s: float,
    report: Callable[[str], None],
) -> tuple[StackTypeDef, list[StackEventTypeDef]]:
    """Follow the stack until no operation is in progress; its state and the new events.

    Each new event is reported as it comes.
    """
    events: list[StackEventTypeDef] = []

    def fetch() -> StackTypeDef:
        nonlocal since_event
        fresh = new_events(cfn, stack_name, since_event)
        for event in fresh:
            report(f"  {stack_event_line(event)}")
        if fresh:
            since_event = fresh[-1].get("EventId")
            events.extend(fresh)
        return cfn.describe_stacks(StackName=stack_name)["Stacks"][0]

    stack = _wait(
        fetch,
        lambda s: not s["StackStatus"].endswith("_IN_PROGRESS"),
        f"stack {stack_name}",
        poll_s,
        timeout_s,
    )
    return stack, events


@dataclass
class Outcome:
    """What a deploy did (or, dry, would do)."""

    stack_name: str
    #: created, updated, no changes; planned (dry run with changes).
    result: str
    uploads: list[tuple[str, str]] = field(default_factory=list)  # (action, s3 uri)
    changes: list[ResourceChange] = field(default_factory=list)
    parameters: list[tuple[str, str, str]] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    change_set: str = ""


def _latest_event_id(cfn: CloudFormationClient, stack_name: str) -> str | None:
    events = cfn.describe_stack_events(StackName=stack_name).get("StackEvents") or []
    return events[0].get("EventId") if events else None


def deploy(
    settings: Settings,
    clients: AwsClients,
    root: Path | None = None,
    dry_run: bool = False,
    report: Callable[[str], None] | None = None,
    poll_s: float = 5.0,
    change_set_timeout_s: float = 600.0,
    stack_timeout_s: float = 3600.0,
    max_template_body: int = MAX_TEMPLATE_BODY_BYTES,
) -> Outcome:
    """Upload the artifacts and bring the stack in line with the template.

    ``report`` gets each line worth showing as soon as it is known.

    Raises
    ------
    DeployError
        The change set failed (with CloudFormation's reason) or the stack operation did
        (with the first failing resource and its reason); the stack is busy or stuck.
    ValueError, FileNotFoundError
        Settings, template or artifacts are wrong; nothing was sent.
    """
    # Long on purpose: one change set's life (create, wait, execute, clean up) reads top
    # to bottom, and its clean-up must see every exit, which the finally below does.
    say = report or (lambda line: None)
    s3, cfn = clients["s3"], clients["cloudformation"]
    name = settings.stack_name
    # Everything local first: a missing wheel or a bad parameter stops before any call.
    parameters, items, body, url = _local_part(
        settings, root or repository_root(), max_template_body
    )

    check_bucket(s3, settings.bucket)
    # A stack that cannot take a change set stops the run before anything is uploaded.
    stack = find_stack(cfn, name)
    kind = change_set_type(stack)
    outcome = Outcome(name, "")
    # A dry run needs the template object when it is too big to send; nothing else.
    _upload_all(s3, settings.bucket, items, outcome, say, dry_run, template_last=url is not None)

    if kind == "UPDATE":  # a new stack's parameters are all new: its change set says more
        current = stack.get("Parameters") if stack is not None else None
        outcome.parameters = parameter_changes(current, parameters)
    outcome.change_set = change_set_name("dry-run" if dry_run else "deploy")
    request = change_set_request(
        name,
        outcome.change_set,
        kind,
        parameters,
        template_body=body,
        template_url=url,
        description=f"era5_tools.deploy{' --dry-run' if dry_run else ''}",
    )
    try:
        created = cfn.create_change_set(**request)
    except ClientError as exc:
        if is_no_changes(_error_message(exc)):
            outcome.result = "no changes"
            return outcome
        raise DeployError(
            f"creating the change set of stack {name} failed: {_error_message(exc)}"
        ) from exc
    change_set_id = created["Id"]
    executed = False
    try:
        if not _change_set_ready(cfn, change_set_id, outcome, poll_s, change_set_timeout_s):
            return outcome
        if dry_run:
            outcome.result = "planned"
            return outcome
        since = _latest_event_id(cfn, name)
        cfn.execute_change_set(ChangeSetName=change_set_id, StackName=name)
        executed = True
        say(f"executing change set {outcome.change_set} of stack {name}")
        final, events = wait_stack(cfn, name, since, poll_s, stack_timeout_s, say)
        if final["StackStatus"] not in SUCCEEDED:
            raise DeployError(stack_failure(final, events))
        outcome.result = "created" if kind == "CREATE" else "updated"
        outcome.outputs = {
            o["OutputKey"]: o.get("OutputValue", "") for o in final.get("Outputs") or []
        }
        return outcome
    finally:
        if not executed:
            _clean_up(cfn, name, change_set_id, created_stack=kind == "CREATE" and stack is None)


def _upload_all(
    s3: S3Client,
    bucket: str,
    items: Sequence[Artifact],
    outcome: Outcome,
    say: Callable[[str], None],
    dry_run: bool,
    *,
    template_last: bool,
) -> None:
    """Upload every artifact (a dry run: none, but a template too big to send, the last)."""
    for item in items:
        dry = dry_run and not (template_last and item is items[-1])
        action = upload(s3, bucket, item, dry)
        uri = f"s3://{bucket}/{item.key}"
        outcome.uploads.append((action, uri))
        say(f"{action:<13} {uri} ({len(item.body):,} bytes)")


def _local_part(
    settings: Settings, root: Path, max_template_body: int
) -> tuple[dict[str, str], list[Artifact], str | None, str | None]:
    """The stack's parameters, what to upload, and the template as a body or an S3 URL."""
    template = load_template(root)
    built = build_artifacts(root, settings)
    parameters = stack_parameters(settings, built, template)
    items = list(built.items)
    if len(template.text.encode()) <= max_template_body:
        return parameters, items, template.text, None
    # Too big for the request: CloudFormation reads it from S3 instead.
    key = content_key("templates", "stack.yaml", template.text.encode())
    items.append(Artifact(f"{settings.artifacts_prefix}/{key}", template.text.encode()))
    return parameters, items, None, template_url(settings.bucket, settings.region, items[-1].key)


def _change_set_ready(
    cfn: CloudFormationClient,
    change_set_id: str,
    outcome: Outcome,
    poll_s: float,
    timeout_s: float,
) -> bool:
    """Wait for the change set; whether it holds changes (its changes go into ``outcome``).

    Raises
    ------
    DeployError
        The change set failed for another reason than having nothing to change.
    """
    name = outcome.stack_name
    described = wait_change_set(cfn, name, change_set_id, poll_s, timeout_s)
    if described["Status"] == "FAILED":
        reason = described.get("StatusReason") or "no reason given"
        if is_no_changes(reason):
            outcome.result = "no changes"
            return False
        raise DeployError(f"change set {outcome.change_set} of stack {name} failed: {reason}")
    outcome.changes = resource_changes(described["Changes"])
    return True


def _clean_up(
    cfn: CloudFormationClient, stack_name: str, change_set_id: str, created_stack: bool
) -> None:
    """Delete an unexecuted change set, and the empty stack its creation made."""
    try:
        cfn.delete_change_set(ChangeSetName=change_set_id, StackName=stack_name)
        if created_stack:
            # A CREATE change set makes the stack in REVIEW_IN_PROGRESS, with no resources.
            cfn.delete_stack(StackName=stack_name)
    except (BotoCoreError, ClientError) as exc:  # the outcome stands; leftovers are harmless
        logger.warning("could not delete change set %s: %s", change_set_id, exc)
