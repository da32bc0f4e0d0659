"""Iceberg tables through pyiceberg: catalogs, table creation, Parquet files, commits.

The write path of the job has two halves:

* executors: :func:`write_parquet_file` writes one Parquet file per (day, variable) with
  the plain Arrow schema of the :class:`~era5_contours.schema.TableDef` (no Iceberg field
  ids), straight into the table's data folder at :func:`data_file_uri`, and returns its URI;
* driver: :func:`commit_replace` deletes the rows of the (day, variable) pairs and adds the
  new files in one Iceberg transaction, so a rerun of a day replaces its rows and readers see
  either the old table or the new one.

File names carry the run id and a random part: a file that a table snapshot references is
never overwritten, and the files of a failed run are orphans that no snapshot references
(remove them with the table maintenance of your engine, e.g. Athena ``VACUUM``).
"""

from __future__ import annotations

import logging
import os
import re
import uuid
import warnings
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
from pyiceberg.exceptions import CommitFailedException, NoSuchTableError, TableAlreadyExistsError
from pyiceberg.expressions import And, BooleanExpression, EqualTo, In, Or
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
    from pyiceberg.io import FileIO
    from pyiceberg.table import Table

logger = logging.getLogger(__name__)

CATALOG_TYPES = ("sql", "glue")
FORMAT_VERSION = 2
TABLE_PROPERTIES = {
    "format-version": str(FORMAT_VERSION),
    "write.parquet.compression-codec": "zstd",
}
PARQUET_COMPRESSION = "zstd"

