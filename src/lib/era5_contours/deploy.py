"""Deploy the contour job to an AWS account, idempotently.

What is deployed is described by files, this module only fills them in and syncs them:
``deploy/glue_jobs/contours-glue{4,5}.yaml`` (Glue ``CreateJob`` arguments),
``deploy/state_machines/contours.asl.json`` and ``deploy/iam/*.json``. ``${NAME}``
placeholders in them are replaced by :func:`deploy_variables` from the environment
(``.env``); ``$${`` stands for a literal ``${``; an unknown name is an error.

A run uploads the job script, the library zip (:func:`build_library_zip`) and the locked
wheels (:func:`shipped_pins`) to S3, then creates or updates the IAM roles (unless their
ARNs are given), the Glue database, the Glue jobs, the state machine's log group and the
state machine. Each resource is compared with what AWS has and written only when it
differs: a second run reports ``unchanged`` everywhere, ``--dry-run`` reports the plan and
writes nothing.

Command line (``sh/deploy.sh`` wraps the first form)::

    python -m era5_contours.deploy [--env-file .env] [--dry-run]
    python -m era5_contours.deploy package [--output dist/era5_contours.zip]
    python -m era5_contours.deploy chunks 2024-01-01 2024-03-31 [--chunk-days 7]
    python -m era5_contours.deploy cfn-parameters [--env-file .env]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import logging
import os
import re
import sys
import time
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Repository root when running from a checkout (src/lib/era5_contours/deploy.py).
REPO_ROOT = Path(__file__).resolve().parents[3]

GLUE_VERSIONS: dict[str, str] = {"4.0": "glue4", "5.0": "glue5"}
LIBRARY_ZIP_NAME = "era5_contours.zip"
#: The zip's entries get this timestamp so that equal sources give equal bytes.
ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
MAINTAINED_TABLES = ("contour_features", "daily_summary")

_PLACEHOLDER = re.compile(r"\$(\$)?\{([A-Za-z_][A-Za-z0-9_]*)\}")
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([A-Za-z0-9.+!_-]+)$")


# --------------------------------------------------------------------------------------
# Placeholders and .env
# --------------------------------------------------------------------------------------


class PlaceholderError(KeyError):
    """Placeholders without a value; ``names`` lists them."""

    def __init__(self, names: Iterable[str]) -> None:
        self.names = sorted(set(names))
        super().__init__(f"no value for placeholder(s): {', '.join(self.names)}")

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def placeholders(value: Any) -> set[str]:
    """Names of the ``${NAME}`` placeholders in a string or nested list/dict."""
    found: set[str] = set()

    def visit(v: Any) -> None:
        if isinstance(v, str):
            found.update(m.group(2) for m in _PLACEHOLDER.finditer(v) if not m.group(1))
        elif isinstance(v, Mapping):
            for k, item in v.items():
                visit(k)
                visit(item)
        elif isinstance(v, (list, tuple)):
            for item in v:
                visit(item)

    visit(value)
    return found


def substitute(value: Any, variables: Mapping[str, str]) -> Any:
    """Replace ``${NAME}`` by ``variables[NAME]`` in every string of ``value``.

    Works on strings and nested dicts/lists (keys too); other values are returned as they
    are. ``$${NAME}`` gives the literal ``${NAME}``.

    Raises
    ------
    PlaceholderError
        Naming every placeholder that ``variables`` lacks.
    """
    missing = placeholders(value) - set(variables)
    if missing:
        raise PlaceholderError(missing)

    def replace(match: re.Match[str]) -> str:
        if match.group(1):
            return "${" + match.group(2) + "}"
        return str(variables[match.group(2)])

    def visit(v: Any) -> Any:
        if isinstance(v, str):
            return _PLACEHOLDER.sub(replace, v)
        if isinstance(v, Mapping):
            return {visit(k): visit(item) for k, item in v.items()}
        if isinstance(v, (list, tuple)):
            return [visit(item) for item in v]
        return v

    return visit(value)


def read_env_file(path: str | Path) -> dict[str, str]:
    """``KEY=value`` lines of a ``.env`` file (``export`` prefix, ``#`` comment lines and
    surrounding quotes allowed). A missing file gives ``{}``."""
    path = Path(path)
    if not path.is_file():
        return {}
    values: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        key, sep, value = line.partition("=")
        key = key.strip()
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            raise ValueError(f"{path}:{number}: expected KEY=value, got {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


# --------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------


def _glue_version(text: str) -> str:
    version = text.strip()
    version = {"4": "4.0", "5": "5.0"}.get(version, version)
    if version not in GLUE_VERSIONS:
        raise ValueError(f"Glue version must be one of {sorted(GLUE_VERSIONS)}, got {text!r}")
    return version


def _split_s3(uri: str, name: str) -> tuple[str, str]:
    if not uri.startswith("s3://"):
        raise ValueError(f"{name} must be an s3:// URI, got {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    key = key.strip("/")
    if not bucket or not key:
        raise ValueError(f"{name} needs a bucket and a key prefix: {uri!r}")
    return bucket, key


@dataclass(frozen=True)
class Settings:
    """Where and what to deploy; see :meth:`from_env` for the variable names."""

    bucket: str
    prefix: str
    region: str
    input_bucket: str
    input_prefix: str
    stack_name: str = "era5-contours"
    glue_version: str = "4.0"
    job_versions: tuple[str, ...] = ("4.0",)
    database: str = "climate"
    athena_workgroup: str = "primary"
    glue_role_arn: str | None = None
    state_machine_role_arn: str | None = None
    account_id: str | None = None
    endpoint_url: str | None = None
    external_libs: Path = field(default=REPO_ROOT / "external_libs")
    max_attempts: int = 8
    log_retention_days: int = 90

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the deployment from environment variables.

        Required: ``ERA5_BUCKET``, ``AWS_REGION`` (or ``AWS_DEFAULT_REGION``). Optional:
        ``ERA5_PREFIX`` (default ``era5-contours``; artifacts, output, warehouse and Athena
        results go below it), ``GLUE_INPUT_PATH`` (s3:// URI of the NetCDF files, default
        ``s3://$ERA5_BUCKET/$ERA5_PREFIX/input``), ``ERA5_STACK_NAME`` (name prefix of
        every resource, default ``era5-contours``), ``GLUE_VERSION`` (4 or 5: the job the
        state machine runs, default 4), ``GLUE_JOB_VERSIONS`` (comma list of the jobs to
        deploy, default ``GLUE_VERSION``), ``ERA5_DATABASE``, ``ATHENA_WORKGROUP``,
        ``GLUE_ROLE_ARN`` / ``STATE_MACHINE_ROLE_ARN`` (created from deploy/iam when
        unset), ``AWS_ACCOUNT_ID`` (else asked from STS), ``AWS_ENDPOINT_URL``,
        ``EXTERNAL_LIBS_DIR``, ``AWS_MAX_ATTEMPTS``.
        """

        def get(name: str, default: str = "") -> str:
            return (env.get(name) or default).strip()

        bucket = get("ERA5_BUCKET")
        region = get("AWS_REGION") or get("AWS_DEFAULT_REGION")
        if not bucket:
            raise ValueError("ERA5_BUCKET is required (the bucket for artifacts and results)")
        if not region:
            raise ValueError("AWS_REGION is required")
        prefix = get("ERA5_PREFIX", "era5-contours").strip("/")
        if not prefix:
            raise ValueError("ERA5_PREFIX must not be empty: IAM grants are per prefix")
        input_bucket, input_prefix = _split_s3(
            get("GLUE_INPUT_PATH", f"s3://{bucket}/{prefix}/input"), "GLUE_INPUT_PATH"
        )
        glue_version = _glue_version(get("GLUE_VERSION", "4.0"))
        versions = [_glue_version(v) for v in get("GLUE_JOB_VERSIONS").split(",") if v.strip()]
        if glue_version not in versions:
            versions.insert(0, glue_version)
        stack = get("ERA5_STACK_NAME", "era5-contours")
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9-]{0,40}", stack):
            raise ValueError(f"ERA5_STACK_NAME must be letters, digits and '-': {stack!r}")
        libs = get("EXTERNAL_LIBS_DIR")
        return cls(
            bucket=bucket,
            prefix=prefix,
            region=region,
            input_bucket=input_bucket,
            input_prefix=input_prefix,
            stack_name=stack,
            glue_version=glue_version,
            job_versions=tuple(dict.fromkeys(versions)),
            database=get("ERA5_DATABASE", "climate"),
            athena_workgroup=get("ATHENA_WORKGROUP", "primary"),
            glue_role_arn=get("GLUE_ROLE_ARN") or None,
            state_machine_role_arn=get("STATE_MACHINE_ROLE_ARN") or None,
            account_id=get("AWS_ACCOUNT_ID") or None,
            endpoint_url=get("AWS_ENDPOINT_URL") or None,
            external_libs=Path(libs) if libs else REPO_ROOT / "external_libs",
            max_attempts=int(get("AWS_MAX_ATTEMPTS", "8")),
        )

    @property
    def artifacts_prefix(self) -> str:
        return f"{self.prefix}/artifacts"

    def job_name(self, glue_version: str) -> str:
        return f"{self.stack_name}-{GLUE_VERSIONS[glue_version]}"

    @property
    def state_machine_name(self) -> str:
        return self.stack_name

    @property
    def glue_role_name(self) -> str:
        return f"{self.stack_name}-glue-job"

    @property
    def state_machine_role_name(self) -> str:
        return f"{self.stack_name}-state-machine"

    @property
    def state_machine_log_group(self) -> str:
        return f"/aws/vendedlogs/states/{self.stack_name}"


