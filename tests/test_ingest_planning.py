"""The ingest's pure parts: months, areas, requests and their splitting, options, credentials.

Expected fields are enumerated here from the calendar, and the fields a request asks for
are read back from the CDS request itself (year x month x day x time x variable, how the
CDS expands it), never from the planner's own bookkeeping.
"""

from __future__ import annotations

import calendar
import itertools
import json
from collections import Counter
from datetime import date

import pytest

from era5_contours.inputs import datasets as contour_datasets
from era5_ingest import credentials as creds
from era5_ingest.config import IngestConfig
from era5_ingest.planning import (
    COLLECTIONS,
    ERA5,
    ERA5_LAND,
    Area,
    Month,
    halve,
    months_between,
    plan_month,
    refusal_limit,
    split_part,
)

AREA = Area(52.0, -6.0, 40.0, 10.0)
CDS_TO_OURS = {"2m_temperature": "t2m", "total_precipitation": "tp"}


def fields_of(request: dict) -> list[tuple[str, date, str]]:
    """Every (variable, day, time) a CDS request asks for: the cartesian product."""
    return [
        (CDS_TO_OURS[v], date(int(y), int(m), int(d)), t)
        for v, y, m, d, t in itertools.product(
            request["variable"], request["year"], request["month"], request["day"], request["time"]
        )
    ]


def month_fields(year: int, month: int, variables) -> Counter:
    days = calendar.monthrange(year, month)[1]
    return Counter(
        (v, date(year, month, d), f"{h:02d}:00")
        for v in variables
        for d in range(1, days + 1)
        for h in range(24)
    )


def test_dataset_names_match_the_contour_job():
    assert (ERA5, ERA5_LAND) == contour_datasets.DATASETS
    assert COLLECTIONS == {
        "era5": "reanalysis-era5-single-levels",
        "era5-land": "reanalysis-era5-land",
    }


def test_months_and_areas_parse_and_refuse_nonsense():
    assert months_between(Month.parse("2020-11"), Month.parse("2021-02")) == [
        Month(2020, 11),
        Month(2020, 12),
        Month(2021, 1),
        Month(2021, 2),
    ]
    assert Month(2020, 2).days == 29 and Month(2021, 2).days == 28
    assert str(Month(2020, 12).next()) == "2021-01"
    for bad in ("2020-13", "2020/07", "July", "2020-7-1"):
        with pytest.raises(ValueError):
            Month.parse(bad)
    with pytest.raises(ValueError, match="before"):
        months_between(Month(2020, 8), Month(2020, 7))
    assert Area.parse("52, -6, 40, 10").as_list() == [52.0, -6.0, 40.0, 10.0]
    for bad in ("40,-6,52,10", "52,10,40,-6", "52,-6,40", "91,-6,40,10", "a,b,c,d", "nan,0,-1,1"):
        with pytest.raises(ValueError):
            Area.parse(bad)


def test_era5_request_is_what_the_current_cds_takes():
    plan = plan_month("era5", Month(2020, 7), ["t2m", "tp"], AREA, next_day=False)
    (part,) = plan.parts
    request = part.request("era5", AREA)
    assert request == {
        "product_type": ["reanalysis"],
        "variable": ["2m_temperature", "total_precipitation"],
        "year": ["2020"],
        "month": ["07"],
        "day": [f"{d:02d}" for d in range(1, 32)],
        "time": [f"{h:02d}:00" for h in range(24)],
        "data_format": "netcdf",
        "download_format": "unarchived",
        "area": [52.0, -6.0, 40.0, 10.0],
    }
    json.dumps(request)  # what the client posts
    land = plan_month("era5-land", Month(2021, 2), ["tp"], AREA, next_day=False)
    request = land.parts[0].request("era5-land", AREA)
    assert "product_type" not in request and request["day"][-1] == "28"
    assert land.collection == "reanalysis-era5-land"


