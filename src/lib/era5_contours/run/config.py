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

from era5_common.options import parse_bool
from era5_common.products import normalise_name
from era5_common.storage import join
from era5_contours.inputs.units import parse_assumed
from era5_contours.outputs import layout
from era5_contours.science.levels import LevelScheme, default_scheme
from era5_contours.tables.catalog import CATALOG_TYPES
from era5_contours.variables import NAMES, VARIABLES

T = TypeVar("T")

#: Every option the job takes, with its default ("" = none: required if in REQUIRED,
#: else optional). On Glue the job puts the optional ones' defaults ahead of Glue's argv,
#: so that getResolvedOptions, asked for all of them, finds each (src/jobs).
OPTIONS: dict[str, str] = {
    "input_path": "",
    "output_path": "",
    "start_date": "",
    "end_date": "",
    "variables": "t2m,tp",
    "dataset": "auto",
    "min_samples_per_day": "",
    "catalog_type": "sql",
    "warehouse_path": "",
    "database": "climate",
    **{f"{v}_levels": "" for v in VARIABLES},
    **{f"{name}_cmap": v.default_cmap for name, v in VARIABLES.items()},
    "precision": "4",
    "simplify_tolerance": "0",
    "geojson_precision": "auto",
    "geojson_simplify_tolerance": "auto",
    "lines": "true",
    "plots": "true",
    "allow_failed_days": "false",
    "assume_units": "",
    "run_id": "",
    "aws_endpoint_url": "",
    "commit_wait_seconds": "3600",
    "commit_lease_seconds": "300",
}
REQUIRED = ("input_path", "output_path", "start_date", "end_date")


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


def _auto(text: str, name: str, cast: Callable[[str], T]) -> T | None:
    """``None`` for ``auto``, else ``cast(text)``."""
    value = str(text).strip().lower()
    if value in ("auto", ""):
        return None
    try:
        return cast(value)
    except ValueError:
        raise ValueError(f"--{name} must be auto or a number, got {text!r}") from None


@dataclass(frozen=True)
class JobConfig:
    """Typed job configuration (see :data:`OPTIONS` for the command-line names)."""

    input_path: str
    output_path: str
    start_date: date
    end_date: date
    variables: tuple[str, ...] = NAMES
    dataset: str = "auto"
    min_samples_per_day: int | None = None
    catalog_type: str = "sql"
    warehouse_path: str = ""
    database: str = "climate"
    schemes: dict[str, LevelScheme] = field(default_factory=dict)
    #: Decimals and simplification of the geometries of the feature rows.
    precision: int = 4
    simplify_tolerance: float = 0.0
    #: The same for the GeoJSON; None derives them from the grid spacing
    #: (:func:`era5_contours.outputs.geojson.web_settings`).
    geojson_precision: int | None = None
    geojson_simplify_tolerance: float | None = None
    lines: bool = True
    plots: bool = True
    allow_failed_days: bool = False
    #: Units for variables whose file has no or an unrecognised ``units`` attribute.
    assume_units: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    aws_endpoint_url: str = ""
    #: How long a run waits for another run's commit lease before it gives up.
    commit_wait_seconds: float = 3600.0
    #: Time to live of a commit lease record without renewal (how soon a killed run's
    #: lease is taken over).
    commit_lease_seconds: float = 300.0

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> JobConfig:
        """Build from a mapping of option name to string (missing ones take defaults).

        Raises
        ------
        ValueError
            With the option name, for a missing or malformed value.
        """
        raw = {k: ("" if args.get(k) is None else str(args.get(k))) for k in OPTIONS}
        for k, default in OPTIONS.items():
            if raw[k] == "":
                raw[k] = default
        missing = [k for k in REQUIRED if not raw[k]]
        if missing:
            raise ValueError(f"missing required option(s): {', '.join('--' + m for m in missing)}")
        start, end = _date(raw["start_date"], "start_date"), _date(raw["end_date"], "end_date")
        if end < start:
            raise ValueError(f"--end_date {end} is before --start_date {start}")
        variables = tuple(v.strip() for v in raw["variables"].split(",") if v.strip())
        unknown = [v for v in variables if v not in VARIABLES]
        if not variables or unknown:
            raise ValueError(
                f"--variables must be among {','.join(NAMES)}, got {raw['variables']!r}"
            )
        dataset = raw["dataset"].strip().lower()
        if dataset != "auto":
            try:
                dataset = normalise_name(dataset)
            except ValueError as exc:
                raise ValueError(f"--dataset: {exc} (or auto)") from None
        min_samples = None
        if raw["min_samples_per_day"].strip():
            min_samples = int(raw["min_samples_per_day"])
            if not 1 <= min_samples <= 24:
                raise ValueError(f"--min_samples_per_day must be 1..24, got {min_samples}")
        catalog_type = raw["catalog_type"].strip().lower()
        if catalog_type not in CATALOG_TYPES:
            raise ValueError(
                f"--catalog_type must be {' or '.join(CATALOG_TYPES)}, got {catalog_type!r}"
            )
        output = raw["output_path"].rstrip("/")
        warehouse = raw["warehouse_path"].rstrip("/") or join(output, "warehouse")
        schemes = {}
        for v in NAMES:
            cmap = raw[f"{v}_cmap"]
            spec = raw[f"{v}_levels"].strip()
            base = default_scheme(v)
            schemes[v] = (
                LevelScheme.parse(spec, cmap=cmap) if spec else dataclasses.replace(base, cmap=cmap)
            )
        precision = int(raw["precision"])
        if not 0 <= precision <= 10:
            raise ValueError(f"--precision must be 0..10 decimals, got {precision}")
        tolerance = float(raw["simplify_tolerance"])
        if tolerance < 0:
            raise ValueError(f"--simplify_tolerance must be >= 0, got {tolerance}")
        geojson_precision = _auto(raw["geojson_precision"], "geojson_precision", int)
        if geojson_precision is not None and not 0 <= geojson_precision <= 10:
            raise ValueError(
                f"--geojson_precision must be auto or 0..10 decimals, got {geojson_precision}"
            )
        geojson_tolerance = _auto(
            raw["geojson_simplify_tolerance"], "geojson_simplify_tolerance", float
        )
        if geojson_tolerance is not None and not geojson_tolerance >= 0:
            raise ValueError(
                f"--geojson_simplify_tolerance must be auto or >= 0, got {geojson_tolerance}"
            )
        run_id = raw["run_id"].strip() or (
            datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:8]
        )
        return cls(
            input_path=raw["input_path"].rstrip("/"),
            output_path=output,
            start_date=start,
            end_date=end,
            variables=variables,
            dataset=dataset,
            min_samples_per_day=min_samples,
            catalog_type=catalog_type,
            warehouse_path=warehouse,
            database=raw["database"].strip(),
            schemes=schemes,
            precision=precision,
            simplify_tolerance=tolerance,
            geojson_precision=geojson_precision,
            geojson_simplify_tolerance=geojson_tolerance,
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
