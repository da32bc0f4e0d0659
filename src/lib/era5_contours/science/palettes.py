"""Named, value-fixed palettes: a band's colour depends on its values, not on the day.

A :class:`Palette` is a table: ``edges`` cut the value axis into cells, and cell ``i``
(``edges[i-1] < v <= edges[i]``, open-ended below the first and above the last edge, as
bands are numbered) has ``colors[i]``. A variable names its palette as its colour map
(``Variable.default_cmap``, ``LevelScheme.cmap``), so that every temperature variable
can use ``"temperature"``. Bands whose levels are the palette's edges get its cells'
colours exactly; other levels get the colour of the cell holding each band's middle,
so the same temperature is the same colour whatever the levels.

The colours were made in CAM02-UCS by :mod:`era5_tools.palette_design` (which prints
them and the distances they keep; the recipes and reasons are there):

- ``temperature``: 2 degC cells from -50 to 50 degC, one hue family per 10 degC (cyan,
  blue, blue-violet, violet, purple going colder; yellow, amber, orange, crimson,
  magenta going warmer), darker away from 0 degC inside a decade. Any two bands within
  12 degC differ by Delta E >= 8.35 (normal vision) and >= 4.22 (deuteranopia).
- ``precipitation``: the default daily-total classes (0.1, 1, 2, 5, 10, 20, 50, 100 mm),
  from a cream "dry" through greens and blues to purple, lightness falling 8.6 per
  class: neighbours differ by >= 15.9 (6.7 deuteranopia).
- ``pressure``: pale 4 hPa cells from 960 to 1048 hPa (blue lows, warm highs) for
  mean sea level pressure, under black labelled isobars that carry the reading, lows
  and highs marked L and H (:attr:`Palette.centres`).
- ``wind_speed``: 2 m/s cells up to 30 m/s (calm below 2 m/s), white through yellow and red to violet.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Palette:
    """A value-to-colour table.

    Parameters
    ----------
    name
        What a variable's ``cmap`` calls it.
    edges
        Strictly increasing cell boundaries, in the variable's units.
    colors
        ``len(edges) + 1`` hex colours: below the first edge, each cell, above the last.
    line
        Colour of the isolines and their labels.
    centres
        Marks for the field's lows and highs (``("L", "H")`` on a synoptic chart), or
        None for a field whose extremes are not its story.
    """

    name: str
    edges: tuple[float, ...]
    colors: tuple[str, ...]
    line: str
    centres: tuple[str, str] | None = None

    def __post_init__(self) -> None:
        if len(self.colors) != len(self.edges) + 1:
            raise ValueError(f"palette {self.name}: needs {len(self.edges) + 1} colours")
        if np.any(np.diff(self.edges) <= 0):
            raise ValueError(f"palette {self.name}: edges must be strictly increasing")

    def band_colors(self, levels: Sequence[float] | np.ndarray) -> list[str]:
        """Hex colours of bands ``0..len(levels)`` of a level list.

        A closed band takes the colour of the cell holding its middle; the open band
        below takes the cell ending at the first level, the open band above the cell
        starting at the last one.
        """
        lv = np.asarray(levels, dtype=float)
        edges = np.asarray(self.edges)
        middles = (lv[:-1] + lv[1:]) / 2
        cells = [
            int(np.searchsorted(edges, lv[0], side="left")),
            *np.searchsorted(edges, middles, side="left").tolist(),
            int(np.searchsorted(edges, lv[-1], side="right")),
        ]
        return [self.colors[i] for i in cells]


def _hex(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _steps(first: float, last: float, step: float) -> tuple[float, ...]:
    count = round((last - first) / step) + 1
    return tuple(round(first + step * i, 10) for i in range(count))


TEMPERATURE = Palette(
    name="temperature",
    edges=_steps(-50.0, 50.0, 2.0),
    colors=_hex(
        # below -50, then -50..-48 ... 48..50, then above 50 (degC)
        "#bc9fba #2f0035 #4e0058 #6c0079 #8a009a #a900bc #4f0092 "
        "#6224a9 #753ebe #8955d3 #9e6be9 #5616ff #614bff #716bff "
        "#8687ff #9ea2ff #007bd2 #0091f6 #4da7ff #80bdff #aed4ff "
        "#00a9bc #00c2d7 #00ddf5 #90efff #ecfcff #fff7e8 #ffd757 "
        "#ebbb00 #cea400 #b38f00 #ffbf74 #fc9a00 #dd8600 #bf7400 "
        "#a36200 #ff7d3c #e96219 #cd4e00 #ad4000 #8e3300 #f11c64 "
        "#d10052 #ae0043 #8c0035 #6b0026 #b4117f #960068 #750051 "
        "#550039 #330021 #c89ba7"
    ),
    line="#3d3d3d",
)
PRECIPITATION = Palette(
    name="precipitation",
    edges=(0.1, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0),
    colors=_hex("#faf5e0 #b4ed6a #00e277 #00c2a6 #00a3bb #007eee #6b49e2 #7b17a7 #6c0063"),
    line="#2f3b4c",
)
PRESSURE = Palette(
    name="pressure",
    edges=_steps(960.0, 1048.0, 4.0),
    colors=_hex(
        "#77c0d3 #7bbacd #8fc5d8 #91bfd2 #a4cadd #a4c4d6 #b6d0e1 "
        "#b5cada #c6d7e5 #c4d1de #d5dee9 #d3d9e1 #e3e6ed #e0e1e6 "
        "#f3ebe1 #e7ddcf #eee1cf #e3d2bd #ecd6bd #e1c7ac #eacaac "
        "#e1bb9b #eabe9c #e1af8d"
    ),
    # Synoptic charts draw isobars black, and mark the lows and highs.
    line="#000000",
    centres=("L", "H"),
)
WIND_SPEED = Palette(
    name="wind_speed",
    edges=_steps(2.0, 30.0, 2.0),
    colors=_hex(
        "#f4f6eb #d1f748 #e6dd16 #f2c300 #f8aa00 #fd9000 #fb7721 "
        "#f3623b #e84f51 #d93e67 #c8307c #b5218f #a112a0 #8b00ad "
        "#7300b1 #5a00b2"
    ),
    line="#333333",
)

PALETTES: dict[str, Palette] = {
    p.name: p for p in (TEMPERATURE, PRECIPITATION, PRESSURE, WIND_SPEED)
}


def palette(name: str) -> Palette | None:
    """The palette called ``name``, or None (a matplotlib colour map name, say)."""
    return PALETTES.get(name)
