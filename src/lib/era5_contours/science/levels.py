"""Contour level schemes and the colours of their bands.

A scheme turns a field's value range into a strictly increasing list of levels. Bands
are numbered against that list so that styles stay stable from day to day:
``band_index`` 0 holds values up to ``levels[0]`` (open-ended below), ``i`` holds
``(levels[i-1], levels[i]]`` and ``len(levels)`` holds values above the last level
(open-ended above). Intervals are closed at the top, as contourpy and matplotlib fill them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from era5_common.variables import variable

from .palettes import palette

if TYPE_CHECKING:
    from matplotlib.colors import Colormap

#: Non-linear daily precipitation levels (mm): light rain is resolved, storms are not
#: flattened into one band.


@dataclass(frozen=True)
class LevelScheme:
    """How to choose contour levels.

    Parameters
    ----------
    kind
        ``"fixed"`` (``values`` used as given) or ``"interval"`` (multiples of ``step``
        shifted by ``offset``, over ``[vmin, vmax]`` when given, else over the data range).
    values
        The levels of a fixed scheme.
    step, offset, vmin, vmax
        The interval scheme's parameters.
    cmap
        The band and line colours: a value-fixed palette of
        :mod:`~era5_contours.science.palettes` (``"temperature"``), else a matplotlib
        colour map name, sampled evenly over the bands.
    """

    kind: str
    values: tuple[float, ...] = ()
    step: float = 1.0
    offset: float = 0.0
    vmin: float | None = None
    vmax: float | None = None
    cmap: str = "viridis"

    def __post_init__(self) -> None:
        if self.kind == "fixed":
            v = np.asarray(self.values, dtype=float)
            if v.size == 0 or not np.all(np.isfinite(v)) or np.any(np.diff(v) <= 0):
                raise ValueError(f"fixed levels must be finite and strictly increasing: {v}")
        elif self.kind == "interval":
            if not (self.step > 0 and math.isfinite(self.step)):
                raise ValueError(f"interval step must be positive, got {self.step}")
            if self.vmin is not None and self.vmax is not None and self.vmin >= self.vmax:
                raise ValueError(f"interval bounds must satisfy vmin < vmax: {self}")
        else:
            raise ValueError(f"unknown level scheme kind {self.kind!r}")

    @classmethod
    def fixed(cls, values: Iterable[float], cmap: str = "viridis") -> LevelScheme:
        """A fixed, strictly increasing list of levels."""
        return cls(kind="fixed", values=tuple(float(v) for v in values), cmap=cmap)

    @classmethod
    def interval(
        cls,
        step: float,
        offset: float = 0.0,
        vmin: float | None = None,
        vmax: float | None = None,
        cmap: str = "viridis",
    ) -> LevelScheme:
        """Levels every ``step`` from ``offset``, within ``vmin..vmax`` or the data's range."""
        return cls(kind="interval", step=step, offset=offset, vmin=vmin, vmax=vmax, cmap=cmap)

    @classmethod
    def parse(cls, text: str, cmap: str = "viridis") -> LevelScheme:
        """Parse a command-line level spec.

        ``"0.1,1,2,5"`` is a fixed list; ``"interval:STEP[:OFFSET[:MIN:MAX]]"`` an interval.
        """
        text = text.strip()
        if text.startswith("interval:"):
            parts = [float(p) for p in text.split(":")[1:]]
            if len(parts) not in (1, 2, 4):
                raise ValueError(f"interval spec is interval:STEP[:OFFSET[:MIN:MAX]], got {text!r}")
            step = parts[0]
            offset = parts[1] if len(parts) > 1 else 0.0
            vmin, vmax = (parts[2], parts[3]) if len(parts) == 4 else (None, None)
            return cls.interval(step, offset, vmin, vmax, cmap=cmap)
        try:
            values = [float(p) for p in text.split(",") if p.strip()]
        except ValueError as exc:
            raise ValueError(f"cannot parse levels {text!r}: {exc}") from None
        return cls.fixed(values, cmap=cmap)

    def levels_for(self, data: np.ndarray | None = None) -> np.ndarray:
        """The levels for a field (``data`` is needed only by an unbounded interval)."""
        if self.kind == "fixed":
            return np.asarray(self.values, dtype=float)
        lo, hi = self.vmin, self.vmax
        if lo is None or hi is None:
            if data is None:
                raise ValueError("an interval scheme without bounds needs the data")
            finite = np.asarray(data, dtype=float)
            finite = finite[np.isfinite(finite)]
            if finite.size == 0:
                raise ValueError("no finite values to choose levels from")
            lo = float(finite.min()) if lo is None else lo
            hi = float(finite.max()) if hi is None else hi
        k0 = math.ceil((lo - self.offset) / self.step - 1e-9)
        k1 = math.floor((hi - self.offset) / self.step + 1e-9)
        if k1 < k0:
            # A flat field between two levels still gets one level: the one just above it.
            k1 = k0
        levels = self.offset + self.step * np.arange(k0, k1 + 1, dtype=float)
        # Round away binary noise (0.30000000000000004) so titles and WKT stay clean.
        return np.round(levels, 10)