_TRANSFORMS: dict[str, type[Transform[Any, Any]]] = {
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
        return SqlCatalog(
            name, uri=f"sqlite:///{folder / 'catalog.db'}", warehouse=f"file://{folder}"
        )
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
    catalog.create_namespace_if_not_exists(database)
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
        except TableAlreadyExistsError:
            # Another process created it between our load and create: check theirs.
            existing = catalog.load_table(identifier)
        else:
            logger.info("created table %s at %s", identifier, created.location())
            return created

    problems = schema_mismatches(table, existing.schema())
    problems += [
        # add_files infers partition values from min/max statistics: order-preserving only.
        f"partition field {field.name}: add_files cannot infer a {field.transform} partition"
        for field in existing.spec().fields
        if not field.transform.preserves_order
    ]
    if problems:
        raise IncompatibleTableError(
            f"table {identifier} at {existing.location()} does not fit the "
            f"{table.name} schema:\n  - " + "\n  - ".join(problems)
        )
    spec = _spec_description(existing.spec(), existing.schema())
    if spec != list(table.partitioning):
        logger.warning(
            "table %s is partitioned by %s, not %s: accepted, but each Parquet file must "
            "then hold one value per partition field",
            identifier,
            spec,
            list(table.partitioning),
        )
    return existing


# --------------------------------------------------------------------------- executors


def _strip_scheme(path_or_uri: str) -> str:
    if path_or_uri.startswith("file://"):
        return path_or_uri[len("file://") :]
    if "://" in path_or_uri:
        return path_or_uri.split("://", 1)[1]
    return path_or_uri


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def data_file_uri(
    table_location: str,
    table: TableDef,
    day: date,
    variable: str,
    run_id: str,
    *,
    unique: bool = True,
) -> str:
    """Where an executor writes the file of one (day, variable).

    ``{table_location}/data/{partition folders}/{day}_{variable}_{run_id}[_{random}].parquet``,
    with Iceberg-style partition folders (``variable=t2m/day_month=2024-01``). The folders
    are for people browsing the bucket; Iceberg takes partitions from the metadata. With
    ``unique=False`` the name is the same for the same arguments, so a retried task
    overwrites its own earlier attempt instead of leaving an orphan: ``run_id`` must then
    be unique per run.
    """
    values: dict[str, Any] = {"day": day, "variable": variable}
    folders = []
    for column, transform in table.partitioning:
        if column not in values:
            raise ValueError(f"{table.name}: cannot name files for partition column {column!r}")
        if transform not in _TRANSFORMS:
            raise ValueError(f"{table.name}: unknown transform {transform!r}")
        text = _partition_text(values[column], transform)
        folders.append(f"{_partition_field_name(column, transform)}={_UNSAFE.sub('_', text)}")
    parts = [day.isoformat(), _UNSAFE.sub("_", variable), _UNSAFE.sub("_", run_id)]
    if unique:
        parts.append(uuid.uuid4().hex[:12])
    return "/".join([table_location.rstrip("/"), "data", *folders, "_".join(parts) + ".parquet"])


def _partition_text(value: Any, transform: str) -> str:
    if transform == "identity":
        return value.isoformat() if isinstance(value, date) else str(value)
    if transform == "month":
        return f"{value:%Y-%m}"
    if transform == "year":
        return f"{value:%Y}"
    if transform == "day":
        return value.isoformat()
    raise ValueError(f"unknown transform {transform!r}")


def _spec_columns(table: Table) -> list[tuple[str, str]]:
    """The table's partition fields as (source column, transform name)."""
    schema = table.schema()
    out = []
    for f in table.spec().fields:
        name = str(f.transform).split("[", 1)[0]
        if name not in _TRANSFORMS:
            raise ValueError(f"cannot write files for partition transform {f.transform}")
        out.append((schema.find_column_name(f.source_id) or "?", name))
    return out


def group_by_partition(
    table: Table, records: Sequence[Mapping[str, Any]]
) -> dict[str, list[Mapping[str, Any]]]:
    """Rows grouped by the table's partition (its actual spec).

    Keyed by a file-name-safe text; each group fits in one data file that ``add_files``
    can place.
    """
    spec = _spec_columns(table)
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in records:
        key = "_".join(_UNSAFE.sub("_", _partition_text(row[c], t)) for c, t in spec) or "all"
        groups.setdefault(key, []).append(row)
    return groups


def partition_file_uri(table_location: str, table: Table, row: Mapping[str, Any], name: str) -> str:
    """``{location}/data/{partition folders}/{name}.parquet`` for the partition of ``row``."""
    folders = [
        f"{_partition_field_name(c, t)}={_UNSAFE.sub('_', _partition_text(row[c], t))}"
        for c, t in _spec_columns(table)
    ]
    return "/".join(
        [table_location.rstrip("/"), "data", *folders, f"{_UNSAFE.sub('_', name)}.parquet"]
    )


def conform_table(arrow_table: pa.Table, table: TableDef) -> pa.Table:
    """Rows in the column order and types of ``table``; refuse nulls in required columns."""
    schema = table.arrow_schema
    missing = [n for n in schema.names if n not in arrow_table.column_names]
    extra = [n for n in arrow_table.column_names if n not in schema.names]
    if missing or extra:
        raise ValueError(f"{table.name}: missing columns {missing}, unexpected columns {extra}")
    for field in schema:
        if not field.nullable and arrow_table.column(field.name).null_count:
            raise ValueError(f"{table.name}.{field.name} is required but holds nulls")
    columns = [arrow_table.column(n).cast(schema.field(n).type) for n in schema.names]
    return pa.Table.from_arrays(columns, schema=schema)


def _resolve(
    path_or_uri: str, filesystem: pafs.FileSystem | None
) -> tuple[pafs.FileSystem, str, str]:
    """(filesystem, path in it, URI to hand to the catalog)."""
    has_scheme = "://" in path_or_uri
    if filesystem is None:
        if has_scheme:
            filesystem, path = pafs.FileSystem.from_uri(path_or_uri)
        else:
            filesystem, path = pafs.LocalFileSystem(), os.path.abspath(path_or_uri)
    else:
        path = _strip_scheme(path_or_uri)
    if isinstance(filesystem, pafs.LocalFileSystem):
        path = os.path.abspath(path)
        # Plain file://{path}, like pyiceberg's own locations (no percent-encoding).
        return filesystem, path, f"file://{path}"
    if not has_scheme:
        raise ValueError(f"give a URI with its scheme for {filesystem.type_name}: {path_or_uri!r}")
    return filesystem, path, path_or_uri


def write_parquet_file(
    path_or_uri: str,
    arrow_table: pa.Table,
    table: TableDef,
    filesystem: pafs.FileSystem | None = None,
) -> str:
    """Write rows of ``table`` to one Parquet file and return its URI for :func:`commit_replace`.

    The file has the plain Arrow schema of the TableDef (no field ids), zstd compression and
    column statistics (the catalog takes partition values from them). On local disk it is
    written under a temporary name and renamed; on S3 the object appears whole when its
    upload completes.

    Parameters
    ----------
    path_or_uri
        Local path, ``file://`` or ``s3://`` URI, normally from :func:`data_file_uri`.
    arrow_table
        Rows with the columns of ``table`` (any order; cast to its types). Must not be empty:
        a (day, variable) without rows only goes into ``replace`` of :func:`commit_replace`.
    filesystem
        pyarrow filesystem to use instead of the one the URI implies (e.g. an S3 endpoint).
    """
    data = conform_table(arrow_table, table)
    if data.num_rows == 0:
        raise ValueError(
            f"{table.name}: no rows to write to {path_or_uri}; an empty (day, variable) is "
            "only listed in replace"
        )
    fs, path, uri = _resolve(path_or_uri, filesystem)
    if not isinstance(fs, pafs.LocalFileSystem):
        pq.write_table(data, path, filesystem=fs, compression=PARQUET_COMPRESSION)
        return uri
    folder, name = os.path.split(path)
    fs.create_dir(folder, recursive=True)
    tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex}.tmp")
    try:
        pq.write_table(data, tmp, filesystem=fs, compression=PARQUET_COMPRESSION)
        fs.move(tmp, path)
    except BaseException:
        if fs.get_file_info(tmp).type != pafs.FileType.NotFound:
            fs.delete_file(tmp)
        raise
    return uri


# --------------------------------------------------------------------------- driver


