#!/usr/bin/env bash
# The test suite: venv with the dev extras, then pytest (arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."

bash sh/bootstrap_venv.sh dev
export PYSPARK_PYTHON="$PWD/.venv/bin/python"
export MPLBACKEND=Agg
echo "==> pytest $*"
exec .venv/bin/python -m pytest "$@"
