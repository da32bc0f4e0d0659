"""Which cells of a file's grid a run reads, and in what order they come out.

Files store their grid in their own order: latitude descending or ascending, longitude
on -180..180 or 0..360. A :class:`Selection` says which rows and columns of a file to read
(contiguous runs, so that the readers ask HDF5 for hyperslabs and only the chunks that
hold them are read) and how to reorder what was read so that latitude and longitude
ascend. Without an area that is the whole grid, longitudes in [-180, 180); with an
``--area`` (:class:`~era5_common.area.Area`) only its cells, their longitudes in the
area's own frame from west to east, so that an area across 0 degrees on a 0..360 file or
across the antimeridian comes out as one continuous grid (``170..190`` for an area from
170 E to 170 W).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from era5_common.area import Area


@dataclass(frozen=True)
class Selection:
    """The rows and columns of a file to read, and the grid they make."""

    #: Rows to read: one slice of the file's latitude axis.
    rows: slice
    #: Columns to read, in file order: one slice, or two where a grid wraps.
    columns: tuple[slice, ...]
    #: The order (over the rows, the columns read) that makes each axis ascend.
    lat_order: np.ndarray
    lon_order: np.ndarray
    #: The grid read, ascending.
    latitude: np.ndarray
    longitude: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """Rows by columns of the grid read."""
        return self.latitude.size, self.longitude.size


def _runs(index: np.ndarray) -> tuple[slice, ...]:
    """Ascending indices as slices of consecutive ones."""
    if index.size == 0:
        return ()
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    return tuple(slice(int(r[0]), int(r[-1]) + 1) for r in np.split(index, breaks))


def select(latitude: np.ndarray, longitude: np.ndarray, area: Area | None = None) -> Selection:
    """The cells of a grid (the file's own order, longitudes in [-180, 180)) to read.

    Raises
    ------
    ValueError
        When the area holds no cell of the grid.
    """
    lat = np.asarray(latitude, dtype=float)
    lon = np.asarray(longitude, dtype=float)
    if area is not None:
        lon = np.asarray(area.longitudes(lon), dtype=float)
        rows = np.flatnonzero((lat >= area.south) & (lat <= area.north))
        cols = np.flatnonzero(lon <= area.east)
        if rows.size == 0 or cols.size == 0:
            raise ValueError(
                f"the area {area.text()} holds no cell of the grid (latitude "
                f"{lat.min():g}..{lat.max():g}, longitude {lon.min():g}..{lon.max():g})"
            )
    else:
        rows, cols = np.arange(lat.size), np.arange(lon.size)
    # Latitude is monotonic in every file: the selected rows are one run.
    first, last = int(rows.min()), int(rows.max())
    row_slice = slice(first, last + 1)
    lat_read = lat[row_slice]
    lat_order = np.argsort(lat_read, kind="stable")
    lon_read = lon[cols]
    lon_order = np.argsort(lon_read, kind="stable")
    return Selection(
        rows=row_slice,
        columns=_runs(cols),
        lat_order=lat_order,
        lon_order=lon_order,
        latitude=lat_read[lat_order],
        longitude=lon_read[lon_order],
    )


def reorder(block: np.ndarray, order: np.ndarray, axis: int) -> np.ndarray:
    """``block`` taken in ``order`` along ``axis``: a view for the usual layouts.

    Descending latitude is a reversal and 0..360 longitude a rotation; a general
    permutation (never seen in CDS files) falls back to a copy.
    """
    n = order.size
    if n < 2 or np.array_equal(order, np.arange(n)):
        return block
    index: list[slice] = [slice(None)] * block.ndim
    if np.array_equal(order, np.arange(n - 1, -1, -1)):
        index[axis] = slice(None, None, -1)
        return block[tuple(index)]
    k = int(order[0])
    if np.array_equal(order, (np.arange(n) + k) % n):
        return np.roll(block, -k, axis=axis)
    return np.take(block, order, axis=axis)
