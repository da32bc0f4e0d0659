"""Tests of era5_contours.tables.catalog: schemas, table creation, data files, commits."""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.expressions import EqualTo
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import BucketTransform
from pyiceberg.types import (
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
)

from era5_contours.commit import iceberg
from era5_contours.tables import catalog, datafiles, filters
from era5_contours.tables.schema import CONTOUR_FEATURES, DAILY_SUMMARY, TABLES, Column, TableDef

DAY = dt.date(2024, 1, 15)
DAY2 = dt.date(2024, 1, 16)

# Arrow type -> Iceberg type, written out here rather than taken from the module.
EXPECTED_TYPES = {
    pa.date32(): DateType(),
    pa.string(): StringType(),
    pa.float64(): DoubleType(),
    pa.int32(): IntegerType(),
    pa.int64(): LongType(),
    pa.bool_(): BooleanType(),
    pa.timestamp("us"): TimestampType(),
    pa.timestamp("us", tz="UTC"): TimestamptzType(),
}


def feature_rows(day: dt.date, variable: str, bands: list[int], run_id: str = "r1") -> pa.Table:
    """Hand-built contour_features rows: band i is the square [10 i, 10 i + 10] x [0, 10]."""
    rows = []
    for i in bands:
        x0, x1 = 10.0 * i, 10.0 * i + 10.0
        rows.append(
            {
                "day": day,
                "variable": variable,
                "units": "degC",
                "dataset": "era5",
                "kind": "band",
                "level_lower": float(i),
                "level_upper": float(i + 1),
                "band_index": i,
                "part_index": 0,
                "geometry_wkt": f"POLYGON(({x0} 0, {x1} 0, {x1} 10, {x0} 10, {x0} 0))",
                "bbox_min_lon": x0,
                "bbox_min_lat": 0.0,
                "bbox_max_lon": x1,
                "bbox_max_lat": 10.0,
                "area_km2": 1000.0 + i,
                "length_km": None,
                "vertex_count": 5,
                "source_files": ["a.nc", "b.nc"],
                "run_id": run_id,
            }
        )
    return pa.Table.from_pylist(rows, schema=CONTOUR_FEATURES.arrow_schema)


@pytest.fixture
def sql_catalog(tmp_path: Path):
    return catalog.load_catalog("sql", str(tmp_path / "warehouse"))


@pytest.fixture
def features(sql_catalog):
    return catalog.ensure_table(sql_catalog, "climate", CONTOUR_FEATURES)


def write(table, day: dt.date, variable: str, bands: list[int], run_id: str = "r1"):
    """The data file of one (day, variable), written with pyiceberg's writer."""
    (data_file,) = datafiles.write_data_files(
        table.metadata, table.io, feature_rows(day, variable, bands, run_id), CONTOUR_FEATURES
    )
    return data_file


def contents(table) -> list[tuple]:
    rows = table.refresh().scan().to_arrow().to_pylist()
    return sorted((r["day"], r["variable"], r["band_index"], r["run_id"]) for r in rows)


# --------------------------------------------------------------------------- catalogs


def test_load_catalog_rejects_unknown_type_naming_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"hive.*sql, glue"):
        catalog.load_catalog("hive", str(tmp_path))


def test_sql_catalog_creates_its_folder_and_sqlite_file(tmp_path):
    folder = tmp_path / "new" / "warehouse"
    cat = catalog.load_catalog("sql", str(folder))
    assert (folder / "catalog.db").is_file()
    assert cat.properties["warehouse"] == f"file://{folder}"


def test_sql_catalog_accepts_a_file_uri(tmp_path):
    cat = catalog.load_catalog("sql", f"file://{tmp_path}/wh")
    assert (tmp_path / "wh" / "catalog.db").is_file()
    assert cat.properties["warehouse"] == f"file://{tmp_path}/wh"


@pytest.mark.parametrize(
    ("kind", "path"), [("sql", "s3://bucket/warehouse"), ("glue", "/local/warehouse")]
)
def test_catalog_types_refuse_the_other_kind_of_warehouse(kind, path):
    with pytest.raises(ValueError, match=kind):
        catalog.load_catalog(kind, path)


