#!/usr/bin/env bash
# Build the packages' zips as Glue's --extra-py-files takes them: era5_common.zip (the
# kernel both jobs share), era5_contours.zip (the contour job's library) and
# era5_ingest.zip (the CDS ingest). Reproducible: sorted entries, fixed timestamps and
# modes, no __pycache__; the same sources always give the same bytes (and the deploy skips
# re-uploading them).
#
# Usage: sh/package_library.sh [OUTPUT_DIR]       (default: dist)
# Environment: PYTHON (default: .venv/bin/python when present, else python3).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${PYTHON:-}" ]; then
  if [ -x .venv/bin/python ]; then PYTHON=.venv/bin/python; else PYTHON=python3; fi
fi
output="${1:-dist}"

echo "==> packaging src/lib/era5_common, era5_contours and era5_ingest into $output/"
PYTHONPATH="$PWD/src/lib${PYTHONPATH:+:$PYTHONPATH}" \
  "$PYTHON" -m era5_tools.deploy package --output-dir "$output"
