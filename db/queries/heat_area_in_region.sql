-- portable: duckdb
-- params: threshold, west, south, east, north, day_from, day_to
-- Per day, the area (km2) inside a longitude/latitude box where the daily maximum 2 m
-- temperature (t2m_max) reaches a threshold that is one of its levels (the default levels
-- are every 2 degC: 34, 36, ...): the bands whose lower bound (exclusive) is at or above
-- it, clipped to the box. Each band's geodesic area is shared out by the planar share of
-- it inside the box (exact for a band wholly inside or outside; within a few per cent for
-- one the box cuts, over boxes of a few degrees). Days without such a band have no row.
WITH box AS (
  SELECT ST_GeometryFromText(
    'POLYGON((' || CAST(:west AS VARCHAR) || ' ' || CAST(:south AS VARCHAR) || ', '
    || CAST(:east AS VARCHAR) || ' ' || CAST(:south AS VARCHAR) || ', '
    || CAST(:east AS VARCHAR) || ' ' || CAST(:north AS VARCHAR) || ', '
    || CAST(:west AS VARCHAR) || ' ' || CAST(:north AS VARCHAR) || ', '
    || CAST(:west AS VARCHAR) || ' ' || CAST(:south AS VARCHAR) || '))'
  ) AS geom
),
hot AS (
  SELECT f.day, f.area_km2, ST_GeometryFromText(f.geometry_wkt) AS geom
  FROM climate.contour_features AS f
  WHERE f.variable = 't2m_max'
    AND f.kind = 'band'
    AND f.level_lower >= CAST(:threshold AS DOUBLE)
    AND f.day BETWEEN CAST(:day_from AS DATE) AND CAST(:day_to AS DATE)
    AND f.bbox_max_lon >= CAST(:west AS DOUBLE) AND f.bbox_min_lon <= CAST(:east AS DOUBLE)
    AND f.bbox_max_lat >= CAST(:south AS DOUBLE) AND f.bbox_min_lat <= CAST(:north AS DOUBLE)
)
SELECT
  hot.day,
  SUM(hot.area_km2 * ST_Area(ST_Intersection(hot.geom, box.geom)) / ST_Area(hot.geom)) AS area_km2,
  COUNT(*) AS polygons
FROM hot CROSS JOIN box
WHERE ST_Intersects(hot.geom, box.geom)
GROUP BY hot.day
ORDER BY hot.day
