-- portable: duckdb
-- The days that are not ok, and why.
SELECT
  day,
  variable,
  status,
  samples,
  complete,
  error
FROM climate.daily_summary
WHERE status <> 'ok'
ORDER BY day, variable
