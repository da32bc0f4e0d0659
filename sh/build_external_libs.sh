#!/usr/bin/env bash
# Download the pinned wheels the Glue job installs with --additional-python-modules, or
# prove that a lock file resolves for its Glue platform.
#
# Usage: sh/build_external_libs.sh [--check] [glue4|glue5|glue51|glue6|pyshell|all]
#        (default: all)
#
#   glue4   AWS Glue 4.0: Python 3.10, Amazon Linux 2 (glibc 2.26), manylinux2014_x86_64
#   glue5   AWS Glue 5.0: Python 3.11, Amazon Linux 2023 (glibc 2.34),
#           manylinux_2_34 / manylinux_2_28 / manylinux2014 x86_64
#   glue51  AWS Glue 5.1: Python 3.11, Amazon Linux 2023 (glibc 2.34), the same tags
#   glue6   AWS Glue 6.0: Python 3.13, Amazon Linux 2023 (glibc 2.34), the same tags
#   pyshell AWS Glue Python shell (the ingest job): Python 3.9, manylinux2014_x86_64;
#           not in "all": the job installs these pins from PyPI by name
#
# Inputs (committed):
#   external_libs/<target>-requirements.lock  the job's whole runtime closure, exact pins
#   external_libs/<target>-provided.txt       what Glue preinstalls (from the AWS docs)
# Output (git-ignored): external_libs/<target>/*.whl, one wheel per locked pin that Glue
# does not already provide at that exact version. Stale wheels there are removed.
#
# --check downloads nothing to external_libs/: it runs pip's resolver for the target
# platform (pip install --dry-run --ignore-installed --target <tmp> --platform ...
# --only-binary=:all: -r <lock>) and fails unless pip would install exactly the locked set:
# no pin missing a wheel for that platform, no conflict, no dependency left out of the lock.
#
# Environment: PYTHON, the interpreter whose pip is used (default: .venv/bin/python when
# present, else python3); EXTERNAL_LIBS_DIR, where the lock, provided and wheel files are
# (default: external_libs). Needs PyPI (or the index pip is configured with).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi

usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

libs="${EXTERNAL_LIBS_DIR:-external_libs}"
check=0
targets=()
for arg in "$@"; do
  case "$arg" in
    --check) check=1 ;;
    -h | --help) usage ;;
    glue4 | glue5 | glue51 | glue6 | pyshell) targets+=("$arg") ;;
    all) targets+=(glue4 glue5 glue51 glue6) ;;
    *)
      echo "error: unknown argument '$arg'" >&2
      usage
      ;;
  esac
done
[ "${#targets[@]}" -gt 0 ] || targets=(glue4 glue5 glue51 glue6)

# pip arguments that describe the Glue runtime of a target.
platform_args() {
  case "$1" in
    glue4)
      printf '%s\n' --platform manylinux2014_x86_64 \
        --python-version 3.10 --implementation cp --abi cp310 --only-binary=:all:
      ;;
    glue5 | glue51)
      printf '%s\n' --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 \
        --platform manylinux2014_x86_64 \
        --python-version 3.11 --implementation cp --abi cp311 --only-binary=:all:
      ;;
    glue6)
      printf '%s\n' --platform manylinux_2_34_x86_64 --platform manylinux_2_28_x86_64 \
        --platform manylinux2014_x86_64 \
        --python-version 3.13 --implementation cp --abi cp313 --only-binary=:all:
      ;;
    pyshell)
      printf '%s\n' --platform manylinux2014_x86_64 \
        --python-version 3.9 --implementation cp --abi cp39 --only-binary=:all:
      ;;
  esac
}

# "name==version" per pin, name normalised (PEP 503), comments and blanks dropped. Fails on
# anything that is not an exact pin, so a lock file cannot silently float.
normalised_pins() {
  awk -v file="$1" '
    { sub(/#.*/, ""); gsub(/[ \t\r]/, "") }
    $0 == "" { next }
    $0 !~ /^[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+$/ {
      printf "error: %s:%d: not an exact name==version pin: %s\n", file, NR, $0 > "/dev/stderr"
      bad = 1; next
    }
    {
      split($0, p, "=="); name = tolower(p[1]); gsub(/[-_.]+/, "-", name)
      print name "==" p[2]
    }
    END { exit bad }
  ' "$1"
}

check_target() {
  local target="$1" lock="$libs/$1-requirements.lock"
  local tmp report
  local -a pargs
  mapfile -t pargs < <(platform_args "$target")
  tmp="$(mktemp -d)"
  # shellcheck disable=SC2064  # expand now: tmp is local to this function
  trap "rm -rf '$tmp'" RETURN
  report="$tmp/report.json"
  normalised_pins "$lock" >/dev/null
  echo "==> [$target] resolving $lock for ${pargs[*]}"
  "$PYTHON" -m pip install --dry-run --ignore-installed --quiet --target "$tmp/target" \
    "${pargs[@]}" --report "$report" -r "$lock"
  echo "==> [$target] comparing pip's resolution with the lock"
  normalised_pins "$lock" | sort >"$tmp/locked"
  "$PYTHON" - "$report" >"$tmp/resolved" <<'PY'
import json, re, sys
for item in json.load(open(sys.argv[1]))["install"]:
    meta = item["metadata"]
    print(re.sub(r"[-_.]+", "-", meta["name"]).lower() + "==" + meta["version"])
PY
  sort -o "$tmp/resolved" "$tmp/resolved"
  if ! diff -u --label locked "$tmp/locked" --label resolved "$tmp/resolved"; then
    echo "error: [$target] pip resolves another set than $lock (diff above)" >&2
    return 1
  fi
  echo "==> [$target] OK: $(wc -l <"$tmp/locked") pins resolve for the Glue platform"
}

build_target() {
  local target="$1" lock="$libs/$1-requirements.lock"
  local provided="$libs/$1-provided.txt" dest="$libs/$1"
  local -a pargs needed
  mapfile -t pargs < <(platform_args "$target")
  mapfile -t needed < <(normalised_pins "$lock" | grep -vxF -f <(normalised_pins "$provided"))
  echo "==> [$target] $lock: ${#needed[@]} pins to ship (the rest Glue provides)"
  mkdir -p "$dest"
  echo "==> [$target] pip download --no-deps ${pargs[*]} -d $dest"
  "$PYTHON" -m pip download --no-deps --quiet --dest "$dest" "${pargs[@]}" "${needed[@]}"

  # Keep exactly one wheel per shipped pin: a wheel's name and version are its first two
  # dash-separated fields (names are escaped with "_" inside wheel file names).
  local whl base key found
  declare -A wanted=()
  for pin in "${needed[@]}"; do wanted["$pin"]=""; done
  for whl in "$dest"/*.whl; do
    base="$(basename "$whl")"
    key="$(printf '%s\n' "$base" | awk -F- '{n = tolower($1); gsub(/[_.]+/, "-", n); print n "==" $2}')"
    if [ -n "${wanted[$key]+x}" ]; then
      wanted["$key"]="$base"
    else
      echo "    removing stale $base"
      rm -f "$whl"
    fi
  done
  found=0
  for pin in "${needed[@]}"; do
    if [ -z "${wanted[$pin]}" ]; then
      echo "error: [$target] no wheel for $pin in $dest" >&2
      return 1
    fi
    found=$((found + 1))
  done
  echo "==> [$target] $found wheels in $dest ($(du -sh "$dest" | cut -f1))"
}

for target in "${targets[@]}"; do
  if [ "$check" -eq 1 ]; then check_target "$target"; else build_target "$target"; fi
done