@pytest.mark.parametrize(
    ("year", "month", "variables", "limit"),
    [
        (2020, 7, ["t2m", "tp"], 120_000),  # fits: one request
        (2020, 7, ["t2m", "tp"], 1000),  # by days
        (2020, 2, ["t2m", "tp"], 500),  # a leap February, uneven groups
        (2021, 2, ["tp"], 100),
        (2020, 7, ["t2m", "tp"], 30),  # below a day of both: by variable, then hours
        (2020, 7, ["t2m", "tp"], 7),  # hours in uneven groups
        (2020, 4, ["t2m", "tp"], 1),  # one field per request
    ],
)
def test_split_requests_stay_under_the_limit_and_cover_the_month_exactly(
    year, month, variables, limit
):
    plan = plan_month("era5", Month(year, month), variables, AREA, next_day=False, limit=limit)
    requests = [p.request("era5", AREA) for p in plan.parts]
    asked = Counter()
    for request in requests:
        fields = fields_of(request)
        assert 0 < len(fields) <= limit
        asked.update(fields)
    # Every field of the month exactly once: nothing missing, nothing twice.
    assert asked == month_fields(year, month, variables)
    assert len({p.label for p in plan.parts}) == len(plan.parts)
    if limit >= 31 * 24 * len(variables):
        assert len(plan.parts) == 1
    else:
        # Not more requests than the limit forces (within one per split dimension).
        needed = -(-sum(month_fields(year, month, variables).values()) // limit)
        assert len(plan.parts) <= 2 * needed + 2


def test_next_day_sample_is_the_00_utc_tp_of_the_following_month():
    plan = plan_month("era5", Month(2020, 12), ["t2m", "tp"], AREA, next_day=True)
    last = plan.parts[-1]
    request = last.request("era5", AREA)
    assert fields_of(request) == [("tp", date(2021, 1, 1), "00:00")]
    assert last.label == "2021-01-01T00"
    assert plan.spec()["next_day_sample"] is True
    # Only tp needs it; without tp, or when not the last month, there is none.
    assert len(plan_month("era5", Month(2020, 12), ["t2m"], AREA, next_day=True).parts) == 1
    assert len(plan_month("era5", Month(2020, 12), ["tp"], AREA, next_day=False).parts) == 1
    hours = plan.expected_hours()
    assert len(hours["t2m"]) == 31 * 24 and len(hours["tp"]) == 31 * 24 + 1


def test_halve_and_the_limit_a_refusal_names():
    plan = plan_month("era5", Month(2020, 7), ["t2m", "tp"], AREA, next_day=False)
    halves = halve(plan.parts[0])
    assert [p.items for p in halves] == [768, 720]
    assert sum(len(fields_of(p.request("era5", AREA))) for p in halves) == 1488
    assert refusal_limit("Request too large. Requested 1488 items, limit is 120000.") == 120000
    assert refusal_limit("limit is 120,000 items") == 120000
    assert refusal_limit("Your request is too large, please reduce your selection.") is None
    one = split_part(plan.parts[0], 1)[0]
    with pytest.raises(ValueError, match="cannot be split"):
        halve(one)


def test_config_from_glue_style_arguments():
    config = IngestConfig.from_args(
        {
            "dataset": "ERA5_Land",
            "start_month": "2020-07",
            "end_month": "2020-09",
            "area": "52,-6,40,10",
            "output_path": "s3://bucket/era5/",
            "max_parallel_requests": "3",
            "next_day": "false",
        }
    )
    assert config.dataset == "era5-land" and config.variables == ("t2m", "tp")
    assert [str(m) for m in config.months] == ["2020-07", "2020-08", "2020-09"]
    assert config.output_path == "s3://bucket/era5"
    assert (config.max_parallel_requests, config.next_day) == (3, False)
    assert config.max_items_per_request == 120_000
    base = {"dataset": "era5", "start_month": "2020-07", "end_month": "2020-07", "area": "1,0,0,1"}
    cases = [
        ({}, "--output_path"),
        ({"output_path": "x", "variables": "t2m,u10"}, "--variables"),
        ({"output_path": "x", "end_month": "2020-06"}, "before"),
        ({"output_path": "x", "area": "0,0,1,1"}, "--area"),
        ({"output_path": "x", "dataset": "merra2"}, "unknown dataset"),
        ({"output_path": "x", "max_parallel_requests": "0"}, "max_parallel_requests"),
        ({"output_path": "x", "next_day": "maybe"}, "next_day"),
    ]
    for extra, message in cases:
        with pytest.raises(ValueError, match=message):
            IngestConfig.from_args({**base, **extra})


def test_credentials_in_order_and_never_shown(tmp_path):
    key = "abcdef01-2345-6789-abcd-ef0123456789"
    rc = tmp_path / ".cdsapirc"
    rc.write_text(f"url: https://example.test/api\nkey: {key}\n")
    found = creds.resolve(environ={}, home=tmp_path)
    assert (found.url, found.key, found.source) == ("https://example.test/api", key, str(rc))
    assert key not in repr(found)
    env = {"CDSAPI_KEY": "11111111-2222-3333-4444-555555555555"}
    assert creds.resolve(environ=env, home=tmp_path).url == creds.DEFAULT_URL
    assert creds.resolve(environ=env, home=tmp_path).source == "CDSAPI_KEY"
    other = tmp_path / "other.rc"
    other.write_text(f"key: {key}\n")
    assert creds.resolve(environ={"CDSAPI_RC": str(other)}, home=tmp_path).source == str(other)
    with pytest.raises(creds.CredentialsError, match="no CDS API key") as info:
        creds.resolve(environ={}, home=tmp_path / "nobody")
    assert key not in str(info.value)
    with pytest.raises(creds.CredentialsError, match="legacy"):
        creds.resolve(environ={"CDSAPI_KEY": "12345:abcdef01-2345-6789-abcd-ef0123456789"})
    secret = creds.from_secret_string(json.dumps({"url": "https://x.test/api/", "key": key}), "s")
    assert (secret.url, secret.key) == ("https://x.test/api", key)
    assert creds.from_secret_string(f"  {key}\n", "s").url == creds.DEFAULT_URL
    with pytest.raises(creds.CredentialsError, match="no 'key'"):
        creds.from_secret_string('{"url": "https://x.test"}', "s")
