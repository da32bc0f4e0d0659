"""Deploy the contour job to an AWS account, idempotently.

Split by concern: :mod:`.settings` (what and where, from the environment),
:mod:`.templates` (the deploy files, filled in), :mod:`.artifacts` (script, library zip,
wheels), :mod:`.aws` (comparing and syncing each resource), :mod:`.cli` (the command
line, ``python -m era5_tools.deploy``). The names below are the public API.
"""

from __future__ import annotations

from .artifacts import (
    LIBRARY_ZIP_NAME,
    ZIP_TIMESTAMP,
    Artifact,
    artifacts,
    build_library_zip,
    locked_wheels,
    normalise_name,
    parse_pins,
    select_wheels,
    shipped_pins,
    wheel_pin,
)
from .aws import (
    MAINTAINED_TABLES,
    Change,
    aws_clients,
    deploy,
    find_state_machine,
    job_differences,
    sync_database,
    sync_glue_job,
    sync_log_group,
    sync_object,
    sync_role,
    sync_state_machine,
)
from .cli import cfn_parameters, main
from .settings import GLUE_VERSIONS, Settings, deploy_variables
from .templates import (
    PlaceholderError,
    chunk_dates,
    job_definition_path,
    load_yaml,
    placeholders,
    render_job,
    render_policy,
    render_state_machine,
    substitute,
)

__all__ = [
    "GLUE_VERSIONS",
    "LIBRARY_ZIP_NAME",
    "MAINTAINED_TABLES",
    "ZIP_TIMESTAMP",
    "Artifact",
    "Change",
    "PlaceholderError",
    "Settings",
    "artifacts",
    "aws_clients",
    "build_library_zip",
    "cfn_parameters",
    "chunk_dates",
    "deploy",
    "deploy_variables",
    "find_state_machine",
    "job_definition_path",
    "job_differences",
    "load_yaml",
    "locked_wheels",
    "main",
    "normalise_name",
    "parse_pins",
    "placeholders",
    "render_job",
    "render_policy",
    "render_state_machine",
    "select_wheels",
    "shipped_pins",
    "substitute",
    "sync_database",
    "sync_glue_job",
    "sync_log_group",
    "sync_object",
    "sync_role",
    "sync_state_machine",
    "wheel_pin",
]
