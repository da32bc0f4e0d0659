"""How the value-fixed palettes of :mod:`era5_contours.science.palettes` were made.

``python -m era5_tools.palette_design`` rebuilds each palette's colours from its recipe
below and prints them with the smallest colour distances they keep; the tables in
``palettes.py`` are its output, pasted. It needs colorspacious (the dev extras): the job
itself only looks colours up.

Distances are Delta E in CAM02-UCS, for normal vision and under a simulated
deuteranopia (colorspacious' ``sRGB1+CVD``, deuteranomaly at severity 100). Every band
colour is made in CAM02-UCS as lightness J', hue h and the largest chroma up to a cap
that stays inside sRGB, then rounded to 8-bit sRGB.

Temperature (2 degC bands, -50..50 degC): each 10 degC decade is a hue family (purple,
violet, blue-violet, blue, cyan below 0; yellow, amber, orange, red, magenta above), so
that a reader tells "the twenties" at a glance. Inside a decade the five bands step in
lightness by ``s`` (darker away from 0 degC), and each decade starts ``D`` darker than
the one nearer 0 degC. Under deuteranopia the hues of neighbouring families fall close
together, so the lightness steps carry the difference: D is kept between multiples of s
(no band sees a band of the next family within 12 degC at its own lightness), and the
families' chroma caps alternate so that the yellow-blue axis a deuteranope keeps adds
to it. The parameters were tuned by a random local search (6000 steps, numpy seed 5)
maximising min(normal / 8, deuteranopia / 4) over all pairs of bands within 12 degC,
with the hues kept in order (at least 18 degrees apart above 0 degC, 15 below) and the
chroma caps at least 33 above 0 degC and 22 below (a first search without the warm
floor turned the most common summer decades brown); then rounded.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

#: colorspacious' deuteranopia: deuteranomaly at full severity.
DEUTERANOPIA = {"name": "sRGB1+CVD", "cvd_type": "deuteranomaly", "severity": 100}

#: Temperature recipe: lightness of the band nearest 0 degC (warm, cold side), step
#: between a decade's bands, step between decades; per decade (nearest 0 first) the hue
#: and the chroma cap.
T_LIGHT = (98.0, 98.0)
T_STEP = 8.41
T_DECADE = 13.0
T_WARM = ((89.4, 38.2), (68.1, 33.0), (45.7, 34.6), (10.6, 40.0), (-11.1, 34.9))
T_COLD = ((210.9, 31.3), (246.1, 34.3), (273.1, 40.0), (294.1, 30.8), (323.2, 40.0))


def srgb_hex(jab: np.ndarray) -> list[str]:
    """Hex colours of CAM02-UCS ``(n, 3)`` J'a'b' values (clipped into sRGB)."""
    from colorspacious import cspace_convert

    rgb = np.clip(cspace_convert(jab, "CAM02-UCS", "sRGB1"), 0.0, 1.0)
    return ["#{:02x}{:02x}{:02x}".format(*(round(float(v) * 255) for v in c)) for c in rgb]


def vivid(
    lightness: Sequence[float] | np.ndarray,
    hue: Sequence[float] | np.ndarray,
    cap: Sequence[float] | np.ndarray,
) -> list[str]:
    """The most chromatic colour (up to ``cap``) of each lightness and hue inside sRGB."""
    from colorspacious import cspace_convert

    j = np.asarray(lightness, dtype=float)
    h = np.radians(np.asarray(hue, dtype=float))
    lo, hi = np.zeros_like(j), np.asarray(cap, dtype=float) * np.ones_like(j)
    for _ in range(30):  # bisection on chroma
        mid = (lo + hi) / 2
        rgb = cspace_convert(
            np.stack([j, mid * np.cos(h), mid * np.sin(h)], -1), "CAM02-UCS", "sRGB1"
        )
        inside = np.all((rgb >= 0) & (rgb <= 1), axis=-1)
        lo, hi = np.where(inside, mid, lo), np.where(inside, hi, mid)
    return srgb_hex(np.stack([j, lo * np.cos(h), lo * np.sin(h)], -1))


