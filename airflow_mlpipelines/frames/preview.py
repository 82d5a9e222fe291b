"""A bounded preview of a stored Parquet frame (shape, schema, first rows) for the UI; never the whole file.

Shape and schema come from the Parquet footer, so they are shown for a file of any size. Rows are read
only from files up to ``max_bytes`` and only the first ``rows`` of them (one record batch); every cell is
turned into a short text (bytes are shown as their length, never decoded or unpickled).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from airflow_mlpipelines.frames.codec import FrameError, from_table

DEFAULT_ROWS = 10
DEFAULT_MAX_BYTES = 256 * 1024 * 1024
MAX_COLUMNS = 50
MAX_CELL_CHARS = 120


@dataclass(frozen=True)
class Column:
    """One column of the preview: its (restored) name, pandas dtype and Arrow type."""

    name: str
    dtype: str
    arrow_type: str


@dataclass(frozen=True)
class FramePreview:
    """What the UI shows for one stored frame."""

    path: str
    size: int
    rows: int
    columns: int
    schema: list[Column]
    head: list[list[str]] = field(default_factory=list)
    note: str | None = None
    """Why rows or columns are left out (file over the size cap, too many columns), if they are."""


def _cell(value: Any) -> str:
    if isinstance(value, bytes | bytearray | memoryview):
        return f"<{len(value)} bytes>"
    try:
        import pandas as pd

        if value is None or (not isinstance(value, list | tuple | dict) and pd.isna(value)):
            return "<NA>"
    except (TypeError, ValueError):  # array-like cells: pd.isna answers element-wise
        pass
    text = str(value)
    return text if len(text) <= MAX_CELL_CHARS else text[: MAX_CELL_CHARS - 1] + "…"


def preview_parquet(
    path: str, *, rows: int = DEFAULT_ROWS, max_bytes: int = DEFAULT_MAX_BYTES, fs: Any = None
) -> FramePreview:
    """Preview a Parquet file written by :mod:`frames.codec` or by any other writer (``df.to_parquet``).

    ``fs`` is the fsspec filesystem of ``path`` for files on object storage (only the footer and the
    first row group are read); None means the local disk. Column names are restored as the codec stored
    them; a file without the codec's metadata shows its Parquet names. A file that is not Parquet raises
    :class:`FrameError` naming it.
    """
    import contextlib

    with contextlib.ExitStack() as stack:
        size = os.path.getsize(path) if fs is None else int(fs.size(path))
        source = path if fs is None else stack.enter_context(fs.open(path, "rb"))
        return _preview(path, source, size, rows, max_bytes)


def _preview(path: str, source: Any, size: int, rows: int, max_bytes: int) -> FramePreview:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        parquet = pq.ParquetFile(source)
        schema = parquet.schema_arrow
        total_rows = parquet.metadata.num_rows
        empty = schema.empty_table()
        shown_fields = [f for f in schema if not f.name.startswith("__index_level_")]
        notes = []
        if size > max_bytes:
            notes.append(
                f"rows not shown: the file ({size} bytes) is larger than the preview cap ({max_bytes})"
            )
            head_table = empty
        else:
            batch = next(parquet.iter_batches(batch_size=max(rows, 1)), None)
            head_table = empty if batch is None else pa.Table.from_batches([batch], schema=schema)
    except (pa.ArrowInvalid, OSError) as exc:
        raise FrameError(f"{path} cannot be previewed as Parquet: {exc}") from None
    frame = from_table(head_table.slice(0, rows))
    names = [str(c) for c in frame.columns]
    if len(names) > MAX_COLUMNS:
        notes.append(f"only the first {MAX_COLUMNS} of {len(names)} columns are shown")
    arrow_types = {f.name: str(f.type) for f in shown_fields}
    schema_rows = [
        Column(name, str(dtype), arrow_types.get(stored, arrow_types.get(name, "")))
        for name, stored, dtype in zip(names, _stored_names(head_table, names), frame.dtypes, strict=True)
    ]
    head = [[_cell(v) for v in record[:MAX_COLUMNS]] for record in frame.itertuples(index=False, name=None)]
    return FramePreview(
        path=path,
        size=size,
        rows=int(total_rows),
        columns=len(names),
        schema=schema_rows[:MAX_COLUMNS],
        head=head if size <= max_bytes else [],
        note="; ".join(notes) or None,
    )


def _stored_names(table: Any, names: list[str]) -> list[str]:
    """The Parquet field names in column order (the codec stores names as text), for the Arrow types."""
    stored = [n for n in table.schema.names if not n.startswith("__index_level_")]
    return stored if len(stored) == len(names) else names
