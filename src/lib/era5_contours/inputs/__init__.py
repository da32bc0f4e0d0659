"""NetCDF in: where a day's samples come from, in the units and layout the rules expect.

- :mod:`.netcdf`: files opened and normalised (CDS layouts old and new, lat/lon names,
  descending latitude, 0..360 longitude), their time ranges;
- :mod:`.remote`: S3 objects read by HTTP range requests, pages shared per machine;
- :mod:`.samples`: one variable's samples in a window, streamed (:class:`DaySamples`) or
  loaded (:func:`load_day`), duplicates and grids checked;
- :mod:`.units`: units read from the files and converted, never assumed;
- :mod:`.datasets`: ERA5 or ERA5-Land, from the evidence the samples give.
"""
