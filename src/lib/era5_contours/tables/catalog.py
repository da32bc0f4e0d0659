"""Iceberg tables through pyiceberg: catalogs, table creation, data files, commits.

The write path of the job has two halves:

* executors: :func:`write_data_files` turns the rows of one (variable, month) partition
  (:mod:`~era5_contours.tables.months`) into Iceberg data files with pyiceberg's own writer:
  Parquet with the table's field ids, column statistics and partition values, named by
  the table's location provider under a write UUID of the task. What comes back is the
  files' :class:`~pyiceberg.manifest.DataFile` metadata, small and picklable;
* driver: :func:`commit_replace` deletes the rows of the (day, variable) pairs and appends
  the data files in one Iceberg transaction, so a rerun of a day replaces its rows and
  readers see either the old table or the new one. Nothing depends on name mapping: every
  file carries its field ids, which every Iceberg reader resolves columns by.
  :func:`revert_attempt` undoes one run's commits with a compensating commit.

Files that no snapshot references (those of a failed or killed run) are orphans for
:mod:`~era5_contours.commit.maintenance` to remove.
"""

from __future__ import annotations

import logging
import time
import uuid
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from pyiceberg.conversions import from_bytes
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError
from pyiceberg.expressions import (
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    LessThanOrEqual,
    Or,
    Reference,
)
from pyiceberg.expressions.literals import literal
from pyiceberg.io.pyarrow import _check_pyarrow_schema_compatible, _dataframe_to_data_files
from pyiceberg.manifest import ManifestEntryStatus
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
    PrimitiveType,
    StringType,
    TimestampType,
    TimestamptzType,
)

from .schema import TableDef

if TYPE_CHECKING:
    from pyiceberg.catalog import Catalog
    from pyiceberg.io import FileIO
    from pyiceberg.manifest import DataFile
    from pyiceberg.table import Table
    from pyiceberg.table.metadata import TableMetadata

logger = logging.getLogger(__name__)

CATALOG_TYPES = ("sql", "glue")
FORMAT_VERSION = 2
TABLE_PROPERTIES = {
    "format-version": str(FORMAT_VERSION),
    "write.parquet.compression-codec": "zstd",
}
#: pyiceberg's writer is private API: the releases it was tested with (tests/test_catalog.py
#: holds its signature and fails loudly when it changes).
PYICEBERG_WRITER = ">=0.9,<0.13"

_TRANSFORMS: dict[str, Callable[[], Transform[Any, Any]]] = {
    "identity": IdentityTransform,
    "year": YearTransform,
    "month": MonthTransform,
    "day": DayTransform,
}
# Types the table may hold for a column we write as the key type (Iceberg type promotion).
_PROMOTIONS: dict[type[IcebergType], tuple[type[IcebergType], ...]] = {
    IntegerType: (LongType,),
    FloatType: (DoubleType,),
}
_EPOCH = date(1970, 1, 1)
_NO_MATCH_WARNING = "Delete operation did not match any records"


class IncompatibleTableError(ValueError):
    """An existing table lacks a column of the TableDef or holds it with another type."""


# --------------------------------------------------------------------------- catalogs


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


# --------------------------------------------------------------------------- schemas


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


# --------------------------------------------------------------------------- executors


def conform_table(
    arrow_table: pa.Table, table: TableDef, table_schema: Schema | None = None
) -> pa.Table:
    """Rows in the column order and types of ``table``; refuse nulls in required columns.

    Columns beyond ``table``'s are refused, except those the Iceberg table itself holds
    (``table_schema``: a table created by other DDL may carry more optional columns, and
    rewriting a month must keep their values); they follow ``table``'s columns.
    """
    schema = table.arrow_schema
    known = set(table_schema._name_to_id) if table_schema is not None else set()
    missing = [n for n in schema.names if n not in arrow_table.column_names]
    extra = [n for n in arrow_table.column_names if n not in schema.names and n not in known]
    if missing or extra:
        raise ValueError(f"{table.name}: missing columns {missing}, unexpected columns {extra}")
    for field in schema:
        if not field.nullable and arrow_table.column(field.name).null_count:
            raise ValueError(f"{table.name}.{field.name} is required but holds nulls")
    columns = [arrow_table.column(n).cast(schema.field(n).type) for n in schema.names]
    fields = list(schema)
    for name in arrow_table.column_names:
        if name not in schema.names:
            columns.append(arrow_table.column(name))
            fields.append(arrow_table.schema.field(name))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def write_data_files(
    table_metadata: TableMetadata,
    io: FileIO,
    rows: pa.Table,
    table: TableDef,
    *,
    write_uuid: uuid.UUID | None = None,
) -> list[DataFile]:
    """Write rows of ``table`` as Iceberg data files of the table; their metadata.

    pyiceberg's writer (``_dataframe_to_data_files``, the function Ray's
    ``IcebergDatasink`` uses; private, so :data:`PYICEBERG_WRITER` pins the range this was
    tested with and a test fails loudly when it changes) splits the rows by the table's
    partition spec, rolls files over at ``write.target-file-size-bytes`` and writes each
    with the table's field ids and column statistics.

    Parameters
    ----------
    table_metadata, io
        The table's metadata and file IO (both pickle: executors get them from the driver).
    rows
        Rows with the columns of ``table`` (any order; cast to its types).
    write_uuid
        Names the files (``{uuid}-{n}`` under the partition folders): the same UUID
        overwrites the same files, so a retried task leaves no orphan of its dead attempt.

    Raises
    ------
    ValueError
        For rows that do not fit ``table`` or the table's schema.
    """
    data = conform_table(rows, table, table_metadata.schema())
    if data.num_rows == 0:
        raise ValueError(f"{table.name}: no rows to write")
    # Checked here, on the executor, before anything is written.
    _check_pyarrow_schema_compatible(table_metadata.schema(), data.schema)
    return list(
        _dataframe_to_data_files(
            table_metadata=table_metadata, df=data, io=io, write_uuid=write_uuid
        )
    )


