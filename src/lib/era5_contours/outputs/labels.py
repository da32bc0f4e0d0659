"""What maps print: units as readers write them, band and level labels, the day's statistic.

The GeoJSON's ``label`` properties, the viewer's legend and the PNGs' colour bars and
isoline labels all come from here, so that a band reads "6–8 °C" everywhere.
"""

from __future__ import annotations

#: Units as files and the job spell them -> as a map prints them.
DISPLAY_UNITS = {"degC": "°C", "K": "K", "mm": "mm", "Pa": "Pa", "hPa": "hPa", "m s-1": "m/s"}
#: What a field marked as a synthetic sample says on its maps.
SYNTHETIC_NOTE = "synthetic sample"


def display_units(units: str) -> str:
    """``"degC"`` -> ``"°C"``; units without a printed form are left as they are."""
    return DISPLAY_UNITS.get(units, units)


def number(value: float) -> str:
    """A level as a reader writes it: ``6``, ``0.1``, ``-2`` with a true minus sign."""
    text = f"{value:.6g}"
    return text.replace("-", "\u2212")


def band_label(lower: float | None, upper: float | None, units: str) -> str:
    """``"6–8 °C"``, ``"< 0.1 mm"``, ``"> 100 mm"`` (an en dash between the bounds)."""
    unit = display_units(units)
    suffix = f" {unit}" if unit else ""
    if lower is None and upper is not None:
        return f"< {number(upper)}{suffix}"
    if upper is None and lower is not None:
        return f"> {number(lower)}{suffix}"
    if lower is not None and upper is not None:
        return f"{number(lower)}\u2013{number(upper)}{suffix}"
    return f"all{suffix}"


def level_label(level: float, units: str) -> str:
    """``"8 °C"``: the label of an isoline."""
    unit = display_units(units)
    return f"{number(level)} {unit}" if unit else number(level)
