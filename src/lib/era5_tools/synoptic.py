"""Synthetic pressure and wind for the sample: travelling lows and highs, and their wind.

The sample's sea-level pressure is a zonal climatology (subtropical highs, subpolar lows)
plus lows and highs born each day, drifting east with the westerlies, deepening and
filling over a couple of days. Its 10 m wind is the geostrophic wind of that pressure,
slowed and turned towards the low by surface friction, plus a diurnal breeze: the isobars
and the wind agree as they do on a weather chart. A quantity without a model of its own
gets a smooth field within its typical range (:func:`smooth`).

Like the rain of :mod:`era5_tools.sample`, every system is drawn from a generator seeded
with ``(seed, day)``, so that an hour has the same values whatever range it is made in.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

_EPOCH = date(1970, 1, 1)
_OMEGA = 7.2921e-5  # Earth's rotation, rad/s
_EARTH_RADIUS = 6.371e6  # m
_AIR_DENSITY = 1.2  # kg m-3 near the surface
#: Surface friction: the 10 m wind is this share of the geostrophic wind, turned by this
#: angle towards the low.
_FRICTION = 0.55
_TURNING = math.radians(25.0)
#: Below this latitude the Coriolis parameter is held at its value here (geostrophy fails
#: near the equator).
_MIN_CORIOLIS_LAT = 12.0
_MAX_SPEED = 35.0  # m/s, soft ceiling of the 10 m wind
# Packing quanta, as GRIB packs real ERA5 fields.
_MSL_QUANTUM = 2.0**-3  # Pa
_WIND_QUANTUM = 2.0**-7  # m/s
#: Systems born up to this many days before an hour (their life is ~2 days either side).
_REACH_DAYS = 4


@dataclass(frozen=True)
class _Systems:
    """Lows (negative depth) and highs as parallel arrays."""

    t_peak: np.ndarray  # epoch hours
    tau: np.ndarray  # h
    lat0: np.ndarray
    lon0: np.ndarray
    u: np.ndarray  # deg lon / h
    v: np.ndarray  # deg lat / h
    radius: np.ndarray  # deg
    depth: np.ndarray  # Pa, negative for lows


def _day_systems(day: date, bounds: Sequence[float], seed: int) -> _Systems:
    """Lows and highs born on ``day``; depends only on ``(seed, day, bounds)``."""
    rng = np.random.default_rng([seed, 11, day.toordinal()])
    west, south, east, north = bounds
    margin = 15.0
    area = (east - west + 2 * margin) * (north - south + 2 * margin)
    n = max(1, rng.poisson(area / 600.0))
    lat0 = rng.uniform(max(south - margin, -80.0), min(north + margin, 80.0), n)
    lows = rng.random(n) < 0.55
    depth = np.where(lows, -rng.uniform(800.0, 2800.0, n), rng.uniform(400.0, 1400.0, n))
    # Westerlies in mid-latitudes, easterlies in the tropics.
    westerly = np.where(np.abs(lat0) > 25.0, 0.35, -0.2)
    return _Systems(
        t_peak=float((day - _EPOCH).days * 24) + rng.uniform(0.0, 24.0, n),
        tau=rng.uniform(24.0, 48.0, n),
        lat0=lat0,
        lon0=rng.uniform(west - margin, east + margin, n),
        u=westerly + rng.normal(0.0, 0.08, n),
        v=rng.normal(0.0, 0.06, n),
        radius=np.where(lows, rng.uniform(5.0, 10.0, n), rng.uniform(8.0, 14.0, n)),
        depth=depth,
    )


def _epoch_hours(hours: np.ndarray) -> np.ndarray:
    return hours.astype("datetime64[h]").astype(np.int64).astype(float)


def pressure(
    hours: np.ndarray, lat: np.ndarray, lon: np.ndarray, bounds: Sequence[float], seed: int
) -> np.ndarray:
    """Sea-level pressure (Pa) at each valid time; float32, shape ``(time, lat, lon)``."""
    t = _epoch_hours(hours)
    abs_lat = np.abs(lat)[None, :, None]
    # Subtropical highs near 35 degrees, subpolar lows near 62.
    base = (
        101_000.0
        + 700.0 * np.exp(-(((abs_lat - 35.0) / 12.0) ** 2))
        - 1100.0 * np.exp(-(((abs_lat - 62.0) / 10.0) ** 2))
    )
    out = np.empty((t.size, lat.size, lon.size), dtype=np.float64)
    out[...] = base
    first = hours[0].astype(object).date() - timedelta(days=_REACH_DAYS)
    last = hours[-1].astype(object).date() + timedelta(days=_REACH_DAYS)
    for k in range((last - first).days + 1):
        s = _day_systems(first + timedelta(days=k), bounds, seed)
        for i in range(s.t_peak.size):
            dt = t - s.t_peak[i]
            life = np.exp(-0.5 * (dt / s.tau[i]) ** 2)[:, None, None]
            lat_c = (s.lat0[i] + s.v[i] * dt)[:, None, None]
            lon_c = (s.lon0[i] + s.u[i] * dt)[:, None, None]
            coslat = math.cos(math.radians(min(abs(s.lat0[i]), 85.0)))
            dx = (lon[None, None, :] - lon_c) * coslat
            dy = lat[None, :, None] - lat_c
            out += s.depth[i] * life * np.exp(-0.5 * (dx * dx + dy * dy) / s.radius[i] ** 2)
    return (np.round(out / _MSL_QUANTUM) * _MSL_QUANTUM).astype(np.float32)


def wind(
    msl: np.ndarray, hours: np.ndarray, lat: np.ndarray, lon: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """10 m wind (m/s, eastward and northward) of a pressure field on the same grid.

    The geostrophic wind of ``msl``, times the friction share, turned towards the low
    (anticlockwise in the northern hemisphere, clockwise in the southern), plus a diurnal
    breeze; each component float32, shape ``(time, lat, lon)``.
    """
    phi = np.radians(lat)
    # np.gradient along each axis, in metres (latitude and longitude may run either way).
    dp_dy = np.gradient(msl.astype(np.float64), phi * _EARTH_RADIUS, axis=1)
    coslat = np.maximum(np.cos(phi), 0.05)[None, :, None]
    dp_dx = np.gradient(msl.astype(np.float64), np.radians(lon) * _EARTH_RADIUS, axis=2) / coslat
    sign = np.where(lat >= 0, 1.0, -1.0)[None, :, None]
    f = 2.0 * _OMEGA * np.maximum(np.abs(np.sin(phi)), math.sin(math.radians(_MIN_CORIOLIS_LAT)))
    f = f[None, :, None] * sign
    ug = -dp_dy / (_AIR_DENSITY * f)
    vg = dp_dx / (_AIR_DENSITY * f)
    turn = _TURNING * sign
    u = _FRICTION * (ug * np.cos(turn) - vg * np.sin(turn))
    v = _FRICTION * (ug * np.sin(turn) + vg * np.cos(turn))
    # A sea breeze of a couple of m/s turning with the sun.
    local = (_epoch_hours(hours)[:, None, None] + lon[None, None, :] / 15.0) % 24.0
    angle = 2.0 * np.pi * local / 24.0
    u += 1.5 * np.cos(angle)
    v += 1.5 * np.sin(angle)
    speed = np.hypot(u, v)
    scale = np.where(
        speed > 0, _MAX_SPEED * np.tanh(speed / _MAX_SPEED) / np.maximum(speed, 1e-9), 1.0
    )
    return _packed(u * scale), _packed(v * scale)


def _packed(values: np.ndarray) -> np.ndarray:
    return (np.round(values / _WIND_QUANTUM) * _WIND_QUANTUM).astype(np.float32)


def smooth(
    hours: np.ndarray, lat: np.ndarray, lon: np.ndarray, typical: tuple[float, float], seed: int
) -> np.ndarray:
    """A smooth travelling field within ``typical`` (canonical units) for any quantity."""
    low, high = typical
    t = _epoch_hours(hours)[:, None, None]
    rng = np.random.default_rng([seed, 13])
    kx, ky = rng.uniform(20.0, 40.0), rng.uniform(15.0, 30.0)
    wave = np.sin(2 * np.pi * (lon[None, None, :] - 0.3 * t) / kx) * np.cos(
        2 * np.pi * lat[None, :, None] / ky
    )
    diurnal = np.cos(2 * np.pi * ((t + lon[None, None, :] / 15.0) % 24.0 - 14.0) / 24.0)
    share = 0.5 + 0.35 * wave + 0.1 * diurnal
    return (low + (high - low) * share).astype(np.float32)