# --------------------------------------------------------------------------- schemas


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_iceberg_schema_follows_the_table_definition(table: TableDef):
    schema = catalog.iceberg_schema(table)
    assert [f.name for f in schema.fields] == table.column_names
    for column, field in zip(table.columns, schema.fields, strict=True):
        assert field.required is not column.nullable, column.name
        assert field.doc == column.doc
        if pa.types.is_list(column.type):
            assert isinstance(field.field_type, ListType)
            assert field.field_type.element_type == EXPECTED_TYPES[column.type.value_type]
        else:
            assert field.field_type == EXPECTED_TYPES[column.type], column.name
    ids = [f.field_id for f in schema.fields] + [
        f.field_type.element_id for f in schema.fields if isinstance(f.field_type, ListType)
    ]
    assert len(ids) == len(set(ids))


def test_iceberg_schema_refuses_an_unsupported_type():
    table = TableDef("t", (Column("x", pa.binary(), True, "bytes"),), (), "t")
    with pytest.raises(TypeError, match="binary"):
        catalog.iceberg_schema(table)


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_partition_spec_follows_the_table_definition(table: TableDef):
    schema = catalog.iceberg_schema(table)
    spec = catalog.partition_spec(table, schema)
    got = [(schema.find_column_name(f.source_id), str(f.transform)) for f in spec.fields]
    assert got == list(table.partitioning)


def test_partition_spec_names_fields_like_iceberg():
    schema = catalog.iceberg_schema(CONTOUR_FEATURES)
    names = [f.name for f in catalog.partition_spec(CONTOUR_FEATURES, schema).fields]
    expected = [c if t == "identity" else f"{c}_{t}" for c, t in CONTOUR_FEATURES.partitioning]
    assert names == expected


def test_partition_spec_refuses_an_unknown_transform():
    table = TableDef("t", (Column("day", pa.date32(), False, "d"),), (("day", "bucket"),), "t")
    with pytest.raises(ValueError, match="bucket"):
        catalog.partition_spec(table, catalog.iceberg_schema(table))


def test_schema_mismatches_accepts_promotions_and_optional_columns():
    table = TableDef(
        "t",
        (
            Column("n", pa.int32(), False, "n"),
            Column("x", pa.float64(), True, "x"),
            Column("tags", pa.list_(pa.string()), False, "tags"),
        ),
        (),
        "t",
    )
    existing = Schema(
        NestedField(1, "n", LongType(), required=False),
        NestedField(2, "x", DoubleType(), required=False),
        NestedField(3, "tags", ListType(5, StringType(), element_required=False), required=False),
        NestedField(4, "extra", StringType(), required=False),
    )
    assert catalog.schema_mismatches(table, existing) == []


def test_schema_mismatches_lists_every_problem():
    table = TableDef(
        "t",
        (
            Column("a", pa.string(), False, "a"),
            Column("b", pa.int32(), True, "b"),
            Column("c", pa.timestamp("us", tz="UTC"), False, "c"),
            Column("d", pa.list_(pa.string()), False, "d"),
            Column("e", pa.float64(), False, "e"),
        ),
        (),
        "t",
    )
    existing = Schema(
        NestedField(1, "a", LongType(), required=False),
        NestedField(2, "b", IntegerType(), required=True),
        NestedField(3, "c", TimestampType(), required=False),
        NestedField(4, "d", ListType(7, IntegerType(), element_required=False), required=False),
        NestedField(5, "z", StringType(), required=True),
    )
    problems = catalog.schema_mismatches(table, existing)
    text = "\n".join(problems)
    assert len(problems) == 6, text
    for name in ("a:", "b:", "c:", "d:", "e: missing", "z:"):
        assert name in text


# --------------------------------------------------------------------------- tables


@pytest.mark.runtime
def test_ensure_table_creates_namespace_table_location_and_properties(sql_catalog, tmp_path):
    table = catalog.ensure_table(sql_catalog, "climate", CONTOUR_FEATURES)
    assert ("climate",) in sql_catalog.list_namespaces()
    assert table.location() == f"file://{tmp_path}/warehouse/climate.db/contour_features"
    assert table.metadata.format_version == 2
    assert table.properties["write.parquet.compression-codec"] == "zstd"
    assert [f.name for f in table.schema().fields] == CONTOUR_FEATURES.column_names
    spec = [
        (table.schema().find_column_name(f.source_id), str(f.transform))
        for f in table.spec().fields
    ]
    assert spec == list(CONTOUR_FEATURES.partitioning)


