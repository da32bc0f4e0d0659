-- portable: duckdb
-- How many days per variable are ok, incomplete or failed, with the first and last.
SELECT
  variable,
  status,
  COUNT(*) AS days,
  MIN(day) AS first_day,
  MAX(day) AS last_day
FROM climate.daily_summary
GROUP BY variable, status
ORDER BY variable, status
