"""Tests of era5_tools.localquery, and of the write path as DuckDB (Athena's stand-in) sees it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest
from moto_support import threaded_moto
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Transaction
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    DateType,
    DoubleType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
)

from era5_contours.commit import iceberg
from era5_contours.tables import catalog, datafiles
from era5_contours.tables.schema import CONTOUR_FEATURES, DAILY_SUMMARY
from era5_tools import localquery

QUERIES = Path(__file__).resolve().parent.parent / "db" / "queries"
DAY = dt.date(2024, 1, 15)
DAY2 = dt.date(2024, 1, 16)
UTC = dt.timezone.utc


def square(x0: float) -> str:
    x1 = x0 + 10
    return f"POLYGON(({x0} 0, {x1} 0, {x1} 10, {x0} 10, {x0} 0))"


def feature_rows(day, variable, bands, run_id="r1", area=1000.0) -> pa.Table:
    """Band i is the square [10 i, 10 i + 10] x [0, 10] with levels (i, i + 1]."""
    return pa.Table.from_pylist(
        [
            {
                "day": day,
                "variable": variable,
                "units": "degC" if variable == "t2m" else "mm",
                "dataset": "era5",
                "kind": "band",
                "level_lower": float(i),
                "level_upper": float(i + 1),
                "band_index": i,
                "part_index": 0,
                "geometry_wkt": square(10.0 * i),
                "bbox_min_lon": 10.0 * i,
                "bbox_min_lat": 0.0,
                "bbox_max_lon": 10.0 * i + 10,
                "bbox_max_lat": 10.0,
                "area_km2": area + i,
                "length_km": None,
                "vertex_count": 5,
                "source_files": [f"{day}.nc"],
                "run_id": run_id,
            }
            for i in bands
        ],
        schema=CONTOUR_FEATURES.arrow_schema,
    )


def summary_rows(items) -> pa.Table:
    """items: (day, variable, status, field_mean)."""
    return pa.Table.from_pylist(
        [
            {
                "day": day,
                "variable": variable,
                "units": "degC",
                "dataset": "era5",
                "samples": 24 if status == "ok" else 20,
                "complete": status == "ok",
                "status": status,
                "error": None if status == "ok" else f"{status} on {day}",
                "field_min": mean - 10,
                "field_mean": mean,
                "field_mean_weighted": mean + 1,
                "field_max": mean + 10,
                "feature_count": 2,
                "source_files": ["x.nc"],
                "run_id": "r1",
                "processed_at": dt.datetime(2024, 2, 1, 12, tzinfo=UTC),
            }
            for day, variable, status, mean in items
        ],
        schema=DAILY_SUMMARY.arrow_schema,
    )


def commit_features(table, groups, run_id="r1", area=1000.0) -> None:
    """groups: {(day, variable): [band, ...]}; an empty list deletes the pair."""
    files = [
        data_file
        for (day, variable), bands in groups.items()
        if bands
        for data_file in datafiles.write_data_files(
            table.metadata,
            table.io,
            feature_rows(day, variable, bands, run_id, area),
            CONTOUR_FEATURES,
        )
    ]
    iceberg.commit_replace(table, files, list(groups))


def populate(folder: Path):
    """A sql catalog with a few features and summary rows; returns (catalog, features table)."""
    cat = catalog.load_catalog("sql", str(folder))
    features = catalog.ensure_table(cat, "climate", CONTOUR_FEATURES)
    summary = catalog.ensure_table(cat, "climate", DAILY_SUMMARY)
    commit_features(features, {(DAY, "t2m"): [0, 1], (DAY, "tp"): [3], (DAY2, "t2m"): [1]})
    items = [
        (DAY, "t2m", "ok", 5.0),
        (DAY, "tp", "ok", 2.0),
        (DAY2, "t2m", "incomplete", 6.0),
        (DAY2, "tp", "failed", 0.0),
    ]
    # The writer splits the rows by the table's partitions: one file per variable.
    files = datafiles.write_data_files(
        summary.metadata, summary.io, summary_rows(items), DAILY_SUMMARY
    )
    iceberg.commit_replace(summary, files, [(d, v) for d, v, _, _ in items])
    return cat, features


@pytest.fixture(scope="module")
def duck():
    """One DuckDB connection for the module: loading the extensions takes seconds."""
    conn = localquery.connect()
    yield conn
    conn.close()


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    """The populated warehouse for tests that only read it."""
    return populate(tmp_path_factory.mktemp("shared") / "warehouse")


@pytest.fixture
def warehouse(tmp_path: Path):
    """A populated warehouse of one's own, for tests that write."""
    return populate(tmp_path / "warehouse")


