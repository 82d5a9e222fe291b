"""DataFrame <-> Arrow IPC / Parquet files, with the rules that make a round trip exact; never pickle.

Rules (documented in the README):
- A default index (``RangeIndex`` 0..n-1, step 1, unnamed) is dropped; any other index is kept.
- Column names are stored as strings in the file; the original names are restored when they are
  ``str``, ``int``, ``float``, ``bool`` or ``None``. Other names, and names that collide once turned into
  strings (``1`` and ``"1"``), are an error naming them. Duplicate names are an error.
- Object columns of strings come back as object columns (pandas 3 would otherwise make them ``str``).
- A column Arrow cannot represent (e.g. mixed ints and strings, arbitrary Python objects) is an error
  naming the column: there is no pickle fallback.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from airflow_mlpipelines.digests import fast_file_digest, file_matches, integrity_digest
from airflow_mlpipelines.exceptions import FrameError as FrameError  # re-exported: its old home

if TYPE_CHECKING:
    from collections.abc import Iterator

    import pandas as pd
    import pyarrow as pa

FORMATS = ("arrow", "arrow-lz4", "parquet")
METADATA_KEY = b"mlpipelines.frame"
_NAME_TYPES = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class FrameInfo:
    """What was written: enough to verify the file and to summarise it without reading it."""

    format: str
    rows: int
    columns: list[tuple[str, str]]
    size: int
    digest: str


def _check_names(df: pd.DataFrame) -> list[str]:
    names = list(df.columns)
    bad = [n for n in names if not isinstance(n, _NAME_TYPES)]
    if bad:
        raise FrameError(
            f"column names must be str, int, float, bool or None; got {bad[0]!r} ({type(bad[0]).__name__})"
        )
    as_str = [str(n) for n in names]
    seen: dict[str, Any] = {}
    for original, text in zip(names, as_str, strict=True):
        if text in seen:
            raise FrameError(
                f"column names {seen[text]!r} and {original!r} are the same once stored as text ({text!r}); "
                "rename one of them"
            )
        seen[text] = original
    return as_str


def _default_index(df: pd.DataFrame) -> bool:
    import pandas as pd

    index = df.index
    return isinstance(index, pd.RangeIndex) and index.name is None and index.start == 0 and index.step == 1


CHUNK_ROWS = 1 << 20
"""Rows per Parquet row group, converted to Arrow one group at a time so a frame is never held twice.

