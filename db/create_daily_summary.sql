-- One row per variable and day: processing status and field statistics.
-- Columns, types and partitioning must match era5_contours.schema.DAILY_SUMMARY
-- (tests/test_db.py checks it).
CREATE TABLE IF NOT EXISTS climate.daily_summary (
  day date,
  variable string,
  units string,
  dataset string,
  samples int,
  complete boolean,
  status string,
  error string,
  field_min double,
  field_mean double,
  field_mean_weighted double,
  field_max double,
  feature_count int,
  source_files array<string>,
  run_id string,
  processed_at timestamp
)
PARTITIONED BY (variable)
LOCATION 's3://${BUCKET}/warehouse/climate.db/daily_summary'
TBLPROPERTIES (
  'table_type' = 'ICEBERG',
  'format' = 'parquet',
  'write_compression' = 'zstd'
)
