#!/usr/bin/env bash
# Create .venv (if absent) and install the project with the given extras.
# Usage: sh/bootstrap_venv.sh [extras]   (default: local)
set -euo pipefail
cd "$(dirname "$0")/.."

extras="${1:-local}"
python="${PYTHON:-python3}"

if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
  echo "error: Python 3.10+ is required ($python is $("$python" --version 2>&1))" >&2
  exit 1
fi
if ! command -v java >/dev/null 2>&1; then
  echo "error: Java (17 recommended) is required by Spark; install a JDK first" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv with $("$python" --version 2>&1)"
  "$python" -m venv .venv
fi
echo "==> installing era5-contours[$extras] into .venv"
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[$extras]"
