from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from era5_contours.inputs.datasets import ERA5, ERA5_LAND, detect_dataset, normalise_name
from era5_contours.inputs.netcdf import open_dataset
from era5_contours.inputs.samples import load_day

FR_T2M = "era5_france_2020-07_hourly_instant_t2m.nc"
FR_TP = "era5_france_2020-07_hourly_accum_tp.nc"
SW_TP = "era5_swfrance_2020-07-01_06_hourly_accum_tp.nc"
KERALA = "era5land_kerala_2025-09-11_hourly_t2m_tp.nc"

DAY = pd.date_range("2021-06-01T00", "2021-06-02T00", freq="h")  # 25 samples


def _hourly_rain(shape=(25, 4, 4), seed=0) -> np.ndarray:
    """Showers: each hour's accumulation (m) is independent, so values go up and down."""
    rng = np.random.default_rng(seed)
    return rng.gamma(0.6, 0.0008, size=shape) * (rng.random(shape) < 0.7)


def _normalised(cf_dataset, tp, *, spacing=0.25, attrs=None, var_attrs=None):
    n_lat, n_lon = tp.shape[1:]
    ds = cf_dataset(
        {"tp": tp},
        DAY[: tp.shape[0]],
        np.arange(n_lat) * spacing,
        np.arange(n_lon) * spacing,
        time_name="time",
        attrs=attrs,
        var_attrs=var_attrs,
    )
    return ds


@pytest.mark.parametrize(
    ("files", "day"),
    [
        ([FR_T2M, FR_TP], date(2020, 7, 1)),
        ([FR_TP], date(2020, 7, 20)),
        ([SW_TP], date(2020, 7, 2)),
    ],
)
def test_real_era5_detected_from_tp_growth(era5_file, files, day):
    ds = load_day([era5_file(f) for f in files], day, ["tp"])
    found = detect_dataset(ds)
    assert found.dataset == ERA5
    assert "decreases" in found.reason  # the hourly accumulations go up and down


def test_real_era5_land_detected(era5_file):
    ds = load_day([era5_file(KERALA)], date(2025, 9, 11), ["t2m", "tp"])
    found = detect_dataset(ds)
    assert found.dataset == ERA5_LAND


def test_era5_land_without_any_metadata_still_detected_by_growth(era5_file):
    ds = load_day([era5_file(KERALA)], date(2025, 9, 11), ["t2m", "tp"])
    ds.attrs = {}
    for v in ds.data_vars:
        ds[v].attrs = {"units": ds[v].attrs["units"]}
    found = detect_dataset(ds)
    assert found.dataset == ERA5_LAND
    assert "never decreases" in found.reason
    # Growth alone decides: sea NaNs filled and only tp kept, the answer does not change
    only_tp = ds[["tp"]].fillna(0.0)
    assert detect_dataset(only_tp).dataset == ERA5_LAND
    assert "never decreases" in detect_dataset(only_tp).reason


def test_era5_land_file_names_do_not_count_as_metadata(era5_file):
    # The file is named era5land_*; the name must not be what decides.
    ds = open_dataset(era5_file(KERALA))
    assert "era5land" in ds.attrs["source_file"]
    assert detect_dataset(ds).reason != "named in the file metadata"


@pytest.mark.parametrize("override", ["era5", "ERA5", "era5-land", "ERA5_Land", "era5land"])
def test_override_wins(era5_file, override):
    ds = load_day([era5_file(KERALA)], date(2025, 9, 11), ["tp"])
    expected = ERA5 if override.lower() == "era5" else ERA5_LAND
    found = detect_dataset(ds, override=override)
    assert found.dataset == expected
    assert found.reason == "given explicitly"


def test_auto_override_detects(cf_dataset):
    tp = np.cumsum(_hourly_rain(), axis=0)
    ds = _normalised(cf_dataset, tp)
    assert detect_dataset(ds, override="auto").dataset == ERA5_LAND
    assert detect_dataset(ds, override=None).dataset == ERA5_LAND


def test_bad_override_refused(cf_dataset):
    ds = _normalised(cf_dataset, _hourly_rain())
    with pytest.raises(ValueError, match="unknown dataset"):
        detect_dataset(ds, override="merra2")


def test_synthetic_hourly_tp_is_era5(cf_dataset):
    ds = _normalised(cf_dataset, _hourly_rain())
    found = detect_dataset(ds)
    assert found.dataset == ERA5
    assert "decreases" in found.reason


def test_synthetic_cumulative_tp_is_era5_land(cf_dataset):
    hourly = _hourly_rain()
    # Accumulated since 00 UTC: the D 00 sample closes the previous day (any value),
    # then the running total grows from 01 UTC to D+1 00 UTC.
    cumulative = np.cumsum(hourly, axis=0)
    cumulative[0] = 0.02
    ds = _normalised(cf_dataset, cumulative)
    found = detect_dataset(ds)
    assert found.dataset == ERA5_LAND
    assert "never decreases" in found.reason


def test_dry_day_falls_back_to_grid(cf_dataset):
    dry = np.zeros((25, 4, 4))
    assert detect_dataset(_normalised(cf_dataset, dry, spacing=0.25)).dataset == ERA5
    assert detect_dataset(_normalised(cf_dataset, dry, spacing=0.1)).dataset == ERA5_LAND


def test_dry_day_with_sea_nan_is_era5_land(cf_dataset):
    dry = np.zeros((25, 4, 4))
    dry[:, 0, :] = np.nan
    found = detect_dataset(_normalised(cf_dataset, dry, spacing=0.25))
    assert found.dataset == ERA5_LAND
    assert "NaN" in found.reason


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ERA5-Land hourly data from 1950 to present", ERA5_LAND),
        ("reanalysis-era5-land", ERA5_LAND),
        ("reanalysis-era5-single-levels", ERA5),
    ],
)
def test_metadata_names_the_product(cf_dataset, text, expected):
    # Growth would say the opposite: metadata is the strongest evidence.
    tp = _hourly_rain() if expected == ERA5_LAND else np.cumsum(_hourly_rain(), axis=0)
    ds = _normalised(cf_dataset, tp, attrs={"history": text})
    found = detect_dataset(ds)
    assert found.dataset == expected
    assert found.reason == "named in the file metadata"


def test_normalise_name():
    assert normalise_name(" ERA5_Land ") == ERA5_LAND
    assert normalise_name("Era5") == ERA5
    with pytest.raises(ValueError):
        normalise_name("era-5")


def test_growth_counter_counts_like_float64_in_the_samples_own_precision():
    from era5_contours.inputs.datasets import GrowthCounter

    rng = np.random.default_rng(3)
    hours = np.cumsum(rng.exponential(2e-4, size=(25, 40, 50)), axis=0)  # accumulating
    hours[1::2, :20, :30] -= 5e-4  # a patch that goes up and down, hour by hour
    hours[:, -5:, :] = np.nan  # sea
    hours[12, :, :3] = np.nan  # a missing strip in one hour
    counter = GrowthCounter()
    for h in hours.astype(np.float32):
        counter.add(h)
    # Independently, in float64 from the same float32 values.
    h64 = hours.astype(np.float32).astype(np.float64)
    step = np.diff(h64, axis=0)
    rainy = np.fmax.reduce(h64, axis=0) > 1e-4
    decreases = int((step < -1e-6)[:, rainy].sum())
    finite = int(np.isfinite(step)[:, rainy].sum())
    found, why = counter.hint()
    assert decreases > 0 and found == "era5"
    assert why == f"tp decreases in {decreases / finite:.0%} of hourly steps of rainy cells"
