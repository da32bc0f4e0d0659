#!/usr/bin/env bash
# A Glue runtime lane: the tests marked runtime on a Glue version's own Python, Spark and
# library versions, in a virtualenv of their own (~/.cache/era5-contours/lanes/<lane>-<key>/),
# two pytest workers (pytest-xdist) sharing the machine's cores.
#
# Usage: sh/test_glue_lane.sh glue4|glue5|glue51|glue6 [pytest arguments, e.g. -n 0 -k name]
#
#   glue4   Python 3.10, pyspark 3.3 (Glue 4.0 runs Spark 3.3.0), the exact pins of
#           external_libs/glue4-requirements.lock, and Glue 4.0's numpy, pandas and boto3
#   glue5   Python 3.11, pyspark 3.5 (Glue 5.0 runs Spark 3.5.4), glue5-requirements.lock,
#           and Glue 5.0's numpy, pandas and boto3
#   glue51  Python 3.11, pyspark 3.5.6 (Glue 5.1's Spark), glue51-requirements.lock, and
#           Glue 5.1's numpy, pandas and boto3
#   glue6   Python 3.13, pyspark 4.1.1 (Glue 6.0's Spark, Scala 2.13), glue6-requirements.lock,
#           and Glue 6.0's numpy, pandas and boto3
#
# The test tools are installed under the same pins as constraints, so they cannot move a
# locked library; the project goes in with --no-deps, so the lane tests the lock and not
# pip's choice. The interpreter is python3.10 / 3.11 / 3.13 from PATH, or pyenv's newest of
# that minor version (PYTHON overrides).
set -euo pipefail
cd "$(dirname "$0")/.."

lane="${1:-}"
case "$lane" in
  glue4) minor=3.10 spark="pyspark>=3.3,<3.4" ;;
  glue5) minor=3.11 spark="pyspark>=3.5,<3.6" ;;
  glue51) minor=3.11 spark="pyspark==3.5.6" ;;
  glue6) minor=3.13 spark="pyspark==4.1.1" ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
shift

find_python() {
  if [ -n "${PYTHON:-}" ]; then
    echo "$PYTHON"
    return
  fi
  if command -v "python$minor" >/dev/null 2>&1 && "python$minor" -c '' 2>/dev/null; then
    command -v "python$minor"
    return
  fi
  if command -v pyenv >/dev/null 2>&1; then
    local version
    version=$(pyenv versions --bare 2>/dev/null | grep -E "^${minor//./\\.}\.[0-9]+$" | sort -V | tail -n 1)
    if [ -n "$version" ]; then
      echo "$(pyenv root)/versions/$version/bin/python$minor"
      return
    fi
  fi
  echo "error: no Python $minor found (put python$minor on PATH, install it with pyenv, or set PYTHON)" >&2
  exit 1
}

python=$(find_python)
lock="external_libs/$lane-requirements.lock"
provided="external_libs/$lane-provided.txt"
# The lane's virtualenv lives outside the checkout, named by what it is built from (the
# interpreter, pyspark, the lock and Glue's modules): a fresh clone (CI) takes the one an
# earlier run built instead of downloading and unpacking everything again, and a changed
# lock gets a new one, so nothing an old lock installed can linger. LANES_DIR overrides.
lanes="${LANES_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/era5-contours/lanes}"
mkdir -p "$lanes"
lanes=$(cd "$lanes" && pwd)
key=$({ "$python" --version 2>&1; echo "$spark"; cat "$lock" "$provided"; } | sha256sum | cut -c1-12)
venv="$lanes/$lane-$key"
# One run at a time in a virtualenv: two checkouts' runs (CI's and a developer's) may meet.
# The lock is this shell's: pytest and what it starts do not inherit it (9>&- below), so a
# process left behind cannot hold it.
exec 9>"$venv.lock"
if ! flock -w 1800 9; then
  echo "error: $venv is busy with another run of the $lane lane (30 min waited)" >&2
  exit 1
fi
# The lane's virtualenvs of other locks go, unless a run holds them.
for old in "$lanes/$lane"-*.lock; do
  [ "$old" != "$venv.lock" ] || continue
  { flock -n "$old" rm -rf "${old%.lock}" && rm -f "$old"; } || true
done
if [ ! -x "$venv/bin/python" ]; then
  echo "==> creating $venv with $("$python" --version 2>&1)"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

# Glue's own numpy, pandas and boto3 (with the botocore and s3transfer that boto3 needs).
constraints="$venv/constraints.txt"
{
  grep -v '^#' "$lock" | grep -v '^$'
  grep -iE '^(numpy|pandas|boto3)==' "$provided"
} >"$constraints"
glue_provided=$(grep -iE '^(numpy|pandas|boto3)==' "$provided" | tr '\n' ' ')

echo "==> [$lane] installing the lock, Glue's ${glue_provided}and $spark"
# shellcheck disable=SC2086 # the provided pins are separate words on purpose
"${pip[@]}" install --quiet -r "$lock" $glue_provided "$spark"
# The sql catalog of local runs needs SQLAlchemy; on Glue the job uses the glue catalog.
echo "==> [$lane] installing the test tools (and SQLAlchemy) under the same pins"
"${pip[@]}" install --quiet -c "$constraints" pytest pytest-xdist "moto[server]>=5" python-dotenv pyyaml \
  packaging sqlalchemy duckdb duckdb-extension-iceberg duckdb-extension-avro duckdb-extension-spatial
echo "==> [$lane] installing the project with --no-deps"
"${pip[@]}" install --quiet --no-deps --force-reinstall .
"${pip[@]}" check || true

echo "==> [$lane] $("$venv/bin/python" -c 'import sys, pyspark, numpy, pandas, boto3, pyarrow, pyiceberg, xarray
print("Python", sys.version.split()[0], "| pyspark", pyspark.__version__, "| numpy", numpy.__version__,
      "| pandas", pandas.__version__, "| boto3", boto3.__version__, "| pyarrow", pyarrow.__version__,
      "| pyiceberg", pyiceberg.__version__, "| xarray", xarray.__version__)')"

export PYSPARK_PYTHON="$venv/bin/python"
export MPLBACKEND=Agg
# The modules that hold tests marked runtime (pyproject: what differs between Glue
# runtimes: Spark, Arrow/pyiceberg writes, S3 reads, numpy/pandas), and only those tests:
# the rest of the suite runs once, in the main suite (sh/test.sh).
# Found by their marker, so that a new module marked runtime joins every lane; test_commits'
# Glue-catalog tests get theirs from a fixture's parameter (tests/commit_support.py).
mapfile -t tests < <({
  grep -l "pytest.mark.runtime" tests/test_*.py
  echo tests/test_commits.py
} | sort -u)
# Two workers, each a whole module at a time (--dist loadfile: a module's Spark session and
# moto server are its own, as in one process): the lane waits on Spark, moto and its
# subprocesses more than it computes. "-n 0" in the arguments runs it in one process.
xdist=(-n 2 --dist loadfile)
echo "==> [$lane] pytest -m runtime ${xdist[*]} ${tests[*]} $*"
# The tests import the installed project: src/lib is not on their path.
"$venv/bin/python" -m pytest -p no:cacheprovider -m runtime "${xdist[@]}" "${tests[@]}" "$@" 9>&-
