"""Feature rows staged between a day's task and its month's rewrite (Arrow IPC streams).

A day's task writes the rows of each (day, variable) under the run's staging folder; the
month rewrite (:mod:`~era5_contours.tables.months`) reads them back, zero-copy, and the
commit (or the run's end) removes them.
"""

from __future__ import annotations

import pyarrow as pa

from era5_common import storage


def write_rows(path: str, rows: pa.Table) -> str:
    """Stage feature rows as an Arrow IPC stream (typed, compact, read back zero-copy)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, rows.schema) as writer:
        writer.write_table(rows)
    return storage.write_bytes(path, sink.getvalue().to_pybytes())


def read_rows(path: str) -> pa.Table:
    """Rows staged by :func:`write_rows`."""
    with pa.ipc.open_stream(pa.py_buffer(storage.read_bytes(path))) as reader:
        return reader.read_all()
