"""The palettes' colour distances, measured on what the job writes.

The colours come out of the GeoJSON (each band's ``fill``) and out of the PNG (the
pixels of each band), never from the palette tables, and colorspacious measures Delta E
in CAM02-UCS, for normal vision and under a simulated deuteranopia (severity 100).
"""

from __future__ import annotations

import io
import json
from datetime import date

import numpy as np
import pytest
import xarray as xr
from matplotlib.image import imread

from era5_contours.outputs.geojson import geojson_bytes
from era5_contours.outputs.plots import figure_png, map_figure
from era5_contours.science import contours
from era5_contours.science.levels import band_colors, default_scheme
from era5_contours.science.palettes import PALETTES, Palette

pytest.importorskip("colorspacious", reason="colorspacious (dev extras) not installed")
from era5_tools.palette_design import distances

DAY = date(2024, 1, 15)


def _ramp(lo: float, hi: float, width: int = 220) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A field rising west to east from ``lo`` to ``hi``: every band is a vertical stripe."""
    lon = np.linspace(-20.0, 20.0, width)
    lat = np.linspace(40.0, 44.0, 9)
    values = np.broadcast_to(np.linspace(lo, hi, width), (lat.size, width)).copy()
    return lon, lat, values


def _geojson_bands(variable: str, lo: float, hi: float) -> list[dict]:
    scheme = default_scheme(variable)
    lon, lat, values = _ramp(lo, hi)
    levels = scheme.levels_for(values)
    bands = contours.contour_bands(lon, lat, values, levels)
    text = geojson_bytes(
        bands, [], levels=levels, cmap=scheme.cmap, variable=variable,
        units="degC" if variable == "t2m" else "mm", day=DAY, dataset="era5",
    )  # fmt: skip
    props = [f["properties"] for f in json.loads(text)["features"]]
    return sorted(props, key=lambda p: p["band_index"])


def _middle(p: dict, step: float) -> float:
    """A band's middle value; an open band's a half step beyond its level."""
    if p["level_lower"] is None:
        return p["level_upper"] - step / 2
    if p["level_upper"] is None:
        return p["level_lower"] + step / 2
    return (p["level_lower"] + p["level_upper"]) / 2


def test_temperature_bands_within_12_degc_are_told_apart_in_the_geojson():
    # Every band of the default scale, the open ends included.
    props = _geojson_bands("t2m", -56.0, 56.0)
    assert len(props) == 52
    fills = [p["fill"] for p in props]
    values = [_middle(p, 2.0) for p in props]
    normal, deutan, pair_n, pair_d = distances(fills, values, window=12.0)
    assert normal >= 8.0, f"Delta E {normal:.2f} between the bands at {pair_n} degC"
    assert deutan >= 4.0, f"deuteranopia Delta E {deutan:.2f} between the bands at {pair_d} degC"


def test_temperature_colours_are_blue_below_zero_and_warm_above():
    props = _geojson_bands("t2m", -50.0, 50.0)
    for p in props:
        r, _g, b = (int(p["fill"][i : i + 2], 16) for i in (1, 3, 5))
        middle = _middle(p, 2.0)
        if -50 <= middle < 0:
            assert b > r, (middle, p["fill"])  # blue, cyan, violet, purple: blue dominates red
        elif 0 < middle <= 50:
            assert r > b, (middle, p["fill"])  # yellow, orange, red, magenta


def test_precipitation_neighbours_are_told_apart_in_the_geojson():
    props = _geojson_bands("tp", 0.0, 150.0)
    assert [p["band_index"] for p in props] == list(range(9))
    normal, deutan, pair_n, pair_d = distances(
        [p["fill"] for p in props], [p["band_index"] for p in props], window=1
    )
    assert normal >= 8.0, f"Delta E {normal:.2f} between bands {pair_n}"
    assert deutan >= 4.0, f"deuteranopia Delta E {deutan:.2f} between bands {pair_d}"
    # Sequential: each class darker (CAM02-UCS lightness J') than the one below it.
    from colorspacious import cspace_convert

    rgb = [[int(p["fill"][i : i + 2], 16) / 255 for i in (1, 3, 5)] for p in props]
    lightness = cspace_convert(rgb, "sRGB1", "CAM02-UCS")[:, 0]
    assert np.all(np.diff(lightness) < 0)


def test_the_png_draws_the_same_distinct_temperature_colours():
    lon, lat, values = _ramp(-55.0, 55.0, width=440)
    field = xr.DataArray(
        values, dims=("latitude", "longitude"), coords={"latitude": lat, "longitude": lon},
        attrs={"units": "degC", "long_name": "2 m temperature, daily mean"},
    )  # fmt: skip
    scheme = default_scheme("t2m")
    levels = scheme.levels_for()
    fig = map_figure(
        field, levels, cmap=scheme.cmap, coastlines=False, isolines=False,
        dpi=100, figsize=(16.0, 3.0),
    )  # fmt: skip
    img = imread(io.BytesIO(figure_png(fig)), format="png")
    ax = fig.axes[0]
    seen, middles = [], []
    for k in range(-25, 25):
        middle = 2.0 * k + 1.0
        x_lon = np.interp(middle, values[0], lon)
        x, y = ax.transData.transform((x_lon, 42.0))
        r, g, b = (int(np.rint(c * 255)) for c in img[int(img.shape[0] - y), int(x)][:3])
        seen.append(f"#{r:02x}{g:02x}{b:02x}")
        middles.append(middle)
    # The pixels are the GeoJSON's colours...
    assert seen == band_colors(levels, scheme.cmap)[1:-1]
    # ...so they keep the distances.
    normal, deutan, _, _ = distances(seen, middles, window=12.0)
    assert normal >= 8.0 and deutan >= 4.0


def test_a_colour_means_the_same_value_every_day_and_with_other_levels():
    scheme = default_scheme("t2m")
    winter = {p["band_index"]: p["fill"] for p in _geojson_bands("t2m", -20.0, 4.0)}
    summer = {p["band_index"]: p["fill"] for p in _geojson_bands("t2m", 2.0, 30.0)}
    assert all(winter[i] == summer[i] for i in set(winter) & set(summer))
    # Levels every 4 degC from 0: the band 4..8 has the colour of 6 degC on the 2 degC scale.
    every_four = band_colors(np.arange(0.0, 41.0, 4.0), scheme.cmap)
    on_two = band_colors(scheme.levels_for(), scheme.cmap)
    assert every_four[2] == on_two[int(np.searchsorted(scheme.levels_for(), 6.0))]


@pytest.mark.parametrize("palette", PALETTES.values(), ids=lambda p: p.name)
def test_palettes_are_well_formed(palette: Palette):
    assert len(palette.colors) == len(palette.edges) + 1
    assert all(len(c) == 7 and c.startswith("#") for c in (*palette.colors, palette.line))
    # A level list equal to the edges gets the cells' colours one for one.
    assert palette.band_colors(np.asarray(palette.edges)) == list(palette.colors)


def test_palette_refuses_a_bad_table():
    with pytest.raises(ValueError, match="colours"):
        Palette("x", (0.0, 1.0), ("#000000",), "#000000")
    with pytest.raises(ValueError, match="increasing"):
        Palette("x", (1.0, 0.0), ("#000000",) * 3, "#000000")
