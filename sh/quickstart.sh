#!/usr/bin/env bash
# One command, no AWS account: venv, install, synthetic ERA5 sample, the Spark job on
# local Spark with the sql Iceberg catalog, then where the outputs are and a DuckDB query.
# Usage: sh/quickstart.sh [output folder]   (default: output/quickstart)
set -euo pipefail
cd "$(dirname "$0")/.."

out="${1:-output/quickstart}"
sample="$out/sample_data"
start="2024-07-01"
end="2024-07-03"

bash sh/bootstrap_venv.sh local
export PYSPARK_PYTHON="$PWD/.venv/bin/python"

echo "==> generating the synthetic ERA5 sample ($start..$end) in $sample"
.venv/bin/python -m era5_tools.sample --output_dir "$sample" --start_date "$start" --end_date "$end"

echo "==> running the contour job on local Spark"
.venv/bin/python src/jobs/extract_contours.py \
  --input_path "$sample" --output_path "$out" \
  --start_date "$start" --end_date "$end" --master "local[2]"

echo
echo "==> outputs"
echo "GeoJSON: $out/contours/{t2m,tp}/YYYY-MM-DD.geojson"
find "$out/contours" -name '*.geojson' | sort
echo "PNG maps: $out/plots/{t2m,tp}/YYYY-MM-DD.png"
find "$out/plots" -name '*.png' | sort
echo
echo "==> the daily_summary Iceberg table through DuckDB"
.venv/bin/python -m era5_tools.localquery --warehouse_path "$out/warehouse" \
  --sql "SELECT day, variable, status, samples, round(field_min, 2) AS min, round(field_mean, 2) AS mean, round(field_max, 2) AS max, feature_count FROM daily_summary ORDER BY variable, day"