def data_file_paths(data_files: Iterable[DataFile]) -> list[str]:
    """The paths of data files (for removing what a failed run wrote)."""
    return [f.file_path for f in data_files]


# --------------------------------------------------------------------------- driver


def _replace_keys(replace: Iterable[tuple[date, str]]) -> dict[str, set[date]]:
    keys: dict[str, set[date]] = {}
    for day, variable in replace:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"replace holds (day, variable) pairs, got day {day!r}")
        keys.setdefault(variable, set()).add(day)
    return keys


def equal_to(column: str, value: Any) -> EqualTo:
    """``column == value`` as a pyiceberg predicate.

    Spelt with the pydantic field names (``term``, ``value``): pyiceberg's own
    ``__init__(term, literal)`` accepts them, and type checkers read the model's fields
    (pydantic's dataclass_transform), not that ``__init__``.
    """
    return EqualTo(term=Reference(column), value=literal(value))


def at_least(column: str, value: Any) -> GreaterThanOrEqual:
    """``column >= value`` as a pyiceberg predicate (see :func:`equal_to`)."""
    return GreaterThanOrEqual(term=Reference(column), value=literal(value))


def at_most(column: str, value: Any) -> LessThanOrEqual:
    """``column <= value`` as a pyiceberg predicate (see :func:`equal_to`)."""
    return LessThanOrEqual(term=Reference(column), value=literal(value))


def replace_filter(replace: Iterable[tuple[date, str]]) -> BooleanExpression:
    """Row filter selecting exactly the (day, variable) pairs of ``replace``.

    Per variable, each run of consecutive days becomes one range (``day >= a AND day <=
    b``): a file whose day statistics lie within a range is dropped from the metadata
    without being read, and the expression stays shallow however many days a run covers.
    """
    keys = _replace_keys(replace)
    if not keys:
        raise ValueError("empty replace: nothing to filter")
    parts: list[BooleanExpression] = []
    for variable, days in sorted(keys.items()):
        spans: list[BooleanExpression] = []
        for first, last in day_runs(days):
            if first == last:
                spans.append(equal_to("day", first.isoformat()))
            else:
                spans.append(
                    And(
                        at_least("day", first.isoformat()),
                        at_most("day", last.isoformat()),
                    )
                )
        days_filter = spans[0] if len(spans) == 1 else Or(*spans)
        parts.append(And(equal_to("variable", variable), days_filter))
    return parts[0] if len(parts) == 1 else Or(*parts)


def day_runs(days: Iterable[date]) -> list[tuple[date, date]]:
    """Sorted days as runs of consecutive days ``(first, last)``."""
    runs: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if runs and (day - runs[-1][1]).days == 1:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def _bounds(data_file: DataFile, schema: Schema, column: str) -> tuple[Any, Any]:
    field = schema.find_field(column)
    kind = field.field_type
    low_bytes = (data_file.lower_bounds or {}).get(field.field_id)
    high_bytes = (data_file.upper_bounds or {}).get(field.field_id)
    if low_bytes is None or high_bytes is None:
        raise ValueError(f"{data_file.file_path}: no statistics for column {column!r}")
    if not isinstance(kind, PrimitiveType):  # Iceberg keeps bounds of primitive columns only
        raise ValueError(f"{data_file.file_path}: column {column!r} is not primitive ({kind})")
    if isinstance(kind, DateType):  # Iceberg stores days since 1970-01-01
        # from_bytes is annotated with a type variable its arguments do not bind; a date's
        # value is an int.
        low_days, high_days = int(from_bytes(kind, low_bytes)), int(from_bytes(kind, high_bytes))
        return _EPOCH + timedelta(days=low_days), _EPOCH + timedelta(days=high_days)
    return from_bytes(kind, low_bytes), from_bytes(kind, high_bytes)


