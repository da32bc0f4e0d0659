"""Iceberg data files, written and read by the executors.

:func:`write_data_files` turns the rows of one (variable, month) partition
(:mod:`~era5_contours.tables.months`) into Iceberg data files with pyiceberg's own writer:
Parquet with the table's field ids, column statistics and partition values, named by the
table's location provider under a write UUID of the task. What comes back is the files'
:class:`~pyiceberg.manifest.DataFile` metadata, small and picklable, which the driver
commits (:mod:`~era5_contours.commit.iceberg`). Nothing depends on name mapping: every
file carries its field ids, which every Iceberg reader resolves columns by.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from typing import TYPE_CHECKING

import pyarrow as pa
from pyiceberg.expressions import (
    BooleanExpression,
)
from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible, _dataframe_to_data_files
from pyiceberg.schema import Schema

from .schema import TableDef

if TYPE_CHECKING:
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.table.metadata import TableMetadata

logger = logging.getLogger(__name__)


#: pyiceberg's writer is private API: the releases it was tested with (tests/test_catalog.py
#: holds its signature and fails loudly when it changes).
PYICEBERG_WRITER = ">=0.9,<0.13"


def conform_table(
    arrow_table: pa.Table, table: TableDef, table_schema: Schema | None = None
) -> pa.Table:
    """Rows in the column order and types of ``table``; refuse nulls in required columns.

    Columns beyond ``table``'s are refused, except those the Iceberg table itself holds
    (``table_schema``: a table created by other DDL may carry more optional columns, and
    rewriting a month must keep their values); they follow ``table``'s columns.
    """
    schema = table.arrow_schema
    known = set(table_schema._name_to_id) if table_schema is not None else set()
    missing = [n for n in schema.names if n not in arrow_table.column_names]
    extra = [n for n in arrow_table.column_names if n not in schema.names and n not in known]
    if missing or extra:
        raise ValueError(f"{table.name}: missing columns {missing}, unexpected columns {extra}")
    for field in schema:
        if not field.nullable and arrow_table.column(field.name).null_count:
            raise ValueError(f"{table.name}.{field.name} is required but holds nulls")
    columns = [arrow_table.column(n).cast(schema.field(n).type) for n in schema.names]
    fields = list(schema)
    for name in arrow_table.column_names:
        if name not in schema.names:
            columns.append(arrow_table.column(name))
            fields.append(arrow_table.schema.field(name))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def write_data_files(
    table_metadata: TableMetadata,
    io: FileIO,
    rows: pa.Table,
    table: TableDef,
    *,
    write_uuid: uuid.UUID | None = None,
) -> list[DataFile]:
    """Write rows of ``table`` as Iceberg data files of the table; their metadata.

    pyiceberg's writer (``_dataframe_to_data_files``, the function Ray's
    ``IcebergDatasink`` uses; private, so :data:`PYICEBERG_WRITER` pins the range this was
    tested with and a test fails loudly when it changes) splits the rows by the table's
    partition spec, rolls files over at ``write.target-file-size-bytes`` and writes each
    with the table's field ids and column statistics.

    Parameters
    ----------
    table_metadata, io
        The table's metadata and file IO (both pickle: executors get them from the driver).
    rows
        Rows with the columns of ``table`` (any order; cast to its types).
    write_uuid
        Names the files (``{uuid}-{n}`` under the partition folders): the same UUID
        overwrites the same files, so a retried task leaves no orphan of its dead attempt.

    Raises
    ------
    ValueError
        For rows that do not fit ``table`` or the table's schema.
    """
    data = conform_table(rows, table, table_metadata.schema())
    if data.num_rows == 0:
        raise ValueError(f"{table.name}: no rows to write")
    # Checked here, on the executor, before anything is written.
    _check_pyarrow_schema_compatible(table_metadata.schema(), data.schema)
    return list(
        _dataframe_to_data_files(
            table_metadata=table_metadata, df=data, io=io, write_uuid=write_uuid
        )
    )


def data_file_paths(data_files: Iterable[DataFile]) -> list[str]:
    """The paths of data files (for removing what a failed run wrote)."""
    return [f.file_path for f in data_files]


def scan_rows(
    table_metadata: TableMetadata,
    io: FileIO,
    row_filter: BooleanExpression,
) -> pa.Table:
    """Rows of the table's current snapshot matching ``row_filter`` (runs on executors)."""
    from pyiceberg.table import DataScan

    if table_metadata.current_snapshot() is None:
        from pyiceberg.io.pyarrow import schema_to_pyarrow

        return schema_to_pyarrow(table_metadata.schema()).empty_table()
    return DataScan(table_metadata=table_metadata, io=io, row_filter=row_filter).to_arrow()
