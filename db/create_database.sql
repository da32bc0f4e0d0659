-- The Glue database of the Iceberg tables; its location is the warehouse folder that
-- the job's glue catalog (--warehouse_path s3://${BUCKET}/warehouse) also uses.
CREATE DATABASE IF NOT EXISTS climate
COMMENT 'ERA5 / ERA5-Land daily contour features'
LOCATION 's3://${BUCKET}/warehouse/climate.db/'
