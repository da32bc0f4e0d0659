-- portable: no (Athena's Iceberg metadata tables)
-- The commits of the job: one delete and one append snapshot per run (see
-- era5_contours.catalog.commit_replace), newest first.
SELECT
  committed_at,
  snapshot_id,
  parent_id,
  operation,
  summary
FROM "climate"."contour_features$snapshots"
ORDER BY committed_at DESC