def check_files_within(
    schema: Schema, data_files: Sequence[DataFile], replace: Iterable[tuple[date, str]]
) -> None:
    """Refuse data files holding rows outside the replaced (day, variable) pairs.

    Such rows would escape the delete of a later rerun and duplicate. Reads the files'
    statistics only. Raises ValueError for a file out of bounds.
    """
    keys = _replace_keys(replace)
    for data_file in data_files:
        var_low, var_high = _bounds(data_file, schema, "variable")
        day_low, day_high = _bounds(data_file, schema, "day")
        uri = data_file.file_path
        if var_low != var_high:
            raise ValueError(f"{uri}: holds several variables ({var_low}..{var_high})")
        days = keys.get(var_low, set())
        span = (day_high - day_low).days + 1
        if span > len(days) or any(day_low + timedelta(days=i) not in days for i in range(span)):
            raise ValueError(
                f"{uri}: days {day_low}..{day_high} of {var_low} are not all in replace"
            )


def commit_replace(
    table: Table,
    data_files: Sequence[DataFile],
    replace: list[tuple[date, str]],
    *,
    snapshot_properties: Mapping[str, str] | None = None,
    max_attempts: int = 3,
) -> None:
    """Replace the rows of the (day, variable) pairs in ``replace`` by ``data_files``.

    One pyiceberg transaction: delete by row filter, then append the data files; readers
    see the table before or after, never between. Files whose rows all belong to one
    deleted (day, variable) are dropped from the metadata without being read; a file
    holding other rows too (e.g. after a compaction) is rewritten by pyiceberg, which needs
    ``pyiceberg-core`` for a partitioned table.

    Parameters
    ----------
    table
        The Iceberg table (updated in place on success).
    data_files
        From :func:`write_data_files`; each file's rows must lie within ``replace``.
    replace
        (day, variable) pairs whose rows are deleted; a pair without file ends up empty.
    snapshot_properties
        Extra snapshot summary entries (e.g. ``{"run-id": ...}``).
    max_attempts
        Tries when another writer committed first: the transaction is redone on the
        refreshed table (a failed try leaves the table as it was).

    Raises
    ------
    ValueError
        Before anything is committed: the table stays as it was.
    """
    if not data_files and not replace:
        return
    paths = data_file_paths(data_files)
    if len(set(paths)) != len(paths):
        raise ValueError("data_files holds duplicates")
    check_files_within(table.schema(), data_files, replace)
    row_filter = replace_filter(replace) if replace else None
    properties = dict(snapshot_properties or {})
    for attempt in range(1, max_attempts + 1):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_NO_MATCH_WARNING)
                with table.transaction() as tx:
                    if row_filter is not None:
                        tx.delete(row_filter, snapshot_properties=properties)
                    if data_files:
                        with tx.update_snapshot(
                            snapshot_properties=properties
                        ).fast_append() as append:
                            for data_file in data_files:
                                append.append_data_file(data_file)
        except CommitFailedException:
            if attempt == max_attempts:
                raise
            logger.warning(
                "commit to %s conflicted (try %d), retrying", ".".join(table.name()), attempt
            )
            table.refresh()
        else:
            logger.info(
                "committed %d files replacing %d (day, variable) pairs in %s",
                len(data_files),
                len(replace),
                ".".join(table.name()),
            )
            return


def rows_with_status(
    table: Table, pairs: Iterable[tuple[date, str]], status: str
) -> dict[tuple[date, str], str]:
    """``{(day, variable): run_id}`` of the rows among ``pairs`` with this ``status``."""
    pairs = list(pairs)
    if not pairs or table.current_snapshot() is None:
        return {}
    rows = (
        table.scan(
            row_filter=And(replace_filter(pairs), equal_to("status", status)),
            selected_fields=("day", "variable", "run_id"),
        )
        .to_arrow()
        .to_pylist()
    )
    wanted = set(pairs)
    return {
        (r["day"], r["variable"]): r["run_id"] for r in rows if (r["day"], r["variable"]) in wanted
    }