@pytest.mark.runtime
def test_ensure_table_returns_the_existing_table(sql_catalog):
    first = catalog.ensure_table(sql_catalog, "climate", DAILY_SUMMARY)
    again = catalog.ensure_table(sql_catalog, "climate", DAILY_SUMMARY)
    assert again.metadata_location == first.metadata_location


@pytest.mark.runtime
def test_tables_of_any_partitioning_take_the_writers_files(sql_catalog):
    """A table partitioned by a transform that does not preserve order (a bucket): the
    writer computes each row's partition, as add_files from statistics could not."""
    sql_catalog.create_namespace("climate")
    schema = catalog.iceberg_schema(CONTOUR_FEATURES)
    spec = PartitionSpec(
        PartitionField(schema.find_field("variable").field_id, 1000, BucketTransform(4), "b")
    )
    sql_catalog.create_table("climate.contour_features", schema, partition_spec=spec)
    table = catalog.ensure_table(sql_catalog, "climate", CONTOUR_FEATURES)
    iceberg.commit_replace(table, [write(table, DAY, "t2m", [0, 1])], [(DAY, "t2m")])
    assert contents(table) == [(DAY, "t2m", 0, "r1"), (DAY, "t2m", 1, "r1")]
    # bucket[4] of "t2m" by Iceberg's own hash (murmur3 of the UTF-8 bytes, mod 4)
    assert [r["partition"]["b"] for r in table.inspect.files().to_pylist()] == [
        BucketTransform(4).transform(StringType())("t2m")
    ]


def test_two_runs_creating_the_tables_at_once_both_get_them(tmp_path):
    """The loser of the create race loads the winner's table instead of failing."""
    first = catalog.load_catalog("sql", str(tmp_path / "wh"))
    second = catalog.load_catalog("sql", str(tmp_path / "wh"))
    real_load = second.load_table
    calls = []

    def load_before_the_other_creates(identifier):
        # The first load sees no table; the other run creates it before we do.
        if not calls:
            calls.append(identifier)
            catalog.ensure_table(first, "climate", DAILY_SUMMARY)
            from pyiceberg.exceptions import NoSuchTableError

            raise NoSuchTableError(identifier)
        return real_load(identifier)

    second.load_table = load_before_the_other_creates
    table = catalog.ensure_table(second, "climate", DAILY_SUMMARY)
    assert table.metadata_location == first.load_table("climate.daily_summary").metadata_location


def _open_fresh_catalog(folder: str, start: float) -> None:
    while time.time() < start:  # all processes open the catalog at the same moment
        time.sleep(0.001)
    catalog.ensure_table(catalog.load_catalog("sql", folder), "climate", DAILY_SUMMARY)


