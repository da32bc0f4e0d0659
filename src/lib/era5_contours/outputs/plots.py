"""PNG maps of a daily field, coloured exactly like the GeoJSON bands, with labelled isolines.

Isolines are labelled along the lines as on a synoptic chart
(:mod:`~era5_contours.outputs.isolines`). Only the matplotlib object API is used
(``Figure`` + ``FigureCanvasAgg``): pyplot keeps a global registry of figures, which leaks
memory in long-running Spark executors and is not thread-safe.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import math
from typing import Literal

import numpy as np
import xarray as xr
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import BoundaryNorm, ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import PathPatch
from matplotlib.path import Path as MplPath
from matplotlib.text import Text
from matplotlib.ticker import FuncFormatter

from era5_contours.inputs.datasets import SAMPLE_ATTR
from era5_contours.science.levels import band_colors, line_colors
from era5_contours.science.palettes import palette

from .borders import boundary_segments
from .isolines import HALO, LABEL_SIZE, Box, draw_isolines
from .labels import SYNTHETIC_NOTE, display_units, number

#: Which ends of a colour bar are open (matplotlib's ``extend``).
Extend = Literal["neither", "min", "max", "both"]

logger = logging.getLogger(__name__)

_BACKGROUND = "white"
_COAST_COLOR = "#1a1a1a"
_MAX_TICK_LABELS = 15


def _day_text(field: xr.DataArray) -> str | None:
    if "day" not in field.coords or field.coords["day"].ndim != 0:
        return None
    value = field.coords["day"].item()
    if isinstance(value, (int, np.integer)):
        # .item() on datetime64[ns] gives integer nanoseconds.
        value = np.datetime64(int(value), "ns")
    if isinstance(value, np.datetime64):
        return str(value.astype("datetime64[D]"))
    if isinstance(value, (dt.datetime, dt.date)):
        return value.strftime("%Y-%m-%d")
    return str(value)


def _is_false(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("false", "0", "no")
    return value is not None and not bool(value)


def map_title(field: xr.DataArray) -> str:
    """Title from ``long_name``, the ``day`` coordinate and ``units``.

    For example ``"2 m temperature, daily mean, 2020-07-01, °C"``; a day whose
    ``complete`` attribute is false adds ``"(incomplete: N samples)"``, and a field read
    from the synthetic sample (its :data:`~era5_contours.inputs.datasets.SAMPLE_ATTR`)
    ends in ``"(synthetic sample)"``, so that no one takes it for ERA5. A field cut to an
    ``--area`` (its ``area`` attribute) says so: ``"area 52,-6,40,10"``.
    """
    name = field.attrs.get("long_name") or field.name or "field"
    parts = [str(name)]
    day = _day_text(field)
    if day:
        parts.append(day)
    units = field.attrs.get("units")
    if units:
        parts.append(display_units(str(units)))
    if field.attrs.get("area"):
        parts.append(f"area {field.attrs['area']}")
    title = ", ".join(parts)
    if _is_false(field.attrs.get("complete")):
        samples = field.attrs.get("samples")
        title += (
            f" (incomplete: {int(samples)} samples)" if samples is not None else " (incomplete)"
        )
    if field.attrs.get(SAMPLE_ATTR):
        title += f" ({SYNTHETIC_NOTE})"
    return title


def colorbar_bands(levels: np.ndarray, data: np.ndarray) -> tuple[np.ndarray, slice, Extend]:
    """The part of the level list worth showing on a colour bar.

    A 2 degC scheme over -50..50 has 51 levels, of which a regional day uses a handful:
    the bar shows only the bands present, with a triangle only at a truly open end.

    Returns
    -------
    bounds
        Levels bounding the bands shown (at least two when ``levels`` has two).
    colors
        Slice of ``band_colors(levels, ...)`` giving the colours of the bar, triangles
        included.
    extend
        ``"neither"``, ``"min"``, ``"max"`` or ``"both"``.
    """
    levels = np.asarray(levels, dtype=float)
    n = len(levels)
    values = np.asarray(data, dtype=float)
    if not np.isfinite(values).any():
        lo_band, hi_band = 0, n
    else:
        # Band i holds levels[i-1] < v <= levels[i]: searchsorted 'left' gives exactly i.
        lo_band = int(np.searchsorted(levels, np.nanmin(values), side="left"))
        hi_band = int(np.searchsorted(levels, np.nanmax(values), side="left"))
    # Bands lo..hi are bounded by levels[lo-1] .. levels[hi], clipped to the list.
    first, last = max(lo_band - 1, 0), min(hi_band, n - 1)
    if last == first and n >= 2:
        # One level alone cannot make a bar: widen towards the side that exists.
        if last < n - 1:
            last += 1
        else:
            first -= 1
    ends: dict[tuple[bool, bool], Extend] = {
        (True, True): "both",
        (True, False): "min",
        (False, True): "max",
    }
    extend = ends.get((lo_band == 0 and first == 0, hi_band == n and last == n - 1), "neither")
    # Colours of bands first+1..last, plus the triangle bands (first, last+1) when open.
    c0 = first if extend in ("min", "both") else first + 1
    c1 = last + 2 if extend in ("max", "both") else last + 1
    return levels[first : last + 1], slice(c0, c1), extend


def band_image(values: np.ndarray, levels: np.ndarray, colors: list[str]) -> np.ndarray:
    """RGBA image (rows as ``values``, bytes) of each cell's band colour; NaN cells transparent.

    Band ``i`` holds ``levels[i-1] < v <= levels[i]`` (``searchsorted`` side left), the
    bands of the GeoJSON and of ``contourf``. Bytes, not floats: matplotlib copies and
    resamples the image to the axes' pixels, an eighth of the work in bytes (0.05 s per
    global 0.25 degree map in float64), and the colours are bytes in the PNG anyway.
    """
    from matplotlib.colors import to_rgba_array

    rgba = np.vstack([to_rgba_array(colors), [0.0, 0.0, 0.0, 0.0]])
    table = np.round(rgba * 255.0).astype(np.uint8)
    index = np.searchsorted(levels, values, side="left")
    index[np.isnan(values)] = len(colors)
    return table[index]


def _map_pixels(fig: Figure, ax: Axes) -> tuple[float, float]:
    """Width and height of the map axes in pixels (before the aspect shrinks one)."""
    pos = ax.get_position()
    return pos.width * fig.get_figwidth() * fig.dpi, pos.height * fig.get_figheight() * fig.dpi


def _half(axis: np.ndarray) -> float:
    return 0.5 * abs(float(axis[1] - axis[0])) if axis.size > 1 else 0.5


def _default_figsize(lon_span: float, lat_span: float, mid_lat: float) -> tuple[float, float]:
    ratio = lat_span / max(lon_span * math.cos(math.radians(mid_lat)), 1e-6)
    ratio = min(max(ratio, 0.3), 2.0)
    # 8 in wide, of which about 5.6 in are left to the map beside labels and colour bar;
    # about 1 in of height goes to the title and the longitude labels.
    return 8.0, round(5.6 * ratio + 1.0, 2)


def _degree_formatter(pos: str, neg: str) -> FuncFormatter:
    def fmt(value: float, _pos: int) -> str:
        value = round(value, 6) + 0.0  # no "-0°"
        suffix = "" if value == 0 else (pos if value > 0 else neg)
        return f"{abs(value):g}°{suffix}"

    return FuncFormatter(fmt)


#: Lows and highs are looked for on a grid of at most this many points along its longer
#: side, within a square window of this share of the shorter side.
_CENTRE_GRID = 160
_CENTRE_WINDOW = 0.25


def _window_extreme(values: np.ndarray, half: int, reduce: str) -> np.ndarray:
    """The min or max of the ``(2 half + 1)`` square around each cell (NaN ignored)."""
    fill = np.inf if reduce == "min" else -np.inf
    out = np.where(np.isfinite(values), values, fill)
    func = np.min if reduce == "min" else np.max
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (half, half)
        padded = np.pad(out, pad, constant_values=fill)
        windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * half + 1, axis=axis)
        out = func(windows, axis=-1)
    return out


def field_centres(
    lon: np.ndarray, lat: np.ndarray, values: np.ndarray, depth: float
) -> list[tuple[str, float, float, float]]:
    """Lows and highs of a field: ``("low" | "high", lon, lat, value)``.

    A low is the lowest point of the square window around it (a quarter of the map's
    shorter side), at least ``depth`` below the window's highest, and not on the map's
    edge (a field that falls towards the edge has no centre inside the map); highs
    likewise. Searched on a grid of about :data:`_CENTRE_GRID` points a side.
    """
    step = max(1, int(max(values.shape) // _CENTRE_GRID))
    grid = values[::step, ::step]
    x, y = lon[::step], lat[::step]
    half = max(2, int(_CENTRE_WINDOW * min(grid.shape) / 2))
    lowest = _window_extreme(grid, half, "min")
    highest = _window_extreme(grid, half, "max")
    inner = np.zeros(grid.shape, dtype=bool)
    inner[half:-half, half:-half] = True
    found: list[tuple[str, float, float, float]] = []
    for kind, hits in (
        ("low", (grid == lowest) & (highest - grid >= depth)),
        ("high", (grid == highest) & (grid - lowest >= depth)),
    ):
        taken: list[tuple[int, int]] = []
        for i, j in zip(*np.nonzero(hits & inner & np.isfinite(grid)), strict=True):
            # One mark per centre, however many cells share its value.
            if any(abs(i - a) <= half and abs(j - b) <= half for a, b in taken):
                continue
            taken.append((int(i), int(j)))
            found.append((kind, float(x[j]), float(y[i]), float(grid[i, j])))
    return found


#: The size of a centre's letter (its value is written at the isolines' label size).
CENTRE_SIZE = 12.0


def draw_centres(
    ax: Axes,
    centres: list[tuple[str, float, float, float]],
    marks: tuple[str, str],
    color: str,
) -> list[Text]:
    """``L`` and ``H`` (``marks``) over their value at each of ``centres``."""
    texts: list[Text] = []
    halo = [patheffects.withStroke(linewidth=2.5, foreground=HALO)]
    for kind, x, y, value in centres:
        letter = marks[0] if kind == "low" else marks[1]
        for text, size, offset, va in (
            (letter, CENTRE_SIZE, 0.0, "bottom"),
            (number(round(value)), LABEL_SIZE, -1.0, "top"),
        ):
            texts.append(
                ax.annotate(
                    text,
                    (x, y),
                    xytext=(0.0, offset),
                    textcoords="offset points",
                    ha="center",
                    va=va,
                    color=color,
                    fontsize=size,
                    fontweight="bold",
                    zorder=5,
                    path_effects=halo,
                )
            )
    return texts


def render_map_png(
    field: xr.DataArray,
    levels: np.ndarray,
    *,
    cmap: str,
    title: str | None = None,
    coastlines: bool = True,
    isolines: bool = True,
    dpi: int = 110,
    figsize: tuple[float, float] | None = None,
) -> bytes:
    """Render a (latitude, longitude) field as filled contour bands on a lon/lat map.

    Parameters
    ----------
    field
        2-D field with ``units`` and ``long_name`` attributes; NaN cells stay blank.
    levels
        Strictly increasing contour levels; band colours are
        ``band_colors(levels, cmap)``, the same as in the GeoJSON output.
    cmap
        Matplotlib colormap name.
    title
        Defaults to :func:`map_title`.
    coastlines
        Draw Natural Earth coastlines and borders when the optional package is installed.
    isolines
        Draw the isolines of the levels, in the palette's line colour, labelled along
        the lines (:func:`draw_isolines`).
    dpi, figsize
        Output resolution; the PNG is ``figsize * dpi`` pixels.

    Returns
    -------
    bytes
        The PNG file.
    """
    fig = map_figure(
        field,
        levels,
        cmap=cmap,
        title=title,
        coastlines=coastlines,
        isolines=isolines,
        dpi=dpi,
        figsize=figsize,
    )
    return figure_png(fig)


def figure_png(fig: Figure) -> bytes:
    """PNG bytes of a figure at its own dpi (no cropping, so the size is figsize * dpi)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=fig.dpi, facecolor=fig.get_facecolor())
    return buf.getvalue()


