"""ERA5 / ERA5-Land hourly NetCDF to daily contour features.

Modules are named after what they hold: :mod:`reading` (NetCDF in), :mod:`datasets`
(which product a file is), :mod:`daily` (daily fields), :mod:`levels`, :mod:`contours`,
:mod:`geojson`, :mod:`features` (table rows), :mod:`plots`, :mod:`schema`,
:mod:`storage` and :mod:`catalog` (IO at the edges), :mod:`pipeline` (sequencing),
:mod:`config` (job options), :mod:`sample` (synthetic input), :mod:`localquery` (DuckDB
stand-in for Athena), :mod:`spark` (local session), :mod:`viewer` (serves the map viewer), :mod:`deploy`
(AWS deployment).
"""

__version__ = "0.1.0"
