-- portable: duckdb
-- params: day, variable
-- The features of one day and variable: bands (polygons) and isolines, by level.
SELECT
  kind,
  band_index,
  part_index,
  level_lower,
  level_upper,
  units,
  area_km2,
  length_km,
  vertex_count,
  geometry_wkt
FROM climate.contour_features
WHERE day = CAST(:day AS DATE)
  AND variable = :variable
ORDER BY kind, band_index, part_index