def map_figure(
    field: xr.DataArray,
    levels: np.ndarray,
    *,
    cmap: str,
    title: str | None = None,
    coastlines: bool = True,
    isolines: bool = True,
    dpi: int = 110,
    figsize: tuple[float, float] | None = None,
) -> Figure:
    """The figure behind :func:`render_map_png` (map axes first, then the colour bar)."""
    levels = np.asarray(levels, dtype=float)
    if levels.ndim != 1 or levels.size == 0 or np.any(np.diff(levels) <= 0):
        raise ValueError(f"levels must be a non-empty increasing 1-D array, got {levels}")
    if set(field.dims) != {"latitude", "longitude"}:
        raise ValueError(f"expected dims (latitude, longitude), got {field.dims}")
    field = field.transpose("latitude", "longitude")
    if not all(field.indexes[d].is_monotonic_increasing for d in ("latitude", "longitude")):
        field = field.sortby(["latitude", "longitude"])  # a copy: only when needed
    if field.sizes["latitude"] < 2 or field.sizes["longitude"] < 2:
        raise ValueError(f"need at least 2x2 grid points to contour, got {dict(field.sizes)}")
    lon = np.asarray(field["longitude"].values, dtype=float)
    lat = np.asarray(field["latitude"].values, dtype=float)
    values = np.asarray(field.values, dtype=float)
    has_data = bool(np.isfinite(values).any())
    colors = band_colors(levels, cmap)
    xmin, xmax, ymin, ymax = lon[0], lon[-1], lat[0], lat[-1]
    mid_lat = 0.5 * (ymin + ymax)
    if figsize is None:
        figsize = _default_figsize(xmax - xmin, ymax - ymin, mid_lat)

    # Fixed margins: the constrained-layout solver cost ~45% of a render (measured on a
    # France tp day: 2.3 s vs 1.3 s), and figsize already follows the map's aspect.
    fig = Figure(figsize=figsize, dpi=dpi)
    fig.subplots_adjust(left=0.1, right=0.9, bottom=0.07, top=0.94)
    FigureCanvasAgg(fig)
    fig.set_facecolor("white")
    ax = fig.add_subplot()
    ax.set_facecolor(_BACKGROUND)
    pixels = _map_pixels(fig, ax)
    if has_data:
        _draw_bands(ax, lon, lat, values, levels, colors, pixels)
    if coastlines:
        _draw_borders(ax, (xmin, ymin, xmax, ymax), pixels)
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    # Equirectangular with the scale true at mid-latitude.
    ax.set_aspect(1.0 / max(math.cos(math.radians(mid_lat)), 0.05))
    if isolines and has_data:
        _draw_isolines(fig, ax, lon, lat, values, levels, cmap, pixels)
    ax.xaxis.set_major_formatter(_degree_formatter("E", "W"))
    ax.yaxis.set_major_formatter(_degree_formatter("N", "S"))
    ax.set_xlabel("longitude")
    ax.set_ylabel("latitude")
    ax.set_title(map_title(field) if title is None else title, fontsize="medium")
    _draw_colorbar(fig, ax, levels, values, colors, str(field.attrs.get("units", "")))
    return fig


