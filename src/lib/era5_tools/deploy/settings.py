"""Where and what to deploy, read from the environment (``.env``)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from era5_common.options import parse_bool
from era5_common.storage import split_s3
from era5_common.variables import DEFAULTS, VARIABLES
from era5_contours.tables.schema import DATABASE

#: Glue version -> the suffix of its job, lock and wheels (``<stack>-glue51``,
#: ``external_libs/glue51-requirements.lock``); the stack's Mappings list the same.
GLUE_VERSIONS: dict[str, str] = {"4.0": "glue4", "5.0": "glue5", "5.1": "glue51", "6.0": "glue6"}

#: CloudFormation stack names start with a letter; the roles' names (the stack name plus
#: ``-state-machine``) must stay within IAM's 64 characters.
_STACK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,40}")


def _glue_version(text: str) -> str:
    version = text.strip()
    version = {"4": "4.0", "5": "5.0", "6": "6.0"}.get(version, version)
    if version not in GLUE_VERSIONS:
        raise ValueError(f"Glue version must be one of {sorted(GLUE_VERSIONS)}, got {text!r}")
    return version


def _variables(text: str) -> tuple[str, ...]:
    names = tuple(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    unknown = [v for v in names if v not in VARIABLES]
    if unknown or not names:
        raise ValueError(
            f"ERA5_VARIABLES must name variables among {', '.join(VARIABLES)}, got {text!r}"
        )
    return names


def _positive_int(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise ValueError(f"{name} must be a whole number of at least 1, got {text!r}")
    return value


def _s3_prefix(uri: str, name: str) -> tuple[str, str]:
    """``(bucket, key prefix)`` of an ``s3://bucket/prefix`` setting; both must be there."""
    if not uri.startswith("s3://"):
        raise ValueError(f"{name} must be an s3:// URI, got {uri!r}")
    try:
        bucket, key = split_s3(uri)
    except ValueError:
        bucket, key = "", ""
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
    database: str = DATABASE
    #: The jobs' ``--variables`` (the registry's defaults unless set).
    variables: tuple[str, ...] = DEFAULTS
    create_database: bool = True
    athena_workgroup: str = "primary"
    glue_role_arn: str | None = None
    ingest_role_arn: str | None = None
    state_machine_role_arn: str | None = None
    endpoint_url: str | None = None
    #: Where the lock files and wheels are (default: the checkout's external_libs/).
    external_libs: Path | None = None
    max_attempts: int = 8
    log_retention_days: int = 90

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        """Read the deployment from environment variables.

        Required: ``ERA5_BUCKET`` (an existing bucket), ``AWS_REGION`` (or
        ``AWS_DEFAULT_REGION``). Optional: ``ERA5_PREFIX`` (default ``era5-contours``;
        artifacts, output, warehouse and Athena results go below it), ``GLUE_INPUT_PATH``
        (s3:// URI of the NetCDF files, default ``s3://$ERA5_BUCKET/$ERA5_PREFIX/input``),
        ``ERA5_STACK_NAME`` (the CloudFormation stack, and the base of every resource
        name, default ``era5-contours``), ``GLUE_VERSION`` (4.0, 5.0, 5.1 or 6.0, or 4, 5,
        6: the job the state machine runs, default 4.0), ``GLUE_JOB_VERSIONS`` (comma list
        of the jobs to deploy, default ``GLUE_VERSION``), ``ERA5_VARIABLES`` (the jobs'
        ``--variables``, default the registry's), ``ERA5_DATABASE``, ``ERA5_CREATE_DATABASE`` (default
        true; false when the database exists already), ``ATHENA_WORKGROUP``,
        ``GLUE_ROLE_ARN`` / ``INGEST_ROLE_ARN`` / ``STATE_MACHINE_ROLE_ARN`` (existing roles;
        the stack creates them when unset), ``AWS_ENDPOINT_URL``, ``EXTERNAL_LIBS_DIR``, ``AWS_MAX_ATTEMPTS``.
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
        input_bucket, input_prefix = _s3_prefix(
            get("GLUE_INPUT_PATH", f"s3://{bucket}/{prefix}/input"), "GLUE_INPUT_PATH"
        )
        glue_version = _glue_version(get("GLUE_VERSION", "4.0"))
        versions = [_glue_version(v) for v in get("GLUE_JOB_VERSIONS").split(",") if v.strip()]
        if glue_version not in versions:
            versions.insert(0, glue_version)
        stack = get("ERA5_STACK_NAME", "era5-contours")
        if not _STACK_NAME.fullmatch(stack):
            raise ValueError(
                "ERA5_STACK_NAME must start with a letter and hold at most 41 letters, "
                f"digits and '-': {stack!r}"
            )
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
            database=get("ERA5_DATABASE", DATABASE),
            variables=_variables(get("ERA5_VARIABLES", ",".join(DEFAULTS))),
            create_database=parse_bool(get("ERA5_CREATE_DATABASE", "true"), "ERA5_CREATE_DATABASE"),
            athena_workgroup=get("ATHENA_WORKGROUP", "primary"),
            glue_role_arn=get("GLUE_ROLE_ARN") or None,
            ingest_role_arn=get("INGEST_ROLE_ARN") or None,
            state_machine_role_arn=get("STATE_MACHINE_ROLE_ARN") or None,
            endpoint_url=get("AWS_ENDPOINT_URL") or None,
            external_libs=Path(libs) if libs else None,
            max_attempts=_positive_int(get("AWS_MAX_ATTEMPTS", "8"), "AWS_MAX_ATTEMPTS"),
        )

    @property
    def artifacts_prefix(self) -> str:
        """S3 key prefix of the uploaded artifacts."""
        return f"{self.prefix}/artifacts"

    def job_name(self, glue_version: str) -> str:
        """Name of the Glue job of one Glue version (the stack names it so)."""
        return f"{self.stack_name}-{GLUE_VERSIONS[glue_version]}"

    @property
    def ingest_job_name(self) -> str:
        """Name of the CDS ingest job (Glue Python shell)."""
        return f"{self.stack_name}-ingest"

    @property
    def state_machine_name(self) -> str:
        """Name of the state machine (the stack's own name)."""
        return self.stack_name
