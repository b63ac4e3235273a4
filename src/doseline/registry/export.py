"""Export registry tables to CSV or Parquet, one file per table, streamed in chunks."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import JSON, Column, DateTime, Float, Integer, Select, Table, Text, cast, select

from doseline.registry.base import Base
from doseline.registry.database import Registry

__all__ = ["EXPORT_FORMATS", "export_registry"]

EXPORT_FORMATS = ("csv", "parquet")
_CHUNK_ROWS = 50_000
# Internal bookkeeping tables that are not data.
_SKIPPED = frozenset({"deployment", "alembic_version"})


def _tables(names: list[str] | None) -> list[Table]:
    import doseline.registry.schema  # noqa: F401  (registers every table)

    tables = [t for t in Base.metadata.sorted_tables if t.name not in _SKIPPED]
    if names:
        unknown = set(names) - {t.name for t in tables}
        if unknown:
            raise ValueError(f"unknown table(s): {', '.join(sorted(unknown))}")
        tables = [t for t in tables if t.name in names]
    return tables


def _arrow_type(column: Column[object]) -> pa.DataType:
    sql_type = column.type
    if isinstance(sql_type, Integer):
        return pa.int64()
    if isinstance(sql_type, Float):
        return pa.float64()
    if isinstance(sql_type, DateTime):
        return pa.timestamp("us")
    return pa.string()  # String, Text, and JSON (exported as JSON text)


def _selected(table: Table) -> Select[tuple[object, ...]]:
    """All columns, JSON ones cast to text by the database."""
    columns = [
        cast(c, Text).label(c.name) if isinstance(c.type, JSON) else c for c in table.columns
    ]
    return select(*columns).order_by(*table.primary_key.columns)


def export_registry(
    registry: Registry, directory: Path, *, fmt: str = "csv", tables: list[str] | None = None
) -> dict[str, Path]:
    """Write each table to ``directory/<table>.<fmt>``; returns the files by table name.

    JSON columns (filters, CT sources) are written as JSON text. Parquet files carry the
    column types of the schema; CSV files have a header row.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {EXPORT_FORMATS}, not {fmt!r}")
    directory.mkdir(parents=True, exist_ok=True)
    written: dict[str, Path] = {}
    with registry.engine.connect() as connection:
        for table in _tables(tables):
            path = directory / f"{table.name}.{fmt}"
            schema = pa.schema([(c.name, _arrow_type(c)) for c in table.columns])
            chunks = pd.read_sql_query(_selected(table), connection, chunksize=_CHUNK_ROWS)
            first = True
            if fmt == "csv":
                for chunk in chunks:
                    chunk.to_csv(path, mode="w" if first else "a", header=first, index=False)
                    first = False
                if first:  # an empty table still gets its header
                    pd.DataFrame(columns=schema.names).to_csv(path, index=False)
            else:
                with pq.ParquetWriter(path, schema) as writer:
                    for chunk in chunks:
                        writer.write_table(
                            pa.Table.from_pandas(chunk, schema=schema, preserve_index=False)
                        )
            written[table.name] = path
    return written
