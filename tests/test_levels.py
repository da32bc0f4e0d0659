from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from era5_contours.science.levels import (
    LevelScheme,
    band_colors,
    default_scheme,
    line_colors,
)

HEX = re.compile(r"^#[0-9a-f]{6}$")


def test_fixed_levels_used_as_given():
    scheme = LevelScheme.fixed([0.1, 1, 2, 5])
    np.testing.assert_array_equal(scheme.levels_for(), [0.1, 1.0, 2.0, 5.0])
    # the data do not change a fixed scheme
    np.testing.assert_array_equal(scheme.levels_for(np.array([100.0, 200.0])), [0.1, 1, 2, 5])


def test_interval_with_offset_over_data_range():
    data = np.array([[3.2, 4.0], [np.nan, 9.9]])
    # odd numbers (2k + 1) inside [3.2, 9.9]: 3 is below the minimum, 11 above the maximum
    levels = LevelScheme.interval(step=2.0, offset=1.0).levels_for(data)
    np.testing.assert_array_equal(levels, [5.0, 7.0, 9.0])


def test_interval_includes_levels_equal_to_the_extremes():
    data = np.array([4.0, 5.5, 10.0])
    np.testing.assert_array_equal(
        LevelScheme.interval(step=2.0).levels_for(data), [4.0, 6.0, 8.0, 10.0]
    )


def test_interval_negative_values_and_offset():
    data = np.array([-7.5, 2.0])
    # 2.5 + 5k within [-7.5, 2]: -7.5, -2.5
    np.testing.assert_array_equal(
        LevelScheme.interval(step=5.0, offset=2.5).levels_for(data), [-7.5, -2.5]
    )


def test_bounded_interval_ignores_data():
    scheme = LevelScheme.interval(step=2.0, offset=0.0, vmin=-4.0, vmax=4.0)
    expected = [-4.0, -2.0, 0.0, 2.0, 4.0]
    np.testing.assert_array_equal(scheme.levels_for(), expected)
    np.testing.assert_array_equal(scheme.levels_for(np.array([-100.0, 100.0])), expected)


def test_half_bounded_interval_takes_the_other_end_from_data():
    scheme = LevelScheme.interval(step=1.0, vmin=0.0)
    np.testing.assert_array_equal(scheme.levels_for(np.array([2.5, 3.7])), [0, 1, 2, 3])


def test_interval_levels_have_no_binary_noise():
    levels = LevelScheme.interval(step=0.1, vmin=0.0, vmax=0.3).levels_for()
    assert levels.tolist() == [0.0, 0.1, 0.2, 0.3]


def test_flat_field_still_gets_one_level():
    # 3.5 lies between levels 3 and 4: the level just above it, so the field is band 0
    levels = LevelScheme.interval(step=1.0).levels_for(np.full((3, 3), 3.5))
    np.testing.assert_array_equal(levels, [4.0])


def test_unbounded_interval_needs_finite_data():
    scheme = LevelScheme.interval(step=1.0)
    with pytest.raises(ValueError, match="needs the data"):
        scheme.levels_for()
    with pytest.raises(ValueError, match="no finite values"):
        scheme.levels_for(np.array([np.nan, np.inf]))


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("0.1,1,2,5", "fixed", [0.1, 1.0, 2.0, 5.0]),
        (" -10, 0 ,10 ", "fixed", [-10.0, 0.0, 10.0]),
        ("1,2,", "fixed", [1.0, 2.0]),
        ("interval:2:1:3:10", "interval", [3.0, 5.0, 7.0, 9.0]),
        ("interval:5:0:-10:10", "interval", [-10.0, -5.0, 0.0, 5.0, 10.0]),
    ],
)
def test_parse(text, kind, expected):
    scheme = LevelScheme.parse(text)
    assert scheme.kind == kind
    np.testing.assert_array_equal(scheme.levels_for(), expected)


def test_parse_interval_fields():
    s = LevelScheme.parse("interval:2.5", cmap="magma")
    assert (s.step, s.offset, s.vmin, s.vmax, s.cmap) == (2.5, 0.0, None, None, "magma")
    s = LevelScheme.parse("interval:2:1")
    assert (s.step, s.offset, s.vmin, s.vmax) == (2.0, 1.0, None, None)
    np.testing.assert_array_equal(s.levels_for(np.array([3.2, 9.9])), [5.0, 7.0, 9.0])