@pytest.fixture(scope="module")
def with_t2m_max(tmp_path_factory):
    """The populated warehouse, plus two bands of the daily maximum temperature."""
    cat, features = populate(tmp_path_factory.mktemp("t2m_max") / "warehouse")
    commit_features(features, {(DAY, "t2m_max"): [0, 1]})
    return cat


@pytest.fixture
def query(duck):
    """query(catalog, file name, **params): rows of a db/queries file on the current tables."""

    def run(cat, name: str, **params) -> list[dict]:
        localquery.create_views(duck, cat, "climate")
        return localquery.run_query_file(duck, QUERIES / name, params).to_pylist()

    return run


# --------------------------------------------------------------------------- DuckDB


@pytest.mark.parametrize("name", localquery.EXTENSIONS)
def test_extensions_come_from_the_pip_packages(name):
    path = localquery.extension_path(name)
    assert path.is_file()
    assert f"duckdb_extension_{name}" in path.parts


def test_connect_loads_extensions_without_auto_install(duck):
    conn = duck  # made by localquery.connect()
    loaded = {
        row[0]
        for row in conn.execute(
            "SELECT extension_name FROM duckdb_extensions() WHERE loaded"
        ).fetchall()
    }
    assert set(localquery.EXTENSIONS) <= loaded
    assert conn.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone() == (
        False,
    )
    # Athena's spelling of the WKT parser works.
    inside = "SELECT ST_Contains(ST_GeometryFromText('POLYGON((0 0, 2 0, 2 2, 0 2, 0 0))'), ST_Point(1, 1))"
    assert conn.execute(inside).fetchone() == (True,)


def test_connect_local_views_each_table_also_on_the_search_path(shared):
    cat, _ = shared
    conn = localquery.connect_local(cat, "climate")
    assert conn.execute("SELECT count(*) FROM climate.contour_features").fetchone() == (4,)
    assert conn.execute("SELECT count(*) FROM daily_summary").fetchone() == (4,)


def test_create_views_skips_missing_tables(shared, duck, tmp_path):
    localquery.create_views(duck, shared[0], "climate")
    cat = catalog.load_catalog("sql", str(tmp_path))
    catalog.ensure_table(cat, "climate", DAILY_SUMMARY)
    localquery.create_views(duck, cat, "climate")
    assert duck.execute("SELECT count(*) FROM climate.daily_summary").fetchone() == (0,)
    with pytest.raises(Exception, match="contour_features"):
        duck.execute("SELECT count(*) FROM climate.contour_features")


# --------------------------------------------------------------------------- query files


def test_features_of_day(shared, query):
    cat, _ = shared
    rows = query(cat, "features_of_day.sql", day="2024-01-15", variable="t2m")
    assert [(r["band_index"], r["geometry_wkt"]) for r in rows] == [
        (0, square(0.0)),
        (1, square(10.0)),
    ]


@pytest.mark.parametrize(
    ("lon", "lat", "expected"),
    [
        (5.0, 5.0, [("t2m", 0)]),
        (15.0, 2.0, [("t2m", 1)]),
        (35.0, 5.0, [("tp", 3)]),
        (25.0, 5.0, []),
        (5.0, 15.0, []),
    ],
)
def test_bands_at_point_picks_the_square_containing_the_point(shared, query, lon, lat, expected):
    cat, _ = shared
    rows = query(cat, "bands_at_point.sql", day=DAY, lon=lon, lat=lat)
    assert [(r["variable"], r["band_index"]) for r in rows] == expected