def deploy_variables(
    settings: Settings, account_id: str, wheels: Mapping[str, Sequence[str]] | None = None
) -> dict[str, str]:
    """Values of the placeholders the deploy files use.

    ``wheels`` maps a Glue version to the S3 URIs of its wheels; each becomes
    ``GLUE4_WHEELS`` / ``GLUE5_WHEELS`` (comma-separated, as ``--additional-python-modules``
    takes them). Versions absent from it have no such variable.
    """
    s = settings
    prefixes = {
        "ARTIFACTS_PREFIX": s.artifacts_prefix,
        "OUTPUT_PREFIX": f"{s.prefix}/output",
        "WAREHOUSE_PREFIX": f"{s.prefix}/warehouse",
        "ATHENA_RESULTS_PREFIX": f"{s.prefix}/athena-results",
    }
    values = {
        "ERA5_BUCKET": s.bucket,
        "AWS_REGION": s.region,
        "AWS_ACCOUNT_ID": account_id,
        "NAME_PREFIX": s.stack_name,
        "DATABASE": s.database,
        "ATHENA_WORKGROUP": s.athena_workgroup,
        "INPUT_BUCKET": s.input_bucket,
        "INPUT_PREFIX": s.input_prefix,
        "INPUT_PATH": f"s3://{s.input_bucket}/{s.input_prefix}/",
        **prefixes,
        "OUTPUT_PATH": f"s3://{s.bucket}/{prefixes['OUTPUT_PREFIX']}/",
        "WAREHOUSE_PATH": f"s3://{s.bucket}/{prefixes['WAREHOUSE_PREFIX']}",
        "ATHENA_OUTPUT_LOCATION": f"s3://{s.bucket}/{prefixes['ATHENA_RESULTS_PREFIX']}/",
        "GLUE_ROLE_ARN": s.glue_role_arn or f"arn:aws:iam::{account_id}:role/{s.glue_role_name}",
        "STATE_MACHINE_ROLE_ARN": s.state_machine_role_arn
        or f"arn:aws:iam::{account_id}:role/{s.state_machine_role_name}",
        "GLUE_JOB_NAME": s.job_name(s.glue_version),
    }
    for version, uris in (wheels or {}).items():
        values[f"{GLUE_VERSIONS[version].upper()}_WHEELS"] = ",".join(uris)
    return values


