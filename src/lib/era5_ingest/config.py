"""The ingest job's options: names, defaults, casting and validation (Glue-style strings in)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from era5_common.options import parse_bool
from era5_common.products import normalise_name

from .cds import PollPolicy, RetryPolicy
from .cds_requests import (
    CDS_VARIABLES,
    DEFAULT_ITEM_LIMIT,
    Area,
    Month,
    months_between,
)

#: Every option, with its default ("" = none; required if in REQUIRED).
OPTIONS: dict[str, str] = {
    "dataset": "",
    "variables": "t2m,tp",
    "start_month": "",
    "end_month": "",
    "area": "",
    "output_path": "",
    "cds_secret_id": "",
    "max_parallel_requests": "2",
    "next_day": "true",
    "max_items_per_request": str(DEFAULT_ITEM_LIMIT),
    "retries": "6",
    "retry_wait_seconds": "10",
    "retry_max_wait_seconds": "300",
    "poll_max_seconds": "60",
    "max_queue_hours": "24",
    "http_timeout_seconds": "60",
    "aws_endpoint_url": "",
}
REQUIRED = ("dataset", "start_month", "end_month", "area", "output_path")
HELP: dict[str, str] = {
    "dataset": "era5 (reanalysis-era5-single-levels) or era5-land (reanalysis-era5-land)",
    "variables": "comma list among " + ",".join(CDS_VARIABLES),
    "start_month": "first month, YYYY-MM",
    "end_month": "last month, YYYY-MM (inclusive)",
    "area": "NORTH,WEST,SOUTH,EAST in degrees (the CDS area)",
    "output_path": "folder or s3:// prefix; files go to {output_path}/{dataset}/{YYYY}/{MM}/",
    "cds_secret_id": "AWS Secrets Manager secret with the CDS key (else CDSAPI_KEY, ~/.cdsapirc)",
    "max_parallel_requests": "months requested at once (the CDS queues per user: keep it low)",
    "next_day": "also fetch 00 UTC of the day after end_month for tp (the last day's total)",
    "max_items_per_request": "split requests above this many fields (variables x days x hours)",
    "retries": "attempts per CDS call and per download (transient errors)",
    "retry_wait_seconds": "first wait between attempts (doubling)",
    "retry_max_wait_seconds": "longest wait between attempts",
    "poll_max_seconds": "longest wait between two status checks of a queued request",
    "max_queue_hours": "give a request up after it waited this long in the CDS queue",
    "http_timeout_seconds": "connect and read timeout of each HTTP call",
    "aws_endpoint_url": "send S3 and Secrets Manager calls there (tests: a moto server)",
}


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
    variables: tuple[str, ...]
    months: tuple[Month, ...]
    area: Area
    output_path: str
    cds_secret_id: str = ""
    max_parallel_requests: int = 2
    next_day: bool = True
    max_items_per_request: int = DEFAULT_ITEM_LIMIT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    poll: PollPolicy = field(default_factory=PollPolicy)
    http_timeout: float = 60.0
    aws_endpoint_url: str = ""

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> IngestConfig:
        """From option name -> string (missing ones take their defaults).

        Raises
        ------
        ValueError
            Naming the option, for a missing or malformed value.
        """
        raw = {k: ("" if args.get(k) is None else str(args.get(k)).strip()) for k in OPTIONS}
        for k, default in OPTIONS.items():
            if raw[k] == "":
                raw[k] = default
        missing = [k for k in REQUIRED if not raw[k]]
        if missing:
            raise ValueError(f"missing required option(s): {', '.join('--' + m for m in missing)}")
        dataset = normalise_name(raw["dataset"])
        variables = tuple(
            dict.fromkeys(v.strip() for v in raw["variables"].split(",") if v.strip())
        )
        unknown = [v for v in variables if v not in CDS_VARIABLES]
        if not variables or unknown:
            raise ValueError(
                f"--variables must be among {','.join(CDS_VARIABLES)}, got {raw['variables']!r}"
            )
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
            variables=variables,
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
