-- portable: duckdb
-- params: variable, lon, lat, day_from, day_to
-- Day by day, the band of one variable at a point (WGS84 degrees), between two days
-- (inclusive). A day without a row has no band polygon containing the point.
SELECT
  day,
  band_index,
  level_lower,
  level_upper,
  units
FROM climate.contour_features
WHERE variable = :variable
  AND day BETWEEN CAST(:day_from AS DATE) AND CAST(:day_to AS DATE)
  AND kind = 'band'
  AND CAST(:lon AS DOUBLE) BETWEEN bbox_min_lon AND bbox_max_lon
  AND CAST(:lat AS DOUBLE) BETWEEN bbox_min_lat AND bbox_max_lat
  AND ST_Contains(
    ST_GeometryFromText(geometry_wkt),
    ST_Point(CAST(:lon AS DOUBLE), CAST(:lat AS DOUBLE))
  )
ORDER BY day
