"""The job's configuration: defaults, casting and validation of Glue-style arguments.

Glue's ``getResolvedOptions`` hands over every option as a required string; argparse does
the same locally. :meth:`JobConfig.from_args` turns either into one typed, validated
object, and is tested with plain dicts.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, TypeVar

from era5_common import storage
from era5_common.area import Area
from era5_common.options import Option, defaults, parse_bool, required, resolve
from era5_common.products import normalise_name
from era5_common.storage import join
from era5_common.variables import DEFAULTS, QUANTITIES, VARIABLES
from era5_contours.inputs.ncar import BUCKET as NCAR_BUCKET
from era5_contours.inputs.units import parse_assumed
from era5_contours.outputs import layout
from era5_contours.science.levels import LevelScheme, default_scheme
from era5_contours.tables.catalog import CATALOG_TYPES
from era5_contours.tables.schema import DATABASE

T = TypeVar("T")

#: Every option the job takes, in the order the README's table lists them. On Glue the job
#: puts the optional ones' defaults ahead of Glue's argv, so that getResolvedOptions,
#: asked for all of them, finds each (src/jobs).
JOB_OPTIONS: tuple[Option, ...] = (
    Option(
        "input_path",
        help="folder or `s3://` prefix of the `.nc` input files (searched recursively)",
        required=True,
    ),
    Option(
        "output_path",
        help="folder or `s3://` prefix of the GeoJSON, PNG and (by default) the warehouse",
        required=True,
    ),
    Option("start_date", help="first day, `YYYY-MM-DD`", required=True),
    Option("end_date", help="last day, `YYYY-MM-DD` (inclusive)", required=True),
    Option(
        "variables",
        ",".join(DEFAULTS),
        "comma list among " + ", ".join(f"`{n}`" for n in VARIABLES) + " (the variables table)",
    ),
    Option("dataset", "auto", "`era5`, `era5-land`, or `auto`: recognised per day from the files"),
    Option(
        "area",
        "",
        "`NORTH,WEST,SOUTH,EAST` in degrees (the ingest's order): map only these cells, read "
        "as the parts of the files that hold them; across the antimeridian EAST goes past 180 "
        "(`10,170,-10,190`); none: the files' whole grid",
    ),
    Option(
        "input_anonymous",
        "auto",
        "`true`: read S3 inputs unsigned (a public bucket, no credentials); `false`: signed; "
        f"`auto`: unsigned for `s3://{NCAR_BUCKET}` (the NSF NCAR copy) only",
    ),
    Option(
        "min_samples_per_day",
        "",
        "accept days with at least this many of the rule's samples (`complete = false`); none: every sample",
    ),
    Option(
        "catalog_type",
        CATALOG_TYPES[0],
        "Iceberg catalog: "
        + " or ".join(f"`{c}`" for c in CATALOG_TYPES)
        + " (`sql`: SQLite in `{warehouse_path}/catalog.db`)",
    ),
    Option("warehouse_path", "", "where the tables live; none: `{output_path}/warehouse`"),
    Option("database", DATABASE, "the tables' database (Glue Data Catalog / Athena)"),
    *(
        Option(
            f"{v.name}_levels",
            "",
            f"contour levels of `{v.name}`: a list (`0.5,1,5`) or `interval:STEP[:OFFSET[:MIN:MAX]]`; none: `{v.default_levels}`",
        )
        for v in VARIABLES.values()
    ),
    *(
        Option(f"{v.name}_cmap", v.default_cmap, f"colour map of `{v.name}`'s bands")
        for v in VARIABLES.values()
    ),
    Option("precision", "4", "decimals of the feature rows' coordinates"),
    Option(
        "simplify_tolerance",
        "0",
        "simplification of the feature rows' geometries (degrees; 0: none)",
    ),
    Option(
        "geojson_precision",
        "auto",
        "decimals of the GeoJSON's coordinates; `auto`: from the grid spacing",
    ),
    Option(
        "geojson_simplify_tolerance",
        "auto",
        "simplification of the GeoJSON's bands as one coverage (degrees); `auto`: a tenth of a grid cell",
    ),
    Option("lines", "true", "isolines too (GeoJSON and rows)"),
    Option("plots", "true", "PNG maps"),
    Option("allow_failed_days", "false", "exit 0 even when a day failed"),
    Option(
        "assume_units",
        "",
        "units of files that do not say them, `QUANTITY=UNITS` pairs among "
        + ", ".join(f"`{q}`" for q in QUANTITIES)
        + " (`"
        + ",".join(f"{q.name}={q.units}" for q in list(QUANTITIES.values())[:2])
        + "`)",
    ),
    Option("run_id", "", "the run's id in the tables; none: a timestamp and a random suffix"),
    Option("aws_endpoint_url", "", "S3 and Glue endpoint (tests: a moto server)"),
    Option("commit_wait_seconds", "3600", "how long to wait for another run's commit lease"),
    Option("commit_lease_seconds", "300", "the commit lease's time to live without renewal"),
)
OPTIONS: dict[str, str] = defaults(JOB_OPTIONS)
REQUIRED: tuple[str, ...] = required(JOB_OPTIONS)


def _default(name: str, cast: Callable[[str], T]) -> T:
    """The typed default of option ``name`` (JobConfig's field defaults are JOB_OPTIONS')."""
    return cast(OPTIONS[name])


def _flag(text: str) -> bool:
    return parse_bool(text, "a flag")


def _seconds(text: str, name: str, minimum: float) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise ValueError(f"--{name} must be a number of seconds, got {text!r}") from None
    if not value >= minimum:
        raise ValueError(f"--{name} must be at least {minimum:g} seconds, got {text!r}")
    return value


def _date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise ValueError(f"--{name} must be YYYY-MM-DD, got {text!r}") from None


def _bounded(
    raw: Mapping[str, str],
    name: str,
    cast: Callable[[str], T],
    low: float,
    high: float | None = None,
    *,
    auto: bool = False,
    empty: bool = False,
) -> T | None:
    """Option ``name`` as a number within ``low..high``; None for ``auto`` (or empty).

    Raises
    ------
    ValueError
        Naming the option, the range and what was given.
    """
    text = str(raw[name]).strip()
    if (auto and text.lower() in ("auto", "")) or (empty and text == ""):
        return None
    bounds = f"{low:g}..{high:g}" if high is not None else f">= {low:g}"
    allowed = f"auto or {bounds}" if auto else bounds
    try:
        value = cast(text)
    except ValueError:
        raise ValueError(f"--{name} must be {allowed}, got {text!r}") from None
    if not (low <= value and (high is None or value <= high)):  # type: ignore[operator]
        raise ValueError(f"--{name} must be {allowed}, got {value}")
    return value


def _required(value: T | None) -> T:
    assert value is not None  # neither auto nor empty was allowed
    return value


def _variables(text: str) -> tuple[str, ...]:
    variables = tuple(v.strip() for v in text.split(",") if v.strip())
    unknown = [v for v in variables if v not in VARIABLES]
    if not variables or unknown:
        raise ValueError(f"--variables must be among {','.join(VARIABLES)}, got {text!r}")
    return variables


def _dataset(text: str) -> str:
    dataset = text.strip().lower()
    if dataset == "auto":
        return dataset
    try:
        return normalise_name(dataset)
    except ValueError as exc:
        raise ValueError(f"--dataset: {exc} (or auto)") from None


def _area(text: str) -> Area | None:
    if not text.strip():
        return None
    try:
        return Area.parse(text)
    except ValueError as exc:
        raise ValueError(f"--area: {exc}") from None


def _anonymous(text: str) -> bool | None:
    if text.strip().lower() == "auto":
        return None
    return parse_bool(text, "--input_anonymous", empty=None)


def _schemes(raw: Mapping[str, str]) -> dict[str, LevelScheme]:
    """Each variable's levels and colours: ``--{v}_levels`` or its default, ``--{v}_cmap``."""
    schemes = {}
    for v in VARIABLES:
        cmap = raw[f"{v}_cmap"]
        spec = raw[f"{v}_levels"].strip()
        schemes[v] = (
            LevelScheme.parse(spec, cmap=cmap)
            if spec
            else dataclasses.replace(default_scheme(v), cmap=cmap)
        )
    return schemes