def _replace_keys(replace: Iterable[tuple[date, str]]) -> dict[str, set[date]]:
    keys: dict[str, set[date]] = {}
    for day, variable in replace:
        if isinstance(day, datetime) or not isinstance(day, date):
            raise TypeError(f"replace holds (day, variable) pairs, got day {day!r}")
        keys.setdefault(variable, set()).add(day)
    return keys


def replace_filter(replace: Iterable[tuple[date, str]]) -> BooleanExpression:
    """Row filter ``OR over variables of (variable = v AND day IN (...))``.

    Grouped by variable so the expression stays shallow however many days a run covers.
    """
    keys = _replace_keys(replace)
    if not keys:
        raise ValueError("empty replace: nothing to filter")
    parts = [
        And(EqualTo("variable", v), In("day", sorted(d.isoformat() for d in days)))
        for v, days in sorted(keys.items())
    ]
    return parts[0] if len(parts) == 1 else Or(*parts)


def _column_bounds(metadata: pq.FileMetaData, column: str, uri: str) -> tuple[Any, Any]:
    """Min and max of a top-level column over all row groups, from the footer statistics."""
    lows, highs = [], []
    for rg in range(metadata.num_row_groups):
        group = metadata.row_group(rg)
        for c in range(group.num_columns):
            chunk = group.column(c)
            if chunk.path_in_schema != column:
                continue
            stats = chunk.statistics
            if stats is None or not stats.has_min_max:
                raise ValueError(f"{uri}: no statistics for column {column!r}")
            lows.append(stats.min)
            highs.append(stats.max)
    if not lows:
        raise ValueError(f"{uri}: no column {column!r}")
    return min(lows), max(highs)


def check_files_within(
    io: FileIO, files: Sequence[str], replace: Iterable[tuple[date, str]]
) -> None:
    """Refuse files holding rows outside the replaced (day, variable) pairs.

    Such rows would escape the delete of a later rerun and duplicate. Reads footers only.
    Raises FileNotFoundError for a missing file, ValueError for a file out of bounds.
    """
    keys = _replace_keys(replace)
    for uri in files:
        with io.new_input(uri).open() as stream:
            metadata = pq.read_metadata(stream)
        if metadata.num_rows == 0:
            raise ValueError(f"{uri}: empty file (list an empty (day, variable) in replace only)")
        var_low, var_high = _column_bounds(metadata, "variable", uri)
        day_low, day_high = _column_bounds(metadata, "day", uri)
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
    files: list[str],
    replace: list[tuple[date, str]],
    *,
    snapshot_properties: Mapping[str, str] | None = None,
    max_attempts: int = 3,
) -> None:
    """Replace the rows of the (day, variable) pairs in ``replace`` by the rows of ``files``.

    One pyiceberg transaction: delete by row filter, then ``add_files``; readers see the
    table before or after, never between. Files whose rows all belong to one deleted
    (day, variable) are dropped from the metadata without being read; a file holding other
    rows too (e.g. after a compaction by another engine) is rewritten by pyiceberg, one file
    at a time, which needs ``pyiceberg-core`` for a partitioned table.

    Parameters
    ----------
    table
        The Iceberg table (updated in place on success).
    files
        URIs from :func:`write_parquet_file`; each file's rows must lie within ``replace``.
    replace
        (day, variable) pairs whose rows are deleted; a pair without file ends up empty.
    snapshot_properties
        Extra snapshot summary entries (e.g. ``{"run-id": ...}``).
    max_attempts
        Tries when another writer committed first: the transaction is redone on the
        refreshed table (a failed try leaves the table as it was).

    Raises
    ------
    FileNotFoundError, ValueError
        Before anything is committed: the table stays as it was.
    """
    if not files and not replace:
        return
    if len(set(files)) != len(files):
        raise ValueError("files holds duplicates")
    check_files_within(table.io, files, replace)
    row_filter = replace_filter(replace) if replace else None
    properties = dict(snapshot_properties or {})
    for attempt in range(1, max_attempts + 1):
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=_NO_MATCH_WARNING)
                with table.transaction() as tx:
                    if row_filter is not None:
                        tx.delete(row_filter, snapshot_properties=properties)
                    if files:
                        tx.add_files(files, snapshot_properties=properties)
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
                len(files),
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
            row_filter=And(replace_filter(pairs), EqualTo("status", status)),
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


def restore(table: Table, snapshot_id: int | None, replace: list[tuple[date, str]]) -> None:
    """Undo this run's commit on ``table``: back to ``snapshot_id``, its state before.

    Used when a later commit of the same run fails, so the tables never disagree. A table
    that had no snapshot gets the replaced rows deleted instead (it held none before).
    """
    table.refresh()
    if snapshot_id is not None:
        with table.manage_snapshots() as ms:
            ms.rollback_to_snapshot(snapshot_id)
    elif replace:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=_NO_MATCH_WARNING)
            table.delete(replace_filter(replace))
    logger.warning("restored %s to its state before this run", ".".join(table.name()))
