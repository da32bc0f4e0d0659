"""A daily rule decodes the samples it needs: ERA5-Land's total reads one hour when the
product is known, every hour when it is not (issue 25).

Expectations come from the files through netCDF4, never from the library.
"""

from __future__ import annotations

import shutil
from datetime import date

import netCDF4
import numpy as np
import pytest
from realdata import ERA5_DIR, require

from era5_common.errors import IncompleteDayError, InputError
from era5_contours.science.daily import read_daily, read_day
from era5_tools.sample import generate_sample

#: Reading depends on the runtime's netCDF4, h5py and numpy: the Glue lanes run these.
pytestmark = pytest.mark.runtime

DAY = date(2021, 6, 1)
BOUNDS = (5.0, 44.0, 8.0, 47.0)  # the Alps, land and lakes
KERALA = ERA5_DIR / "era5land_kerala_2025-09-11_hourly_t2m_tp.nc"


@pytest.fixture(scope="module")
def land(tmp_path_factory):
    """A synthetic ERA5-Land month file (history names ERA5-Land) and a copy that names
    no product, both holding t2m and tp for 2021-06-01 00 UTC to 06-03 00 UTC."""
    folder = tmp_path_factory.mktemp("land")
    [named] = generate_sample(
        folder, "2021-06-01", "2021-06-02", bounds=BOUNDS, dataset="era5-land",
        variables=["t2m", "tp"], resolution=0.1,
    )  # fmt: skip
    anonymous = folder / "anonymous.nc"
    shutil.copy(named, anonymous)
    with netCDF4.Dataset(anonymous, "a") as nc:
        nc.delncattr("history")
        assert not any("land" in str(nc.getncattr(k)).lower() for k in nc.ncattrs())
    return named, anonymous


def _field_bytes(path, name="tp"):
    with netCDF4.Dataset(path) as nc:
        v = nc.variables[name]
        return v.dtype.itemsize * v.shape[1] * v.shape[2]


def _tp_at(path, when):
    """tp (mm) at ``when`` straight from the file, latitude ascending."""
    with netCDF4.Dataset(path) as nc:
        t = nc.variables["valid_time"]
        times = netCDF4.num2date(t[:], t.units, only_use_cftime_datetimes=False)
        [i] = [k for k, x in enumerate(times) if x.isoformat().startswith(when)]
        values = np.ma.filled(nc.variables["tp"][i].astype(float), np.nan) * 1000.0
        lat = nc.variables["latitude"][:]
    return values[::-1] if lat[0] > lat[-1] else values


def test_a_known_era5_land_total_decodes_the_next_midnight_only(land):
    named, anonymous = land
    one = _field_bytes(named)
    given = read_day({"tp": [anonymous]}, DAY, ["tp"], dataset="era5-land")["tp"]
    assert given.error is None
    assert given.decoded_bytes == one  # D+1 00 UTC alone: 1 of the window's 24 hours
    field = given.acc.field()
    assert field.complete and field.samples == 24
    np.testing.assert_allclose(
        field.data.values, _tp_at(anonymous, "2021-06-02T00"), rtol=1e-6, equal_nan=True
    )
    # Named in the file's metadata: the same single read, "auto" or not.
    named_read = read_day({"tp": [named]}, DAY, ["tp"], dataset="auto")["tp"]
    assert named_read.decoded_bytes == one
    assert named_read.acc.detect().reason == "named in the file metadata"
    np.testing.assert_array_equal(named_read.acc.field().data.values, field.data.values)


def test_an_unknown_product_reads_every_hour_and_agrees(land):
    _, anonymous = land
    read = read_day({"tp": [anonymous]}, DAY, ["tp"], dataset="auto")["tp"]
    assert read.decoded_bytes == 24 * _field_bytes(anonymous)  # (D 00, D+1 00]
    detection = read.acc.detect()
    # Told by the evidence in the samples and the grid, not by a name.
    assert detection.dataset == "era5-land"
    assert detection.reason not in ("named in the file metadata", "given explicitly")
    short = read_day({"tp": [anonymous]}, DAY, ["tp"], dataset="era5-land")["tp"]
    np.testing.assert_array_equal(
        read.acc.field(detection.dataset).data.values, short.acc.field().data.values
    )


def test_the_other_rules_still_read_every_hour(land):
    named, _ = land
    reads = read_day({"t2m": [named], "tp": [named]}, DAY, ["t2m", "tp"], dataset="era5-land")
    assert reads["t2m"].decoded_bytes == 24 * _field_bytes(named, "t2m")  # 00..23 UTC
    assert reads["tp"].decoded_bytes == _field_bytes(named)
    # ERA5's total sums the hours: every one of them.
    era5 = read_day({"tp": [named]}, DAY, ["tp"], dataset="era5")["tp"]
    assert era5.decoded_bytes == 24 * _field_bytes(named)


def test_a_missing_next_midnight_reads_the_day_and_reports_it_as_a_full_read():
    """Kerala's real ERA5-Land file stops at 18 UTC: the one read finds nothing, the day is
    then read whole, and the error and the accepted partial total are a full read's."""
    require(KERALA)
    day = date(2025, 9, 11)
    with pytest.raises(IncompleteDayError) as err:
        read_daily([KERALA], day, "tp", dataset="era5-land").field()
    assert (err.value.samples, err.value.required) == (18, 24)
    acc = read_daily([KERALA], day, "tp", dataset="era5-land")
    field = acc.field(min_samples=18)
    np.testing.assert_allclose(
        field.data.values, _tp_at(KERALA, "2025-09-11T18"), rtol=1e-6, equal_nan=True
    )
    # The day before ends at this file's 00 UTC: its one sample is the whole total.
    before = read_day({"tp": [KERALA]}, date(2025, 9, 10), ["tp"], dataset="era5-land")["tp"]
    assert before.decoded_bytes == _field_bytes(KERALA)
    np.testing.assert_allclose(
        before.acc.field().data.values, _tp_at(KERALA, "2025-09-11T00"), rtol=1e-6,
        equal_nan=True,
    )  # fmt: skip


def test_conflicting_copies_of_the_hour_read_are_still_refused(land, tmp_path):
    _, anonymous = land
    other = tmp_path / "other.nc"
    shutil.copy(anonymous, other)
    with netCDF4.Dataset(other, "a") as nc:
        t = nc.variables["valid_time"]
        times = netCDF4.num2date(t[:], t.units, only_use_cftime_datetimes=False)
        [i] = [k for k, x in enumerate(times) if x.isoformat().startswith("2021-06-02T00")]
        nc.variables["tp"][i] = nc.variables["tp"][i] + np.float32(0.001)
    read = read_day({"tp": [anonymous, other]}, DAY, ["tp"], dataset="era5-land")["tp"]
    assert isinstance(read.error, InputError)
    assert "conflicting samples at 2021-06-02T00:00" in read.error.message
    assert "other.nc" in read.error.message
