r"""The local stand-in for Athena: DuckDB over the Iceberg tables of a catalog.

DuckDB loads its iceberg, avro and spatial extensions from the files shipped in the pip
packages ``duckdb-extension-iceberg``, ``-avro`` and ``-spatial`` (never from the network),
and each table of :data:`~era5_contours.tables.schema.TABLES` becomes a view
``{database}.{table}`` over ``iceberg_scan`` of the table's current metadata file: a
snapshot of the table as it was when :func:`connect_local` ran.

Query files (db/queries/*.sql) start with comment lines that this module reads:

* ``-- portable: duckdb`` on the first line: the query runs here as well as in Athena;
* ``-- params: day, lon, lat``: named parameters, written ``:day`` in the SQL. DuckDB gets
  them as bound ``$day`` parameters (values are never pasted into the SQL); in Athena,
  replace each ``:name`` by a literal (see db/README.md).

Athena's ``ST_GeometryFromText`` is provided as a macro over DuckDB's ``ST_GeomFromText``.

Command line::

    python -m era5_tools.localquery --warehouse_path ./warehouse \
        --query db/queries/bands_at_point.sql --param day=2024-01-15 --param lon=2.35 ...
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from era5_contours.tables.schema import DATABASE, TABLES

if TYPE_CHECKING:
    import duckdb
    from pyiceberg.catalog import Catalog

from era5_common.logs import configure_logging

logger = logging.getLogger(__name__)

# avro first: iceberg reads its manifests with it and would otherwise try to download it.
EXTENSIONS = ("avro", "iceberg", "spatial")
# Athena (Trino) name -> DuckDB spatial expression, so the same SQL runs on both.
_COMPAT_MACROS = {"ST_GeometryFromText": "(wkt) AS ST_GeomFromText(CAST(wkt AS VARCHAR))"}
_PORTABLE = re.compile(r"^--\s*portable:\s*duckdb\b", re.IGNORECASE)
_PARAMS = re.compile(r"^--\s*params:(.*)$", re.IGNORECASE)
# Single-quoted strings, double-quoted identifiers and comments are copied as they are;
# a ':name' outside them (and not part of a '::' cast) is a parameter.
_SQL_PARTS = re.compile(
    r"(?P<skip>'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/)"
    r"|(?<![:\w]):(?P<name>[A-Za-z_]\w*)",
    re.DOTALL,
)


# --------------------------------------------------------------------------- DuckDB


def extension_path(name: str) -> Path:
    """File of a DuckDB extension inside its pip package ``duckdb-extension-{name}``."""
    import duckdb

    package_name = f"duckdb_extension_{name}"
    try:
        package = importlib.import_module(package_name)
    except ImportError as e:
        raise ImportError(
            f"DuckDB extension {name!r} missing: pip install duckdb-extension-{name}"
        ) from e
    files = sorted(
        p
        for folder in package.__path__
        for p in Path(folder).glob(f"extensions/*/{name}.duckdb_extension")
    )
    exact = [p for p in files if p.parent.name == f"v{duckdb.__version__}"]
    if exact:
        return exact[0]
    if len(files) == 1:
        return files[0]
    raise ImportError(
        f"no {name}.duckdb_extension for DuckDB {duckdb.__version__} in {package.__path__}: "
        f"found {[str(p) for p in files]}; install matching duckdb and {package_name} versions"
    )


def connect(extensions: Sequence[str] = EXTENSIONS) -> duckdb.DuckDBPyConnection:
    """In-memory DuckDB with the packaged extensions loaded and auto-install off."""
    import duckdb

    conn = duckdb.connect(
        config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    )
    for name in extensions:
        conn.execute(f"LOAD '{_sql_string(str(extension_path(name)))}'")
    if "spatial" in extensions:
        existing = {
            row[0].lower()
            for row in conn.execute("SELECT function_name FROM duckdb_functions()").fetchall()
        }
        for macro, body in _COMPAT_MACROS.items():
            if macro.lower() not in existing:
                conn.execute(f"CREATE MACRO {macro}{body}")
    return conn


def _sql_string(text: str) -> str:
    return text.replace("'", "''")


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def connect_local(catalog: Catalog, database: str) -> duckdb.DuckDBPyConnection:
    """DuckDB with views ``{database}.contour_features`` and ``{database}.daily_summary``.

    The schema ``{database}`` is on the search path, so plain ``contour_features`` works too.
    Tables absent from the catalog get no view. The catalog's files must be readable by
    DuckDB without credentials (a local warehouse).
    """
    conn = connect()
    create_views(conn, catalog, database)
    return conn


def create_views(conn: duckdb.DuckDBPyConnection, catalog: Catalog, database: str) -> None:
    """(Re)create the views of :func:`connect_local` on the tables' current snapshots.

    Call it again after a commit to see the new rows in an open connection.
    """
    from pyiceberg.exceptions import NoSuchTableError

    schema = _identifier(database)
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    for name in TABLES:
        view = f"{schema}.{_identifier(name)}"
        try:
            table = catalog.load_table(f"{database}.{name}")
        except NoSuchTableError:
            logger.info("no table %s.%s: no view", database, name)
            conn.execute(f"DROP VIEW IF EXISTS {view}")
            continue
        conn.execute(
            f"CREATE OR REPLACE VIEW {view} AS "
            f"SELECT * FROM iceberg_scan('{_sql_string(table.metadata_location)}')"
        )
    conn.execute(f"SET search_path = '{_sql_string(database)},main'")


# --------------------------------------------------------------------------- query files


@dataclass(frozen=True)
class QueryFile:
    """A query of db/queries: its SQL, whether DuckDB runs it, its named parameters."""

    path: Path
    sql: str
    portable: bool
    params: tuple[str, ...]


def read_query_file(path: str | Path) -> QueryFile:
    """Read a query file and its ``-- portable:`` and ``-- params:`` header lines."""
    path = Path(path)
    sql = path.read_text(encoding="utf-8")
    lines = sql.splitlines()
    portable = bool(lines) and bool(_PORTABLE.match(lines[0].strip()))
    params: list[str] = []
    for line in lines:
        stripped = line.strip()
        if not stripped.startswith("--"):
            break
        match = _PARAMS.match(stripped)
        if match:
            params += [p for p in re.split(r"[\s,]+", match.group(1)) if p]
    return QueryFile(path=path, sql=sql, portable=portable, params=tuple(params))


def placeholders(sql: str) -> list[str]:
    """Names of the ``:name`` parameters in ``sql``, in order of first use."""
    names: list[str] = []
    for match in _SQL_PARTS.finditer(sql):
        name = match.group("name")
        if name and name not in names:
            names.append(name)
    return names


def to_duckdb_sql(sql: str) -> str:
    """``:name`` parameters to DuckDB's ``$name``."""
    return _SQL_PARTS.sub(
        lambda m: m.group("skip") if m.group("skip") is not None else f"${m.group('name')}", sql
    )


