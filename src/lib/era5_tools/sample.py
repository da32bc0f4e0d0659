"""Synthetic ERA5 sample in the current Climate Data Store NetCDF4 layout.

The embedded default input: a newcomer can run the whole job without data or an AWS
account. The files copy the layout of a real CDS download (cfgrib-converted NetCDF4, one
file per stream and month): ``{prefix}_{YYYY-MM}_instant_t2m.nc`` and
``{prefix}_{YYYY-MM}_accum_tp.nc``, dimension ``valid_time`` as int64 seconds since
1970, latitude descending, longitude in -180..180, scalar ``number``, string ``expver``
per step, float32 data with NaN fill, zlib, the GRIB_* attributes of the real files.

Semantics follow ERA5 single levels: ``tp`` (metres) is the precipitation of the hour
ending at ``valid_time``, so the daily total of day D is the sum over valid_time in
(D 00:00, D+1 00:00]. Both streams cover start 00:00 through end+1 00:00, like a CDS
request for the same steps on both streams, so the last day's total is complete; the
t2m step at end+1 00:00 is the first hour of a day that is not part of the sample.
Hours are split into monthly files by their valid_time, so the 00 UTC step that closes
a month's last day lives in the next month's files, as in CDS monthly downloads.

``--dataset era5-land`` writes the ERA5-Land layout instead: a 0.1 degree grid by default,
one file per month holding both variables (``{prefix}_{YYYY-MM}_t2m_tp.nc``, as an
ERA5-Land download), NaN over the sea (the Natural Earth land the maps draw), and ``tp``
accumulated since 00 UTC: the value at 01 UTC is the first hour, the value at D+1 00 UTC
the total of day D. The fields are the same synthetic weather.

``--variables`` picks what the files hold, as the CDS ingest would fetch it for those
variables of the job (:func:`era5_common.variables.cds_quantities`): by default ``t2m``
and ``tp``; ``msl`` adds sea-level pressure, ``si10`` the 10 m wind speed (ERA5) or its
``u10`` and ``v10`` (ERA5-Land). Every instant quantity of a month goes into one file,
every accumulation into another (``..._instant_t2m-msl.nc``), as CDS downloads come.
Pressure and wind are travelling lows and highs and their surface wind
(:mod:`era5_tools.synoptic`).

Fields are smooth analytic functions of time and position with seeded parameters, and
the storms of each day are drawn from a generator seeded with ``(seed, day)``: a given
hour has the same values whatever range or month split it was generated with.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from era5_common.logs import configure_logging
from era5_common.variables import ACCUMULATION, DEFAULTS, QUANTITIES, Quantity, cds_quantities
from era5_contours.inputs.datasets import SAMPLE_ATTR
from era5_tools import synoptic

logger = logging.getLogger(__name__)

#: Western Europe as ``(west, south, east, north)`` in degrees (GeoJSON bbox order).
DEFAULT_BOUNDS: tuple[float, float, float, float] = (-10.0, 35.0, 20.0, 60.0)
DEFAULT_RESOLUTION = 0.25
DEFAULT_START = date(2024, 7, 1)
DEFAULT_END = date(2024, 7, 3)
DEFAULT_PREFIX = "era5_sample"
#: ERA5-Land's native grid and the prefix of its files.
LAND_RESOLUTION = 0.1
LAND_PREFIX = "era5land_sample"
ERA5 = "era5"
ERA5_LAND = "era5-land"

_EPOCH = date(1970, 1, 1)
_LAPSE_RATE = 6.5e-3  # K/m
# GRIB packing quanta seen in real ERA5 files: values are multiples of these.
_T2M_QUANTUM = 2.0**-9  # K
_TP_QUANTUM = 2.0**-21  # m
_NEGLIGIBLE_RATE = 0.01  # mm/h, where a storm's Gaussian is cut off
_DRY_RATE = 0.05  # mm/h removed everywhere so Gaussian tails become dry cells
_MAX_RATE = 12.0  # mm/h, soft ceiling of the hourly mean rate
_MARGIN = 2.0  # degrees around the domain where storms may start

_GLOBAL_ATTRS = {
    "GRIB_centre": "ecmf",
    "GRIB_centreDescription": "European Centre for Medium-Range Weather Forecasts",
    "GRIB_subCentre": np.int64(0),
    "Conventions": "CF-1.7",
    "institution": "European Centre for Medium-Range Weather Forecasts",
}
_NUMBER_ATTRS = {
    "long_name": "ensemble member numerical id",
    "units": "1",
    "standard_name": "realization",
}
_TIME_ATTRS = {
    "long_name": "time",
    "standard_name": "time",
    "units": "seconds since 1970-01-01",
    "calendar": "proleptic_gregorian",
}
_LAT_ATTRS = {
    "units": "degrees_north",
    "standard_name": "latitude",
    "long_name": "latitude",
    "stored_direction": "decreasing",
}
_LON_ATTRS = {"units": "degrees_east", "standard_name": "longitude", "long_name": "longitude"}
_COORDINATES = "number valid_time latitude longitude expver"


@dataclass(frozen=True)
class _Param:
    """What the CDS's files say of a quantity (its GRIB attributes)."""

    name: str
    param_id: int
    data_type: str
    step_type: str
    grib_name: str
    short_name: str
    units: str

    @classmethod
    def of(cls, q: Quantity) -> _Param:
        """The attributes of a quantity of the registry."""
        accum = q.kind == ACCUMULATION
        return cls(
            q.name,
            q.grib[0],
            "fc" if accum else "an",
            "accum" if accum else "instant",
            q.long_name,
            q.grib[1],
            q.units,
        )


