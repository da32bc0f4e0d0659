"""The two products the project reads, and the names users give them."""

from __future__ import annotations

ERA5 = "era5"
ERA5_LAND = "era5-land"
DATASETS = (ERA5, ERA5_LAND)


def normalise_name(name: str) -> str:
    """``era5`` or ``era5-land`` from the usual spellings (``ERA5_Land``, ``era5land``).

    Raises
    ------
    ValueError
        For any other name.
    """
    key = str(name).strip().lower().replace("_", "-")
    if key in ("era5-land", "era5land"):
        return ERA5_LAND
    if key == ERA5:
        return ERA5
    raise ValueError(f"unknown dataset {name!r}: use {ERA5} or {ERA5_LAND}")