def run_sql(
    conn: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> pa.Table:
    """Run SQL with ``:name`` parameters; every parameter used must be given, and only those."""
    params = dict(params or {})
    used = placeholders(sql)
    missing = [p for p in used if p not in params]
    unused = [p for p in params if p not in used]
    if missing or unused:
        raise ValueError(f"parameters missing: {missing}; given but not used: {unused}")
    result = conn.execute(to_duckdb_sql(sql), params or None)
    fetch = getattr(result, "to_arrow_table", None) or result.fetch_arrow_table
    return fetch()


def run_query_file(
    conn: duckdb.DuckDBPyConnection, path: str | Path, params: Mapping[str, Any] | None = None
) -> pa.Table:
    """Run a query file marked ``-- portable: duckdb`` with its named parameters."""
    query = read_query_file(path)
    if not query.portable:
        raise ValueError(f"{path} is not marked '-- portable: duckdb' (Athena only)")
    return run_sql(conn, query.sql, params)


# --------------------------------------------------------------------------- command line


def format_table(table: pa.Table, max_rows: int = 50) -> str:
    """A plain-text grid of the first ``max_rows`` rows."""
    rows = table.slice(0, max_rows).to_pylist()
    header = table.column_names
    cells = [["" if r[c] is None else str(r[c]) for c in header] for r in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(header)]
    lines = [
        " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
        "-+-".join("-" * w for w in widths),
    ]
    lines += [
        " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    more = table.num_rows - len(rows)
    lines.append(f"({table.num_rows} rows{f', {more} not shown' if more > 0 else ''})")
    return "\n".join(lines)


def _parse_param(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def main(argv: Sequence[str] | None = None) -> int:
    """Run a query on a local warehouse and print the result."""
    parser = argparse.ArgumentParser(
        prog="python -m era5_tools.localquery",
        description="Query the Iceberg tables of a local (sql) catalog with DuckDB.",
    )
    parser.add_argument("--warehouse_path", required=True, help="folder of the sql catalog")
    parser.add_argument("--database", default=DATABASE)
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--query", help="a db/queries/*.sql file marked portable")
    source.add_argument("--sql", help="SQL text (may use :name parameters)")
    parser.add_argument(
        "--param",
        action="append",
        type=_parse_param,
        default=[],
        metavar="NAME=VALUE",
        help="a named parameter (repeatable); values are strings, the SQL casts them",
    )
    parser.add_argument("--max_rows", type=int, default=50)
    parser.add_argument("--log_level", default=os.environ.get("LOG_LEVEL", "INFO"))
    args = parser.parse_args(argv)
    configure_logging(args.log_level, stream=sys.stderr)

    from era5_contours.tables.catalog import load_catalog

    # load_catalog would create an empty catalog where a mistyped path points.
    if not (Path(args.warehouse_path) / "catalog.db").is_file():
        parser.error(f"no catalog.db in {args.warehouse_path}")
    catalog = load_catalog("sql", args.warehouse_path)
    conn = connect_local(catalog, args.database)
    params = dict(args.param)
    try:
        if args.query:
            result = run_query_file(conn, args.query, params)
        else:
            result = run_sql(conn, args.sql, params)
    except Exception as e:  # noqa: BLE001 - the message is the useful part on a command line
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(format_table(result, args.max_rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
