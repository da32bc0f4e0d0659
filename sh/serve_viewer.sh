#!/usr/bin/env bash
# Serve the map viewer over a job's output folder (contours/ and plots/).
# Usage: sh/serve_viewer.sh OUTPUT_DIR [--port 8000] [--host 127.0.0.1]
# Builds viewer/dist first when it is missing and npm is available.
set -euo pipefail

if [ "$#" -lt 1 ]; then
  echo "usage: sh/serve_viewer.sh OUTPUT_DIR [--port N] [--host HOST]" >&2
  exit 2
fi
out="$1"
shift
if [ ! -d "$out" ]; then
  echo "error: no such folder: $out" >&2
  exit 2
fi
out="$(cd "$out" && pwd)"  # absolute before leaving the caller's folder

cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  bash sh/bootstrap_venv.sh local
fi
exec .venv/bin/python -m era5_tools.viewer --output_path "$out" "$@"
