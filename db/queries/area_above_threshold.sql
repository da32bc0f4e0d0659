-- portable: duckdb
-- params: variable, threshold
-- Per day, the area (km2) where the field exceeds a threshold that is one of the levels:
-- the bands whose lower bound (exclusive) is at or above it. Days without such a band
-- have no row.
SELECT
  day,
  SUM(area_km2) AS area_km2,
  COUNT(*) AS polygons
FROM climate.contour_features
WHERE variable = :variable
  AND kind = 'band'
  AND level_lower >= CAST(:threshold AS DOUBLE)
GROUP BY day
ORDER BY day