def test_processes_opening_a_new_sql_catalog_at_once_all_get_it(tmp_path):
    """Every process creates pyiceberg's catalog tables on first use; the losers retry."""
    ctx = multiprocessing.get_context("spawn")
    for round_ in range(3):
        folder = str(tmp_path / f"wh{round_}")
        start = time.time() + 3
        procs = [ctx.Process(target=_open_fresh_catalog, args=(folder, start)) for _ in range(6)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(60)
        assert [p.exitcode for p in procs] == [0] * 6
        table = catalog.load_catalog("sql", folder).load_table("climate.daily_summary")
        assert table.schema().find_field("day")


@pytest.mark.runtime
def test_a_catalog_whose_tables_appear_meanwhile_opens(tmp_path, monkeypatch):
    """The deterministic form of that race: another process creates the catalog tables
    between our check and our CREATE, which then fails; we open the catalog anyway."""
    from pyiceberg.catalog.sql import SqlCatalog
    from sqlalchemy.exc import OperationalError

    real = SqlCatalog.create_tables
    calls = []

    def losing_create(self):
        calls.append(1)
        real(self)  # the other process's CREATE wins...
        raise OperationalError(  # ...and ours fails as SQLite says
            "CREATE TABLE iceberg_tables", {}, Exception("table iceberg_tables already exists")
        )

    monkeypatch.setattr(SqlCatalog, "create_tables", losing_create)
    opened = catalog.load_catalog("sql", str(tmp_path / "wh"))
    assert calls == [1]
    assert opened.list_namespaces() == []


def test_ensure_table_logs_a_different_partitioning(sql_catalog, caplog):
    sql_catalog.create_namespace("climate")
    sql_catalog.create_table("climate.daily_summary", catalog.iceberg_schema(DAILY_SUMMARY))
    with caplog.at_level("WARNING", logger="era5_contours.tables.catalog"):
        catalog.ensure_table(sql_catalog, "climate", DAILY_SUMMARY)
    assert "partitioned by" in caplog.text


# --------------------------------------------------------------------------- files


@pytest.mark.runtime
def test_write_data_files_carries_field_ids_statistics_and_partitions(features):
    rows = feature_rows(DAY, "t2m", [0, 1])
    # Columns in another order and a wider integer type are conformed to the TableDef.
    shuffled = rows.select(list(reversed(rows.column_names))).set_column(
        rows.column_names[::-1].index("band_index"),
        "band_index",
        rows.column("band_index").cast(pa.int64()),
    )
    (data_file,) = datafiles.write_data_files(
        features.metadata, features.io, shuffled, CONTOUR_FEATURES
    )
    path = data_file.file_path.removeprefix("file://")
    assert path.startswith(features.location().removeprefix("file://") + "/data/")
    # Every column carries the table's field id, the one thing readers resolve by.
    ids = {f.name: int(f.metadata[b"PARQUET:field_id"]) for f in pq.read_schema(path)}
    assert ids == {f.name: f.field_id for f in features.schema().fields}
    assert pq.ParquetFile(path).read().to_pylist() == rows.to_pylist()
    assert pq.read_metadata(path).row_group(0).column(0).compression == "ZSTD"
    assert data_file.record_count == 2
    assert data_file.partition == catalog_partition("t2m", DAY)
    day_id = features.schema().find_field("day").field_id
    assert data_file.lower_bounds[day_id] == data_file.upper_bounds[day_id]


def catalog_partition(variable: str, day: dt.date):
    from pyiceberg.typedef import Record

    return Record(variable, (day.year - 1970) * 12 + day.month - 1)


@pytest.mark.runtime
def test_a_rows_month_decides_its_file(features):
    rows = pa.concat_tables(
        [feature_rows(DAY, "t2m", [0]), feature_rows(dt.date(2024, 2, 1), "t2m", [1])]
    )
    files = datafiles.write_data_files(features.metadata, features.io, rows, CONTOUR_FEATURES)
    assert sorted(f.partition[1] for f in files) == [648, 649]


@pytest.mark.runtime
def test_the_same_write_uuid_writes_the_same_files(features):
    """A retried task overwrites the files of its dead attempt: no orphans."""
    import uuid

    token = uuid.uuid4()
    rows = feature_rows(DAY, "t2m", [0])
    first = datafiles.write_data_files(
        features.metadata, features.io, rows, CONTOUR_FEATURES, write_uuid=token
    )
    again = datafiles.write_data_files(
        features.metadata, features.io, rows, CONTOUR_FEATURES, write_uuid=token
    )
    assert datafiles.data_file_paths(first) == datafiles.data_file_paths(again)
    other = datafiles.write_data_files(features.metadata, features.io, rows, CONTOUR_FEATURES)
    assert datafiles.data_file_paths(other) != datafiles.data_file_paths(first)


@pytest.mark.runtime
def test_data_files_metadata_and_io_cross_process_boundaries(features):
    """Executors get the table's metadata and IO pickled, and send DataFiles back."""
    import pickle

    data_file = write(features, DAY, "t2m", [0])
    back = pickle.loads(pickle.dumps(data_file))
    assert back.file_path == data_file.file_path and back.partition == data_file.partition
    assert back.lower_bounds == data_file.lower_bounds
    metadata = pickle.loads(pickle.dumps(features.metadata))
    io = pickle.loads(pickle.dumps(features.io))
    (again,) = datafiles.write_data_files(
        metadata, io, feature_rows(DAY2, "tp", [1]), CONTOUR_FEATURES
    )
    iceberg.commit_replace(features, [back, again], [(DAY, "t2m"), (DAY2, "tp")])
    assert contents(features) == [(DAY, "t2m", 0, "r1"), (DAY2, "tp", 1, "r1")]


@pytest.mark.runtime
def test_pyiceberg_writer_is_the_tested_private_api():
    """write_data_files rests on pyiceberg's private writer: fail loudly if it changes."""
    import inspect

    import pyiceberg
    from packaging.specifiers import SpecifierSet
    from pyiceberg.io import pyarrow as pyiceberg_pyarrow

    assert pyiceberg.__version__ in SpecifierSet(datafiles.PYICEBERG_WRITER), (
        f"pyiceberg {pyiceberg.__version__} is outside the tested range "
        f"{datafiles.PYICEBERG_WRITER}: check _dataframe_to_data_files, then widen the range"
    )
    params = list(inspect.signature(pyiceberg_pyarrow._dataframe_to_data_files).parameters)
    assert params[:4] == ["table_metadata", "df", "io", "write_uuid"]
    params = list(inspect.signature(pyiceberg_pyarrow._check_pyarrow_schema_compatible).parameters)
    assert params[:2] == ["requested_schema", "provided_schema"]


@pytest.mark.runtime
@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop_columns(["run_id"]), "missing columns"),
        (lambda t: t.append_column("extra", pa.array([1])), "unexpected columns"),
        (
            lambda t: t.set_column(
                t.column_names.index("units"), "units", pa.array([None], pa.string())
            ),
            "units is required",
        ),
        (lambda t: t.slice(0, 0), "no rows"),
    ],
)
def test_write_data_files_refuses_bad_rows(features, change, message):
    with pytest.raises(ValueError, match=message):
        datafiles.write_data_files(
            features.metadata, features.io, change(feature_rows(DAY, "t2m", [0])), CONTOUR_FEATURES
        )
    assert not os.path.exists(features.location().removeprefix("file://") + "/data")


