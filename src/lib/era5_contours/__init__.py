"""ERA5 / ERA5-Land hourly NetCDF to daily contour features: what the Glue job runs.

The package is built in stages, each a subpackage that uses only those below it:

- :mod:`variables`: the variables the job knows and everything particular to each;
- :mod:`inputs`: NetCDF in (local files and S3 range reads), units, which product a
  file is, a variable's samples of a day streamed a few hours at a time;
- :mod:`science`: the daily rules, contour levels and colours, bands and isolines;
- :mod:`outputs`: what a day produces: feature rows, GeoJSON, PNG maps, where they go;
- :mod:`tables`: the Iceberg tables: schemas, catalogs, data files, the month rewrite;
- :mod:`commit`: the commit protocol: intent, lease, both tables, maps, undo, maintenance;
- :mod:`run`: a run: options, planning, the day tasks, the pipeline, the report.

Storage, errors and the option and log helpers it shares with the CDS ingest are the
kernel :mod:`era5_common`. The tools around the job (deploy, sample data, local queries,
the map viewer) are :mod:`era5_tools`, never shipped to Glue.
"""

__version__ = "0.1.0"
