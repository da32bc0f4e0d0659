"""Deploy the pipeline to an AWS account: artifacts to S3, then one CloudFormation stack.

``deploy/cloudformation/stack.yaml`` describes every resource; this package builds and
uploads what the stack refers to and deploys the stack through a change set. Split by
concern: :mod:`.settings` (what and where, from the environment), :mod:`.artifacts`
(scripts, library zips, state machine definition, wheels, the ingest job's pins),
:mod:`.stack` (template, parameters, change set requests and the printed diff; pure),
:mod:`.aws` (the calls), :mod:`.chunks` (the state machine's date chunks), :mod:`.cli`
(``python -m era5_tools.deploy``). The names below are the public API.
"""

from __future__ import annotations

from .artifacts import (
    HASH_LENGTH,
    JOB_SCRIPTS,
    LIBRARY_ZIP_NAME,
    LIBRARY_ZIPS,
    PYTHON_SHELL_LOCKS,
    STATE_MACHINES,
    ZIP_TIMESTAMP,
    Artifact,
    Artifacts,
    build_artifacts,
    build_library_zip,
    content_key,
    locked_requirements,
    locked_wheels,
    normalise_name,
    parse_pins,
    select_wheels,
    shipped_pins,
    wheel_pin,
)
from .aws import Outcome, aws_clients, check_bucket, deploy, find_stack, upload
from .chunks import chunk_dates
from .cli import main, summary
from .settings import GLUE_VERSIONS, Settings
from .stack import (
    CAPABILITIES,
    MAX_PARAMETER_BYTES,
    MAX_TEMPLATE_BODY_BYTES,
    TEMPLATE,
    DeployError,
    ResourceChange,
    Template,
    change_set_name,
    change_set_request,
    change_set_type,
    is_no_changes,
    load_template,
    parameter_changes,
    resource_changes,
    split_list,
    stack_failure,
    stack_parameters,
    template_url,
)

__all__ = [
    "CAPABILITIES",
    "GLUE_VERSIONS",
    "HASH_LENGTH",
    "JOB_SCRIPTS",
    "LIBRARY_ZIPS",
    "LIBRARY_ZIP_NAME",
    "MAX_PARAMETER_BYTES",
    "MAX_TEMPLATE_BODY_BYTES",
    "PYTHON_SHELL_LOCKS",
    "STATE_MACHINES",
    "TEMPLATE",
    "ZIP_TIMESTAMP",
    "Artifact",
    "Artifacts",
    "DeployError",
    "Outcome",
    "ResourceChange",
    "Settings",
    "Template",
    "aws_clients",
    "build_artifacts",
    "build_library_zip",
    "change_set_name",
    "change_set_request",
    "change_set_type",
    "check_bucket",
    "chunk_dates",
    "content_key",
    "deploy",
    "find_stack",
    "is_no_changes",
    "load_template",
    "locked_requirements",
    "locked_wheels",
    "main",
    "normalise_name",
    "parameter_changes",
    "parse_pins",
    "resource_changes",
    "select_wheels",
    "shipped_pins",
    "split_list",
    "stack_failure",
    "stack_parameters",
    "summary",
    "template_url",
    "upload",
    "wheel_pin",
]