def test_point_band_series(shared, query):
    cat, _ = shared
    params = {"variable": "t2m", "lat": 5.0, "day_from": "2024-01-01", "day_to": "2024-01-31"}
    rows = query(cat, "point_band_series.sql", lon=15.0, **params)
    assert [(r["day"], r["band_index"]) for r in rows] == [(DAY, 1), (DAY2, 1)]
    rows = query(cat, "point_band_series.sql", lon=5.0, **params)
    assert [(r["day"], r["band_index"]) for r in rows] == [(DAY, 0)]


def test_daily_series(shared, query):
    cat, _ = shared
    rows = query(cat, "daily_series.sql", variable="t2m", day_from=DAY, day_to=DAY2)
    assert [(r["day"], r["status"], r["field_mean"], r["field_max"]) for r in rows] == [
        (DAY, "ok", 5.0, 15.0),
        (DAY2, "incomplete", 6.0, 16.0),
    ]
    rows = query(cat, "daily_series.sql", variable="t2m", day_from=DAY2, day_to=DAY2)
    assert [r["day"] for r in rows] == [DAY2]


def test_days_by_status(shared, query):
    cat, _ = shared
    rows = query(cat, "days_by_status.sql")
    assert [(r["variable"], r["status"], r["days"]) for r in rows] == [
        ("t2m", "incomplete", 1),
        ("t2m", "ok", 1),
        ("tp", "failed", 1),
        ("tp", "ok", 1),
    ]


def test_problem_days(shared, query):
    cat, _ = shared
    rows = query(cat, "problem_days.sql")
    assert [(r["variable"], r["status"], r["error"]) for r in rows] == [
        ("t2m", "incomplete", f"incomplete on {DAY2}"),
        ("tp", "failed", f"failed on {DAY2}"),
    ]


def test_area_above_threshold(shared, query):
    cat, _ = shared
    # Only band 1 (levels (1, 2]) lies above 1.0: area 1001 on both days.
    rows = query(cat, "area_above_threshold.sql", variable="t2m", threshold=1.0)
    assert [(r["day"], r["area_km2"], r["polygons"]) for r in rows] == [
        (DAY, 1001.0, 1),
        (DAY2, 1001.0, 1),
    ]
    assert query(cat, "area_above_threshold.sql", variable="t2m", threshold=2.0) == []


def test_heat_area_in_region(warehouse, query):
    import shapely

    cat, features = warehouse
    commit_features(features, {(DAY, "t2m_max"): [0, 1]})
    box = dict(west=15.0, south=0.0, east=30.0, north=5.0)
    rows = query(cat, "heat_area_in_region.sql", threshold=1.0, day_from=DAY, day_to=DAY2, **box)
    # Independently: band 1 of t2m_max (levels (1, 2], area 1001) is the square
    # [10, 20] x [0, 10]; the box holds a quarter of it. Band 0 lies below the threshold.
    band = shapely.from_wkt(square(10.0))
    clip = shapely.box(box["west"], box["south"], box["east"], box["north"])
    expected = 1001.0 * band.intersection(clip).area / band.area
    assert [(r["day"], r["polygons"]) for r in rows] == [(DAY, 1)]
    assert rows[0]["area_km2"] == pytest.approx(expected) == pytest.approx(250.25)
    # A box the band does not reach, and a threshold above it, give no row.
    assert query(cat, "heat_area_in_region.sql", threshold=1.0, day_from=DAY, day_to=DAY, west=40.0, south=0.0, east=50.0, north=5.0) == []  # fmt: skip
    assert query(cat, "heat_area_in_region.sql", threshold=2.0, day_from=DAY, day_to=DAY, **box) == []  # fmt: skip


# Values for any declared parameter, so a new portable query runs here at least once.
SAMPLE_PARAMS = {
    "day": "2024-01-15",
    "day_from": "2024-01-01",
    "day_to": "2024-01-31",
    "variable": "t2m",
    "lon": "15",
    "lat": "5",
    "threshold": "1",
    "west": "0",
    "south": "0",
    "east": "30",
    "north": "10",
}


