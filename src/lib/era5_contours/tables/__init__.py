"""The Iceberg tables: what they hold and how their files are written.

- :mod:`.schema`: the two tables' columns and partitioning, defined once;
- :mod:`.catalog`: catalogs (sql, Glue) and table creation or checking;
- :mod:`.datafiles`: Iceberg data files written and scanned on the executors;
- :mod:`.filters`: row filters (a partition, a set of (day, variable) pairs);
- :mod:`.rows`: feature rows staged between a day's task and its month's rewrite;
- :mod:`.months`: the copy-on-write rewrite of one (variable, month) partition.

Committing the files is :mod:`era5_contours.commit`.
"""
