-- One row per contour feature (band polygon or isoline) per variable and day.
-- Columns, types and partitioning must match era5_contours.schema.CONTOUR_FEATURES
-- (tests/test_db.py checks it).
CREATE TABLE IF NOT EXISTS climate.contour_features (
  day date,
  variable string,
  units string,
  dataset string,
  kind string,
  level_lower double,
  level_upper double,
  band_index int,
  part_index int,
  geometry_wkt string,
  bbox_min_lon double,
  bbox_min_lat double,
  bbox_max_lon double,
  bbox_max_lat double,
  area_km2 double,
  length_km double,
  vertex_count int,
  source_files array<string>,
  run_id string
)
PARTITIONED BY (variable, month(day))
LOCATION 's3://${BUCKET}/warehouse/climate.db/contour_features'
TBLPROPERTIES (
  'table_type' = 'ICEBERG',
  'format' = 'parquet',
  'write_compression' = 'zstd'
)