# --------------------------------------------------------------------------------------
# Lock files and wheels
# --------------------------------------------------------------------------------------


def normalise_name(name: str) -> str:
    """PEP 503 name: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_pins(text: str, source: str = "<lock>") -> list[tuple[str, str]]:
    """``(normalised name, version)`` of every ``name==version`` line; comments and blank
    lines are skipped, anything else is an error (a lock must not float)."""
    pins = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip().replace(" ", "")
        if not line:
            continue
        match = _PIN.match(line)
        if not match:
            raise ValueError(f"{source}:{number}: not an exact name==version pin: {raw!r}")
        pins.append((normalise_name(match.group(1)), match.group(2)))
    return pins


def shipped_pins(lock_text: str, provided_text: str) -> list[tuple[str, str]]:
    """The pins of a lock file that Glue does not provide at that exact version."""
    provided = set(parse_pins(provided_text, "<provided>"))
    return [pin for pin in parse_pins(lock_text) if pin not in provided]


def wheel_pin(filename: str) -> tuple[str, str]:
    """``(normalised name, version)`` of a wheel file name (PEP 427)."""
    stem = filename[: -len(".whl")] if filename.endswith(".whl") else filename
    parts = stem.split("-")
    if len(parts) not in (5, 6):
        raise ValueError(f"not a wheel file name: {filename!r}")
    return normalise_name(parts[0]), parts[1]


def select_wheels(pins: Sequence[tuple[str, str]], directory: Path) -> list[Path]:
    """The wheel in ``directory`` of each pin, in pin order.

    Raises
    ------
    FileNotFoundError
        Listing the pins without a wheel (run ``sh/build_external_libs.sh``).
    """
    by_pin: dict[tuple[str, str], list[Path]] = {}
    for path in sorted(directory.glob("*.whl")) if directory.is_dir() else []:
        by_pin.setdefault(wheel_pin(path.name), []).append(path)
    missing = [f"{n}=={v}" for n, v in pins if (n, v) not in by_pin]
    if missing:
        raise FileNotFoundError(
            f"no wheel in {directory} for {', '.join(missing)}: run sh/build_external_libs.sh"
        )
    chosen = []
    for pin in pins:
        if len(by_pin[pin]) > 1:
            raise ValueError(f"several wheels for {pin[0]}=={pin[1]} in {directory}")
        chosen.append(by_pin[pin][0])
    return chosen


def locked_wheels(external_libs: Path, glue_version: str) -> list[Path]:
    """The wheels to upload for a Glue version, from its lock and provided lists."""
    target = GLUE_VERSIONS[glue_version]
    lock = external_libs / f"{target}-requirements.lock"
    provided = external_libs / f"{target}-provided.txt"
    pins = shipped_pins(lock.read_text(), provided.read_text())
    return select_wheels(pins, external_libs / target)


# --------------------------------------------------------------------------------------
# Artifacts
# --------------------------------------------------------------------------------------


def build_library_zip(package_dir: Path) -> bytes:
    """The package as a zip for ``--extra-py-files``, byte-for-byte reproducible.

    Entries are sorted, carry a fixed timestamp and mode, and sit under the package's own
    name (``era5_contours/...``) so that Python imports the zip's root. Caches
    (``__pycache__``, ``*.pyc``) are left out.
    """
    package_dir = Path(package_dir)
    files = sorted(
        p
        for p in package_dir.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path in files:
            arcname = f"{package_dir.name}/{path.relative_to(package_dir).as_posix()}"
            info = zipfile.ZipInfo(arcname, date_time=ZIP_TIMESTAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3  # unix, whatever the building OS
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    return buffer.getvalue()


@dataclass(frozen=True)
class Artifact:
    """One object to put on S3."""

    key: str
    body: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def md5(self) -> str:
        return hashlib.md5(self.body, usedforsecurity=False).hexdigest()


# --------------------------------------------------------------------------------------
# Plan reporting
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What a sync did (or, in a dry run, would do) to one resource."""

    kind: str
    name: str
    action: str  # "created", "updated" or "unchanged"
    detail: str = ""

    def line(self, dry_run: bool = False) -> str:
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
    return desired == current


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