#: A colour map name ending in this draws every other band darker (``turbo_stepped``).
STEPPED = "_stepped"
#: Brightness of the darker bands of a stepped palette, and how far the dark end's
#: bands are lifted towards white instead (darkening near-black blues shows little):
#: neighbouring bands of turbo_stepped then differ by CIELAB delta E >= 9.6, which a
#: reader sees at once, while the hue follows the value across the whole scale.
STEP_SHADE = 0.8
STEP_LIFT = 0.2
_DARK = 0.3  # relative luminance below which a band is lifted rather than darkened


def _colormap(cmap: str) -> Colormap:
    # matplotlib only here: its colour maps are the palettes (imported when colours are asked).
    from matplotlib import colormaps

    return colormaps[cmap.removesuffix(STEPPED)]


def band_colors(levels: np.ndarray, cmap: str) -> list[str]:
    """Hex colours for bands 0..len(levels).

    A palette name (:data:`~era5_contours.science.palettes.PALETTES`) gives each band the
    colour of its values, the same every day. Any other name is a matplotlib colour map,
    sampled evenly over the bands. With a name ending in ``_stepped`` (``turbo_stepped``,
    the t2m default before the palettes), odd bands are drawn darker (:data:`STEP_SHADE`), or lighter where the map is dark: over a fixed
    scale of 51 levels neighbouring 2 degC bands are only a 52nd of the colour map apart,
    too close to tell apart on a regional map, and alternating the lightness separates
    them.
    """
    fixed = palette(cmap)
    if fixed is not None:
        return fixed.band_colors(levels)
    from matplotlib.colors import to_hex

    n_bands = len(levels) + 1
    cm = _colormap(cmap)
    stepped = cmap.endswith(STEPPED)
    out = []
    for i in range(n_bands):
        rgb = np.asarray(cm((i + 0.5) / n_bands)[:3])
        if stepped and i % 2:
            luminance = float(rgb @ [0.2126, 0.7152, 0.0722])
            rgb = rgb + (1.0 - rgb) * STEP_LIFT if luminance < _DARK else rgb * STEP_SHADE
        out.append(to_hex((float(rgb[0]), float(rgb[1]), float(rgb[2]))))
    return out


#: Isolines are drawn at this share of their colour's brightness: in the colour between
#: their two bands they would vanish against the fills on a web map.
LINE_SHADE = 0.55


def line_colors(levels: np.ndarray, cmap: str) -> list[str]:
    """Hex colours for the isolines at each level.

    A palette's own line colour (one neutral colour reads against every fill, and its
    labels with it); for a matplotlib colour map, the colour between the two bands,
    darkened so the line stands out against both fills.
    """
    fixed = palette(cmap)
    if fixed is not None:
        return [fixed.line] * len(levels)
    from matplotlib.colors import to_hex

    n_bands = len(levels) + 1
    cm = _colormap(cmap)
    out = []
    for i in range(len(levels)):
        r, g, b, _ = cm((i + 1) / n_bands)
        out.append(to_hex((r * LINE_SHADE, g * LINE_SHADE, b * LINE_SHADE)))
    return out


def default_scheme(name: str) -> LevelScheme:
    """The default scheme of a variable (its registry entry, :mod:`era5_common.variables`)."""
    v = variable(name)
    return LevelScheme.parse(v.default_levels, cmap=v.default_cmap)
