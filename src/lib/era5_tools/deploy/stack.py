"""The CloudFormation side, pure: template, parameters, change set requests, the diff.

``deploy/cloudformation/stack.yaml`` describes every resource. Nothing here calls AWS:
:mod:`.aws` sends what these functions build and hands back what AWS answers, which they
turn into lines and errors.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .artifacts import Artifacts
from .settings import GLUE_VERSIONS, Settings

TEMPLATE = Path("deploy") / "cloudformation" / "stack.yaml"
#: CloudFormation's quotas: a parameter value, a template body passed in the request.
MAX_PARAMETER_BYTES = 4096
MAX_TEMPLATE_BODY_BYTES = 51_200
#: The roles have names, so the stack needs the named-IAM capability; the template's
#: AWS::LanguageExtensions transform (the contour jobs' Fn::ForEach) needs AUTO_EXPAND.
CAPABILITIES = ("CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND")
#: How CloudFormation says that a change set would change nothing: the reason of the
#: FAILED change set (or, from some endpoints, the error of the CreateChangeSet call).
NO_CHANGES = (
    "The submitted information didn't contain changes",
    "No updates are to be performed",
)
#: Stacks in these states take an UPDATE change set.
UPDATABLE = {
    "CREATE_COMPLETE",
    "UPDATE_COMPLETE",
    "UPDATE_ROLLBACK_COMPLETE",
    "IMPORT_COMPLETE",
    "IMPORT_ROLLBACK_COMPLETE",
}
SUCCEEDED = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


class DeployError(RuntimeError):
    """What stopped a deploy, in one line (AWS's reason included)."""


@dataclass(frozen=True)
class Template:
    """The stack template: its text as sent, and its content."""

    text: str
    body: dict[str, Any]

    @property
    def parameters(self) -> dict[str, Any]:
        """The declared parameters."""
        return dict(self.body.get("Parameters") or {})

    def wheel_parameters(self, glue_version: str) -> list[str]:
        """``Glue4Wheels1``, ``Glue4Wheels2``, ... (``Glue51Wheels1`` ...) as declared."""
        stem = f"{GLUE_VERSIONS[glue_version].capitalize()}Wheels"
        names = [n for n in self.parameters if n.startswith(stem) and n[len(stem) :].isdigit()]
        return sorted(names, key=lambda n: int(n[len(stem) :]))


def load_template(root: Path) -> Template:
    """``deploy/cloudformation/stack.yaml`` of a checkout."""
    import yaml  # deploy-time dependency only

    text = (root / TEMPLATE).read_text()
    body = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    if not isinstance(body, dict) or "Resources" not in body:
        raise ValueError(f"{root / TEMPLATE}: not a CloudFormation template")
    return Template(text, body)


def split_list(values: Sequence[str], limit: int = MAX_PARAMETER_BYTES) -> list[str]:
    """Comma-joined ``values`` cut into pieces of at most ``limit`` bytes.

    The pieces concatenated give the whole list back (every piece after the first starts
    with its comma), which is how the template's ``Fn::Join`` with an empty delimiter
    puts them together. A cut falls between two values.

    Raises
    ------
    ValueError
        One value alone is longer than ``limit``.
    """
    pieces: list[str] = []
    current = ""
    for value in values:
        item = f",{value}" if current or pieces else value
        if len(item.encode()) > limit:
            raise ValueError(f"{value[:80]}... alone is longer than {limit} bytes")
        if current and len((current + item).encode()) > limit:
            pieces.append(current)
            current = item
        else:
            current += item
    if current:
        pieces.append(current)
    return pieces


def stack_parameters(
    settings: Settings, artifacts: Artifacts, template: Template
) -> dict[str, str]:
    """Every parameter of the template, from the settings and the artifact keys.

    Raises
    ------
    ValueError
        A value the template does not declare, a declared parameter without a value, a
        value over CloudFormation's 4,096 bytes, or wheels that need more parts than the
        template has.
    """
    s = settings
    values = {
        "BucketName": s.bucket,
        "DataPrefix": s.prefix,
        "InputBucket": s.input_bucket,
        "InputPrefix": s.input_prefix,
        "DatabaseName": s.database,
        "Variables": ",".join(s.variables),
        "CreateDatabase": str(s.create_database).lower(),
        "AthenaWorkGroup": s.athena_workgroup,
        "GlueVersion": s.glue_version,
        "GlueJobRoleArn": s.glue_role_arn or "",
        "IngestJobRoleArn": s.ingest_role_arn or "",
        "StateMachineRoleArn": s.state_machine_role_arn or "",
        "LogRetentionDays": str(s.log_retention_days),
        **artifacts.keys,
        **{name: ",".join(pins) for name, pins in artifacts.modules.items()},
    }
    for version, folder in GLUE_VERSIONS.items():
        values[f"Deploy{folder.capitalize()}Job"] = str(version in s.job_versions).lower()
        names = template.wheel_parameters(version)
        pieces = split_list(artifacts.wheels.get(version, []))
        if len(pieces) > len(names):
            raise ValueError(
                f"the Glue {version} wheels need {len(pieces)} parameters of "
                f"{MAX_PARAMETER_BYTES} bytes, the template declares {len(names)}: add "
                f"{folder.capitalize()}Wheels{len(names) + 1} to {TEMPLATE}"
            )
        values.update(zip(names, pieces + [""] * (len(names) - len(pieces)), strict=True))
    declared = template.parameters
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise ValueError(f"{TEMPLATE} declares no parameter {', '.join(unknown)}")
    missing = sorted(set(declared) - set(values))
    if missing:
        raise ValueError(f"no value for the parameter(s) {', '.join(missing)} of {TEMPLATE}")
    for name, value in values.items():
        if len(value.encode()) > MAX_PARAMETER_BYTES:
            raise ValueError(f"parameter {name} is over {MAX_PARAMETER_BYTES} bytes")
    return values


def change_set_type(stack: Mapping[str, Any] | None) -> str:
    """``CREATE`` for a new stack, ``UPDATE`` for one that can take it.

    Raises
    ------
    DeployError
        The stack is busy, or in a state that only a person can resolve (what to do is
        in the message).
    """
    if stack is None:
        return "CREATE"
    name, status = stack["StackName"], stack["StackStatus"]
    if status == "REVIEW_IN_PROGRESS":  # created by a change set never executed
        return "CREATE"
    if status in UPDATABLE:
        return "UPDATE"
    if status == "ROLLBACK_COMPLETE":
        raise DeployError(
            f"stack {name} is ROLLBACK_COMPLETE: its creation failed and it can only be "
            f"deleted (aws cloudformation delete-stack --stack-name {name}); then deploy again"
        )
    if status == "UPDATE_ROLLBACK_FAILED":
        raise DeployError(
            f"stack {name} is UPDATE_ROLLBACK_FAILED: fix the cause, then "
            f"aws cloudformation continue-update-rollback --stack-name {name}"
        )
    if status.endswith("_IN_PROGRESS"):
        raise DeployError(f"stack {name} is busy ({status}): wait until it is done")
    raise DeployError(f"stack {name} is {status} and cannot be updated")


def change_set_name(prefix: str, now: datetime | None = None) -> str:
    """A fresh change set name: ``<prefix>-20240701T120000Z-<6 hex digits>``.

    Time for the reader, random digits so that two runs in one second do not collide.
    """
    now = now or datetime.now(timezone.utc)
    return f"{prefix}-{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


def change_set_request(
    stack_name: str,
    name: str,
    change_set_type: str,
    parameters: Mapping[str, str],
    template_body: str | None = None,
    template_url: str | None = None,
    description: str = "",
) -> dict[str, Any]:
    """Keyword arguments of CloudFormation's ``CreateChangeSet``."""
    if (template_body is None) == (template_url is None):
        raise ValueError("give the template's body or its URL")
    request: dict[str, Any] = {
        "StackName": stack_name,
        "ChangeSetName": name,
        "ChangeSetType": change_set_type,
        "Parameters": [
            {"ParameterKey": k, "ParameterValue": v} for k, v in sorted(parameters.items())
        ],
        "Capabilities": list(CAPABILITIES),
        "Tags": [{"Key": "project", "Value": "era5-contours"}],
    }
    if template_body is not None:
        request["TemplateBody"] = template_body
    else:
        request["TemplateURL"] = template_url
    if description:
        request["Description"] = description
    return request


def template_url(bucket: str, region: str, key: str) -> str:
    """The virtual-hosted HTTPS URL of an S3 object, as ``TemplateURL`` takes it."""
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def is_no_changes(reason: str | None) -> bool:
    """Whether a change set's failure reason (or an error) says there is nothing to do."""
    return any(text in (reason or "") for text in NO_CHANGES)


@dataclass(frozen=True)
class ResourceChange:
    """One row of a change set."""

    action: str  # Add, Modify, Remove, Import, Dynamic
    logical_id: str
    resource_type: str
    replacement: str = ""  # True, False, Conditional (Modify only)
    #: What changes: property names, and the parameters that cause it.
    causes: tuple[str, ...] = ()

    def line(self) -> str:
        """``Modify  Glue4Job  AWS::Glue::Job  replace: False  (DefaultArguments)``."""
        text = f"{self.action:<7} {self.logical_id:<22} {self.resource_type:<34}"
        if self.replacement:
            text += f" replace: {self.replacement}"
        if self.causes:
            text += f"  ({', '.join(self.causes)})"
        return text.rstrip()


def resource_changes(changes: Iterable[Mapping[str, Any]]) -> list[ResourceChange]:
    """The rows of ``DescribeChangeSet``'s ``Changes``, in its order."""
    rows = []
    for change in changes:
        if change.get("Type", "Resource") != "Resource":
            continue
        rc = change.get("ResourceChange", {})
        causes: list[str] = []
        for detail in rc.get("Details") or []:
            target = detail.get("Target") or {}
            name = target.get("Name") or target.get("Attribute")
            if detail.get("ChangeSource") == "ParameterReference" and detail.get("CausingEntity"):
                name = f"{name} <- {detail['CausingEntity']}" if name else detail["CausingEntity"]
            if name and name not in causes:
                causes.append(name)
        rows.append(
            ResourceChange(
                action=rc.get("Action", "?"),
                logical_id=rc.get("LogicalResourceId", "?"),
                resource_type=rc.get("ResourceType", "?"),
                replacement=str(rc.get("Replacement") or ""),
                causes=tuple(causes),
            )
        )
    return rows


def parameter_changes(
    current: Iterable[Mapping[str, Any]] | None, new: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """``(name, old value, new value)`` of every parameter the deploy changes."""
    old = {p["ParameterKey"]: p.get("ParameterValue", "") for p in current or []}
    return [(k, old.get(k, ""), v) for k, v in sorted(new.items()) if old.get(k, "") != v]


def shorten(value: str, width: int = 72) -> str:
    """``value`` cut to ``width`` characters with an ellipsis."""
    return value if len(value) <= width else value[: width - 3] + "..."


def stack_event_line(event: Mapping[str, Any]) -> str:
    """One line of a stack event: resource, type, status, reason."""
    text = (
        f"{event.get('LogicalResourceId', '?'):<22} {event.get('ResourceType', '?'):<34} "
        f"{event.get('ResourceStatus', '?')}"
    )
    reason = event.get("ResourceStatusReason")
    return f"{text}: {reason}" if reason else text


#: Failures that follow from another one: not the cause to report.
_CONSEQUENTIAL = ("Resource creation cancelled", "Resource update cancelled")


def stack_failure(stack: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> str:
    """The line saying why an operation on a stack failed.

    ``events`` are the stack's events of that operation, oldest first; the first failure
    that is not a consequence of another one is the cause.
    """
    name, status = stack.get("StackName", "?"), stack.get("StackStatus", "?")
    for event in events:
        reason = event.get("ResourceStatusReason") or ""
        if str(event.get("ResourceStatus", "")).endswith("_FAILED") and not any(
            reason.startswith(c) for c in _CONSEQUENTIAL
        ):
            return f"stack {name} is {status}: {stack_event_line(event)}"
    reason = stack.get("StackStatusReason")
    return f"stack {name} is {status}" + (f": {reason}" if reason else "")
