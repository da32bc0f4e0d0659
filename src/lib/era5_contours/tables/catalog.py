"""Iceberg catalogs and tables: the sql (SQLite) and Glue catalogs, schemas, creation.

:func:`load_catalog` opens the catalog a run writes to; :func:`ensure_table` creates a
table from its :class:`~era5_contours.tables.schema.TableDef` or accepts an existing one
(created by the DDL in ``db/``) whose columns and partitioning fit. Writing rows is
:mod:`~era5_contours.tables.datafiles`; committing them, :mod:`~era5_contours.commit`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.partitioning import PartitionField, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.transforms import (
    DayTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
    YearTransform,
)
from pyiceberg.types import (
    BooleanType,
    DateType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
)

from .schema import TableDef

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.table import Table

logger = logging.getLogger(__name__)


CATALOG_TYPES = ("sql", "glue")

FORMAT_VERSION = 2

TABLE_PROPERTIES = {
    "format-version": str(FORMAT_VERSION),
    "write.parquet.compression-codec": "zstd",
}

_TRANSFORMS: dict[str, Callable[[], Transform[Any, Any]]] = {
    "identity": IdentityTransform,
    "year": YearTransform,
    "month": MonthTransform,
    "day": DayTransform,
}

_PROMOTIONS: dict[type[IcebergType], tuple[type[IcebergType], ...]] = {
    IntegerType: (LongType,),
    FloatType: (DoubleType,),
}


class IncompatibleTableError(ValueError):
    """An existing table lacks a column of the TableDef or holds it with another type."""


def load_catalog(
    catalog_type: str,
    warehouse_path: str,
    *,
    name: str = "era5",
    glue_endpoint: str | None = None,
    s3_endpoint: str | None = None,
    region: str | None = None,
) -> Catalog:
    """Open an Iceberg catalog.

    Parameters
    ----------
    catalog_type
        ``sql``: SQLite catalog at ``{warehouse_path}/catalog.db`` in a local folder (created
        if absent); ``glue``: the AWS Glue Data Catalog with the warehouse on ``s3://``.
    warehouse_path
        Local folder (or ``file://`` URI) for ``sql``; ``s3://bucket/prefix`` for ``glue``.
    name
        Catalog name (appears in pyiceberg messages only).
    glue_endpoint, s3_endpoint, region
        Overrides for ``glue`` (tests against a moto server); credentials come from the
        standard AWS environment (variables, profile, instance role).
    """
    if catalog_type == "sql":
        if "://" in warehouse_path and not warehouse_path.startswith("file://"):
            raise ValueError(f"the sql catalog needs a local folder, got {warehouse_path!r}")
        folder = Path(_strip_scheme(warehouse_path)).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        try:
            from pyiceberg.catalog.sql import SqlCatalog
        except ImportError as e:
            raise ImportError(
                "the sql catalog needs SQLAlchemy: pip install 'pyiceberg[sql-sqlite]'"
            ) from e
        from sqlalchemy.exc import OperationalError

        for attempt in range(1, 6):
            try:
                return SqlCatalog(
                    name, uri=f"sqlite:///{folder / 'catalog.db'}", warehouse=f"file://{folder}"
                )
            except OperationalError as exc:
                # Processes opening a new catalog at once all create pyiceberg's catalog
                # tables; the losers' CREATE fails with "already exists". They exist now.
                if "already exists" not in str(exc) or attempt == 5:
                    raise
                time.sleep(0.05 * attempt)
    if catalog_type == "glue":
        if not warehouse_path.startswith("s3://"):
            raise ValueError(f"the glue catalog needs an s3:// warehouse, got {warehouse_path!r}")
        try:
            from pyiceberg.catalog.glue import GlueCatalog
        except ImportError as e:
            raise ImportError("the glue catalog needs boto3: pip install 'pyiceberg[glue]'") from e
        properties = {"warehouse": warehouse_path.rstrip("/")}
        if glue_endpoint:
            properties["glue.endpoint"] = glue_endpoint
        if s3_endpoint:
            properties["s3.endpoint"] = s3_endpoint
        if region:
            properties["glue.region"] = region
            properties["s3.region"] = region
        return GlueCatalog(name, **properties)
    raise ValueError(
        f"unknown catalog type {catalog_type!r}: choose one of {', '.join(CATALOG_TYPES)}"
    )


def _strip_scheme(path_or_uri: str) -> str:
    if path_or_uri.startswith("file://"):
        return path_or_uri[len("file://") :]
    if "://" in path_or_uri:
        return path_or_uri.split("://", 1)[1]
    return path_or_uri


def _iceberg_type(arrow_type: pa.DataType, next_id: int) -> tuple[IcebergType, int]:
    """Iceberg type of an Arrow type; nested fields take ids from ``next_id`` on."""
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        element_id = next_id
        element, next_id = _iceberg_type(arrow_type.value_type, next_id + 1)
        return (
            ListType(element_id, element, element_required=not arrow_type.value_field.nullable),
            next_id,
        )
    if pa.types.is_timestamp(arrow_type):
        if arrow_type.unit != "us":
            raise TypeError(f"Iceberg timestamps are microseconds, got {arrow_type}")
        if arrow_type.tz is None:
            return TimestampType(), next_id
        if arrow_type.tz not in ("UTC", "+00:00", "Etc/UTC"):
            raise TypeError(f"Iceberg timestamptz is stored in UTC, got {arrow_type}")
        return TimestamptzType(), next_id
    simple: list[tuple[Any, IcebergType]] = [
        (pa.types.is_boolean, BooleanType()),
        (pa.types.is_int32, IntegerType()),
        (pa.types.is_int64, LongType()),
        (pa.types.is_float32, FloatType()),
        (pa.types.is_float64, DoubleType()),
        (pa.types.is_string, StringType()),
        (pa.types.is_large_string, StringType()),
        (pa.types.is_date32, DateType()),
    ]
    for check, iceberg in simple:
        if check(arrow_type):
            return iceberg, next_id
    raise TypeError(f"no Iceberg type for Arrow type {arrow_type}")


def iceberg_schema(table: TableDef) -> Schema:
    """Iceberg schema of a table: columns get ids 1..n in order, nested fields after."""
    next_id = len(table.columns) + 1
    fields = []
    for field_id, column in enumerate(table.columns, start=1):
        field_type, next_id = _iceberg_type(column.type, next_id)
        fields.append(
            NestedField(
                field_id, column.name, field_type, required=not column.nullable, doc=column.doc
            )
        )
    return Schema(*fields)


def _partition_field_name(column: str, transform: str) -> str:
    # Iceberg's own naming (``day_month``), so Athena, Spark and pyiceberg agree.
    return column if transform == "identity" else f"{column}_{transform}"


def partition_spec(table: TableDef, schema: Schema) -> PartitionSpec:
    """Partition spec from ``TableDef.partitioning`` (identity, year, month, day)."""
    fields = []
    for i, (column, transform) in enumerate(table.partitioning):
        if transform not in _TRANSFORMS:
            raise ValueError(
                f"{table.name}: unknown transform {transform!r} on {column!r}; "
                f"choose one of {', '.join(_TRANSFORMS)}"
            )
        fields.append(
            PartitionField(
                source_id=schema.find_field(column).field_id,
                field_id=1000 + i,
                transform=_TRANSFORMS[transform](),
                name=_partition_field_name(column, transform),
            )
        )
    return PartitionSpec(*fields)


def _type_problem(expected: IcebergType, actual: IcebergType) -> str | None:
    """Why a column we write as ``expected`` cannot go into a column of type ``actual``."""
    if isinstance(expected, ListType) and isinstance(actual, ListType):
        if actual.element_required and not expected.element_required:
            return "table list elements are required but ours may be null"
        problem = _type_problem(expected.element_type, actual.element_type)
        return None if problem is None else f"list element: {problem}"
    if expected == actual or isinstance(actual, _PROMOTIONS.get(type(expected), ())):
        return None
    hint = ""
    if {type(expected), type(actual)} == {TimestampType, TimestamptzType}:
        hint = " (timestamp and timestamptz do not mix; Athena DDL creates timestamp)"
    return f"we write {expected}, table has {actual}{hint}"


def schema_mismatches(table: TableDef, schema: Schema) -> list[str]:
    """Problems that stop rows of ``table`` from going into a table with ``schema``.

    Every column of the TableDef must exist with the same type or one it promotes to
    (int to long, float to double), and may be required in the table only if it is
    required in the TableDef; extra table columns must be optional.
    """
    actual_fields = {f.name: f for f in schema.fields}
    problems = []
    for expected in iceberg_schema(table).fields:
        actual = actual_fields.get(expected.name)
        if actual is None:
            problems.append(f"{expected.name}: missing (expected {expected.field_type})")
            continue
        problem = _type_problem(expected.field_type, actual.field_type)
        if problem:
            problems.append(f"{expected.name}: {problem}")
        if actual.required and not expected.required:
            problems.append(f"{expected.name}: required in the table but nullable in ours")
    for name, actual in actual_fields.items():
        if actual.required and name not in table.column_names:
            problems.append(f"{name}: required table column that we do not write")
    return problems


def _spec_description(spec: PartitionSpec, schema: Schema) -> list[tuple[str, str]]:
    return [(schema.find_column_name(f.source_id) or "?", str(f.transform)) for f in spec.fields]


def table_location(catalog: Catalog, database: str, table: TableDef) -> str | None:
    """``{warehouse}/{database}.db/{table}``, the layout of the Athena DDL in db/."""
    warehouse = catalog.properties.get("warehouse")
    if not warehouse:
        return None
    return f"{warehouse.rstrip('/')}/{database}.db/{table.name}"


def ensure_table(catalog: Catalog, database: str, table: TableDef) -> Table:
    """Load ``database.table``, creating the namespace and table when absent.

    A table created beforehand (e.g. by the Athena DDL in db/) is accepted when every column
    of the TableDef exists with a compatible type (see :func:`schema_mismatches`); a
    different partitioning is logged, not refused.

    Raises
    ------
    IncompatibleTableError
        Listing every mismatching column.
    """
    identifier = f"{database}.{table.name}"
    try:
        catalog.create_namespace_if_not_exists(database)
    except Exception:
        # Two runs creating it at once: the loser's insert fails (sqlite IntegrityError,
        # Glue AlreadyExistsException). Fine if it exists now.
        if not catalog.namespace_exists(database):
            raise
    try:
        existing = catalog.load_table(identifier)
    except NoSuchTableError:
        schema = iceberg_schema(table)
        try:
            created = catalog.create_table(
                identifier,
                schema,
                location=table_location(catalog, database, table),
                partition_spec=partition_spec(table, schema),
                properties=TABLE_PROPERTIES,
            )
        except Exception as create_error:  # noqa: BLE001 - re-raised unless it now exists
            # Another process created it between our load and create (TableAlreadyExists,
            # or the catalog's own constraint error): check theirs.
            try:
                existing = catalog.load_table(identifier)
            except NoSuchTableError:
                raise create_error from None
        else:
            logger.info("created table %s at %s", identifier, created.location())
            return created

    problems = schema_mismatches(table, existing.schema())
    if problems:
        raise IncompatibleTableError(
            f"table {identifier} at {existing.location()} does not fit the "
            f"{table.name} schema:\n  - " + "\n  - ".join(problems)
        )
    spec = _spec_description(existing.spec(), existing.schema())
    if spec != list(table.partitioning):
        logger.warning(
            "table %s is partitioned by %s, not %s: accepted (files follow the table's spec)",
            identifier,
            spec,
            list(table.partitioning),
        )
    return existing
