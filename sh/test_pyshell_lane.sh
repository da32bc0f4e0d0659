#!/usr/bin/env bash
# The Glue Python shell lane: the ingest tests on the ingest job's own runtime, Python 3.9
# and the exact pins of external_libs/pyshell-requirements.lock, in a virtualenv of their
# own (.lanes/pyshell/).
#
# Usage: sh/test_pyshell_lane.sh [pytest arguments]
#
# The test tools (pytest, moto, and xarray for the fake CDS's NetCDF) are installed with
# the lock as constraints, so they cannot move a locked library; boto3 is the newest that
# accepts them, as on Glue. The project is not installed (it needs Python 3.10 for the
# contour job): the tests import src/lib, as Glue imports the job's zips. The interpreter
# is python3.9 from PATH, or pyenv's newest 3.9 (PYTHON overrides).
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  if [ -n "${PYTHON:-}" ]; then
    echo "$PYTHON"
    return
  fi
  if command -v python3.9 >/dev/null 2>&1 && python3.9 -c '' 2>/dev/null; then
    command -v python3.9
    return
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local version
    version=$(pyenv versions --bare 2>/dev/null | grep -E '^3\.9\.[0-9]+$' | sort -V | tail -n 1)
    if [ -n "$version" ]; then
      echo "$(pyenv root)/versions/$version/bin/python3.9"
      return
    fi
  fi
  echo "error: no Python 3.9 found (put python3.9 on PATH, install it with pyenv, or set PYTHON)" >&2
  exit 1
}

python=$(find_python)
venv=".lanes/pyshell"
lock="external_libs/pyshell-requirements.lock"
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv with $("$python" --version 2>&1)"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

echo "==> [pyshell] installing the lock and boto3"
"${pip[@]}" install --quiet -r "$lock" boto3 -c "$lock"
echo "==> [pyshell] installing the test tools under the same pins"
"${pip[@]}" install --quiet -c "$lock" pytest "moto[server]>=5" xarray pyyaml python-dotenv
"${pip[@]}" check || true

echo "==> [pyshell] $("$venv/bin/python" -c 'import sys, boto3, netCDF4, numpy, urllib3
from importlib.metadata import version
print("Python", sys.version.split()[0], "| ecmwf-datastores-client", version("ecmwf-datastores-client"),
      "| multiurl", version("multiurl"), "| netCDF4", netCDF4.__version__, "| numpy", numpy.__version__,
      "| urllib3", urllib3.__version__, "| boto3", boto3.__version__)')"

tests=(tests/test_ingest_requests.py tests/test_ingest_cds.py tests/test_ingest_job.py)
echo "==> [pyshell] pytest ${tests[*]} $*"
export PYTHONPATH="$PWD/src/lib"
# tests/conftest.py loads the commit protocol's fixtures (tests/commit_support.py) for the
# Iceberg tests; they import pyarrow and pyiceberg, which the ingest's runtime has not.
exec "$venv/bin/python" -m pytest -p no:cacheprovider -p no:commit_support "${tests[@]}" "$@"