@dataclass(frozen=True)
class JobConfig:
    """Typed job configuration (see :data:`OPTIONS` for the command-line names)."""

    input_path: str
    output_path: str
    start_date: date
    end_date: date
    variables: tuple[str, ...] = DEFAULTS
    dataset: str = _default("dataset", str)
    #: The cells to map (``--area``); None: the files' whole grid.
    area: Area | None = None
    #: S3 inputs unsigned (True), signed (False), or by the bucket (None: the NCAR copy's).
    input_anonymous: bool | None = None
    min_samples_per_day: int | None = None
    catalog_type: str = _default("catalog_type", str)
    warehouse_path: str = ""
    database: str = _default("database", str)
    schemes: dict[str, LevelScheme] = field(default_factory=dict)
    #: Decimals and simplification of the geometries of the feature rows.
    precision: int = _default("precision", int)
    simplify_tolerance: float = _default("simplify_tolerance", float)
    #: The same for the GeoJSON; None derives them from the grid spacing
    #: (:func:`era5_contours.outputs.geojson.web_settings`).
    geojson_precision: int | None = None
    geojson_simplify_tolerance: float | None = None
    lines: bool = _default("lines", _flag)
    plots: bool = _default("plots", _flag)
    allow_failed_days: bool = _default("allow_failed_days", _flag)
    #: Units for variables whose file has no or an unrecognised ``units`` attribute.
    assume_units: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    aws_endpoint_url: str = ""
    #: How long a run waits for another run's commit lease before it gives up.
    commit_wait_seconds: float = _default("commit_wait_seconds", float)
    #: Time to live of a commit lease record without renewal (how soon a killed run's
    #: lease is taken over).
    commit_lease_seconds: float = _default("commit_lease_seconds", float)

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> JobConfig:
        """Build from a mapping of option name to string (missing ones take defaults).

        Raises
        ------
        ValueError
            With the option name, for a missing or malformed value.
        """
        raw = resolve(JOB_OPTIONS, args)
        start, end = _date(raw["start_date"], "start_date"), _date(raw["end_date"], "end_date")
        if end < start:
            raise ValueError(f"--end_date {end} is before --start_date {start}")
        catalog_type = raw["catalog_type"].strip().lower()
        if catalog_type not in CATALOG_TYPES:
            raise ValueError(
                f"--catalog_type must be {' or '.join(CATALOG_TYPES)}, got {catalog_type!r}"
            )
        output = raw["output_path"].rstrip("/")
        run_id = raw["run_id"].strip() or (
            datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
        )
        return cls(
            input_path=raw["input_path"].rstrip("/"),
            output_path=output,
            start_date=start,
            end_date=end,
            variables=_variables(raw["variables"]),
            dataset=_dataset(raw["dataset"]),
            area=_area(raw["area"]),
            input_anonymous=_anonymous(raw["input_anonymous"]),
            min_samples_per_day=_bounded(raw, "min_samples_per_day", int, 1, 24, empty=True),
            catalog_type=catalog_type,
            warehouse_path=raw["warehouse_path"].rstrip("/") or join(output, "warehouse"),
            database=raw["database"].strip(),
            schemes=_schemes(raw),
            precision=_required(_bounded(raw, "precision", int, 0, 10)),
            simplify_tolerance=_required(_bounded(raw, "simplify_tolerance", float, 0)),
            geojson_precision=_bounded(raw, "geojson_precision", int, 0, 10, auto=True),
            geojson_simplify_tolerance=_bounded(
                raw, "geojson_simplify_tolerance", float, 0, auto=True
            ),
            lines=parse_bool(raw["lines"], "--lines"),
            plots=parse_bool(raw["plots"], "--plots"),
            allow_failed_days=parse_bool(raw["allow_failed_days"], "--allow_failed_days"),
            assume_units=parse_assumed(raw["assume_units"]),
            run_id=run_id,
            aws_endpoint_url=raw["aws_endpoint_url"].strip(),
            commit_wait_seconds=_seconds(raw["commit_wait_seconds"], "commit_wait_seconds", 0),
            commit_lease_seconds=_seconds(raw["commit_lease_seconds"], "commit_lease_seconds", 4),
        )

    def days(self) -> list[date]:
        """Every day of the run, start to end inclusive."""
        n = (self.end_date - self.start_date).days + 1
        return [date.fromordinal(self.start_date.toordinal() + i) for i in range(n)]

    def geojson_path(self, variable: str, day: date) -> str:
        """Where the GeoJSON of a (day, variable) is published."""
        return layout.geojson_path(self.output_path, variable, day)

    def png_path(self, variable: str, day: date) -> str:
        """Where the PNG map of a (day, variable) is published."""
        return layout.png_path(self.output_path, variable, day)

    def use_storage(self) -> None:
        """Point this process's S3 clients where the run says (driver and every task)."""
        storage.use_endpoint(self.aws_endpoint_url)
        if storage.is_s3(self.input_path) and self.input_anonymous is not None:
            storage.use_anonymous(storage.split_s3(self.input_path)[0], self.input_anonymous)