@pytest.mark.runtime
def test_write_data_files_checks_the_tables_schema_first(sql_catalog):
    """A table whose column has an incompatible type: refused before anything is written."""
    sql_catalog.create_namespace("climate")
    fields = [
        NestedField(f.field_id, f.name, StringType() if f.name == "band_index" else f.field_type)
        for f in catalog.iceberg_schema(CONTOUR_FEATURES).fields
    ]
    table = sql_catalog.create_table("climate.contour_features", Schema(*fields))
    with pytest.raises(ValueError, match="band_index"):
        datafiles.write_data_files(
            table.metadata, table.io, feature_rows(DAY, "t2m", [0]), CONTOUR_FEATURES
        )
    assert not os.path.exists(table.location().removeprefix("file://") + "/data")


# --------------------------------------------------------------------------- commits


@pytest.mark.runtime
def test_commit_replace_adds_files_with_their_partitions(features):
    files = [write(features, DAY, "t2m", [0, 1]), write(features, DAY2, "tp", [3])]
    iceberg.commit_replace(features, files, [(DAY, "t2m"), (DAY2, "tp")])
    assert contents(features) == [
        (DAY, "t2m", 0, "r1"),
        (DAY, "t2m", 1, "r1"),
        (DAY2, "tp", 3, "r1"),
    ]
    partitions = {
        (r["file_path"], r["partition"]["variable"], r["partition"]["day_month"])
        for r in features.inspect.files().to_pylist()
    }
    months_since_epoch = (2024 - 1970) * 12
    assert partitions == {
        (files[0].file_path, "t2m", months_since_epoch),
        (files[1].file_path, "tp", months_since_epoch),
    }


@pytest.mark.runtime
def test_commit_replace_touches_only_the_listed_pairs(features):
    iceberg.commit_replace(
        features,
        [
            write(features, DAY, "t2m", [0, 1]),
            write(features, DAY2, "t2m", [2]),
            write(features, DAY, "tp", [5]),
        ],
        [(DAY, "t2m"), (DAY2, "t2m"), (DAY, "tp")],
    )
    iceberg.commit_replace(features, [write(features, DAY, "t2m", [7], "r2")], [(DAY, "t2m")])
    assert contents(features) == [
        (DAY, "t2m", 7, "r2"),
        (DAY, "tp", 5, "r1"),
        (DAY2, "t2m", 2, "r1"),
    ]
    # Whole files were dropped, none rewritten: the old file of (DAY, t2m) is simply gone.
    assert features.inspect.files().num_rows == 3