def committed_snapshot_summary(table: Table) -> dict[str, str]:
    """Current snapshot id, operation and summary (``total-records``, ``added-data-files``...)."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return {}
    summary = {"snapshot-id": str(snapshot.snapshot_id)}
    if snapshot.summary is not None:
        summary.update({k: str(v) for k, v in snapshot.summary.model_dump().items()})
    return summary


def attempt_snapshots(
    table: Table, attempt: str, since: int | None = None, *, key: str = "run-attempt"
) -> list[int]:
    """Ids of the snapshots a run attempt committed (``run-attempt`` in their summary).

    Only snapshots after ``since`` (a snapshot id of the table's history) are looked at;
    ``key="reverts-attempt"`` finds the compensating commits of the attempt instead.
    """
    snapshots = sorted(table.metadata.snapshots, key=lambda s: (s.sequence_number, s.timestamp_ms))
    if since is not None:
        ids = [s.snapshot_id for s in snapshots]
        if since in ids:
            snapshots = snapshots[ids.index(since) + 1 :]
    return [s.snapshot_id for s in snapshots if s.summary is not None and s.summary[key] == attempt]


def _snapshot_changes(table: Table, snapshot_id: int) -> tuple[list[DataFile], list[DataFile]]:
    """Data files one snapshot added and removed, from the manifests it wrote."""
    snapshot = table.metadata.snapshot_by_id(snapshot_id)
    if snapshot is None:
        raise ValueError(f"{'.'.join(table.name())}: no snapshot {snapshot_id}")
    added: list[DataFile] = []
    removed: list[DataFile] = []
    for manifest in snapshot.manifests(table.io):
        if manifest.added_snapshot_id != snapshot_id:
            continue
        for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=False):
            if entry.snapshot_id != snapshot_id:
                continue
            if entry.status == ManifestEntryStatus.ADDED:
                added.append(entry.data_file)
            elif entry.status == ManifestEntryStatus.DELETED:
                removed.append(entry.data_file)
    return added, removed


def revert_attempt(
    table: Table, attempt: str, since: int | None = None, *, max_attempts: int = 3
) -> int:
    """Undo what a run attempt committed to ``table`` with a compensating commit.

    The files the attempt added are removed and the files it removed come back, in one
    new snapshot (``reverts-attempt`` in its summary). Unlike rolling the table back to
    an older snapshot, this leaves every other commit in place, made before or after.
    The caller holds the commit lease, so no other run changed those rows since.

    Returns
    -------
    int
        How many files changed (0 when the attempt committed nothing).

    Raises
    ------
    ValueError
        When a file the attempt added is no longer in the table (rewritten since, e.g. by
        a compaction): reverting it would need its rows, which is beyond a metadata change.
    """
    for attempt_no in range(1, max_attempts + 1):
        table.refresh()
        if attempt_snapshots(table, attempt, since, key="reverts-attempt"):
            return 0  # reverted already (an interrupted recovery, finished again)
        added: dict[str, DataFile] = {}
        removed: dict[str, DataFile] = {}
        for snapshot_id in attempt_snapshots(table, attempt, since):
            snap_added, snap_removed = _snapshot_changes(table, snapshot_id)
            for f in snap_removed:
                if f.file_path in added:  # added and removed again by the same attempt
                    del added[f.file_path]
                else:
                    removed[f.file_path] = f
            for f in snap_added:
                added[f.file_path] = f
        if not added and not removed:
            return 0
        live = {t.file.file_path for t in table.scan().plan_files()} if added else set()
        gone = [p for p in added if p not in live]
        if gone:
            raise ValueError(
                f"cannot revert attempt {attempt} on {'.'.join(table.name())}: its files "
                f"{gone[:3]} were rewritten since"
            )
        try:
            with (
                table.transaction() as tx,
                tx.update_snapshot(
                    snapshot_properties={"reverts-attempt": attempt}
                ).overwrite() as overwrite,
            ):
                for f in added.values():
                    overwrite.delete_data_file(f)
                for f in removed.values():
                    overwrite.append_data_file(f)
        except CommitFailedException:
            if attempt_no == max_attempts:
                raise
            continue
        logger.warning(
            "reverted attempt %s on %s: %d files removed, %d restored",
            attempt,
            ".".join(table.name()),
            len(added),
            len(removed),
        )
        return len(added) + len(removed)
    return 0


def scan_rows(
    table_metadata: TableMetadata,
    io: FileIO,
    row_filter: BooleanExpression,
) -> pa.Table:
    """Rows of the table's current snapshot matching ``row_filter`` (runs on executors)."""
    from pyiceberg.table import DataScan

    if table_metadata.current_snapshot() is None:
        from pyiceberg.io.pyarrow import schema_to_pyarrow

        return schema_to_pyarrow(table_metadata.schema()).empty_table()
    return DataScan(table_metadata=table_metadata, io=io, row_filter=row_filter).to_arrow()
