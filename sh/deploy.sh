#!/usr/bin/env bash
# Deploy the contour pipeline to the AWS account and region of .env (or the shell):
# uploads the job scripts, the library zips, the state machine's definition and the locked
# wheels to S3, then deploys the CloudFormation stack deploy/cloudformation/stack.yaml
# (Glue database, IAM roles, the contour Glue job(s) and the CDS ingest job, state machine
# and its log group) through a change set, and follows it to the end. A run without
# changes says so and changes nothing.
#
# Usage: sh/deploy.sh [--dry-run] [--env-file FILE] [--poll-seconds N]
#   --dry-run    show the change set (resource, action, replacement) and delete it;
#                upload nothing, execute nothing
#   --env-file   default .env; variables already set in the shell win
# Exit status: 0 done, up to date or planned; 1 the change set or the stack failed (the
# reason on one line); 2 bad settings or files (nothing sent).
# Needs the wheels: sh/build_external_libs.sh (once per lock change).
# See deploy/README.md for the variables (ERA5_BUCKET, AWS_REGION, GLUE_VERSION, ...).
# Environment: PYTHON (default: .venv/bin/python when present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

echo "==> python -m era5_tools.deploy deploy $*"
PYTHONPATH="$PWD/src/lib${PYTHONPATH:+:$PYTHONPATH}" \
  exec "$PYTHON" -m era5_tools.deploy deploy "$@"
