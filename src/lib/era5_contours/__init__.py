"""ERA5 / ERA5-Land hourly NetCDF to daily contour features: what the Glue job runs.

Modules are named after what they hold: :mod:`reading` (NetCDF in), :mod:`units`,
:mod:`datasets` (which product a file is), :mod:`daily` (daily fields), :mod:`levels`,
:mod:`contours`, :mod:`geojson`, :mod:`features` (table rows), :mod:`plots` and
:mod:`borders`, :mod:`schema`, :mod:`storage` and :mod:`catalog` (IO at the edges),
:mod:`pipeline` (sequencing), :mod:`config` (job options), :mod:`errors`, :mod:`spark`
(local session). The tools around the job (deploy, sample data, local queries, the map
viewer) are the :mod:`era5_tools` package, which is never shipped to Glue.
"""

__version__ = "0.1.0"
