"""Units read from the files, never assumed: parse CF / UDUNITS spellings and convert.

Every quantity has one canonical unit the daily rules work in (:data:`CANONICAL`, from the
registry: ``K`` for temperature, ``m`` of water for precipitation, ``Pa``...). A file's ``units`` attribute
is parsed with pint's registry as cf_xarray configures it for UDUNITS syntax (``K``,
``degC``, ``degree_Celsius``, ``celsius``, ``m``, ``mm``, ``kg m-2``, ``kg m**-2``...), the
way xclim does: the spellings real files use are pint's business, not ours. A missing or
unrecognised attribute is refused unless the caller gives an assumed unit
(``--assume_units``); a unit of the wrong kind (``mm day-1`` for a total) is always
refused.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from era5_common.errors import InputError
from era5_common.variables import QUANTITIES, VARIABLES, quantity

if TYPE_CHECKING:
    import pint

logger = logging.getLogger(__name__)

#: The unit each quantity is converted to on reading (what the daily rules expect).
CANONICAL: dict[str, str] = {q.name: q.units for q in QUANTITIES.values()}
#: 1 kg m-2 of liquid water is 1 mm: the CF "lwe" (liquid water equivalent) convention.
WATER_DENSITY_KG_M3 = 1000.0


@functools.lru_cache(maxsize=1)
def _registry() -> pint.UnitRegistry[Any]:
    # Imported lazily: building the registry costs ~0.4 s, paid once per process. cf_xarray
    # redefines some of pint's units (C, d, h...) on purpose; pint logs each as a warning.
    pint_log = logging.getLogger("pint.util")
    level = pint_log.level
    pint_log.setLevel(logging.ERROR)
    try:
        from cf_xarray.units import units
    finally:
        pint_log.setLevel(level)
    return units


def parse_assumed(text: str) -> dict[str, str]:
    """``"Q=UNITS,..."`` -> ``{Q: UNITS}`` for quantities ``Q`` of the registry, each checked.

    Raises
    ------
    ValueError
        For a malformed pair, an unknown quantity or a unit that cannot express it.
    """
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in str(text).split(","))):
        variable, sep, unit = item.partition("=")
        variable, unit = variable.strip(), unit.strip()
        if not sep or not variable or not unit:
            raise ValueError(f"--assume_units takes QUANTITY=UNITS pairs, got {item!r}")
        if variable not in CANONICAL:
            raise ValueError(
                f"--assume_units: unknown quantity {variable!r} (use {', '.join(CANONICAL)})"
            )
        linear_conversion(unit, variable)  # raises ValueError when unusable
        out[variable] = unit
    return out


def linear_conversion(
    unit: str, variable: str, target_unit: str | None = None
) -> tuple[float, float]:
    """``(scale, offset)`` such that ``value * scale + offset`` is in ``CANONICAL[variable]``.

    Every unit these quantities come in converts affinely (K <-> degC is an offset).
    ``target_unit`` converts to another unit than the canonical one (the daily maps').

    Raises
    ------
    ValueError
        When ``unit`` cannot be parsed or is not a unit of this variable's quantity.
    """
    import pint

    reg = _registry()
    try:
        parsed = reg.Unit(unit)
    except (pint.errors.PintError, AttributeError, TypeError, ValueError, SyntaxError) as exc:
        raise ValueError(f"units {unit!r} are not recognised ({exc})") from exc
    target = reg.Unit(target_unit or CANONICAL[variable])
    source = parsed
    water = False
    if (
        quantity(variable).water_equivalent
        and parsed.dimensionality == reg.Unit("kg m-2").dimensionality
    ):
        water = True  # an amount of water per area: its liquid-water depth
    elif parsed.dimensionality != target.dimensionality:
        raise ValueError(
            f"units {unit!r} ({parsed.dimensionality}) cannot express {variable} "
            f"(expected a unit of {target.dimensionality}, like {CANONICAL[variable]})"
        )

    def to_target(x: float) -> float:
        q = reg.Quantity(x, source)
        if water:
            q = q / reg.Quantity(WATER_DENSITY_KG_M3, "kg m-3")
        return float(q.to(target).magnitude)

    offset = to_target(0.0)
    return to_target(1.0) - offset, offset


def canonical_conversion(
    attrs: Mapping[str, Any],
    variable: str,
    *,
    file: str | None = None,
    day: date | None = None,
    assume: str | None = None,
) -> tuple[float, float, str]:
    """``(scale, offset, units_used)`` taking values with ``attrs`` to ``CANONICAL[variable]``.

    What :func:`to_canonical` applies, for readers that convert arrays themselves (the
    streaming reader converts one sample at a time).

    Raises
    ------
    InputError
        As :func:`to_canonical`.
    """
    declared = attrs.get("units")
    declared = None if declared is None or not str(declared).strip() else str(declared).strip()
    used = declared
    try:
        if declared is None:
            raise ValueError("no units attribute")
        scale, offset = linear_conversion(declared, variable)
    except ValueError as exc:
        recognised = declared is not None and "not recognised" not in str(exc)
        if assume is None or recognised:
            raise InputError(
                _units_problem(exc, attrs, variable), file=file, day=day, variable=variable
            ) from exc
        logger.warning(
            "file %s, variable %s: %s; assuming %s (--assume_units)", file, variable, exc, assume
        )
        used = assume
        try:
            scale, offset = linear_conversion(assume, variable)
        except ValueError as exc2:
            raise InputError(str(exc2), file=file, day=day, variable=variable) from exc2
    return scale, offset, str(used)


def to_canonical(
    arr: xr.DataArray,
    variable: str,
    *,
    file: str | None = None,
    day: date | None = None,
    assume: str | None = None,
) -> xr.DataArray:
    """``arr`` in the canonical unit of ``variable``, from its own ``units`` attribute.

    Parameters
    ----------
    arr
        Values with their attributes as read (``units`` from the file).
    assume
        Unit to use when ``arr`` has no ``units`` attribute or one that is not recognised
        (the job's ``--assume_units``). A recognised attribute always wins.

    Raises
    ------
    InputError
        Naming the file, day and variable and what was found, when the units are missing
        or unknown (and nothing is assumed) or are not units of this variable.
    """
    file = file or arr.attrs.get("source_file")
    scale, offset, used = canonical_conversion(
        arr.attrs, variable, file=file, day=day, assume=assume
    )
    attrs = {**arr.attrs, "units": CANONICAL[variable]}
    if used != CANONICAL[variable]:
        attrs["units_read"] = used
    if scale == 1.0 and offset == 0.0:
        return arr.assign_attrs(attrs) if attrs != arr.attrs else arr
    # Keep the file's precision (float32): the conversion is affine, no need for pint arrays.
    dtype = arr.dtype if np.issubdtype(arr.dtype, np.floating) else np.dtype(np.float64)
    converted: xr.DataArray = arr.astype(dtype) * dtype.type(scale) + dtype.type(offset)
    result: xr.DataArray = converted.assign_attrs(attrs)  # Self reads as Any: see pyproject
    return result


def _units_problem(exc: Exception, attrs: Mapping[str, Any], variable: str) -> str:
    hint = ""
    grib = attrs.get("GRIB_units")
    if grib is not None:
        hint = f"; the GRIB_units attribute says {grib!r}"
    return (
        f"{exc}{hint}: cannot tell what the values mean; if you know, pass "
        f"--assume_units {variable}=UNITS (e.g. {variable}={CANONICAL[variable]})"
    )


def output_conversion(variable: str) -> tuple[float, float]:
    """``(scale, offset)`` taking daily values of ``variable`` to its output units.

    From its inputs' canonical units (``K``, ``m``, ``Pa``) to ``degC``, ``mm``, ``hPa``...
    """
    recipe = VARIABLES[variable].recipes[0]
    return linear_conversion(
        CANONICAL[recipe.inputs[0]], recipe.inputs[0], VARIABLES[variable].output_units
    )
