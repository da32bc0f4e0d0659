"""The Athena DDL and queries in db/ against era5_contours.tables.schema, parsed with sqlglot."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pytest

from era5_contours.tables.schema import CONTOUR_FEATURES, DAILY_SUMMARY, TABLES, TableDef
from era5_tools import localquery

sqlglot = pytest.importorskip("sqlglot", reason="sqlglot not installed")
exp = sqlglot.exp

DB = Path(__file__).resolve().parent.parent / "db"
QUERY_FILES = sorted((DB / "queries").glob("*.sql"))
DDL = {
    CONTOUR_FEATURES.name: DB / "create_contour_features.sql",
    DAILY_SUMMARY.name: DB / "create_daily_summary.sql",
}


def athena_type(arrow_type: pa.DataType) -> str:
    """The Athena Iceberg DDL type (Hive syntax) for an Arrow column type."""
    if pa.types.is_list(arrow_type):
        return f"array<{athena_type(arrow_type.value_type)}>"
    if pa.types.is_timestamp(arrow_type):
        # Athena DDL can only declare Iceberg timestamp (without time zone); see
        # test_timestamps_can_be_created_by_athena for tz-aware columns.
        return "timestamp"
    names = {
        pa.date32(): "date",
        pa.string(): "string",
        pa.float64(): "double",
        pa.float32(): "float",
        pa.int32(): "int",
        pa.int64(): "bigint",
        pa.bool_(): "boolean",
    }
    return names[arrow_type]


def parse_ddl(path: Path) -> exp.Create:
    statements = [s for s in sqlglot.parse(path.read_text(), read="athena") if s is not None]
    assert len(statements) == 1, f"{path.name}: one statement expected"
    create = statements[0]
    assert isinstance(create, exp.Create), path.name
    return create


def partition_terms(create: exp.Create) -> list[tuple[str, str]]:
    """(source column, transform) of the PARTITIONED BY clause."""
    prop = create.find(exp.PartitionedByProperty)
    assert prop is not None, "no PARTITIONED BY"
    terms = []
    for term in prop.this.expressions:
        if isinstance(term, (exp.Identifier, exp.Column)):
            terms.append((term.name, "identity"))
        else:
            column = term.find(exp.Column) or term.find(exp.Identifier)
            name = term.sql_name() if not isinstance(term, exp.Anonymous) else term.name
            terms.append((column.name, name.lower()))
    return terms


def table_properties(create: exp.Create) -> dict[str, str]:
    return {
        p.this.name: p.args["value"].name
        for p in create.find_all(exp.Property)
        if type(p) is exp.Property
    }


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_ddl_columns_match_the_schema(table: TableDef):
    create = parse_ddl(DDL[table.name])
    got = [(c.name, c.kind.sql("hive").lower()) for c in create.this.expressions]
    expected = [(c.name, athena_type(c.type)) for c in table.columns]
    assert got == expected


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_ddl_partitioning_matches_the_schema(table: TableDef):
    # Athena lists partition terms in any order; Iceberg keeps the order given.
    assert sorted(partition_terms(parse_ddl(DDL[table.name]))) == sorted(table.partitioning)


@pytest.mark.parametrize("table", list(TABLES.values()), ids=list(TABLES))
def test_ddl_names_table_location_and_iceberg_properties(table: TableDef):
    create = parse_ddl(DDL[table.name])
    assert create.args.get("exists"), "CREATE TABLE IF NOT EXISTS"
    assert (create.this.this.db, create.this.this.name) == ("climate", table.name)
    location = create.find(exp.LocationProperty).this.name
    assert location == f"s3://${{BUCKET}}/warehouse/climate.db/{table.name}"
    properties = table_properties(create)
    assert properties["table_type"] == "ICEBERG"
    assert properties["format"] == "parquet"
    assert properties["write_compression"] == "zstd"


def test_create_database_parses():
    statements = sqlglot.parse((DB / "create_database.sql").read_text(), read="athena")
    create = statements[0]
    assert isinstance(create, exp.Create) and create.kind == "DATABASE"
    assert create.this.name == "climate"


def test_every_ddl_placeholder_is_documented():
    readme = (DB / "README.md").read_text()
    for path in DB.glob("*.sql"):
        for name in re.findall(r"\$\{(\w+)\}", path.read_text()):
            assert f"${{{name}}}" in readme, f"{path.name}: ${{{name}}} not in db/README.md"


def test_timestamps_can_be_created_by_athena():
    tz_aware = [
        f"{t.name}.{c.name}"
        for t in TABLES.values()
        for c in t.columns
        if pa.types.is_timestamp(c.type) and c.type.tz
    ]
    assert tz_aware == []


# --------------------------------------------------------------------------- queries


VIEW = DB / "create_view_contour_features_agreed.sql"


def test_the_agreed_view_parses_and_joins_on_the_run():
    statements = [s for s in sqlglot.parse(VIEW.read_text(), read="athena") if s is not None]
    (create,) = statements
    assert isinstance(create, exp.Create) and create.kind == "VIEW"
    assert create.this.sql() == "climate.contour_features_agreed"
    tables = {t.name for t in create.expression.find_all(exp.Table)}
    assert tables == {CONTOUR_FEATURES.name, DAILY_SUMMARY.name}
    join = create.find(exp.Join)
    on = {c.name for c in join.args["on"].find_all(exp.Column)}
    assert on == {"day", "variable", "run_id"}


def test_there_are_queries():
    assert len(QUERY_FILES) >= 5


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.name)
def test_query_parses_as_athena(path: Path):
    statements = [s for s in sqlglot.parse(path.read_text(), read="athena") if s is not None]
    assert len(statements) == 1
    assert isinstance(statements[0], exp.Query)


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.name)
def test_query_declares_portability_and_its_parameters(path: Path):
    text = path.read_text()
    assert re.match(r"-- portable: (duckdb|no\b)", text), "first line: -- portable: duckdb|no"
    statement = sqlglot.parse_one(text, read="athena")
    used = {p.name for p in statement.find_all(exp.Placeholder)}
    query_file = localquery.read_query_file(path)
    assert set(query_file.params) == used
    # The parameter scanner of localquery agrees with sqlglot's parser.
    assert set(localquery.placeholders(text)) == used


@pytest.mark.parametrize("path", QUERY_FILES, ids=lambda p: p.name)
def test_query_reads_only_known_tables_and_columns(path: Path):
    statement = sqlglot.parse_one(path.read_text(), read="athena")
    named = {cte.alias for cte in statement.find_all(exp.CTE)}  # WITH box AS (...)
    tables = {t.name.split("$")[0] for t in statement.find_all(exp.Table)} - named
    assert tables and tables <= set(TABLES)
    known = {c for t in tables for c in TABLES[t].column_names}
    aliases = {a.alias for a in statement.find_all(exp.Alias)}
    if any("$" in t.name for t in statement.find_all(exp.Table)):
        return  # Iceberg metadata tables have their own columns
    unknown = {c.name for c in statement.find_all(exp.Column)} - known - aliases
    assert not unknown
