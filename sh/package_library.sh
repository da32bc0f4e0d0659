#!/usr/bin/env bash
# Build dist/era5_contours.zip, the library as Glue's --extra-py-files takes it.
# Reproducible: sorted entries, fixed timestamps and modes, no __pycache__; the same
# sources always give the same bytes (and the deploy skips re-uploading them).
#
# Usage: sh/package_library.sh [output.zip]       (default: dist/era5_contours.zip)
# Environment: PYTHON (default: .venv/bin/python when present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
output="${1:-dist/era5_contours.zip}"

echo "==> packaging src/lib/era5_contours into $output"
PYTHONPATH="$PWD/src/lib${PYTHONPATH:+:$PYTHONPATH}" \
  "$PYTHON" -m era5_tools.deploy package --output "$output"
