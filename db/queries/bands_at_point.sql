-- portable: duckdb
-- params: day, lon, lat
-- The band polygon containing a point (WGS84 degrees) on a day, for each variable.
-- The bounding-box test is cheap and skips most polygons before the exact test.
SELECT
  variable,
  units,
  band_index,
  part_index,
  level_lower,
  level_upper
FROM climate.contour_features
WHERE day = CAST(:day AS DATE)
  AND kind = 'band'
  AND CAST(:lon AS DOUBLE) BETWEEN bbox_min_lon AND bbox_max_lon
  AND CAST(:lat AS DOUBLE) BETWEEN bbox_min_lat AND bbox_max_lat
  AND ST_Contains(
    ST_GeometryFromText(geometry_wkt),
    ST_Point(CAST(:lon AS DOUBLE), CAST(:lat AS DOUBLE))
  )
ORDER BY variable, band_index, part_index
