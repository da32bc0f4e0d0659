-- portable: duckdb
-- params: variable, day_from, day_to
-- The daily field statistics of one variable between two days (inclusive).
SELECT
  day,
  units,
  status,
  field_min,
  field_mean,
  field_mean_weighted,
  field_max,
  feature_count
FROM climate.daily_summary
WHERE variable = :variable
  AND day BETWEEN CAST(:day_from AS DATE) AND CAST(:day_to AS DATE)
ORDER BY day
