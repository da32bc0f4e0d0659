"""Table schemas, defined once: Arrow for the rows, Iceberg for the catalog, DDL checks.

Every other place (feature rows, daily summary rows, the Iceberg tables, the Athena DDL
test) derives its schema from :data:`CONTOUR_FEATURES` and :data:`DAILY_SUMMARY`.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

#: The database of the tables unless a run names another (``--database``).
DATABASE = "climate"

#: The values of daily_summary's ``status``: the day's rule had every sample it needs and
#: the features were made (``ok``), lacked samples (``incomplete``), or the input was bad
#: (``failed``).
OK, INCOMPLETE, FAILED = "ok", "incomplete", "failed"
STATUSES = (OK, INCOMPLETE, FAILED)


@dataclass(frozen=True)
class Column:
    """One column: name, Arrow type, whether nulls are allowed, and its meaning."""

    name: str
    type: pa.DataType
    nullable: bool
    doc: str


@dataclass(frozen=True)
class TableDef:
    """A table: its columns and its Iceberg partitioning as ``(source column, transform)``."""

    name: str
    columns: tuple[Column, ...]
    partitioning: tuple[tuple[str, str], ...]
    doc: str

    @property
    def arrow_schema(self) -> pa.Schema:
        """Arrow schema without Iceberg field ids (what the executors write to Parquet)."""
        return pa.schema(
            [pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns],
        )

    @property
    def column_names(self) -> list[str]:
        """Names of the columns, in order."""
        return [c.name for c in self.columns]


_STR = pa.string()
_F64 = pa.float64()
_I32 = pa.int32()

CONTOUR_FEATURES = TableDef(
    name="contour_features",
    doc="One row per contour feature (a band polygon or an isoline) per variable and day.",
    columns=(
        Column("day", pa.date32(), False, "UTC day the daily field describes"),
        Column("variable", _STR, False, "t2m (daily mean 2 m temperature) or tp (daily total)"),
        Column("units", _STR, False, "units of the levels: degC or mm"),
        Column("dataset", _STR, False, "era5 or era5-land"),
        Column("kind", _STR, False, "band (filled polygon) or line (isoline)"),
        Column(
            "level_lower",
            _F64,
            True,
            "band: lower bound (exclusive), null if open-ended; line: level",
        ),
        Column(
            "level_upper",
            _F64,
            True,
            "band: upper bound (inclusive), null if open-ended; line: level",
        ),
        Column(
            "band_index", _I32, False, "0: <= first level; i: (level i-1, level i]; n: > last level"
        ),
        Column("part_index", _I32, False, "index of the polygon or line part within its band"),
        Column("geometry_wkt", _STR, False, "valid, simple WGS84 lon/lat WKT"),
        Column("bbox_min_lon", _F64, False, "bounding box west"),
        Column("bbox_min_lat", _F64, False, "bounding box south"),
        Column("bbox_max_lon", _F64, False, "bounding box east"),
        Column("bbox_max_lat", _F64, False, "bounding box north"),
        Column("area_km2", _F64, True, "geodesic area on WGS84 (bands only)"),
        Column("length_km", _F64, True, "geodesic length on WGS84 (lines only)"),
        Column("vertex_count", _I32, False, "number of coordinates in the geometry"),
        Column("source_files", pa.list_(_STR), False, "input files the day was computed from"),
        Column("run_id", _STR, False, "identifier of the job run that wrote the row"),
    ),
    partitioning=(("variable", "identity"), ("day", "month")),
)

DAILY_SUMMARY = TableDef(
    name="daily_summary",
    doc="One row per variable and day: processing status and field statistics.",
    columns=(
        Column("day", pa.date32(), False, "UTC day"),
        Column("variable", _STR, False, "t2m or tp"),
        Column("units", _STR, True, "degC or mm"),
        Column("dataset", _STR, True, "era5 or era5-land"),
        Column("samples", _I32, False, "hourly samples found for the day's rule"),
        Column("complete", pa.bool_(), False, "whether every sample the rule needs was present"),
        Column("status", _STR, False, "ok, incomplete or failed"),
        Column("error", _STR, True, "why the day is incomplete or failed"),
        Column("field_min", _F64, True, "minimum over valid cells"),
        Column("field_mean", _F64, True, "plain mean over valid cells"),
        Column("field_mean_weighted", _F64, True, "cos(latitude) weighted mean over valid cells"),
        Column("field_max", _F64, True, "maximum over valid cells"),
        Column("feature_count", _I32, False, "rows written to contour_features"),
        Column("source_files", pa.list_(_STR), False, "input files the day was computed from"),
        Column("run_id", _STR, False, "identifier of the job run"),
        # Athena creates Iceberg "timestamp" only (no timestamptz), so UTC is a convention here.
        Column("processed_at", pa.timestamp("us"), False, "when the row was computed, UTC"),
    ),
    partitioning=(("variable", "identity"),),
)

TABLES: dict[str, TableDef] = {t.name: t for t in (CONTOUR_FEATURES, DAILY_SUMMARY)}
