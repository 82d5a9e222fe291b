"""Tables as streams of Arrow record batches, between databases and files (data transfer steps).

Nothing here holds a whole table: a query's result is written batch by batch (Parquet row groups or
CSV chunks), a file is read batch by batch, a DB-API cursor is fetched ``batch_rows`` at a time. So a
transfer's memory stays bounded by one batch whatever the table's size. Types are kept as Arrow has
them (timestamps with their time zone, binary, decimals, lists, JSON as text); PostgreSQL's ``numeric``,
which the ADBC driver hands over as text, becomes an exact ``decimal128(p, s)`` where the column
declares its precision and scale.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import (
    FrameError as FrameError,  # raised here; callers catch it as tf.FrameError
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Sequence

    import pyarrow as pa

CSV_SUFFIXES = (".csv", ".tsv", ".txt")


class RowProgress:
    """Rows (and bytes) moved, said at most every ``every`` seconds, with the rate, and once at the end."""

    def __init__(self, what: str, say: Callable[[str], None], every: float = 5.0, total: int | None = None):
        self.what, self.say, self.every, self.total = what, say, every, total
        self.started = self.last = time.monotonic()
        self.rows = 0

    def add(self, rows: int) -> None:
        """``rows`` more rows done."""
        self.rows += rows
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self.say(f"{self.what}: {self.line(now)} so far")

    def line(self, now: float) -> str:
        """``N rows in T s (R rows/s)`` and, with a known total, the ETA."""
        seconds = max(now - self.started, 1e-9)
        rate = self.rows / seconds
        text = f"{self.rows:,} rows in {seconds:.1f} s ({rate:,.0f} rows/s)"
        if self.total and rate > 0 and self.rows < self.total:
            text += f", about {(self.total - self.rows) / rate:.0f} s left"
        return text

    def done(self) -> None:
        """The summary line."""
        self.say(f"{self.what}: {self.line(time.monotonic())}")


# -- types --------------------------------------------------------------------------------------------


def decimals_for(reader: pa.RecordBatchReader, numeric: dict[str, tuple[int, int]]) -> pa.RecordBatchReader:
    """``reader`` with each column named in ``numeric`` (name -> precision, scale) cast from its text
    form to an exact decimal; other columns as they are."""
    import pyarrow as pa

    if not numeric:
        return reader
    fields = []
    for f in reader.schema:
        if f.name in numeric:
            precision, scale = numeric[f.name]
            kind = pa.decimal128 if precision <= 38 else pa.decimal256
            fields.append(pa.field(f.name, kind(precision, scale), nullable=True, metadata=f.metadata))
        else:
            fields.append(f)
    schema = pa.schema(fields, metadata=reader.schema.metadata)

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            columns = []
            for f, column in zip(schema, batch.columns, strict=True):
                if f.name in numeric:
                    storage = column.storage if isinstance(column.type, pa.BaseExtensionType) else column
                    column = storage.cast(f.type)
                columns.append(column)
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _rows_batch(
    names: list[str], rows: Sequence[Sequence[Any]], types: dict[str, pa.DataType]
) -> pa.RecordBatch:
    """DB-API rows as one batch; a column whose values have more than one type is an error naming it."""
    import pyarrow as pa

    arrays = []
    for i, name in enumerate(names):
        values = [row[i] for row in rows]
        try:
            arrays.append(pa.array(values, type=types.get(name)))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:
            raise FrameError(f"column '{name}' holds values of more than one type: {exc}") from None
    return pa.RecordBatch.from_arrays(arrays, names=names)


def cursor_batches(cursor: Any, batch_rows: int) -> pa.RecordBatchReader:
    """A DB-API cursor that has executed a query, as Arrow batches of ``batch_rows`` rows.

    Arrow infers each column's type from the values; a column that is all NULL in the first batch is
    typed by the first batch that has a value (earlier batches are cast to it; text if it never has
    one). Values of one column must have one type (SQLite's per-value typing is the usual exception:
    a mixed column is an error naming it).
    """
    import pyarrow as pa

    names = [str(d[0]) for d in (cursor.description or [])]
    if not names:
        raise FrameError("the statement returned no columns (is it a query?)")
    pending: list[pa.RecordBatch] = []
    types: dict[str, pa.DataType] = {}
    rows = cursor.fetchmany(batch_rows)
    while rows:
        batch = _rows_batch(names, rows, types)
        types.update(
            {f.name: f.type for f in batch.schema if not pa.types.is_null(f.type) and f.name not in types}
        )
        pending.append(batch)
        if len(types) == len(names):
            break
        rows = cursor.fetchmany(batch_rows)
    schema = pa.schema([pa.field(n, types.get(n, pa.string())) for n in names])
    fixed = {f.name: f.type for f in schema}

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in pending:
            yield batch.cast(schema)
        while more := cursor.fetchmany(batch_rows):
            yield _rows_batch(names, more, fixed)

    return pa.RecordBatchReader.from_batches(schema, batches())


def _cast(column: pa.Array, kind: pa.DataType) -> pa.Array:
    """``column`` as ``kind``; text into Arrow's UUID type is parsed (``uuid.UUID``), not reinterpreted."""
    import pyarrow as pa

    if isinstance(kind, pa.BaseExtensionType) and kind.extension_name == "arrow.uuid":
        import uuid

        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            values = [None if v is None else uuid.UUID(v).bytes for v in column.to_pylist()]
            column = pa.array(values, pa.binary(16))
        return pa.ExtensionArray.from_storage(kind, column.cast(kind.storage_type))
    if isinstance(kind, pa.BaseExtensionType):  # e.g. JSON held as text
        return pa.ExtensionArray.from_storage(kind, column.cast(kind.storage_type))
    return column.cast(kind)