@pytest.mark.runtime
def test_commit_replace_deletes_pairs_without_files(features):
    iceberg.commit_replace(
        features,
        [write(features, DAY, "t2m", [0]), write(features, DAY2, "t2m", [1])],
        [(DAY, "t2m"), (DAY2, "t2m")],
    )
    iceberg.commit_replace(features, [], [(DAY, "t2m")])
    assert contents(features) == [(DAY2, "t2m", 1, "r1")]


@pytest.mark.runtime
def test_commit_replace_rewrites_a_foreign_file_holding_other_days(features, tmp_path):
    # pyiceberg partitions the rows it rewrites with the Rust transforms of pyiceberg-core.
    pytest.importorskip("pyiceberg_core", reason="pyiceberg-core not installed")
    # A file holding two days, as a compaction by another engine leaves: only the
    # replaced day goes.
    rows = pa.concat_tables([feature_rows(DAY, "t2m", [0]), feature_rows(DAY2, "t2m", [1])])
    pq.write_table(rows, tmp_path / "compacted.parquet")
    features.add_files([str(tmp_path / "compacted.parquet")])
    iceberg.commit_replace(features, [write(features, DAY, "t2m", [4], "r2")], [(DAY, "t2m")])
    assert contents(features) == [(DAY, "t2m", 4, "r2"), (DAY2, "t2m", 1, "r1")]


@pytest.mark.runtime
def test_commit_replace_refuses_files_outside_the_replaced_pairs(features):
    iceberg.commit_replace(features, [write(features, DAY, "t2m", [0])], [(DAY, "t2m")])
    before = features.metadata_location
    stray = write(features, DAY2, "t2m", [1])
    with pytest.raises(ValueError, match="not all in replace"):
        iceberg.commit_replace(features, [stray], [(DAY, "t2m")])
    other_variable = write(features, DAY, "tp", [1])
    with pytest.raises(ValueError, match="not all in replace"):
        iceberg.commit_replace(features, [other_variable], [(DAY, "t2m")])
    assert features.refresh().metadata_location == before


@pytest.mark.runtime
def test_commit_replace_with_nothing_to_do_commits_nothing(features):
    iceberg.commit_replace(features, [], [])
    assert features.refresh().current_snapshot() is None


@pytest.mark.runtime
def test_commit_replace_records_snapshot_properties(features):
    iceberg.commit_replace(
        features,
        [write(features, DAY, "t2m", [0, 1])],
        [(DAY, "t2m")],
        snapshot_properties={"run-id": "r1"},
    )
    summary = iceberg.committed_snapshot_summary(features)
    assert summary["run-id"] == "r1"
    assert summary["operation"] == "append"
    assert summary["total-records"] == "2"
    assert summary["snapshot-id"] == str(features.current_snapshot().snapshot_id)


@pytest.mark.runtime
def test_committed_snapshot_summary_of_an_empty_table(features):
    assert iceberg.committed_snapshot_summary(features) == {}


def test_replace_filter_refuses_datetimes():
    with pytest.raises(TypeError, match="day"):
        filters.replace_filter([(dt.datetime(2024, 1, 15), "t2m")])


def test_replace_filter_selects_exactly_the_pairs(features):
    iceberg.commit_replace(
        features,
        [
            write(features, DAY, "t2m", [0]),
            write(features, DAY2, "t2m", [1]),
            write(features, DAY, "tp", [2]),
        ],
        [(DAY, "t2m"), (DAY2, "t2m"), (DAY, "tp")],
    )
    selected = features.scan(
        row_filter=filters.replace_filter([(DAY2, "t2m"), (DAY, "tp")])
    ).to_arrow()
    assert sorted(selected.column("band_index").to_pylist()) == [1, 2]
    assert features.scan(row_filter=EqualTo("variable", "tp")).to_arrow().num_rows == 1