@pytest.mark.parametrize(
    "path",
    [p for p in sorted(QUERIES.glob("*.sql")) if localquery.read_query_file(p).portable],
    ids=lambda p: p.name,
)
def test_every_portable_query_runs_with_string_parameters(with_t2m_max, query, path):
    cat = with_t2m_max
    declared = localquery.read_query_file(path).params
    unknown = [p for p in declared if p not in SAMPLE_PARAMS]
    assert not unknown, f"add sample values for {unknown} to SAMPLE_PARAMS"
    assert query(cat, path.name, **{p: SAMPLE_PARAMS[p] for p in declared})


def test_run_query_file_refuses_athena_only_queries(duck, tmp_path):
    path = tmp_path / "q.sql"
    path.write_text("-- portable: no\nSELECT 1\n")
    with pytest.raises(ValueError, match="not marked"):
        localquery.run_query_file(duck, path)


def test_run_sql_requires_exactly_the_parameters_used(duck):
    conn = duck
    sql = "SELECT CAST(:a AS INTEGER) + CAST(:b AS INTEGER) AS s"
    assert localquery.run_sql(conn, sql, {"a": "1", "b": 2}).to_pylist() == [{"s": 3}]
    with pytest.raises(ValueError, match=r"missing: \['b'\]"):
        localquery.run_sql(conn, sql, {"a": 1})
    with pytest.raises(ValueError, match=r"not used: \['c'\]"):
        localquery.run_sql(conn, sql, {"a": 1, "b": 2, "c": 3})


def test_parameters_are_bound_not_pasted(duck):
    conn = duck
    evil = "x'; DROP TABLE t; --"
    assert localquery.run_sql(conn, "SELECT :v AS v", {"v": evil}).to_pylist() == [{"v": evil}]


def test_placeholders_skip_strings_comments_and_casts():
    sql = (
        "SELECT ':not', \"col:x\", a::DATE, :one -- :no\n"
        "/* :nope */ FROM t WHERE b = :two AND c = :one"
    )
    assert localquery.placeholders(sql) == ["one", "two"]
    assert localquery.to_duckdb_sql(sql) == (
        "SELECT ':not', \"col:x\", a::DATE, $one -- :no\n"
        "/* :nope */ FROM t WHERE b = $two AND c = $one"
    )


def test_read_query_file_header(tmp_path):
    path = tmp_path / "q.sql"
    path.write_text("-- portable: duckdb\n-- params: day, lon lat\n-- text\nSELECT 1\n")
    query_file = localquery.read_query_file(path)
    assert query_file.portable
    assert query_file.params == ("day", "lon", "lat")
    path.write_text("-- params: day\n-- portable: duckdb\nSELECT 1\n")
    assert not localquery.read_query_file(path).portable


# --------------------------------------------------------------------------- write path


