"""A run of the contour job, on local Spark or Glue.

- :mod:`.config`: the job's options, typed and validated;
- :mod:`.planning`: which files each day needs, from the inputs' time ranges;
- :mod:`.tasks`: the work of one day on an executor, and the month rewrite's task;
- :mod:`.outcome` and :mod:`.report`: what each (day, variable) came to, and the run;
- :mod:`.pipeline`: :func:`~.pipeline.run_contour_job`, the run sequenced;
- :mod:`.spark`: a local SparkSession, and keeping reused workers cheap.
"""
