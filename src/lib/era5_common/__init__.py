"""What the contour job, the CDS ingest and the tools share: the project's small kernel.

:mod:`storage` (local folders and S3 behind one interface), :mod:`errors` (what went wrong
for one input, or for a run), :mod:`glue_args` (Glue's job parameters for argparse).
Python 3.9 code (the ingest runs on Glue Python shell 3.9), shipped to Glue as its own
zip beside each job's package.
"""