Arrow IPC files are written as one record batch instead: a memory-mapped single batch converts back to
pandas without copying columns together, which matters more there (3x faster reads) than write memory.
"""


def _frame_and_meta(df: pd.DataFrame) -> tuple[pd.DataFrame, bool, dict[str, Any]]:
    """The frame with text column names, whether its index is kept, and what :func:`from_table` needs."""
    originals = list(df.columns)
    names = _check_names(df)
    meta: dict[str, Any] = {
        "names": originals,
        "object_columns": [str(c) for c, dt in zip(originals, df.dtypes, strict=True) if dt == "object"],
        "rows": len(df),  # a frame with rows and no columns keeps its row count
    }
    frame = df.set_axis(names, axis=1, copy=False) if names != originals else df
    return frame, not _default_index(df), meta


def _with_meta(schema: pa.Schema, meta: dict[str, Any]) -> pa.Schema:
    """``schema`` carrying ``meta``, completed with the object columns Arrow stores nested."""
    import pyarrow as pa

    # Python lists, dicts and tuples in object columns become Arrow lists/structs; pandas would hand
    # them back as numpy arrays, so they are read back as Python objects (issue 16, item 3).
    object_names = set(meta["object_columns"])
    meta = {
        **meta,
        "nested_columns": [f.name for f in schema if f.name in object_names and pa.types.is_nested(f.type)],
    }
    return schema.with_metadata({**(schema.metadata or {}), METADATA_KEY: json.dumps(meta).encode()})


def _prepare(df: pd.DataFrame) -> tuple[pd.DataFrame, bool, pa.Schema]:
    """The frame with text column names, whether its index is kept, and the Arrow schema to write
    (inferred from the whole frame, for writers that convert it a chunk at a time)."""
    import pyarrow as pa

    frame, keep_index, meta = _frame_and_meta(df)
    try:
        schema = pa.Schema.from_pandas(frame, preserve_index=keep_index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise _column_error(frame, exc) from None
    return frame, keep_index, _with_meta(schema, meta)


def _batches(
    frame: pd.DataFrame, keep_index: bool, schema: pa.Schema, rows: int | None = None
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    step = rows or max(len(frame), 1)
    for start in range(0, max(len(frame), 1), step):
        chunk = frame.iloc[start : start + step]
        try:
            try:
                batches = [pa.RecordBatch.from_pandas(chunk, schema=schema, preserve_index=keep_index)]
            except TypeError:
                # Arrow-backed columns made of several chunks (strings read back from Parquet) cannot
                # become one batch directly: go through a table and join each column's chunks.
                table = pa.Table.from_pandas(chunk, schema=schema, preserve_index=keep_index)
                batches = table.combine_chunks().to_batches()
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
            raise _column_error(chunk, exc) from None
        yield from batches


def to_table(df: pd.DataFrame) -> pa.Table:
    """Convert a DataFrame to an Arrow table that carries what :func:`from_table` needs to restore it.

    One conversion: the schema comes from the converted table (inferring it first would scan every
    object column twice).
    """
    import pyarrow as pa

    frame, keep_index, meta = _frame_and_meta(df)
    try:
        table = pa.Table.from_pandas(frame, preserve_index=keep_index)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise _column_error(frame, exc) from None
    return table.replace_schema_metadata(_with_meta(table.schema, meta).metadata)


def _column_error(frame: pd.DataFrame, exc: Exception) -> FrameError:
    import pyarrow as pa

    for name in frame.columns:
        try:
            pa.array(frame[name], from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as col_exc:
            return FrameError(
                f"column {name!r} ({frame[name].dtype}) cannot be stored without pickle: {col_exc}"
            )
    return FrameError(f"the DataFrame cannot be stored without pickle: {exc}")


def from_table(table: pa.Table, *, self_destruct: bool = False) -> pd.DataFrame:
    """Restore the DataFrame :func:`to_table` stored (names, object columns, index rule).

    ``self_destruct`` frees each Arrow column once converted (the table is unusable afterwards), so a
    table read into memory (Parquet) is not held twice; never for memory-mapped tables.
    """
    raw = (table.schema.metadata or {}).get(METADATA_KEY)
    meta = json.loads(raw) if raw is not None else {}
    nested = {
        name: table.column(name).to_pylist()
        for name in meta.get("nested_columns", [])
        if name in table.column_names
    }
    # Object columns of strings: Arrow builds the object array itself, creating each distinct string
    # once, several times faster than converting pandas' ``str`` column value by value (and before
    # ``self_destruct`` frees the table).
    strings = {
        name: table.column(name).to_numpy(zero_copy_only=False)
        for name in meta.get("object_columns", [])
        if name in table.column_names and name not in nested and _is_text(table.schema.field(name).type)
    }
    # split_blocks: one block per column, so pandas does not copy every column into 2-D blocks (10x
    # faster). Columns rebuilt as objects are left out of the conversion and put back in their place.
    rebuilt = [*nested, *strings]
    rest = table.drop_columns(rebuilt) if rebuilt else table
    df = rest.to_pandas(split_blocks=True, self_destruct=self_destruct)
    if raw is None:
        return df
    if rebuilt:
        order = [str(n) for n in meta.get("names", [])] or table.column_names
        for name in sorted(rebuilt, key=order.index):
            values = (
                _object_column(nested[name], df.index)
                if name in nested
                else _object_array(strings[name], df.index)
            )
            df.insert(min(order.index(name), len(df.columns)), name, values)
    for name in meta.get("object_columns", []):
        if name not in nested and name not in strings and name in df.columns and df[name].dtype != "object":
            df[name] = df[name].astype(object).where(df[name].notna(), None)
    rows = meta.get("rows")
    if not len(df.columns) and isinstance(rows, int) and rows != len(df):
        import pandas as pd

        df = pd.DataFrame(index=pd.RangeIndex(rows))
    names = meta.get("names")
    if names is not None and len(names) == len(df.columns):
        df.columns = names
    return df


def _is_text(arrow_type: pa.DataType) -> bool:
    import pyarrow as pa

    return bool(pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type))


def _object_array(values: Any, index: Any) -> Any:
    """An object column over the numpy object array ``values`` (not copied)."""
    import pandas as pd

    return pd.Series(values, index=index, dtype=object, copy=False)


def _object_column(values: list[Any], index: Any) -> Any:
    """An object column holding exactly ``values`` (lists stay lists: no element is converted)."""
    import pandas as pd

    return pd.Series(values, index=index, dtype=object)


def write(
    df: pd.DataFrame, path: str, fmt: str = "arrow", *, digest: Literal["integrity", "content"] = "integrity"
) -> FrameInfo:
    """Write atomically (temp file + rename) in ``fmt`` and describe what was written.

    ``digest``: ``integrity`` (XXH3-128, what a stored XCom value needs to detect damage on read) or
    ``content`` (BLAKE3, where the digest identifies the frame in a reuse fingerprint).
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    if fmt not in FORMATS:
        raise FrameError(f"unknown frame format {fmt!r}; choose one of {', '.join(FORMATS)}")
    tmp = f"{path}.tmp-{uuid.uuid4().hex}"
    try:
        if fmt == "parquet":
            frame, keep_index, schema = _prepare(df)
            with pq.ParquetWriter(tmp, schema, compression="zstd") as pq_writer:
                for batch in _batches(frame, keep_index, schema, CHUNK_ROWS):
                    pq_writer.write_batch(batch)
        else:
            table = to_table(df)
            if any(column.num_chunks > 1 for column in table.columns):
                table = table.combine_chunks()  # one record batch (see CHUNK_ROWS)
            options = pa.ipc.IpcWriteOptions(compression="lz4" if fmt == "arrow-lz4" else None)
            with pa.OSFile(tmp, "wb") as sink, pa.ipc.new_file(sink, table.schema, options=options) as writer:
                writer.write_table(table)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    columns = [(str(n), str(t)) for n, t in zip(df.columns, df.dtypes, strict=True)]
    checksum = integrity_digest(path) if digest == "integrity" else fast_file_digest(path)
    return FrameInfo(fmt, len(df), columns, os.path.getsize(path), checksum)