# Rough positions of real ranges, so that default maps look familiar; not a real
# orography. (lat, lon, height m, sigma along, sigma across, axis angle in degrees
# counter-clockwise from east); sigmas in degrees of latitude (longitude * cos(lat)).
_RANGES: tuple[tuple[float, float, float, float, float, float], ...] = (
    (45.3, 6.9, 1800.0, 0.9, 0.5, 80.0),  # western Alps
    (46.8, 11.0, 2000.0, 1.7, 0.6, 5.0),  # central and eastern Alps
    (42.7, 0.9, 1500.0, 1.0, 0.45, -5.0),  # Pyrenees
    (45.3, 3.0, 800.0, 0.9, 0.75, 30.0),  # Massif Central
    (48.2, 7.6, 550.0, 0.9, 0.5, 85.0),  # Vosges, Black Forest
    (40.2, -3.8, 650.0, 3.5, 2.5, 0.0),  # Meseta
    (40.4, -4.5, 500.0, 1.8, 0.5, 25.0),  # Sistema Central
    (43.0, -5.0, 900.0, 0.9, 0.45, 0.0),  # Cantabrian mountains
    (37.3, -3.5, 900.0, 1.1, 0.5, 15.0),  # Betic ranges
    (35.0, -4.5, 900.0, 1.2, 0.5, 0.0),  # Rif
    (32.5, -5.0, 2000.0, 4.0, 0.9, 25.0),  # Atlas
    (42.8, 12.8, 900.0, 2.4, 0.6, -50.0),  # Apennines
    (41.5, 9.0, 700.0, 1.3, 0.5, 90.0),  # Corsica, Sardinia
    (44.0, 17.5, 1000.0, 1.6, 0.8, -40.0),  # Dinaric Alps
    (49.3, 20.5, 800.0, 3.0, 0.7, 20.0),  # Carpathians
    (61.5, 8.5, 1100.0, 4.0, 1.2, 60.0),  # Scandinavian mountains
    (57.0, -4.5, 500.0, 1.4, 0.7, 30.0),  # Scottish Highlands
)


def make_grid(
    bounds: Sequence[float] = DEFAULT_BOUNDS, resolution: float = DEFAULT_RESOLUTION
) -> tuple[np.ndarray, np.ndarray]:
    """Regular grid of a CDS download: latitude descending, longitude ascending.

    Parameters
    ----------
    bounds
        ``(west, south, east, north)`` in degrees, longitudes within -180..180; each
        span must be a whole number of ``resolution`` steps.
    resolution
        Grid step in degrees.

    Returns
    -------
    latitude, longitude
        float64 coordinates, rounded to remove float noise from the step arithmetic.
    """
    west, south, east, north = (float(b) for b in bounds)
    if not (resolution > 0 and math.isfinite(resolution)):
        raise ValueError(f"resolution must be positive, got {resolution}")
    if not (-180.0 <= west < east <= 180.0):
        raise ValueError(f"need -180 <= west < east <= 180, got west={west} east={east}")
    if not (-90.0 <= south < north <= 90.0):
        raise ValueError(f"need -90 <= south < north <= 90, got south={south} north={north}")
    counts = []
    for span in (north - south, east - west):
        steps = span / resolution
        if abs(steps - round(steps)) > 1e-6:
            raise ValueError(f"span {span} deg is not a multiple of resolution {resolution}")
        counts.append(round(steps) + 1)
    lat = np.round(north - resolution * np.arange(counts[0]), 6)
    lon = np.round(west + resolution * np.arange(counts[1]), 6)
    return lat, lon


def sample_hours(start: date, end: date) -> np.ndarray:
    """Valid times of a sample, start 00:00 through end+1 00:00, as datetime64[h]."""
    if end < start:
        raise ValueError(f"end {end} is before start {start}")
    first = np.datetime64(start.isoformat(), "h")
    return first + np.arange(24 * ((end - start).days + 1) + 1)