# --------------------------------------------------------------------------------------
# Syncing one kind of resource
# --------------------------------------------------------------------------------------


def sync_object(s3: Any, bucket: str, artifact: Artifact, dry_run: bool) -> Change:
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
    iam: Any,
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


def sync_database(glue: Any, name: str, description: str, dry_run: bool) -> Change:
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


def sync_glue_job(glue: Any, definition: Mapping[str, Any], job_arn: str, dry_run: bool) -> Change:
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
        glue.update_job(JobName=name, JobUpdate=update)
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


def sync_log_group(logs: Any, name: str, retention_days: int, dry_run: bool) -> Change:
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


def find_state_machine(sfn: Any, name: str) -> str | None:
    """ARN of the state machine called ``name``, if any."""
    for page in sfn.get_paginator("list_state_machines").paginate():
        for machine in page["stateMachines"]:
            if machine["name"] == name:
                return machine["stateMachineArn"]
    return None


def sync_state_machine(
    sfn: Any,
    name: str,
    definition: Mapping[str, Any],
    role_arn: str,
    logging_configuration: Mapping[str, Any],
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


# --------------------------------------------------------------------------------------
# Reading the deploy files
# --------------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    import yaml  # deploy-time dependency only; the Glue job never imports this module

    return yaml.safe_load(path.read_text())


def job_definition_path(root: Path, glue_version: str) -> Path:
    return root / "deploy" / "glue_jobs" / f"contours-{GLUE_VERSIONS[glue_version]}.yaml"


def render_job(root: Path, glue_version: str, variables: Mapping[str, str]) -> dict[str, Any]:
    """The Glue job definition of a version with its placeholders filled in."""
    return substitute(load_yaml(job_definition_path(root, glue_version)), variables)


def render_state_machine(root: Path, variables: Mapping[str, str]) -> dict[str, Any]:
    path = root / "deploy" / "state_machines" / "contours.asl.json"
    return substitute(json.loads(path.read_text()), variables)


def render_policy(root: Path, name: str, variables: Mapping[str, str]) -> dict[str, Any]:
    return substitute(json.loads((root / "deploy" / "iam" / name).read_text()), variables)


# --------------------------------------------------------------------------------------
# The whole deployment
# --------------------------------------------------------------------------------------


def aws_clients(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """boto3 clients with standard retries, pointed at ``AWS_ENDPOINT_URL`` when set."""
    import boto3
    from botocore.config import Config

    env = env if env is not None else os.environ
    # "default" is what boto3 uses anyway; naming it explicitly would fail without ~/.aws.
    profile = (env.get("AWS_PROFILE") or "").strip()
    profile = None if profile in ("", "default") else profile
    session = boto3.Session(profile_name=profile, region_name=settings.region)
    config = Config(
        retries={"mode": "standard", "max_attempts": settings.max_attempts},
        user_agent_extra="era5-contours-deploy",
    )
    return {
        name: session.client(name, endpoint_url=settings.endpoint_url, config=config)
        for name in ("s3", "glue", "stepfunctions", "iam", "logs", "sts")
    }


def artifacts(root: Path, settings: Settings) -> tuple[list[Artifact], dict[str, list[str]]]:
    """Objects to upload, and the S3 URIs of each Glue version's wheels."""
    prefix = settings.artifacts_prefix
    items = [
        Artifact(
            f"{prefix}/scripts/extract_contours.py",
            (root / "src" / "jobs" / "extract_contours.py").read_bytes(),
        ),
        Artifact(
            f"{prefix}/lib/{LIBRARY_ZIP_NAME}",
            build_library_zip(root / "src" / "lib" / "era5_contours"),
        ),
    ]
    wheel_uris: dict[str, list[str]] = {}
    for version in settings.job_versions:
        folder = GLUE_VERSIONS[version]
        uris = wheel_uris.setdefault(version, [])
        for path in locked_wheels(settings.external_libs, version):
            key = f"{prefix}/wheels/{folder}/{path.name}"
            items.append(Artifact(key, path.read_bytes()))
            uris.append(f"s3://{settings.bucket}/{key}")
    return items, wheel_uris


def deploy(
    settings: Settings,
    clients: Mapping[str, Any],
    root: Path = REPO_ROOT,
    dry_run: bool = False,
    report: Callable[[Change], None] | None = None,
    artifacts_only: bool = False,
) -> list[Change]:
    """Bring the AWS account in line with the deploy files; return what changed.

    ``report`` is called with each :class:`Change` as soon as it is known.
    ``artifacts_only`` stops after the S3 uploads (the CloudFormation path, where the
    stack owns everything else).
    """
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


# --------------------------------------------------------------------------------------
# Chunks of the Step Functions input
# --------------------------------------------------------------------------------------


def chunk_dates(start: date, end: date, chunk_days: int = 7) -> list[tuple[date, date]]:
    """Inclusive ``(first, last)`` day ranges of ``chunk_days`` days covering start..end.

    The state machine's ``Plan`` state computes the same chunks in JSONata; this is the
    reference the tests hold it to, and what ``python -m era5_contours.deploy chunks``
    prints.
    """
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    if not 1 <= chunk_days <= 366:
        raise ValueError(f"chunk_days must be in 1..366, got {chunk_days}")
    chunks = []
    first = start
    while first <= end:
        last = min(end, first + timedelta(days=chunk_days - 1))
        chunks.append((first, last))
        first = last + timedelta(days=1)
    return chunks


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------


def _environment(env_file: str | None) -> dict[str, str]:
    """.env values, overridden by variables already set in the process environment."""
    values = read_env_file(env_file) if env_file else {}
    values.update({k: v for k, v in os.environ.items() if v != ""})
    return values


def cfn_parameters(settings: Settings, root: Path = REPO_ROOT) -> dict[str, str]:
    """Parameter values of deploy/cloudformation/stack.yaml for this environment."""
    _, wheel_uris = artifacts(root, settings)
    values = {
        "BucketName": settings.bucket,
        "DataPrefix": settings.prefix,
        "InputBucket": settings.input_bucket,
        "InputPrefix": settings.input_prefix,
        "StackNamePrefix": settings.stack_name,
        "DatabaseName": settings.database,
        "AthenaWorkGroup": settings.athena_workgroup,
        "GlueVersion": settings.glue_version,
    }
    for version, uris in wheel_uris.items():
        values[f"{GLUE_VERSIONS[version].capitalize()}AdditionalPythonModules"] = ",".join(uris)
    return values


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = ("deploy", "package", "chunks", "cfn-parameters")
    if not argv or argv[0] not in (*commands, "-h", "--help"):
        argv.insert(0, "deploy")
    parser = argparse.ArgumentParser(
        prog="python -m era5_contours.deploy", description=__doc__.split("\n\n")[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("deploy", help="sync S3 artifacts, IAM, Glue jobs, state machine")
    run.add_argument("--env-file", default=".env", help="default: .env (if present)")
    run.add_argument("--root", type=Path, default=REPO_ROOT, help="repository root")
    run.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    run.add_argument(
        "--artifacts-only",
        action="store_true",
        help="only upload script, library zip and wheels (for the CloudFormation stack)",
    )
    pkg = sub.add_parser("package", help="write the library zip for --extra-py-files")
    pkg.add_argument("--output", type=Path, default=REPO_ROOT / "dist" / LIBRARY_ZIP_NAME)
    pkg.add_argument("--root", type=Path, default=REPO_ROOT)
    chunks = sub.add_parser("chunks", help="print the chunks the state machine will run")
    chunks.add_argument("start_date", type=date.fromisoformat)
    chunks.add_argument("end_date", type=date.fromisoformat)
    chunks.add_argument("--chunk-days", type=int, default=7)
    cfn = sub.add_parser("cfn-parameters", help="print ParameterKey=Value for stack.yaml")
    cfn.add_argument("--env-file", default=".env")
    cfn.add_argument("--root", type=Path, default=REPO_ROOT)
    args = parser.parse_args(argv)

    try:
        if args.command == "package":
            data = build_library_zip(args.root / "src" / "lib" / "era5_contours")
            args.output.parent.mkdir(parents=True, exist_ok=True)
            args.output.write_bytes(data)
            print(
                f"wrote {args.output} ({len(data):,} bytes, sha256 "
                f"{hashlib.sha256(data).hexdigest()})"
            )
            return 0
        if args.command == "chunks":
            rows = chunk_dates(args.start_date, args.end_date, args.chunk_days)
            print(
                json.dumps(
                    [{"start_date": a.isoformat(), "end_date": b.isoformat()} for a, b in rows],
                    indent=2,
                )
            )
            return 0
        settings = Settings.from_env(_environment(args.env_file))
        if args.command == "cfn-parameters":
            for key, value in cfn_parameters(settings, args.root).items():
                print(f"{key}={value}")
            return 0
        env = _environment(args.env_file)
        clients = aws_clients(settings, env)
        where = settings.endpoint_url or f"AWS {settings.region}"
        print(
            f"{'planning' if args.dry_run else 'deploying'} {settings.stack_name} to "
            f"s3://{settings.bucket}/{settings.prefix} ({where}); "
            f"state machine runs Glue {settings.glue_version}",
            flush=True,
        )
        changes = deploy(
            settings,
            clients,
            args.root,
            args.dry_run,
            report=lambda c: print(c.line(args.dry_run), flush=True),
            artifacts_only=args.artifacts_only,
        )
    except (ValueError, FileNotFoundError, PlaceholderError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    counts = {a: sum(c.action == a for c in changes) for a in ("created", "updated", "unchanged")}
    summary = ", ".join(f"{n} {a}" for a, n in counts.items())
    print(f"{'plan' if args.dry_run else 'done'}: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
