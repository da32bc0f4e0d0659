"""ERA5 / ERA5-Land from the Climate Data Store, month by month, into the contour job's input.

:mod:`cds_requests` (the requests: pure functions), :mod:`config` (options),
:mod:`credentials` (the CDS key: Secrets Manager, environment, rc file), :mod:`cds` (the
CDS client seam: submit, follow, download with resume and retries), :mod:`files`
(unpacking ZIPs, describing NetCDF), :mod:`manifest` (``_manifest.json``), :mod:`store`
(folders and S3), :mod:`ingest` (the run). ``src/jobs/ingest_era5.py`` is the Glue Python
shell entry point. The package runs on Python 3.9 (Glue Python shell) and later; it
needs ``ecmwf-datastores-client``, ``multiurl``, ``netCDF4`` and ``boto3``, and
:mod:`era5_common.storage`.
"""

__version__ = "0.1.0"