def month_chunks(hours: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """Split valid times into ``("YYYY-MM", hours)`` chunks, one per calendar month."""
    months = hours.astype("datetime64[M]")
    return [(str(m), hours[months == m]) for m in np.unique(months)]


def terrain_height(
    lat: np.ndarray, lon: np.ndarray, bounds: Sequence[float], seed: int
) -> np.ndarray:
    """Smooth synthetic surface height (m) on the grid, shape ``(lat, lon)``."""
    lat2, lon2 = np.meshgrid(lat, lon, indexing="ij")
    height: np.ndarray = np.zeros_like(lat2)
    for lat0, lon0, h, s_along, s_across, angle in _RANGES:
        height += h * _ellipse(lat2, lon2, lat0, lon0, s_along, s_across, angle)
    # A few seeded hills so that any domain, not just Europe, has some relief.
    west, south, east, north = bounds
    rng = np.random.default_rng([seed, 1])
    n_hills = max(1, round((east - west) * (north - south) / 60.0))
    lat_asc = np.sort(lat)
    lon_asc = np.sort(lon)
    for _ in range(n_hills):
        lat0 = rng.uniform(south, north)
        lon0 = rng.uniform(west, east)
        s = rng.uniform(0.5, 1.5)
        amplitude = rng.uniform(100.0, 400.0)
        s_along, angle = s * rng.uniform(1.0, 1.6), rng.uniform(-90, 90)
        # Each hill on the window where it exceeds 1e-6 of its height (8 sigma): a
        # global grid has a thousand hills, which over every cell cost minutes.
        reach = 8.0 * s_along
        rows = _window(lat, lat_asc, lat0 - reach, lat0 + reach)
        coslat = max(math.cos(math.radians(min(abs(lat0) + reach, 89.0))), 0.05)
        cols = _window(lon, lon_asc, lon0 - reach / coslat, lon0 + reach / coslat)
        if rows.size and cols.size:
            sub = np.ix_(rows, cols)
            height[sub] += amplitude * _ellipse(lat2[sub], lon2[sub], lat0, lon0, s_along, s, angle)
    return height


def _window(axis: np.ndarray, sorted_axis: np.ndarray, low: float, high: float) -> np.ndarray:
    """Indices of ``axis`` (in any order) with values in ``[low, high]``."""
    if sorted_axis[0] > high or sorted_axis[-1] < low:
        return np.empty(0, dtype=int)
    return np.flatnonzero((axis >= low) & (axis <= high))


def _ellipse(
    lat: np.ndarray,
    lon: np.ndarray,
    lat0: float,
    lon0: float,
    s_along: float,
    s_across: float,
    angle_deg: float,
) -> np.ndarray:
    """Unit-peak Gaussian with its long axis at ``angle_deg`` from east."""
    dx = (lon - lon0) * math.cos(math.radians(lat0))
    dy = lat - lat0
    a = math.radians(angle_deg)
    along = dx * math.cos(a) + dy * math.sin(a)
    across = -dx * math.sin(a) + dy * math.cos(a)
    return np.exp(-0.5 * ((along / s_along) ** 2 + (across / s_across) ** 2))


def _season(day_of_year: np.ndarray | float) -> np.ndarray:
    """1 in mid-July, -1 in mid-January (northern hemisphere summer)."""
    return np.cos(2.0 * np.pi * (np.asarray(day_of_year, dtype=float) - 200.0) / 365.25)


def _day_of_year(hours: np.ndarray) -> np.ndarray:
    elapsed = (hours - hours.astype("datetime64[Y]")).astype("timedelta64[h]")
    days: np.ndarray = elapsed.astype(float) / 24.0
    return days


def _epoch_hours(hours: np.ndarray) -> np.ndarray:
    return hours.astype("datetime64[h]").astype(np.int64).astype(float)


@dataclass(frozen=True)
class _Storms:
    """Rain systems as parallel arrays (one entry per system).

    A system is an elliptical Gaussian moving at constant velocity whose intensity
    rises and decays as a Gaussian in time around ``t_peak``.
    """

    t_peak: np.ndarray  # epoch hours
    tau: np.ndarray  # h
    lat0: np.ndarray  # position at t_peak
    lon0: np.ndarray
    u: np.ndarray  # deg lon / h
    v: np.ndarray  # deg lat / h
    s_along: np.ndarray  # deg
    s_across: np.ndarray
    angle: np.ndarray  # rad
    peak: np.ndarray  # mm/h
    band_k: np.ndarray  # rad / deg along the axis (rain bands of fronts; 0 for showers)
    band_phase: np.ndarray
    band_drift: np.ndarray  # rad / h, so that bands do not leave stripes in daily totals


def _day_storms(day: date, bounds: Sequence[float], seed: int) -> _Storms:
    """Showers and fronts born on ``day``; depends only on ``(seed, day, bounds)``."""
    rng = np.random.default_rng([seed, 7, day.toordinal()])
    west, south, east, north = bounds
    area = (east - west + 2 * _MARGIN) * (north - south + 2 * _MARGIN)
    season = float(_season(day.timetuple().tm_yday))
    day0 = float((day - _EPOCH).days * 24)
    # Steering flow of the day: mostly westerly, in deg/h.
    flow_u = rng.normal(0.25, 0.1)
    flow_v = rng.normal(0.03, 0.1)

    # Convective showers, more and stronger in summer, peaking in the local afternoon.
    n_sh = rng.poisson(area * 0.03 * (1.0 + 0.6 * season))
    sh_lon = rng.uniform(west - _MARGIN, east + _MARGIN, n_sh)
    sh_lat = rng.uniform(south - _MARGIN, north + _MARGIN, n_sh)
    sh_lst = rng.normal(16.0, 2.5, n_sh)
    sh_size = rng.lognormal(np.log(0.22), 0.3, n_sh)
    sh = {
        "t_peak": day0 + sh_lst - sh_lon / 15.0,
        "tau": rng.uniform(0.7, 1.8, n_sh),
        "lat0": sh_lat,
        "lon0": sh_lon,
        "u": flow_u + rng.normal(0.0, 0.05, n_sh),
        "v": flow_v + rng.normal(0.0, 0.05, n_sh),
        "s_along": sh_size * rng.uniform(1.0, 1.8, n_sh),
        "s_across": sh_size,
        "angle": rng.uniform(0.0, np.pi, n_sh),
        "peak": rng.lognormal(np.log(2.5 + 0.8 * season), 0.55, n_sh),
        "band_k": np.zeros(n_sh),
        "band_phase": np.zeros(n_sh),
        "band_drift": np.zeros(n_sh),
    }

    # Fronts: long SW-NE rain bands crossing from the west, more frequent in winter.
    n_fr = rng.poisson(area / 1000.0 * (1.5 - 0.5 * season))
    angle = np.radians(rng.uniform(30.0, 75.0, n_fr))
    speed = rng.uniform(0.15, 0.45, n_fr)
    # Move across the band, towards the east-south-east.
    heading = angle - np.pi / 2.0
    fr = {
        "t_peak": day0 + rng.uniform(0.0, 24.0, n_fr),
        "tau": rng.uniform(5.0, 12.0, n_fr),
        "lat0": rng.uniform(south + 0.2 * (north - south), north + _MARGIN, n_fr),
        "lon0": rng.uniform(west - _MARGIN, west + 0.7 * (east - west), n_fr),
        "u": flow_u + speed * np.cos(heading),
        "v": speed * np.sin(heading),
        "s_along": rng.uniform(2.0, 5.0, n_fr),
        "s_across": rng.uniform(0.3, 0.6, n_fr),
        "angle": angle,
        "peak": rng.uniform(0.8, 3.0 - 0.8 * season, n_fr),
        "band_k": 2.0 * np.pi / rng.uniform(1.0, 2.5, n_fr),
        "band_phase": rng.uniform(0.0, 2.0 * np.pi, n_fr),
        "band_drift": rng.uniform(0.3, 0.8, n_fr) * rng.choice([-1.0, 1.0], n_fr),
    }
    return _Storms(**{k: np.concatenate([sh[k], fr[k]]) for k in sh})


def hourly_precipitation(
    hours: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    height: np.ndarray,
    bounds: Sequence[float],
    seed: int,
) -> np.ndarray:
    """ERA5 ``tp``: metres fallen in the hour ending at each valid time.

    Returns float32, shape ``(time, lat, lon)``, non-negative, quantised like GRIB.
    """
    # Storm states are taken at mid-hour; _add_storm smears them over the hour.
    t_mid = _epoch_hours(hours) - 0.5
    mean_rate = np.zeros((hours.size, lat.size, lon.size), dtype=np.float32)
    # Storms born up to 3 days before and 2 days after can reach these hours (fronts
    # live up to ~42 h either side of their peak), so that every hour gets the same
    # value whatever range it is generated in.
    first_day = hours[0].astype(object).date() - timedelta(days=3)
    last_day = hours[-1].astype(object).date() + timedelta(days=2)
    lat_asc = lat[::-1]
    for k in range((last_day - first_day).days + 1):
        storms = _day_storms(first_day + timedelta(days=k), bounds, seed)
        for i in range(storms.t_peak.size):
            _add_storm(mean_rate, storms, i, t_mid, lat_asc, lon)
    # Orographic enhancement; a soft ceiling because hourly means over a 0.25 deg cell
    # rarely exceed ~10 mm; a dry threshold so that most cells get exactly 0.
    rate = mean_rate * (1.0 + 0.3 * height / 1000.0).astype(np.float32)
    wet = rate > _DRY_RATE
    rate = rate[wet]
    rate = np.maximum(_MAX_RATE * np.tanh(rate / _MAX_RATE) - _DRY_RATE, 0.0)
    tp = np.zeros(mean_rate.shape, dtype=np.float32)
    tp[wet] = np.round(rate / 1000.0 / _TP_QUANTUM) * _TP_QUANTUM
    return tp


def _add_storm(
    out: np.ndarray,
    storms: _Storms,
    i: int,
    t_mid: np.ndarray,
    lat_asc: np.ndarray,
    lon: np.ndarray,
) -> None:
    """Add storm ``i``'s mean rate (mm/h) over each hour to ``out`` where not negligible.

    A Gaussian moving by ``d`` during the hour averages to nearly a Gaussian centred at
    mid-hour with covariance ``S + d d^T / 12`` (a box of length ``d`` convolved with
    it) and the same volume: one evaluation per hour instead of sub-stepping.
    """
    t0, tau, peak = storms.t_peak[i], storms.tau[i], storms.peak[i]
    # Beyond this many sigmas the storm is far below the dry threshold.
    n_sigma = math.sqrt(2.0 * math.log(max(peak / _NEGLIGIBLE_RATE, 1.0)))
    hit = np.flatnonzero(np.abs(t_mid - t0) < n_sigma * tau + 0.5)
    if hit.size == 0:
        return
    rows = slice(hit[0], hit[-1] + 1)
    dt = t_mid[rows] - t0
    coslat = max(math.cos(math.radians(storms.lat0[i])), 0.2)
    a = storms.angle[i]
    rot = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    cov0 = rot @ np.diag([storms.s_along[i] ** 2, storms.s_across[i] ** 2]) @ rot.T
    step = np.array([storms.u[i] * coslat, storms.v[i]])  # deg per hour, local metric
    cov = cov0 + np.outer(step, step) / 12.0
    prec = np.linalg.inv(cov)
    volume = math.sqrt(np.linalg.det(cov0) / np.linalg.det(cov))
    lat_c = storms.lat0[i] + storms.v[i] * dt
    lon_c = storms.lon0[i] + storms.u[i] * dt
    # Window of the grid the storm can touch during its whole life (ascending latitude),
    # not just during these hours: values must not depend on the requested range.
    life = n_sigma * tau + 0.5
    reach_y = n_sigma * math.sqrt(cov[1, 1]) + abs(storms.v[i]) * life
    reach_x = n_sigma * math.sqrt(cov[0, 0]) / coslat + abs(storms.u[i]) * life
    j0, j1 = np.searchsorted(lat_asc, [storms.lat0[i] - reach_y, storms.lat0[i] + reach_y])
    i0, i1 = np.searchsorted(lon, [storms.lon0[i] - reach_x, storms.lon0[i] + reach_x])
    if j0 >= j1 or i0 >= i1:
        return
    # float32 is plenty for a rate and halves the memory traffic.
    dx = ((lon[None, None, i0:i1] - lon_c[:, None, None]) * coslat).astype(np.float32)
    dy = (lat_asc[None, j0:j1, None] - lat_c[:, None, None]).astype(np.float32)
    c00, c01, c11 = (float(c) for c in (-0.5 * prec[0, 0], -prec[0, 1], -0.5 * prec[1, 1]))
    quad = c00 * dx * dx + (c01 * dx) * dy
    quad += c11 * dy * dy
    rate = np.exp(quad, out=quad)
    rate *= (volume * peak * np.exp(-0.5 * (dt / tau) ** 2)).astype(np.float32)[:, None, None]
    if storms.band_k[i] > 0:
        along = dx * math.cos(a) + dy * math.sin(a)
        phase = storms.band_phase[i] + storms.band_drift[i] * dt[:, None, None]
        rate *= 1.0 + 0.5 * np.sin(storms.band_k[i] * along + phase)
    # The output is stored with latitude descending.
    ny = out.shape[1]
    out[rows, ny - j1 : ny - j0, i0:i1] += rate[:, ::-1, :]


def temperature(
    hours: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    height: np.ndarray,
    precip: np.ndarray,
    seed: int,
) -> np.ndarray:
    """ERA5 ``t2m`` (K) at each valid time; float32, shape ``(time, lat, lon)``.

    Latitude gradient and annual cycle, lapse-rate cooling over terrain, a diurnal cycle
    peaking at 14 local solar time, travelling synoptic waves and cooling under rain.
    """
    t = _epoch_hours(hours)[:, None, None]
    days = t / 24.0
    lat3 = lat[None, :, None]
    lon3 = lon[None, None, :]
    sin_lat = np.sin(np.radians(lat3))
    # Seasons are opposite in the southern hemisphere.
    season = _season(_day_of_year(hours))[:, None, None] * np.sign(lat3)
    # Zonal climatology fitted to Western Europe (about 279 K at 45N in January, 293 K
    # in July), still plausible elsewhere.
    base = 301.0 - 30.0 * sin_lat**2 + 14.0 * sin_lat**2 * season
    t2m = np.empty((t.size, lat.size, lon.size), dtype=np.float32)
    t2m[...] = base - _LAPSE_RATE * height[None]
    # Diurnal cycle, warmest at 14 local solar time.
    amplitude = 3.5 + 1.5 * season * np.abs(sin_lat)
    local_solar = (t + lon3 / 15.0) % 24.0
    t2m += amplitude * np.cos(2.0 * np.pi * (local_solar - 14.0) / 24.0)
    # Synoptic waves travelling east; cos(A + B) = cos A cos B - sin A sin B keeps the
    # trigonometry on (time, lon) and (lat) arrays instead of the full cube.
    rng = np.random.default_rng([seed, 3])
    for _ in range(4):
        amp = rng.uniform(0.8, 2.0)
        wave_x = rng.uniform(25.0, 60.0)
        wave_y = rng.uniform(15.0, 40.0) * rng.choice([-1.0, 1.0])
        speed = rng.uniform(5.0, 12.0)  # deg/day
        phase = rng.uniform(0.0, 2.0 * np.pi)
        a = 2.0 * np.pi * (lon3 - speed * days) / wave_x + phase
        b = 2.0 * np.pi * lat3 / wave_y
        t2m += (amp * np.cos(a)).astype(np.float32) * np.cos(b).astype(np.float32)
        t2m -= (amp * np.sin(a)).astype(np.float32) * np.sin(b).astype(np.float32)
    # A domain-wide warm or cool spell lasting several days.
    t2m += rng.uniform(1.0, 2.5) * np.cos(2.0 * np.pi * days / rng.uniform(6.0, 12.0))
    # Evaporative cooling under rain.
    wet = precip > 0
    t2m[wet] -= 3.0 * np.tanh(precip[wet] * 500.0)
    return np.round(t2m / _T2M_QUANTUM) * _T2M_QUANTUM


def _grib_attrs(
    param: _Param, lat: np.ndarray, lon: np.ndarray, resolution: float
) -> dict[str, Any]:
    return {
        "GRIB_paramId": np.int64(param.param_id),
        "GRIB_dataType": param.data_type,
        "GRIB_numberOfPoints": np.int64(lat.size * lon.size),
        "GRIB_typeOfLevel": "surface",
        "GRIB_stepUnits": np.int64(1),
        "GRIB_stepType": param.step_type,
        "GRIB_gridType": "regular_ll",
        "GRIB_uvRelativeToGrid": np.int64(0),
        "GRIB_NV": np.int64(0),
        "GRIB_Nx": np.int64(lon.size),
        "GRIB_Ny": np.int64(lat.size),
        "GRIB_cfName": "unknown",
        "GRIB_cfVarName": param.name,
        "GRIB_gridDefinitionDescription": "Latitude/Longitude Grid",
        "GRIB_iDirectionIncrementInDegrees": float(resolution),
        "GRIB_iScansNegatively": np.int64(0),
        "GRIB_jDirectionIncrementInDegrees": float(resolution),
        "GRIB_jPointsAreConsecutive": np.int64(0),
        "GRIB_jScansPositively": np.int64(0),
        "GRIB_latitudeOfFirstGridPointInDegrees": float(lat[0]),
        "GRIB_latitudeOfLastGridPointInDegrees": float(lat[-1]),
        "GRIB_longitudeOfFirstGridPointInDegrees": float(lon[0]),
        "GRIB_longitudeOfLastGridPointInDegrees": float(lon[-1]),
        "GRIB_missingValue": 3.4028234663852886e38,
        "GRIB_name": param.grib_name,
        "GRIB_shortName": param.short_name,
        "GRIB_totalNumber": np.int64(0),
        "GRIB_units": param.units,
        "long_name": param.grib_name,
        "units": param.units,
        "standard_name": "unknown",
        "GRIB_surface": 0.0,
    }


def _dataset(
    fields: Sequence[tuple[_Param, np.ndarray]],
    hours: np.ndarray,
    lat: np.ndarray,
    lon: np.ndarray,
    resolution: float,
    seed: int,
    product: str = "ERA5",
) -> xr.Dataset:
    seconds = hours.astype("datetime64[s]").astype(np.int64)
    coords = {
        "number": ((), np.int64(0), _NUMBER_ATTRS),
        "valid_time": ("valid_time", seconds, _TIME_ATTRS),
        "latitude": ("latitude", lat.astype(np.float64), _LAT_ATTRS),
        "longitude": ("longitude", lon.astype(np.float64), _LON_ATTRS),
        "expver": ("valid_time", np.full(hours.size, "0001")),
    }
    what = " and ".join(f"{p.step_type} {p.name}" for p, _ in fields)
    history = (
        f"SYNTHETIC data, not Copernicus/ECMWF output: {product}-like {what} "
        f"generated by era5_tools.sample (seed={seed}) in the layout of "
        "CDS NetCDF4 (GRIB to CDM+CF via cfgrib) downloads"
    )
    # The mark the job carries to the maps ("synthetic sample") and the GeoJSON.
    mark = f"era5_tools.sample, seed {seed}: synthetic, not Copernicus/ECMWF data"
    ds = xr.Dataset(coords=coords, attrs={**_GLOBAL_ATTRS, "history": history, SAMPLE_ATTR: mark})
    for param, values in fields:
        # Assigned after the coordinates so that the file lists variables in cfgrib's order.
        ds[param.name] = xr.Variable(
            ("valid_time", "latitude", "longitude"),
            values.astype(np.float32, copy=False),
            _grib_attrs(param, lat, lon, resolution),
            # cfgrib lists every coordinate, dimensions included; xarray would list only two.
            encoding={"coordinates": _COORDINATES},
        )
    return ds


#: Largest chunk written, in bytes: a small file is one chunk as CDS files are; a large
#: grid gets as many whole hours per chunk as fit (a global 0.1 degree field is 26 MB),
#: since HDF5 caps a chunk at 4 GB and a reader should not inflate a month to read an hour.
MAX_CHUNK_BYTES = 64 * 2**20


def _chunks(shape: tuple[int, ...]) -> tuple[int, ...]:
    per_hour = int(np.prod(shape[1:])) * 4
    hours = max(1, min(shape[0], MAX_CHUNK_BYTES // per_hour))
    return (hours, *shape[1:])


def write_netcdf_atomic(ds: xr.Dataset, path: Path) -> None:
    """Write ``ds`` like a CDS file (zlib level 1, shuffle, one chunk) via a temp file.

    Grids too large for one chunk get whole hours per chunk (:data:`MAX_CHUNK_BYTES`).
    """
    encoding: dict[Hashable, dict[str, Any]] = {
        name: {
            "dtype": "float32",
            "_FillValue": np.float32(np.nan),
            "zlib": True,
            "complevel": 1,
            "shuffle": True,
            "chunksizes": _chunks(ds[name].shape),
        }
        for name in ds.data_vars
    }
    encoding |= {
        "valid_time": {"dtype": "int64"},
        "latitude": {"_FillValue": np.nan},
        "longitude": {"_FillValue": np.nan},
    }
    # A fresh name in the same folder (os.replace stays atomic), created by the netCDF
    # library itself so that the file gets the usual umask-based permissions.
    tmp = path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
    try:
        ds.to_netcdf(tmp, format="NETCDF4", engine="netcdf4", encoding=encoding)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _as_date(value: date | str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(value)


#: Hours computed at once: the generator holds the month's output and this many hours
#: of intermediate fields, so that a global 0.1 degree day fits in a few GB.
_BLOCK_HOURS = 6


def _blocks(hours: np.ndarray) -> list[np.ndarray]:
    return [hours[i : i + _BLOCK_HOURS] for i in range(0, hours.size, _BLOCK_HOURS)]


def _accumulation_start(hour: np.datetime64) -> np.datetime64:
    """00 UTC of the day whose ERA5-Land accumulation holds ``hour``: 00 UTC closes D-1."""
    start: np.datetime64 = (
        (hour - np.timedelta64(1, "h")).astype("datetime64[D]").astype("datetime64[h]")
    )
    return start


def generate_sample(
    out_dir: str | os.PathLike[str],
    start: date | str = DEFAULT_START,
    end: date | str = DEFAULT_END,
    *,
    bounds: Sequence[float] = DEFAULT_BOUNDS,
    resolution: float | None = None,
    seed: int = 0,
    prefix: str | None = None,
    dataset: str = ERA5,
    variables: Sequence[str] = DEFAULTS,
) -> list[Path]:
    """Write a synthetic ERA5 or ERA5-Land sample for days ``start..end`` (inclusive).

    Parameters
    ----------
    out_dir
        Folder for the files, created if missing.
    start, end
        First and last day (``date`` or ISO string).
    bounds
        ``(west, south, east, north)`` in degrees.
    resolution
        Grid step in degrees; default 0.25 for ERA5 and 0.1 for ERA5-Land.
    seed
        Seed of every random choice; same seed, same values.
    prefix
        File name prefix; default ``era5_sample`` or ``era5land_sample``.
    dataset
        ``"era5"``: an instant and an accum file per month, accumulations the amount of
        the hour ending at ``valid_time``. ``"era5-land"``: one file per month, as an
        ERA5-Land download: NaN over the sea (the Natural Earth land of the maps,
        :func:`era5_contours.outputs.borders.land_mask`) and accumulations since 00 UTC,
        so that the D+1 00 UTC value is day D's total.
    variables
        The job's variables the files are for: they hold the quantities the CDS gives for
        them (:func:`era5_common.variables.cds_quantities`).

    Returns
    -------
    list of Path
        Per month, the instant file then the accum file (ERA5), or the one file (ERA5-Land).

    Raises
    ------
    ValueError
        For an unknown dataset or variable, or a variable the product does not give.
    """
    if dataset not in (ERA5, ERA5_LAND):
        raise ValueError(f"dataset must be {ERA5} or {ERA5_LAND}, got {dataset!r}")
    land = dataset == ERA5_LAND
    quantities = cds_quantities(variables, dataset)
    resolution = resolution or (LAND_RESOLUTION if land else DEFAULT_RESOLUTION)
    prefix = prefix or (LAND_PREFIX if land else DEFAULT_PREFIX)
    bounds = tuple(float(b) for b in bounds)
    lat, lon = make_grid(bounds, resolution)
    world = _World(lat, lon, bounds, seed, terrain_height(lat, lon, bounds, seed))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    sea = _sea(lat, lon) if land else None
    written = []
    for month, chunk in month_chunks(sample_hours(_as_date(start), _as_date(end))):
        fields = _month_fields(world, quantities, chunk, land)
        if sea is not None:
            for values in fields.values():
                values[:, sea] = np.nan
        for path, names in _files(out, prefix, month, quantities, land):
            params = [(_Param.of(QUANTITIES[q]), fields[q]) for q in names]
            product = "ERA5-Land" if land else "ERA5"
            write_netcdf_atomic(_dataset(params, chunk, lat, lon, resolution, seed, product), path)
            logger.info("wrote %s (%d steps)", path, chunk.size)
            written.append(path)
    return written


def _sea(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Cells off the Natural Earth land the maps draw (ERA5-Land is NaN there)."""
    from era5_contours.outputs.borders import land_mask

    sea: np.ndarray = ~land_mask(lat, lon)
    return sea


@dataclass(frozen=True)
class _World:
    """The grid and the fixed parts of the sample's weather."""

    lat: np.ndarray
    lon: np.ndarray
    bounds: tuple[float, ...]
    seed: int
    height: np.ndarray


def _files(
    out: Path, prefix: str, month: str, quantities: Sequence[str], land: bool
) -> list[tuple[Path, list[str]]]:
    """The month's files and the quantities each holds, as the CDS delivers them."""
    if land:
        return [(out / f"{prefix}_{month}_{'_'.join(quantities)}.nc", list(quantities))]
    files = []
    for stream, kind in (("instant", False), ("accum", True)):
        names = [q for q in quantities if (QUANTITIES[q].kind == ACCUMULATION) == kind]
        if names:
            files.append((out / f"{prefix}_{month}_{stream}_{'-'.join(names)}.nc", names))
    return files


def _month_fields(
    world: _World, quantities: Sequence[str], chunk: np.ndarray, land: bool
) -> dict[str, np.ndarray]:
    """Every quantity at every hour of a month's chunk, float32 ``(time, lat, lon)``."""
    shape = (chunk.size, world.lat.size, world.lon.size)
    fields = {q: np.empty(shape, dtype=np.float32) for q in quantities}
    accumulated = [q for q in quantities if land and QUANTITIES[q].kind == ACCUMULATION]
    # ERA5-Land: the accumulation already under way at the month's first hour.
    running = {q: np.zeros(shape[1:], dtype=np.float64) for q in accumulated}
    if accumulated:
        before = np.arange(_accumulation_start(chunk[0]) + 1, chunk[0])
        for block in _blocks(before):
            hourly = _block_fields(world, accumulated, block)
            for q in accumulated:
                running[q] += hourly[q].sum(0)
    i = 0
    for block in _blocks(chunk):
        hourly = _block_fields(world, quantities, block)
        for q in quantities:
            if q not in running:
                fields[q][i : i + block.size] = hourly[q]
                continue
            for k, hour in enumerate(block):
                if hour == _accumulation_start(hour) + 1:  # 01 UTC starts a new day
                    running[q][...] = 0.0
                running[q] += hourly[q][k]
                fields[q][i + k] = running[q]
        i += block.size
    return fields


_RAIN_MODELS = ("precipitation", "large_scale_precipitation", "convective_precipitation")
_WIND_MODELS = ("wind_u", "wind_v", "wind_speed")


def _block_fields(
    world: _World, quantities: Sequence[str], block: np.ndarray
) -> dict[str, np.ndarray]:
    """The hourly values of ``quantities`` over a block of hours, each model computed once."""
    models = {QUANTITIES[q].sample_model for q in quantities}
    lat, lon, bounds, seed = world.lat, world.lon, world.bounds, world.seed
    made: dict[str, np.ndarray] = {}
    if models & {*_RAIN_MODELS, "temperature"}:
        made["precipitation"] = hourly_precipitation(block, lat, lon, world.height, bounds, seed)
        # The large-scale share of the rain (the rest is convective): a smooth field.
        share = synoptic.smooth(block, lat, lon, (0.2, 0.9), seed)
        large = np.round(made["precipitation"] * share / _TP_QUANTUM) * _TP_QUANTUM
        made["large_scale_precipitation"] = large.astype(np.float32)
        made["convective_precipitation"] = made["precipitation"] - made["large_scale_precipitation"]
    if "temperature" in models:
        made["temperature"] = temperature(
            block, lat, lon, world.height, made["precipitation"], seed
        )
    if models & {"pressure", *_WIND_MODELS}:
        made["pressure"] = synoptic.pressure(block, lat, lon, bounds, seed)
    if models & set(_WIND_MODELS):
        made["wind_u"], made["wind_v"] = synoptic.wind(made["pressure"], block, lat, lon)
        made["wind_speed"] = np.hypot(made["wind_u"], made["wind_v"])
    out = {}
    for q in quantities:
        spec = QUANTITIES[q]
        values = made.get(spec.sample_model)
        # A quantity without a model of its own: a smooth field within its typical range.
        out[q] = synoptic.smooth(block, lat, lon, spec.typical, seed) if values is None else values
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m era5_tools.sample --output_dir DIR ...``."""
    parser = argparse.ArgumentParser(
        prog="python -m era5_tools.sample",
        description="Write a synthetic ERA5 or ERA5-Land sample of the job's variables, "
        "month by month, in the CDS NetCDF4 layout.",
    )
    parser.add_argument("--output_dir", required=True, type=Path)
    parser.add_argument("--start_date", type=date.fromisoformat, default=DEFAULT_START)
    parser.add_argument("--end_date", type=date.fromisoformat, default=DEFAULT_END)
    parser.add_argument(
        "--bounds",
        nargs=4,
        type=float,
        metavar=("WEST", "SOUTH", "EAST", "NORTH"),
        default=DEFAULT_BOUNDS,
    )
    parser.add_argument(
        "--resolution",
        type=float,
        default=None,
        help=f"grid step in degrees (default {DEFAULT_RESOLUTION}, ERA5-Land {LAND_RESOLUTION})",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--prefix", default=None, help=f"default {DEFAULT_PREFIX} ({LAND_PREFIX} for ERA5-Land)"
    )
    parser.add_argument(
        "--dataset",
        choices=(ERA5, ERA5_LAND),
        default=ERA5,
        help="era5: instant and accum files, hourly tp; era5-land: one file, NaN over sea, "
        "tp accumulated since 00 UTC",
    )
    parser.add_argument(
        "--variables",
        default=",".join(DEFAULTS),
        help=f"the job's variables the files are for (default {','.join(DEFAULTS)})",
    )
    parser.add_argument("--log_level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    configure_logging(args.log_level, stream=sys.stderr)
    land = args.dataset == ERA5_LAND
    resolution = args.resolution or (LAND_RESOLUTION if land else DEFAULT_RESOLUTION)
    variables = [v.strip() for v in args.variables.split(",") if v.strip()]
    try:
        make_grid(args.bounds, resolution)
        sample_hours(args.start_date, args.end_date)
        cds_quantities(variables, args.dataset)
    except ValueError as exc:
        parser.error(str(exc))
    paths = generate_sample(
        args.output_dir,
        args.start_date,
        args.end_date,
        bounds=args.bounds,
        resolution=resolution,
        seed=args.seed,
        prefix=args.prefix,
        dataset=args.dataset,
        variables=variables,
    )
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