def conform(reader: pa.RecordBatchReader, target: pa.Schema, what: str) -> pa.RecordBatchReader:
    """``reader``'s columns put in ``target``'s order and cast to its types (a file loaded into a table).

    A column whose values do not fit the table's type is an error naming the column and both types.
    """
    import pyarrow as pa

    by_name = {f.name: f for f in target}
    schema = pa.schema([by_name[name] for name in reader.schema.names])

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            columns = []
            for f in schema:
                column = batch.column(f.name)
                if column.type != f.type:
                    try:
                        column = _cast(column, f.type)
                    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as exc:
                        raise FrameError(
                            f"{what}: column '{f.name}' ({column.type}) does not fit the table's type "
                            f"{f.type}: {exc}"
                        ) from None
                columns.append(column)
            yield pa.RecordBatch.from_arrays(columns, schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def prefetched(reader: pa.RecordBatchReader, depth: int = 2) -> pa.RecordBatchReader:
    """``reader`` read ahead by a thread, ``depth`` batches at most: fetching the next batch from the
    database overlaps with encoding the current one (both release the GIL), and memory stays bounded."""
    import queue
    import threading

    import pyarrow as pa

    slots: queue.Queue[Any] = queue.Queue(maxsize=depth)
    done = object()
    stop = threading.Event()

    def pump() -> None:
        try:
            for batch in reader:
                while not stop.is_set():
                    try:
                        slots.put(batch, timeout=0.5)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            slots.put(done)
        except BaseException as exc:  # handed to the consumer, raised there
            slots.put(exc)

    thread = threading.Thread(target=pump, name="mlp-prefetch", daemon=True)

    def batches() -> Iterator[pa.RecordBatch]:
        thread.start()
        try:
            while (item := slots.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join(timeout=5)

    return pa.RecordBatchReader.from_batches(reader.schema, batches())


# -- files --------------------------------------------------------------------------------------------


def write_file(reader: pa.RecordBatchReader, path: str, fmt: str, progress: RowProgress | None = None) -> int:
    """Write every batch of ``reader`` to ``path`` as Parquet (zstd) or CSV with a header; returns rows.

    The caller writes to a temporary name and renames (or uploads) the finished file: a file that is
    being written is never where readers look.
    """
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    rows = 0
    if fmt == "csv":
        with pcsv.CSVWriter(path, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
                if progress is not None:
                    progress.add(batch.num_rows)
        return rows
    with pq.ParquetWriter(path, reader.schema, compression="zstd") as writer:
        for batch in reader:
            if batch.num_rows:
                writer.write_batch(batch, row_group_size=max(batch.num_rows, 1))
            rows += batch.num_rows
            if progress is not None:
                progress.add(batch.num_rows)
    return rows


def is_csv(path: str) -> bool:
    """Whether ``path`` is read as CSV (by its suffix; anything else is Parquet)."""
    return path.lower().endswith(CSV_SUFFIXES)


def file_columns(path: str) -> list[str]:
    """The column names of a CSV file's header or a Parquet file's schema, without reading the rows."""
    if is_csv(path):
        import pyarrow.csv as pcsv

        with pcsv.open_csv(path, parse_options=_csv_parse(path)) as reader:
            return list(reader.schema.names)
    import pyarrow.parquet as pq

    return list(pq.read_schema(path).names)


def _csv_parse(path: str) -> Any:
    import pyarrow.csv as pcsv

    return pcsv.ParseOptions(delimiter="\t" if path.lower().endswith(".tsv") else ",")


def read_file(
    path: str, batch_rows: int, column_types: dict[str, pa.DataType] | None = None
) -> pa.RecordBatchReader:
    """A CSV (header row) or Parquet file as Arrow batches; CSV columns typed by ``column_types`` where
    given (a table's types), by inference otherwise."""
    if is_csv(path):
        import pyarrow.csv as pcsv

        convert = pcsv.ConvertOptions(column_types=column_types or {}, strings_can_be_null=True)
        return pcsv.open_csv(
            path,
            read_options=pcsv.ReadOptions(block_size=8 << 20),
            parse_options=_csv_parse(path),
            convert_options=convert,
        )
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    return _from_batches(parquet.schema_arrow, parquet.iter_batches(batch_size=batch_rows))


def files_batches(
    paths: Iterable[str], batch_rows: int, column_types: dict[str, Any] | None = None
) -> pa.RecordBatchReader:
    """Several files of one layout (a folder of CSV or Parquet parts) as one stream of batches."""
    import pyarrow as pa

    paths = list(paths)
    if not paths:
        raise FrameError("there are no CSV or Parquet files to read")
    first = read_file(paths[0], batch_rows, column_types)
    schema = first.schema

    def batches() -> Iterator[pa.RecordBatch]:
        yield from first
        for path in paths[1:]:
            reader = read_file(path, batch_rows, column_types)
            if reader.schema.names != schema.names:
                raise FrameError(
                    f"{os.path.basename(path)} has columns {reader.schema.names}, "
                    f"{os.path.basename(paths[0])} has {schema.names}"
                )
            for batch in reader:
                yield batch.cast(schema) if batch.schema != schema else batch

    return pa.RecordBatchReader.from_batches(schema, batches())


def _from_batches(schema: pa.Schema, batches: Iterable[pa.RecordBatch]) -> pa.RecordBatchReader:
    import pyarrow as pa

    return pa.RecordBatchReader.from_batches(schema, batches)


def python_rows(
    reader: pa.RecordBatchReader, progress: RowProgress | None = None
) -> Iterator[tuple[Any, ...]]:
    """The rows of ``reader`` as Python tuples (what a DB-API ``executemany`` takes), batch by batch."""
    for batch in reader:
        columns = [column.to_pylist() for column in batch.columns]
        yield from zip(*columns, strict=True)
        if progress is not None:
            progress.add(batch.num_rows)
