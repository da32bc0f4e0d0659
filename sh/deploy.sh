#!/usr/bin/env bash
# Deploy the contour pipeline to the AWS account and region of .env (or the shell):
# uploads the job script, the library zip and the locked wheels to S3, then creates or
# updates the IAM roles, the Glue database, the Glue job(s), the state machine's log group
# and the state machine. Idempotent: unchanged resources are reported and left alone.
#
# Usage: sh/deploy.sh [--dry-run] [--env-file FILE]
#   --dry-run    print what would be created or updated, change nothing
#   --env-file   default .env; variables already set in the shell win
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
