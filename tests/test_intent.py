"""The commit intent: what the lease records, read back exactly, and refused when damaged."""

from __future__ import annotations

import json

import pytest

from era5_contours.commit.intent import CommitIntent, IntentError, intents_from_json

RECORD = {
    "version": 1,
    "run_id": "r1",
    "attempt": "r1-ab12cd34",
    "order": ["climate.contour_features", "climate.daily_summary"],
    "before": {"climate.contour_features": 712, "climate.daily_summary": None},
    "files": {
        "climate.contour_features": ["s3://w/f/data/a.parquet", "s3://w/f/data/b.parquet"],
        "climate.daily_summary": ["s3://w/s/data/c.parquet"],
    },
    "staging": "s3://o/_staging/r1-ab12cd34",
    "output_path": "s3://o",
    "publish": ["contours/t2m/2020-07-01.geojson", "plots/t2m/2020-07-01.png"],
    "unpublish": ["contours/tp/2020-07-01.geojson"],
}


def test_the_json_form_is_read_back_field_for_field():
    intent = CommitIntent.from_json(json.loads(json.dumps(RECORD)))
    assert intent.order == ("climate.contour_features", "climate.daily_summary")
    assert intent.before == {"climate.contour_features": 712, "climate.daily_summary": None}
    assert intent.files_of("climate.daily_summary") == ("s3://w/s/data/c.parquet",)
    assert intent.files_of("climate.other") == ()
    assert intent.all_files() == [
        "s3://w/f/data/a.parquet",
        "s3://w/f/data/b.parquet",
        "s3://w/s/data/c.parquet",
    ]
    assert intent.publish[1] == "plots/t2m/2020-07-01.png"
    # Through JSON text and back, nothing is lost or changed.
    assert json.loads(json.dumps(intent.to_json())) == RECORD
    assert CommitIntent.from_json(intent.to_json()) == intent
    assert intents_from_json([RECORD, RECORD]) == [intent, intent]
    assert intents_from_json(None) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("attempt"), "lacks 'attempt'"),
        (lambda r: r.update(version=2), "intent format 2"),
        (
            lambda r: r.update(before={"climate.contour_features": 1}),
            "no snapshot before for climate.daily_summary",
        ),
        (
            lambda r: r.update(
                before={"climate.contour_features": "x", "climate.daily_summary": 1}
            ),
            "malformed",
        ),
        (lambda r: r.update(files=["a.parquet"]), "malformed"),
    ],
)
def test_a_damaged_record_is_refused_naming_what_is_wrong(change, message):
    record = json.loads(json.dumps(RECORD))
    change(record)
    with pytest.raises(IntentError, match=message):
        CommitIntent.from_json(record)
    with pytest.raises(IntentError, match="JSON object"):
        CommitIntent.from_json(["not", "an", "object"])
