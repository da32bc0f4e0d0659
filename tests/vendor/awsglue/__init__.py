# Not part of aws-glue-libs: see ../README.md. The original awsglue/__init__.py imports
# DynamicFrame, which needs pyspark internals of Spark 3.3 and Glue's jars; the tests need
# only awsglue.utils and awsglue.job, which are vendored unmodified.
