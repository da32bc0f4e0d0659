"""What the contour job, the CDS ingest and the tools share: the project's small kernel.

- :mod:`storage`: local folders and S3 behind one interface (atomic writes, exclusive
  creates, listings);
- :mod:`errors`: what went wrong for one input (file, day, variable) or for a run;
- :mod:`products`: ERA5 and ERA5-Land, and the names users give them;
- :mod:`options`: the one boolean parser of every job and tool;
- :mod:`glue_args`: Glue's two-word job parameters for argparse;
- :mod:`logs`: the log lines of jobs and tools;
- :mod:`env`: the ``.env`` file of a checkout.

Python 3.9 code (the ingest runs on Glue Python shell 3.9), shipped to Glue as its own
zip (``era5_common.zip``) beside each job's package.
"""
