"""The variables the project knows, and everything particular to each: the registry.

Two kinds of record, as xclim separates its inputs from its indicators:

- a :class:`Quantity` is an hourly field as the files hold it: its names in CDS, legacy and
  NSF NCAR files, its CDS request name and NCAR product and parameter code, its canonical
  units (what every reader converts to), whether it is an instant or an accumulation, and
  which products hold it;
- a :class:`Variable` is a daily field the job maps: the quantities it is made from (one or
  more :class:`Recipe` s, preferred first, each with the formula that makes one hourly
  value of it), its daily statistic, its output units, physical range, default levels,
  colour map and description.

Everything else reads these records: the readers, the daily rules, units, levels, the
maps, the job's options, the CDS ingest, the sample generator, the viewer, the deploy and
the README. Adding a variable is one :class:`Variable` here (and a :class:`Quantity` if it
reads a new field); no other module names one (``tests/test_registry.py`` holds that).

Pure data, Python 3.9 (the ingest reads it on Glue Python shell): no numpy here. The
formulas and statistics named here are implemented in :mod:`era5_contours.science.daily`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .products import DATASETS, ERA5

#: A quantity valid at its time (temperature, pressure, wind): day D reads 00..23 UTC.
INSTANT = "instant"
#: A quantity accumulated over the hour (ERA5) or since 00 UTC (ERA5-Land) ending at its
#: time: day D reads the samples ending in (D 00, D+1 00].
ACCUMULATION = "accumulation"

#: Hourly formulas a recipe may name (``era5_contours.science.daily`` implements each).
VALUE, SUM, SPEED = "value", "sum", "speed"
FORMULAS = (VALUE, SUM, SPEED)

#: Daily statistics: the mean, minimum or maximum of the 24 hourly values at 00..23 UTC,
#: or an accumulation's daily total: the sum of the hours ending in (D 00, D+1 00]
#: (ERA5's hourly values), or the value at D+1 00 UTC (ERA5-Land, accumulated since 00 UTC).
MEAN, MINIMUM, MAXIMUM, TOTAL = "mean", "minimum", "maximum", "total"
STATISTICS = (MEAN, MINIMUM, MAXIMUM, TOTAL)
#: What each statistic takes of day D, in words (the README's table).
STATISTIC_RULES = {
    MEAN: "mean of the 24 hourly values at 00..23 UTC",
    MINIMUM: "minimum of the 24 hourly values at 00..23 UTC",
    MAXIMUM: "maximum of the 24 hourly values at 00..23 UTC",
    TOTAL: "ERA5: sum of the hourly amounts ending in (D 00, D+1 00]; ERA5-Land: the "
    "amount accumulated since 00 UTC at D+1 00 UTC (never a sum of those)",
}
#: CF cell_methods of each statistic (hourly inputs).
CELL_METHODS = {
    MEAN: "time: mean (interval: 1 hour)",
    MINIMUM: "time: minimum (interval: 1 hour)",
    MAXIMUM: "time: maximum (interval: 1 hour)",
    TOTAL: "time: sum (interval: 1 hour)",
}

#: How maps draw a variable: filled bands (with lines on their edges), or labelled
#: isolines over light bands, as a synoptic chart draws isobars.
BANDS, ISOLINES = "bands", "isolines"


@dataclass(frozen=True)
class Ncar:
    """Where the NSF NCAR copy of ERA5 (``s3://nsf-ncar-era5``) keeps a quantity.

    Files are ``{product}/{YYYYMM}/{product}.{parameter}.{grid}.{start}_{end}.nc``: monthly
    for the analyses (``e5.oper.an.sfc``), half-monthly forecasts for the accumulations
    (``e5.oper.fc.sfc.accumu``). ``name`` is the variable in the file.
    """

    product: str
    parameter: str
    name: str
    grid: str = "ll025sc"


@dataclass(frozen=True)
class Quantity:
    """An hourly field as the files hold it."""

    name: str
    #: ECMWF's name of the parameter (its GRIB_name in CDS files).
    long_name: str
    #: ECMWF's parameter id and GRIB short name (``167``, ``2t``).
    grib: tuple[int, str]
    #: Names it has in files: the CDS's NetCDF, legacy GRIB-derived names, NSF NCAR's.
    file_names: tuple[str, ...]
    #: The units every reader converts it to (what the daily rules work in).
    units: str
    kind: str
    #: The CDS request's variable name (``2m_temperature``).
    cds: str
    #: The products holding it (ERA5-Land has no sea-level pressure, say).
    datasets: tuple[str, ...] = DATASETS
    ncar: Ncar | None = None
    #: An amount of water per area (kg m-2) reads as its liquid-water depth.
    water_equivalent: bool = False
    #: Values an hourly field of it takes (canonical units): the range the sample generator
    #: draws in, and a hint in unit errors.
    typical: tuple[float, float] = (0.0, 1.0)
    #: The synthetic model the sample generator draws it with.
    sample_model: str = "smooth"

    @property
    def closed(self) -> str:
        """Which end of day D's window holds its samples.

        ``left`` [D 00, D+1 00) for an instant, ``right`` (D 00, D+1 00] for an accumulation.
        """
        return "left" if self.kind == INSTANT else "right"


@dataclass(frozen=True)
class Recipe:
    """Quantities a variable is made from, and the formula of one hourly value."""

    inputs: tuple[str, ...]
    formula: str = VALUE


@dataclass(frozen=True)
class Variable:
    """A daily field the job maps."""

    name: str
    #: Ways to make it, preferred first: the first whose quantities a day's files hold.
    recipes: tuple[Recipe, ...]
    statistic: str
    #: The units of its daily values in the maps and tables.
    output_units: str
    #: Physically possible daily values in the inputs' canonical units: a field outside
    #: was read with wrong units or is corrupt.
    physical_range: tuple[float, float]
    #: Contour levels as ``--{name}_levels`` takes them, in the output units.
    default_levels: str
    #: The colour map of its bands (a palette of era5_contours.science.levels or matplotlib's).
    default_cmap: str
    #: What a map's title and legend call it ("daily mean 2 m temperature").
    description: str
    standard_name: str = ""
    style: str = BANDS
    #: Part of a run that names no variables (``--variables``).
    default: bool = False

    @property
    def quantities(self) -> tuple[str, ...]:
        """Every quantity any of its recipes reads, in order."""
        return tuple(dict.fromkeys(q for r in self.recipes for q in r.inputs))

    @property
    def cell_methods(self) -> str:
        """CF cell_methods of its daily values."""
        return CELL_METHODS[self.statistic]


QUANTITIES: dict[str, Quantity] = {
    q.name: q
    for q in (
        Quantity(
            "t2m",
            "2 metre temperature",
            (167, "2t"),
            ("t2m", "2t", "VAR_2T"),
            "K",
            INSTANT,
            "2m_temperature",
            ncar=Ncar("e5.oper.an.sfc", "128_167_2t", "VAR_2T"),
            typical=(190.0, 330.0),
            sample_model="temperature",
        ),
        Quantity(
            "tp",
            "Total precipitation",
            (228, "tp"),
            ("tp", "TP", "VAR_TP"),
            "m",
            ACCUMULATION,
            "total_precipitation",
            water_equivalent=True,
            typical=(0.0, 0.05),
            sample_model="precipitation",
        ),
        # NSF NCAR's copy holds no total precipitation: its large-scale and convective
        # parts, whose sum it is (ECMWF parameters 142 and 143; 228 = 142 + 143).
        Quantity(
            "lsp",
            "Large-scale precipitation",
            (142, "lsp"),
            ("lsp", "LSP"),
            "m",
            ACCUMULATION,
            "large_scale_precipitation",
            datasets=(ERA5,),
            ncar=Ncar("e5.oper.fc.sfc.accumu", "128_142_lsp", "LSP"),
            water_equivalent=True,
            typical=(0.0, 0.03),
            sample_model="large_scale_precipitation",
        ),
        Quantity(
            "cp",
            "Convective precipitation",
            (143, "cp"),
            ("cp", "CP"),
            "m",
            ACCUMULATION,
            "convective_precipitation",
            datasets=(ERA5,),
            ncar=Ncar("e5.oper.fc.sfc.accumu", "128_143_cp", "CP"),
            water_equivalent=True,
            typical=(0.0, 0.03),
            sample_model="convective_precipitation",
        ),
        Quantity(
            "msl",
            "Mean sea level pressure",
            (151, "msl"),
            ("msl", "MSL"),
            "Pa",
            INSTANT,
            "mean_sea_level_pressure",
            datasets=(ERA5,),
            ncar=Ncar("e5.oper.an.sfc", "128_151_msl", "MSL"),
            typical=(96000.0, 104000.0),
            sample_model="pressure",
        ),
        Quantity(
            "u10",
            "10 metre U wind component",
            (165, "10u"),
            ("u10", "10u", "VAR_10U"),
            "m s-1",
            INSTANT,
            "10m_u_component_of_wind",
            ncar=Ncar("e5.oper.an.sfc", "128_165_10u", "VAR_10U"),
            typical=(-25.0, 25.0),
            sample_model="wind_u",
        ),
        Quantity(
            "v10",
            "10 metre V wind component",
            (166, "10v"),
            ("v10", "10v", "VAR_10V"),
            "m s-1",
            INSTANT,
            "10m_v_component_of_wind",
            ncar=Ncar("e5.oper.an.sfc", "128_166_10v", "VAR_10V"),
            typical=(-25.0, 25.0),
            sample_model="wind_v",
        ),
        Quantity(
            "si10",
            "10 metre wind speed",
            (207, "10si"),
            ("si10", "10si"),
            "m s-1",
            INSTANT,
            "10m_wind_speed",
            datasets=(ERA5,),
            typical=(0.0, 30.0),
            sample_model="wind_speed",
        ),
    )
}

_TEMPERATURE_LEVELS = "interval:2:0:-50:50"
# The daily 2 m temperature stays within 170..340 K (-103..67 degC) anywhere on Earth.
_TEMPERATURE_RANGE = (170.0, 340.0)

VARIABLES: dict[str, Variable] = {
    v.name: v
    for v in (
        Variable(
            "t2m",
            (Recipe(("t2m",)),),
            MEAN,
            "degC",
            _TEMPERATURE_RANGE,
            _TEMPERATURE_LEVELS,
            "temperature",
            "daily mean 2 m temperature",
            standard_name="air_temperature",
            default=True,
        ),
        Variable(
            "tp",
            (Recipe(("tp",)), Recipe(("lsp", "cp"), SUM)),
            TOTAL,
            "mm",
            # At least 0 and at most 1 m a day; -1e-6 m (-0.001 mm) of slack absorbs the
            # packing noise of GRIB-derived accumulations.
            (-1e-6, 1.0),
            "0.1,1,2,5,10,20,50,100",
            "precipitation",
            "daily total precipitation",
            standard_name="lwe_thickness_of_precipitation_amount",
            default=True,
        ),
        Variable(
            "t2m_max",
            (Recipe(("t2m",)),),
            MAXIMUM,
            "degC",
            _TEMPERATURE_RANGE,
            _TEMPERATURE_LEVELS,
            "temperature",
            "daily maximum 2 m temperature",
            standard_name="air_temperature",
        ),
        Variable(
            "t2m_min",
            (Recipe(("t2m",)),),
            MINIMUM,
            "degC",
            _TEMPERATURE_RANGE,
            _TEMPERATURE_LEVELS,
            "temperature",
            "daily minimum 2 m temperature",
            standard_name="air_temperature",
        ),
        Variable(
            "msl",
            (Recipe(("msl",)),),
            MEAN,
            "hPa",
            # The lowest and highest sea-level pressures observed are 870 and 1084 hPa.
            (85000.0, 110000.0),
            # Isobars every 4 hPa at multiples of 4, as synoptic charts draw them.
            "interval:4:0:860:1100",
            "pressure",
            "daily mean sea-level pressure",
            standard_name="air_pressure_at_mean_sea_level",
            style=ISOLINES,
        ),
        Variable(
            "si10",
            # The mean of the hourly speeds, never the speed of the mean wind.
            (Recipe(("si10",)), Recipe(("u10", "v10"), SPEED)),
            MEAN,
            "m s-1",
            # A daily mean 10 m wind beyond 100 m/s has never been seen (gusts ~113 m/s).
            (0.0, 100.0),
            # 2 m/s steps up to 30 m/s, the cells of the wind_speed palette.
            "interval:2:0:2:30",
            "wind_speed",
            "daily mean 10 m wind speed",
            standard_name="wind_speed",
        ),
    )
}

#: Every file name of a quantity -> the quantity.
FILE_NAMES: dict[str, str] = {n: q.name for q in QUANTITIES.values() for n in q.file_names}
#: The variables of a run that names none.
DEFAULTS: tuple[str, ...] = tuple(v.name for v in VARIABLES.values() if v.default)


def variable(name: str) -> Variable:
    """The variable called ``name``.

    Raises
    ------
    ValueError
        For a name the registry does not hold.
    """
    try:
        return VARIABLES[name]
    except KeyError:
        raise ValueError(f"unknown variable {name!r}: use one of {', '.join(VARIABLES)}") from None


def quantity(name: str) -> Quantity:
    """The quantity called ``name``.

    Raises
    ------
    ValueError
        For a name the registry does not hold.
    """
    try:
        return QUANTITIES[name]
    except KeyError:
        raise ValueError(f"unknown quantity {name!r}: use one of {', '.join(QUANTITIES)}") from None


def recipe_for(name: str, available: set[str] | frozenset[str]) -> Recipe | None:
    """The first recipe of variable ``name`` whose quantities are all ``available``."""
    for recipe in variable(name).recipes:
        if all(q in available for q in recipe.inputs):
            return recipe
    return None


def cds_recipe(name: str, dataset: str) -> Recipe | None:
    """The first recipe of variable ``name`` that product ``dataset`` can give.

    Every quantity of it is held by the product (and so has a CDS request name).
    """
    for recipe in variable(name).recipes:
        if all(q in QUANTITIES and dataset in QUANTITIES[q].datasets for q in recipe.inputs):
            return recipe
    return None


def cds_quantities(variables: Sequence[str], dataset: str) -> tuple[str, ...]:
    """The quantities a product gives for ``variables``, as the CDS ingest asks for them.

    Each variable takes the first of its recipes that the product holds (``si10`` itself
    from ERA5, its ``u10`` and ``v10`` from ERA5-Land).

    Raises
    ------
    ValueError
        For an unknown variable, or one the product cannot give (no sea-level pressure
        in ERA5-Land).
    """
    out: list[str] = []
    for name in variables:
        if name not in VARIABLES:
            raise ValueError(f"unknown variable {name!r}: use {', '.join(VARIABLES)}")
        recipe = cds_recipe(name, dataset)
        if recipe is None:
            needs = " or ".join(" and ".join(r.inputs) for r in VARIABLES[name].recipes)
            raise ValueError(f"{name} cannot come from {dataset}: it holds no {needs}")
        out.extend(recipe.inputs)
    return tuple(dict.fromkeys(out))


def check_registry() -> None:
    """Refuse a registry whose records do not fit together (run by the tests).

    Raises
    ------
    ValueError
        Naming the record and what is wrong.
    """
    for q in QUANTITIES.values():
        if q.kind not in (INSTANT, ACCUMULATION):
            raise ValueError(f"quantity {q.name}: kind {q.kind!r}")
        if not set(q.datasets) <= set(DATASETS) or not q.datasets:
            raise ValueError(f"quantity {q.name}: datasets {q.datasets}")
    for v in VARIABLES.values():
        if v.statistic not in STATISTICS:
            raise ValueError(f"variable {v.name}: statistic {v.statistic!r}")
        if not v.recipes:
            raise ValueError(f"variable {v.name}: no recipe")
        for r in v.recipes:
            unknown = [q for q in r.inputs if q not in QUANTITIES]
            if unknown or r.formula not in FORMULAS:
                raise ValueError(f"variable {v.name}: recipe {r} ({unknown or r.formula})")
            kinds = {QUANTITIES[q].kind for q in r.inputs}
            if len(kinds) != 1:
                raise ValueError(f"variable {v.name}: recipe {r} mixes instants and sums")
            if (v.statistic == TOTAL) != (kinds == {ACCUMULATION}):
                raise ValueError(f"variable {v.name}: {v.statistic} of {kinds.pop()} inputs")
            if r.formula == VALUE and len(r.inputs) != 1:
                raise ValueError(f"variable {v.name}: recipe {r} has one formula input")
            if r.formula == SPEED and len(r.inputs) != 2:
                raise ValueError(f"variable {v.name}: a speed has two components")
        low, high = v.physical_range
        if not low < high:
            raise ValueError(f"variable {v.name}: physical range {v.physical_range}")
        units = {QUANTITIES[q].units for r in v.recipes for q in r.inputs}
        if len(units) != 1:
            raise ValueError(f"variable {v.name}: recipes in different units {sorted(units)}")
    clashes = {n for n in FILE_NAMES if sum(n in q.file_names for q in QUANTITIES.values()) > 1}
    if clashes:
        raise ValueError(f"file names of two quantities: {sorted(clashes)}")
    if not DEFAULTS:
        raise ValueError("no default variable")
