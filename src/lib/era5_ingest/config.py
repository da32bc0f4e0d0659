"""The ingest job's options: names, defaults, casting and validation (Glue-style strings in)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from era5_common.area import Area
from era5_common.options import Option, defaults, parse_bool, required, resolve
from era5_common.products import normalise_name
from era5_common.variables import DEFAULTS, VARIABLES, cds_quantities

from .cds import PollPolicy, RetryPolicy
from .cds_requests import (
    DEFAULT_ITEM_LIMIT,
    Month,
    months_between,
)

#: Every option, in the order the README's table lists them.
INGEST_OPTIONS: tuple[Option, ...] = (
    Option(
        "dataset",
        help="`era5` (reanalysis-era5-single-levels) or `era5-land` (reanalysis-era5-land)",
        required=True,
    ),
    Option(
        "variables",
        ",".join(DEFAULTS),
        "the contour job's variables to fetch the quantities of, among "
        + ", ".join(f"`{v}`" for v in VARIABLES),
    ),
    Option("start_month", help="first month, `YYYY-MM`", required=True),
    Option("end_month", help="last month, `YYYY-MM` (inclusive)", required=True),
    Option("area", help="`NORTH,WEST,SOUTH,EAST` in degrees (the CDS area)", required=True),
    Option(
        "output_path",
        help="folder or `s3://` prefix; files go to `{output_path}/{dataset}/{YYYY}/{MM}/`",
        required=True,
    ),
    Option(
        "cds_secret_id",
        "",
        "AWS Secrets Manager secret with the CDS key (else `CDSAPI_KEY`, `~/.cdsapirc`)",
    ),
    Option(
        "max_parallel_requests",
        "2",
        "months requested at once (the CDS queues per user: keep it low)",
    ),
    Option(
        "next_day",
        "true",
        "also fetch 00 UTC of the day after `end_month` for the accumulated variables (the last day's total)",
    ),
    Option(
        "max_items_per_request",
        str(DEFAULT_ITEM_LIMIT),
        "split requests above this many fields (variables x days x hours)",
    ),
    Option("retries", "6", "attempts per CDS call and per download (transient errors)"),
    Option("retry_wait_seconds", "10", "first wait between attempts (doubling)"),
    Option("retry_max_wait_seconds", "300", "longest wait between attempts"),
    Option("poll_max_seconds", "60", "longest wait between two status checks of a queued request"),
    Option("max_queue_hours", "24", "give a request up after it waited this long in the CDS queue"),
    Option("http_timeout_seconds", "60", "connect and read timeout of each HTTP call"),
    Option(
        "aws_endpoint_url", "", "send S3 and Secrets Manager calls there (tests: a moto server)"
    ),
)
OPTIONS: dict[str, str] = defaults(INGEST_OPTIONS)
REQUIRED: tuple[str, ...] = required(INGEST_OPTIONS)
HELP: dict[str, str] = {o.name: o.help for o in INGEST_OPTIONS}


_Number = TypeVar("_Number", int, float)


def _number(
    text: str, name: str, cast: Callable[[str], _Number], low: float, high: float | None = None
) -> _Number:
    try:
        value = cast(str(text).strip())
    except ValueError:
        raise ValueError(f"--{name} must be a number, got {text!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"--{name} must be {bounds}, got {value}")
    return value


@dataclass(frozen=True)
class IngestConfig:
    """Typed ingest options (see :data:`OPTIONS`)."""

    dataset: str
    #: The fields to ask the CDS for (quantities of the registry, from ``--variables``).
    variables: tuple[str, ...]
    months: tuple[Month, ...]
    area: Area
    output_path: str
    cds_secret_id: str = ""
    max_parallel_requests: int = int(OPTIONS["max_parallel_requests"])
    next_day: bool = parse_bool(OPTIONS["next_day"], "--next_day")
    max_items_per_request: int = int(OPTIONS["max_items_per_request"])
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    poll: PollPolicy = field(default_factory=PollPolicy)
    http_timeout: float = float(OPTIONS["http_timeout_seconds"])
    aws_endpoint_url: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> IngestConfig:
        """From option name -> string (missing ones take their defaults).

        Raises
        ------
        ValueError
            Naming the option, for a missing or malformed value.
        """
        raw = resolve(INGEST_OPTIONS, args)
        dataset = normalise_name(raw["dataset"])
        variables = tuple(
            dict.fromkeys(v.strip() for v in raw["variables"].split(",") if v.strip())
        )
        if not variables:
            raise ValueError(f"--variables must name variables, got {raw['variables']!r}")
        try:
            quantities = cds_quantities(variables, dataset)
        except ValueError as exc:
            raise ValueError(f"--variables: {exc}") from None
        try:
            first = Month.parse(raw["start_month"])
            last = Month.parse(raw["end_month"])
        except ValueError as exc:
            raise ValueError(f"--start_month/--end_month: {exc}") from None
        months = tuple(months_between(first, last))
        try:
            area = Area.parse(raw["area"])
        except ValueError as exc:
            raise ValueError(f"--area: {exc}") from None
        attempts = _number(raw["retries"], "retries", int, 1, 100)
        retry = RetryPolicy(
            attempts=attempts,
            first_wait=_number(raw["retry_wait_seconds"], "retry_wait_seconds", float, 0.0),
            max_wait=_number(raw["retry_max_wait_seconds"], "retry_max_wait_seconds", float, 0.0),
        )
        poll_max = _number(raw["poll_max_seconds"], "poll_max_seconds", float, 0.001)
        poll = PollPolicy(
            first=min(2.0, poll_max),
            max=poll_max,
            timeout=3600.0 * _number(raw["max_queue_hours"], "max_queue_hours", float, 0.0),
        )
        return cls(
            dataset=dataset,
            variables=quantities,
            months=months,
            area=area,
            output_path=raw["output_path"].rstrip("/") or raw["output_path"],
            cds_secret_id=raw["cds_secret_id"],
            max_parallel_requests=_number(
                raw["max_parallel_requests"], "max_parallel_requests", int, 1, 32
            ),
            next_day=parse_bool(raw["next_day"], "--next_day", empty=None),
            max_items_per_request=_number(
                raw["max_items_per_request"], "max_items_per_request", int, 1
            ),
            retry=retry,
            poll=poll,
            http_timeout=_number(raw["http_timeout_seconds"], "http_timeout_seconds", float, 0.1),
            aws_endpoint_url=raw["aws_endpoint_url"],
        )