@pytest.mark.parametrize(
    "text",
    [
        "",
        "a,b",
        "1,,x",
        "3,2,1",
        "1,1,2",
        "1,nan,3",
        "1,inf",
        "interval:",
        "interval:x",
        "interval:0",
        "interval:-1",
        "interval:inf",
        "interval:2:1:3",
        "interval:2:1:3:4:5",
        "interval:1:0:10:0",
        "interval:1:0:5:5",
    ],
)
def test_parse_rejects_bad_input(text):
    with pytest.raises(ValueError):
        LevelScheme.parse(text)


def test_constructor_rejects_bad_schemes():
    with pytest.raises(ValueError, match="unknown level scheme"):
        LevelScheme(kind="quantile")
    with pytest.raises(ValueError):
        LevelScheme.fixed([])
    with pytest.raises(ValueError):
        LevelScheme.interval(step=float("nan"))


@pytest.mark.parametrize("n", [1, 3, 12])
def test_band_and_line_colour_counts(n):
    levels = np.arange(n, dtype=float)
    bands = band_colors(levels, "viridis")
    lines = line_colors(levels, "viridis")
    assert len(bands) == n + 1  # open band below, n - 1 closed bands, open band above
    assert len(lines) == n
    assert all(HEX.match(c) for c in bands + lines)
    assert len(set(bands)) == n + 1


def test_band_colours_follow_the_colormap_order():
    # Greys goes from white to black: luminance must fall band after band
    colors = band_colors(np.arange(6.0), "Greys")
    lum = [int(c[1:3], 16) + int(c[3:5], 16) + int(c[5:7], 16) for c in colors]
    assert all(a > b for a, b in itertools.pairwise(lum))


def test_default_schemes():
    t2m = default_scheme("t2m").levels_for()
    assert t2m[0] == -50.0 and t2m[-1] == 50.0 and len(t2m) == 51
    np.testing.assert_array_equal(np.diff(t2m), 2.0)
    np.testing.assert_array_equal(
        default_scheme("tp").levels_for(), [0.1, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0]
    )
    assert default_scheme("t2m").cmap == "temperature"
    assert default_scheme("tp").cmap == "precipitation"
    with pytest.raises(ValueError):
        default_scheme("u10")


def test_isolines_are_darker_than_both_neighbouring_bands():
    levels = np.arange(5.0)
    bands, lines = band_colors(levels, "YlGnBu"), line_colors(levels, "YlGnBu")

    def lum(c):
        return int(c[1:3], 16) + int(c[3:5], 16) + int(c[5:7], 16)

    for i, line in enumerate(lines):
        assert lum(line) < min(lum(bands[i]), lum(bands[i + 1]))


def _lab(hex_color: str) -> np.ndarray:
    """CIELAB (D65) of an sRGB hex colour, from the CIE formulas (no colour library)."""
    rgb = np.array([int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    lin = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
         [0.0193339, 0.1191920, 0.9503041]]
    )  # fmt: skip
    xyz = m @ lin / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def test_turbo_stepped_tells_neighbouring_bands_apart():
    # The t2m colour map before the palettes, still there for --t2m_cmap turbo_stepped.
    scheme = default_scheme("t2m")
    colors = band_colors(scheme.levels_for(), "turbo_stepped")
    assert len(colors) == 52 and len(set(colors)) == 52
    delta = [np.linalg.norm(_lab(a) - _lab(b)) for a, b in itertools.pairwise(colors)]
    # CIE76 delta E: about 2 is a just noticeable difference; plain turbo gives ~3 here.
    plain = band_colors(scheme.levels_for(), "turbo")
    plain_delta = [np.linalg.norm(_lab(a) - _lab(b)) for a, b in itertools.pairwise(plain)]
    assert min(plain_delta) < 5.0  # the problem is real
    assert min(delta) >= 9.0
    # The hue still follows the value: the even bands are plain turbo's colours.
    assert colors[::2] == plain[::2]
