"""An area of the globe, as the CDS and both jobs' ``--area`` take it: N, W, S, E."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Area:
    """An area: north, west, south, east in degrees, the CDS's order.

    Longitudes run from ``west`` to ``east`` (``-180 <= west < east <= 360``): an area
    across the antimeridian goes past 180 (``10,170,-10,190``), as the CDS takes it.
    """

    north: float
    west: float
    south: float
    east: float

    def __post_init__(self) -> None:
        if not all(math.isfinite(v) for v in self.as_list()):
            raise ValueError(f"area values must be finite numbers: {self.as_list()}")
        if not -90.0 <= self.south < self.north <= 90.0:
            raise ValueError(
                f"area needs -90 <= SOUTH < NORTH <= 90, got north={self.north} south={self.south}"
            )
        if not -180.0 <= self.west < self.east <= 360.0:
            raise ValueError(
                f"area needs -180 <= WEST < EAST <= 360, got west={self.west} east={self.east}"
            )

    @classmethod
    def parse(cls, text: str) -> Area:
        """``"52,-6,40,10"`` (NORTH,WEST,SOUTH,EAST, the CDS order)."""
        parts = [p.strip() for p in str(text).split(",")]
        if len(parts) != 4:
            raise ValueError(f"area must be NORTH,WEST,SOUTH,EAST, got {text!r}")
        try:
            north, west, south, east = (float(p) for p in parts)
        except ValueError:
            raise ValueError(f"area must be four numbers NORTH,WEST,SOUTH,EAST: {text!r}") from None
        return cls(north, west, south, east)

    def as_list(self) -> list[float]:
        """``[north, west, south, east]`` as the CDS takes it."""
        return [self.north, self.west, self.south, self.east]

    def text(self) -> str:
        """``"52,-6,40,10"``: what ``--area`` takes, for messages and records."""
        return ",".join(f"{v:g}" for v in self.as_list())

    def longitudes(self, lon: Any) -> Any:
        """Longitudes (any convention, numpy arrays or floats) in this area's frame.

        Each is moved by whole turns into ``[west, west + 360)``: a cell is inside the
        area when it is then at most ``east``, and the area's cells sort in order from
        west to east, across 0 or 180 degrees alike.
        """
        return self.west + (lon - self.west) % 360.0