def temperature_bands() -> list[str]:
    """The 52 bands: below -50 degC, every 2 degC from -50 to 50, above 50 degC."""
    # The open ends, beyond the scale: pale greyish tints of the end families, since the
    # end bands are the darkest.
    lightness, hue, cap = [72.0], [T_COLD[-1][0]], [12.0]
    for mid in range(-49, 50, 2):
        warm = mid > 0
        decade = (mid // 10) if warm else (-(mid // 10) - 1)
        step = ((mid - 1) % 10) // 2 if warm else ((-mid - 1) % 10) // 2
        h, c = (T_WARM if warm else T_COLD)[decade]
        lightness.append(T_LIGHT[0 if warm else 1] - decade * T_DECADE - step * T_STEP)
        hue.append(h)
        cap.append(c)
    lightness.append(72.0)
    hue.append(0.0)
    cap.append(12.0)
    return vivid(lightness, hue, cap)


def precipitation_bands() -> list[str]:
    """Nine bands of daily totals (dry, then 0.1, 1, 2, 5, 10, 20, 50, 100 mm)."""
    lightness = np.linspace(97.0, 28.0, 9)
    hue = [100.0, 125.0, 150.0, 180.0, 215.0, 250.0, 280.0, 310.0, 335.0]
    cap = [6.0, 30.0, 34.0, 32.0, 32.0, 34.0, 34.0, 32.0, 30.0]
    return vivid(lightness, hue, cap)


def pressure_bands() -> list[str]:
    """Pale 4 hPa bands from <960 to >1048 hPa: blue lows, warm highs, black isobars on top."""
    edges = np.arange(960.0, 1049.0, 4.0)
    mids = np.concatenate([[edges[0] - 2], (edges[:-1] + edges[1:]) / 2, [edges[-1] + 2]])
    f = (mids - 1013.0) / 50.0
    lightness = 95.0 - 18.0 * np.abs(f) - 3.0 * (np.arange(mids.size) % 2)
    hue = np.where(f < 0, 250.0 + 30.0 * f, 85.0 - 40.0 * f)
    cap = 3.0 + 16.0 * np.abs(f)
    return vivid(lightness, hue, cap)


def wind_bands() -> list[str]:
    """Wind speed: calm (below 2 m/s), 2 m/s bands up to 30 m/s, then above (16 colours)."""
    n = 16
    lightness = np.linspace(97.0, 30.0, n)
    hue = np.linspace(130.0, 130.0 - 200.0, n) % 360
    cap = np.concatenate([[4.0], np.full(n - 1, 34.0)])
    return vivid(lightness, hue, cap)


def distances(
    colors: Sequence[str], values: Sequence[float], window: float
) -> tuple[float, float, tuple[float, float], tuple[float, float]]:
    """Smallest Delta E (CAM02-UCS) between colours whose values are within ``window``.

    Returns
    -------
    normal, deuteranopia, normal_pair, deuteranopia_pair
        The two smallest distances and the values of the pairs that have them.
    """
    from colorspacious import cspace_convert

    rgb = np.array([[int(c[i : i + 2], 16) / 255 for i in (1, 3, 5)] for c in colors])
    normal = cspace_convert(rgb, "sRGB1", "CAM02-UCS")
    seen = np.clip(cspace_convert(rgb, DEUTERANOPIA, "sRGB1"), 0.0, 1.0)
    deutan = cspace_convert(seen, "sRGB1", "CAM02-UCS")
    pairs = [
        (i, j)
        for i, j in itertools.combinations(range(len(colors)), 2)
        if abs(values[i] - values[j]) <= window + 1e-9
    ]
    if not pairs:
        raise ValueError("no two colours are within the window")
    a, b = np.array(pairs).T
    dn = np.linalg.norm(normal[a] - normal[b], axis=1)
    dd = np.linalg.norm(deutan[a] - deutan[b], axis=1)
    pn, pd = pairs[int(dn.argmin())], pairs[int(dd.argmin())]
    return (
        float(dn.min()),
        float(dd.min()),
        (values[pn[0]], values[pn[1]]),
        (values[pd[0]], values[pd[1]]),
    )


def main() -> int:
    """Print each palette's colours and the distances they keep."""
    for name, colors in (
        ("temperature", temperature_bands()),
        ("precipitation", precipitation_bands()),
        ("pressure", pressure_bands()),
        ("wind_speed", wind_bands()),
    ):
        print(f"{name} ({len(colors)}):")
        for i in range(0, len(colors), 10):
            print("    " + ", ".join(f'"{c}"' for c in colors[i : i + 10]) + ",")
        index = list(range(len(colors)))
        dn, dd, _, _ = distances(colors, index, 1)
        print(f"    neighbours: min Delta E {dn:.2f} normal, {dd:.2f} deuteranopia")
        if name == "temperature":
            values = [-51.0, *range(-49, 50, 2), 51.0]
            dn, dd, pn, pd = distances(colors, values, 12.0)
            print(f"    within 12 degC: {dn:.2f} normal {pn}, {dd:.2f} deuteranopia {pd}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