def test_rerun_replaces_rows_without_duplicates(warehouse, query, duck):
    cat, features = warehouse
    commit_features(features, {(DAY, "t2m"): [0, 1]}, run_id="r2", area=5000.0)
    rows = query(cat, "features_of_day.sql", day=DAY, variable="t2m")
    assert [(r["band_index"], r["area_km2"]) for r in rows] == [(0, 5000.0), (1, 5001.0)]
    counts = duck.execute(
        "SELECT day, variable, run_id, count(*) FROM climate.contour_features "
        "GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert counts == [(DAY, "t2m", "r2", 2), (DAY, "tp", "r1", 1), (DAY2, "t2m", "r1", 1)]


def test_empty_replace_deletes_the_pair(warehouse, query):
    cat, features = warehouse
    commit_features(features, {(DAY, "tp"): []})
    assert query(cat, "bands_at_point.sql", day=DAY, lon=35.0, lat=5.0) == []
    assert len(query(cat, "features_of_day.sql", day=DAY, variable="t2m")) == 2


def _state(duck, cat):
    localquery.create_views(duck, cat, "climate")
    return duck.execute(
        "SELECT day, variable, band_index, run_id FROM climate.contour_features ORDER BY ALL"
    ).fetchall()


def test_a_refused_commit_leaves_the_table(warehouse, duck):
    """A data file holding rows outside the replaced pairs is refused before the commit."""
    cat, features = warehouse
    before, location = _state(duck, cat), features.metadata_location
    good = datafiles.write_data_files(
        features.metadata, features.io, feature_rows(DAY, "t2m", [5], "r3"), CONTOUR_FEATURES
    )
    stray = datafiles.write_data_files(
        features.metadata, features.io, feature_rows(DAY2, "tp", [6], "r3"), CONTOUR_FEATURES
    )
    with pytest.raises(ValueError, match="not all in replace"):
        iceberg.commit_replace(features, good + stray, [(DAY, "t2m"), (DAY2, "t2m")])
    assert features.refresh().metadata_location == location
    assert _state(duck, cat) == before


def test_failure_inside_the_transaction_leaves_the_table(warehouse, duck, monkeypatch):
    cat, features = warehouse
    before, location = _state(duck, cat), features.metadata_location
    new = datafiles.write_data_files(
        features.metadata, features.io, feature_rows(DAY, "t2m", [5], "r3"), CONTOUR_FEATURES
    )
    staged = []
    real_update_snapshot = Transaction.update_snapshot

    def failing_append(self, *args, **kwargs):
        # The delete asks for its snapshot first; the append comes after it is staged.
        if not staged:
            staged.append(self.table_metadata.current_snapshot_id)
            return real_update_snapshot(self, *args, **kwargs)
        staged.append(self.table_metadata.current_snapshot_id)
        raise RuntimeError("executor lost")

    monkeypatch.setattr(Transaction, "update_snapshot", failing_append)
    with pytest.raises(RuntimeError, match="executor lost"):
        iceberg.commit_replace(features, new, [(DAY, "t2m")])
    monkeypatch.setattr(Transaction, "update_snapshot", real_update_snapshot)
    # The append was reached with the delete staged (a new snapshot in the transaction).
    assert len(staged) == 2 and staged[1] != staged[0]
    assert features.refresh().metadata_location == location
    assert _state(duck, cat) == before


# --------------------------------------------------------------------------- existing tables


def athena_like_schema(**overrides) -> Schema:
    """contour_features as Athena DDL would create it: every column optional, some wider."""
    types = {
        "day": DateType(),
        "level_lower": DoubleType(),
        "level_upper": DoubleType(),
        "bbox_min_lon": DoubleType(),
        "bbox_min_lat": DoubleType(),
        "bbox_max_lon": DoubleType(),
        "bbox_max_lat": DoubleType(),
        "area_km2": DoubleType(),
        "length_km": DoubleType(),
        "band_index": LongType(),
        "part_index": IntegerType(),
        "vertex_count": IntegerType(),
    }
    fields = []
    next_id = 100
    for i, name in enumerate(CONTOUR_FEATURES.column_names, start=1):
        if name == "source_files":
            field_type = ListType(next_id, StringType(), element_required=False)
            next_id += 1
        else:
            field_type = types.get(name, StringType())
        field_type = overrides.get(name, field_type)
        if field_type is not None:
            fields.append(NestedField(i, name, field_type, required=False))
    return Schema(*fields)


def test_ensure_table_accepts_a_compatible_existing_table_and_writes_into_it(tmp_path, query):
    cat = catalog.load_catalog("sql", str(tmp_path))
    cat.create_namespace("climate")
    schema = athena_like_schema()
    cat.create_table(
        "climate.contour_features",
        schema,
        partition_spec=PartitionSpec(
            PartitionField(
                schema.find_field("variable").field_id, 1000, IdentityTransform(), "variable"
            )
        ),
    )
    table = catalog.ensure_table(cat, "climate", CONTOUR_FEATURES)
    commit_features(table, {(DAY, "t2m"): [0, 1]})
    commit_features(table, {(DAY, "t2m"): [1]}, run_id="r2")
    rows = query(cat, "bands_at_point.sql", day=DAY, lon=15.0, lat=5.0)
    assert [(r["variable"], r["band_index"]) for r in rows] == [("t2m", 1)]
    assert len(query(cat, "features_of_day.sql", day=DAY, variable="t2m")) == 1


def test_ensure_table_rejects_an_incompatible_table_listing_the_columns(tmp_path):
    cat = catalog.load_catalog("sql", str(tmp_path))
    cat.create_namespace("climate")
    cat.create_table(
        "climate.contour_features",
        athena_like_schema(band_index=StringType(), run_id=None),
    )
    with pytest.raises(catalog.IncompatibleTableError) as info:
        catalog.ensure_table(cat, "climate", CONTOUR_FEATURES)
    message = str(info.value)
    assert "climate.contour_features" in message
    assert "band_index: we write int, table has string" in message
    assert "run_id: missing" in message


# --------------------------------------------------------------------------- command line


def test_cli_prints_a_table(shared, capsys):
    cat, _ = shared
    warehouse_path = cat.properties["warehouse"].removeprefix("file://")
    code = localquery.main(
        [
            "--warehouse_path",
            warehouse_path,
            "--query",
            str(QUERIES / "features_of_day.sql"),
            "--param",
            "day=2024-01-15",
            "--param",
            "variable=t2m",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert square(0.0) in out and square(10.0) in out
    assert out.rstrip().endswith("(2 rows)")


def test_cli_runs_sql_and_reports_errors(shared, capsys):
    cat, _ = shared
    warehouse_path = cat.properties["warehouse"].removeprefix("file://")
    sql = "SELECT count(*) AS n FROM contour_features WHERE variable = :v"
    assert (
        localquery.main(["--warehouse_path", warehouse_path, "--sql", sql, "--param", "v=t2m"]) == 0
    )
    assert capsys.readouterr().out.splitlines()[2].strip() == "3"
    assert localquery.main(["--warehouse_path", warehouse_path, "--sql", sql]) == 1
    assert "missing" in capsys.readouterr().err


def test_cli_refuses_a_folder_without_catalog(tmp_path):
    with pytest.raises(SystemExit):
        localquery.main(["--warehouse_path", str(tmp_path / "nothing"), "--sql", "SELECT 1"])
    assert not (tmp_path / "nothing").exists()


# --------------------------------------------------------------------------- glue (moto)


@pytest.mark.integration
def test_glue_catalog_against_a_moto_server(monkeypatch):
    pytest.importorskip("boto3", reason="boto3 not installed")
    pytest.importorskip("moto.server", reason="moto[server] not installed")
    import boto3

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
    }.items():
        monkeypatch.setenv(key, value)
    with threaded_moto() as endpoint:
        boto3.client("s3", endpoint_url=endpoint).create_bucket(Bucket="era5-test")
        cat = catalog.load_catalog(
            "glue",
            "s3://era5-test/warehouse",
            glue_endpoint=endpoint,
            s3_endpoint=endpoint,
            region="us-east-1",
        )
        table = catalog.ensure_table(cat, "climate", CONTOUR_FEATURES)
        assert table.location() == "s3://era5-test/warehouse/climate.db/contour_features"

        def commit(bands, run_id):
            files = datafiles.write_data_files(
                table.metadata, table.io, feature_rows(DAY, "t2m", bands, run_id), CONTOUR_FEATURES
            )
            assert all(
                f.file_path.startswith(f"{table.location()}/data/variable=t2m/") for f in files
            )
            iceberg.commit_replace(table, files, [(DAY, "t2m")])

        commit([0, 1], "r1")
        commit([2], "r2")
        reloaded = catalog.ensure_table(cat, "climate", CONTOUR_FEATURES)
        rows = reloaded.scan().to_arrow().to_pylist()
        assert [(r["band_index"], r["run_id"]) for r in rows] == [(2, "r2")]
