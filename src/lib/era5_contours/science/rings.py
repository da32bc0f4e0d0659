"""Polygon rings as ragged arrays, cleaned in numpy.

Contour polygons come as shapely's ragged arrays ``(points, ring offsets, polygon
offsets)``; a day's drizzle makes thousands of small polygons. This module does the
per-ring work for all rings at once, before GEOS sees any of them:

- rounding to ``precision`` decimals, dropping repeated vertices, rings with fewer than
  three distinct vertices and rings whose vertices all lie on one line (no area at that
  precision), orienting shells counter-clockwise and holes clockwise (RFC 7946);
- bounding boxes, and taking a subset of polygons.

Rounded coordinates lie on a lattice of step ``10**-precision``. On it the area and
orientation tests are exact: lattice coordinates are integers (held in float64, exact below
2**53), and the products of two differences within a ring stay below 2**53 up to
:data:`EXACT_PRECISION` decimals on any ring of the globe. A polygon whose vertices all
lie on the lattice has an area of at least half a lattice cell (Pick's theorem) unless it
has none: that is the resolution at which a ring's area vanishes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The most decimals at which the lattice arithmetic is exact everywhere: 360 degrees are
#: 3.6e7 steps at 5 decimals, and the product of two such differences (1.3e15) is below
#: 2**53. At more decimals (or none) areas and orientations are taken in floating point.
EXACT_PRECISION = 5


@dataclass(frozen=True)
class Rounded:
    """Rings after :func:`round_rings`.

    ``dropped`` holds the bounding boxes ``(xmin, ymin, xmax, ymax)`` of the rings that
    were dropped, for the checks of what their disappearance may have changed around them.
    """

    pts: np.ndarray
    rings: np.ndarray
    polys: np.ndarray
    dropped: np.ndarray

    @property
    def collapsed(self) -> int:
        """How many rings were dropped (a shell's holes included)."""
        return len(self.dropped)


def offsets_of(counts: np.ndarray) -> np.ndarray:
    """Offsets (``[0, c0, c0 + c1, ...]``, int64) of consecutive runs of ``counts`` items."""
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def run_of(offsets: np.ndarray) -> np.ndarray:
    """For each item, the index of the run holding it (runs given by their offsets)."""
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def boxes(pts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """``(xmin, ymin, xmax, ymax)`` of each run of points (runs must not be empty)."""
    if len(offsets) < 2:
        return np.empty((0, 4))
    starts = offsets[:-1]
    lo = np.minimum.reduceat(pts, starts, axis=0)
    hi = np.maximum.reduceat(pts, starts, axis=0)
    return np.concatenate([lo, hi], axis=1)


def polygon_boxes(pts: np.ndarray, rings: np.ndarray, polys: np.ndarray) -> np.ndarray:
    """Bounding box of each polygon: the same numbers as GEOS's envelope."""
    return boxes(pts, rings[polys])


def take_polygons(
    pts: np.ndarray, rings: np.ndarray, polys: np.ndarray, keep: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The polygons where ``keep`` (one bool per polygon) is true, as ragged arrays."""
    ring_keep = np.repeat(keep, np.diff(polys))
    pt_keep = np.repeat(ring_keep, np.diff(rings))
    return (
        pts[pt_keep],
        offsets_of(np.diff(rings)[ring_keep]),
        offsets_of(np.diff(polys)[keep]),
    )


def lattice_of(pts: np.ndarray, precision: int | None) -> np.ndarray | None:
    """Lattice coordinates of points rounded to ``precision`` (None if not exact)."""
    if precision is None or precision > EXACT_PRECISION:
        return None
    lattice: np.ndarray = np.rint(pts * 10.0**precision)
    return lattice


def repeated(x: np.ndarray, y: np.ndarray, run: np.ndarray) -> np.ndarray:
    """True where a point equals the previous one of its run."""
    same = np.zeros(len(x), dtype=bool)
    same[1:] = (x[1:] == x[:-1]) & (y[1:] == y[:-1]) & (run[1:] == run[:-1])
    return same


def _shoelace(d: np.ndarray, rings: np.ndarray) -> np.ndarray:
    """Twice the signed area of each ring, points ``d`` relative to their ring's first."""
    x, y = d[:, 0], d[:, 1]
    cross = np.zeros(len(d))
    cross[:-1] = x[:-1] * y[1:] - x[1:] * y[:-1]
    cross[rings[1:] - 1] = 0.0  # no edge from a ring's last vertex to the next ring
    area2: np.ndarray = np.add.reduceat(cross, rings[:-1])
    return area2


def _relative(pts: np.ndarray, rings: np.ndarray, ring_of: np.ndarray) -> np.ndarray:
    """Each point minus its ring's first point: small numbers, so products stay exact."""
    d: np.ndarray = pts - pts[rings[:-1]][ring_of]
    return d


def _flat(d: np.ndarray, rings: np.ndarray, which: np.ndarray) -> np.ndarray:
    """True for the rings in ``which`` whose points all lie on one line.

    ``d`` holds the points relative to their ring's first (:func:`_relative`).
    """
    flat = np.zeros(len(rings) - 1, dtype=bool)
    index = np.flatnonzero(which)
    if not index.size:
        return flat
    sub_pts, sub_rings, _ = take_polygons(d, rings, np.arange(len(rings)), which)
    ring_of = run_of(sub_rings)
    # The second point differs from the first (repeats are gone): the line's direction.
    u = sub_pts[sub_rings[:-1] + 1][ring_of]
    off_line = (sub_pts[:, 0] * u[:, 1] - sub_pts[:, 1] * u[:, 0]) != 0.0
    flat[index] = np.bincount(ring_of[off_line], minlength=index.size) == 0
    return flat


def round_rings(
    pts: np.ndarray, rings: np.ndarray, polys: np.ndarray, precision: int | None
) -> Rounded:
    """Round vertices; drop repeated ones and degenerate rings; orient rings (numpy only).

    A ring is dropped when fewer than three distinct vertices remain, or when on the
    lattice all its vertices lie on one line: rounding flattened it, and it has no area at
    this precision (GEOS may still see a sliver of 1e-17 in the decimal floats, and give it
    either orientation). A dropped shell takes its holes with it. Shells come out
    counter-clockwise and holes clockwise (RFC 7946), by the sign of the exact lattice
    area where it is exact.
    """
    if precision is not None:
        pts = np.round(pts, precision)
    n_rings = len(rings) - 1
    if n_rings == 0:
        return Rounded(pts, rings, polys, np.empty((0, 4)))
    ring_of = run_of(rings)
    same = repeated(pts[:, 0], pts[:, 1], ring_of)
    if same.any():
        pts, ring_of = pts[~same], ring_of[~same]
    counts = np.bincount(ring_of, minlength=n_rings)
    rings = offsets_of(counts)
    lattice = lattice_of(pts, precision)
    d = _relative(lattice if lattice is not None else pts, rings, ring_of)
    area2 = _shoelace(d, rings)
    # A closed ring needs 3 distinct vertices plus the closing one; a flat one has no
    # area on the lattice (exactly 0 there), which only a few rings have to be tested for.
    alive = counts >= 4
    if lattice is not None:
        alive &= ~_flat(d, rings, alive & (area2 == 0.0))
    outer = np.zeros(n_rings, dtype=bool)
    outer[polys[:-1]] = True
    keep_ring = alive & alive[polys[:-1]][run_of(polys)]
    dropped = np.empty((0, 4))
    if not keep_ring.all():
        dropped = boxes(pts, rings)[~keep_ring]
        keep_pt = keep_ring[ring_of]
        pts, ring_of = pts[keep_pt], (np.cumsum(keep_ring) - 1)[ring_of[keep_pt]]
        outer, counts, area2 = outer[keep_ring], counts[keep_ring], area2[keep_ring]
        rings = offsets_of(counts)
    polys = np.append(np.flatnonzero(outer), len(counts)).astype(np.int64)
    wrong = np.where(outer, area2 < 0, area2 > 0)
    if wrong.any():
        pts = pts[_reversed_index(rings, ring_of, wrong)]
    return Rounded(pts, rings, polys, dropped)


def _reversed_index(rings: np.ndarray, ring_of: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """Point order with the rings where ``flip`` reversed (first point kept first)."""
    index = np.arange(len(ring_of))
    on = flip[ring_of]
    start, end = rings[:-1][ring_of], rings[1:][ring_of] - 1
    index[on] = (start + end - index)[on]
    return index