def _draw_bands(
    ax: Axes,
    lon: np.ndarray,
    lat: np.ndarray,
    values: np.ndarray,
    levels: np.ndarray,
    colors: list[str],
    pixels: tuple[float, float],
) -> None:
    """The filled bands: cells coloured by band, or contourf on coarser grids than pixels."""
    if lon.size >= pixels[0] and lat.size >= pixels[1]:
        # More grid cells than pixels: colour the cells by band, one cell per block of
        # cells a pixel covers, instead of building and filling polygons smaller than a
        # pixel (a global 0.1 degree field has 6.5 million cells for ~500x300 pixels).
        sy, sx = max(1, int(lat.size // pixels[1])), max(1, int(lon.size // pixels[0]))
        cells = values[sy // 2 :: sy, sx // 2 :: sx]
        dx, dy = 2 * _half(lon), 2 * _half(lat)
        x0, y0 = lon[0] - dx / 2, lat[0] - dy / 2
        ax.imshow(
            band_image(cells, levels, colors),
            extent=(x0, x0 + cells.shape[1] * sx * dx, y0, y0 + cells.shape[0] * sy * dy),
            origin="lower",
            interpolation="nearest",
            aspect="auto",
        )
        return
    data = np.ma.masked_invalid(values)
    if len(levels) == 1:
        # contourf needs two levels: close both open bands just outside the data.
        lo = min(float(data.min()), levels[0]) - 1.0
        hi = max(float(data.max()), levels[0]) + 1.0
        ax.contourf(
            lon,
            lat,
            data,
            levels=[lo, levels[0], hi],
            cmap=ListedColormap(colors),
            norm=BoundaryNorm([lo, levels[0], hi], ncolors=2),
        )
        return
    # BoundaryNorm with extend='both' sends the open bands to the first and last of the
    # len(levels)+1 colours, so every band keeps its GeoJSON colour exactly.
    ax.contourf(
        lon,
        lat,
        data,
        levels=levels,
        extend="both",
        cmap=ListedColormap(colors),
        norm=BoundaryNorm(levels, ncolors=len(colors), extend="both"),
    )


def _draw_borders(
    ax: Axes, bounds: tuple[float, float, float, float], pixels: tuple[float, float]
) -> None:
    xmin, ymin, xmax, ymax = bounds
    # Borders simplified to half a pixel: invisible, and far fewer vertices to draw.
    tolerance = 0.5 * (xmax - xmin) / max(pixels[0], 1.0)
    segments = boundary_segments(xmin, ymin, xmax, ymax, tolerance=tolerance)
    if not segments:
        return
    # One path of all the polylines: thousands of Path objects in a LineCollection cost
    # ~0.4 s per global map to build and draw.
    vertices = np.concatenate(segments)
    codes = np.full(len(vertices), MplPath.LINETO, dtype=MplPath.code_type)
    codes[np.cumsum([0, *(len(seg) for seg in segments[:-1])])] = MplPath.MOVETO
    # add_artist, not add_patch: the latter walks every segment for the data limits
    # (seconds on a global map), which the fixed limits make moot.
    ax.add_artist(
        PathPatch(
            MplPath(vertices, codes),
            fill=False,
            edgecolor=_COAST_COLOR,
            linewidth=0.8,
            zorder=3,
        )
    )


def _draw_isolines(
    fig: Figure,
    ax: Axes,
    lon: np.ndarray,
    lat: np.ndarray,
    values: np.ndarray,
    levels: np.ndarray,
    cmap: str,
    pixels: tuple[float, float],
) -> None:
    """Labelled isolines, and the lows' and highs' marks where the palette asks for them."""
    # On about one grid point per pixel: finer lines than pixels draw nothing more.
    sy, sx = max(1, int(lat.size // pixels[1])), max(1, int(lon.size // pixels[0]))
    x, y, grid = lon[::sx], lat[::sy], values[::sy, ::sx]
    fixed = palette(cmap)
    avoid: list[Box] = []
    if fixed is not None and fixed.centres is not None and len(levels) > 1:
        # Lows and highs deeper than one isoline spacing get their mark, and the isoline
        # labels keep clear of it.
        centres = field_centres(x, y, grid, float(np.min(np.diff(levels))))
        draw_centres(ax, centres, fixed.centres, fixed.line)
        ax.apply_aspect()
        # A mark's box: the letter over its value, four digits wide.
        pt = fig.dpi / 72.0
        half_w, half_h = 0.5 * 2.6 * LABEL_SIZE * pt, 0.6 * (CENTRE_SIZE + LABEL_SIZE) * pt
        for _, cx, cy, _ in centres:
            px, py = ax.transData.transform((cx, cy))
            avoid.append(
                (float(px), float(py) + 0.3 * (CENTRE_SIZE - LABEL_SIZE) * pt, half_w, half_h)
            )
    draw_isolines(ax, x, y, grid, levels, line_colors(levels, cmap), avoid=avoid)


def _draw_colorbar(
    fig: Figure,
    ax: Axes,
    levels: np.ndarray,
    values: np.ndarray,
    colors: list[str],
    units: str,
) -> None:
    if len(levels) == 1:
        # Both bands, drawn as two equal halves around the single tick.
        bounds = np.array([levels[0] - 1.0, levels[0], levels[0] + 1.0])
        ticks, bar_colors = levels, colors
        extend: Extend = "neither"
    else:
        bounds, color_slice, extend = colorbar_bands(levels, values)
        bar_colors = colors[color_slice]
        ticks = bounds
        if len(ticks) > _MAX_TICK_LABELS:
            ticks = ticks[:: math.ceil(len(ticks) / _MAX_TICK_LABELS)]
    bar = ScalarMappable(
        norm=BoundaryNorm(bounds, ncolors=len(bar_colors), extend=extend),
        cmap=ListedColormap(bar_colors),
    )
    cbar = fig.colorbar(bar, ax=ax, extend=extend, shrink=0.9, fraction=0.05, pad=0.03)
    tick_values = [float(t) for t in ticks]
    cbar.set_ticks(tick_values, labels=[number(t) for t in tick_values])
    cbar.set_label(display_units(units))