def read(path: str, fmt: str = "arrow", expected: FrameInfo | None = None) -> pd.DataFrame:
    """Read a frame back (memory-mapped for Arrow IPC); with ``expected``, verify size and digest first."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not os.path.exists(path):
        raise FrameError(f"stored frame {path} does not exist")
    if expected is not None:
        size = os.path.getsize(path)
        if size != expected.size or not file_matches(path, expected.digest):
            raise FrameError(
                f"stored frame {path} is corrupt ({size} bytes; expected {expected.size} and its digest)"
            )
    try:
        if fmt == "parquet":
            return from_table(pq.read_table(path), self_destruct=True)
        else:
            with pa.memory_map(path, "r") as source:
                table = pa.ipc.open_file(source).read_all()
    except (pa.ArrowInvalid, OSError) as exc:
        raise FrameError(f"stored frame {path} cannot be read: {exc}") from None
    return from_table(table)


def frame_digest(df: pd.DataFrame) -> str:
    """Content digest of a DataFrame (BLAKE3 of its Arrow IPC bytes, names and index rule included).

    Used where a frame is an input of a fingerprinted step and has no file of its own.
    """
    import blake3
    import pyarrow as pa

    sink = pa.BufferOutputStream()
    table = to_table(df)
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update(memoryview(sink.getvalue()))
    return f"blake3:{hasher.hexdigest()}"
