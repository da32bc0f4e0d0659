-- The reader contract of the two tables: contour_features rows whose run also wrote the
-- day's daily_summary row, with status ok. A run commits contour_features first, then
-- daily_summary (src/lib/era5_contours/commits.py); between the two commits (a few hundred
-- milliseconds), or after a run killed between them until the next run or the
-- maintenance command finishes its commit, the tables may disagree about a (day,
-- variable). Readers who must never see that read this view instead of the table.
CREATE OR REPLACE VIEW climate.contour_features_agreed AS
SELECT f.*
FROM climate.contour_features AS f
JOIN climate.daily_summary AS s
  ON s.day = f.day
  AND s.variable = f.variable
  AND s.run_id = f.run_id
WHERE s.status = 'ok'
