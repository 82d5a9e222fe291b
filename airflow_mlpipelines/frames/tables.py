"""Read a tabular input (CSV or Parquet file, or a folder holding them) into a DataFrame.

Execute Python Script inputs come from three places, all of which end up as a local file or folder:
an upstream Execute Python Script step's DataFrame output (a folder with ``data.parquet``), a tabular
dataset on a datastore (a CSV/Parquet file or a folder of them), or a PythonScriptStep's
``PipelineData`` folder holding a Parquet/CSV file.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from airflow_mlpipelines.frames.codec import METADATA_KEY, FrameError, from_table

if TYPE_CHECKING:
    import pandas as pd

DATA_FILE = "data.parquet"
"""The file an Execute Python Script step writes its DataFrame output to, inside the output folder."""

PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv", ".tsv", ".txt")
TABLE_SUFFIXES = PARQUET_SUFFIXES + CSV_SUFFIXES


def _table_files(folder: str) -> list[str]:
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith((".", "_")))
        found += [
            os.path.join(dirpath, f)
            for f in sorted(filenames)
            if f.lower().endswith(TABLE_SUFFIXES) and not f.startswith((".", "_"))
        ]
    return found


def table_files(path: str) -> list[str]:
    """The files an input path stands for: itself, ``data.parquet`` in a folder, or every table file.

    A folder with several files must hold one kind (all Parquet or all CSV); they are read in name
    order and concatenated, as a tabular dataset over a folder is.
    """
    if os.path.isfile(path):
        return [path]
    if not os.path.isdir(path):
        raise FrameError(f"input {path} does not exist")
    if os.path.isfile(os.path.join(path, DATA_FILE)):
        return [os.path.join(path, DATA_FILE)]
    files = _table_files(path)
    if not files:
        raise FrameError(
            f"input folder {path} holds no table file ({', '.join(TABLE_SUFFIXES)}); "
            "write a Parquet or CSV file into the output folder"
        )
    kinds = {f.lower().endswith(PARQUET_SUFFIXES) for f in files}
    if len(kinds) > 1:
        raise FrameError(f"input folder {path} mixes Parquet and CSV files; keep one kind per folder")
    return files


def _read_one(path: str) -> pd.DataFrame:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    lower = path.lower()
    try:
        if lower.endswith(PARQUET_SUFFIXES):
            table = pq.read_table(path)
            if (table.schema.metadata or {}).get(METADATA_KEY) is not None:
                return from_table(table, self_destruct=True)
            return table.to_pandas(split_blocks=True, self_destruct=True)
        if lower.endswith(CSV_SUFFIXES):
            return pd.read_csv(path, sep="\t" if lower.endswith(".tsv") else ",")
    except (pa.ArrowInvalid, OSError, ValueError) as exc:
        raise FrameError(f"input {path} cannot be read as a table: {exc}") from None
    raise FrameError(f"input {path} is not a table file; use one of {', '.join(TABLE_SUFFIXES)}")


def read_table(path: str, partition_format: str | None = None) -> pd.DataFrame:
    """Read a CSV/Parquet file, or the table files of a folder, into one DataFrame.

    ``partition_format`` (SDK v1's) adds a column per partition key, its value taken from each file's
    path (``pipeline/partition_format.py``); a file that does not match is a :class:`FrameError`.
    """
    import pandas as pd

    files = table_files(path)
    frames = [_read_one(f) for f in files]
    if partition_format is not None:
        from airflow_mlpipelines.pipeline.partition_format import compile_format

        compiled = compile_format(partition_format)
        for file, frame in zip(files, frames, strict=True):
            try:
                values = compiled.values(os.path.abspath(file))
            except ValueError as exc:
                raise FrameError(f"input {path}: {exc}") from None
            for column, value in values.items():
                frame[column] = pd.Series(
                    [value] * len(frame),
                    index=frame.index,
                    dtype=object if isinstance(value, str) else "datetime64[ns]",
                )
    if len(frames) == 1:
        return frames[0]
    return pd.concat(frames, ignore_index=True)


def preload() -> None:
    """Import pandas and pyarrow (with Parquet) now: the Execute Python Script runner does this before it
    caps its address space, so the cap limits the user's code rather than failing our own imports."""
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401


def read_part(path: str, start: int | None, end: int | None, keys: dict[str, object]) -> pd.DataFrame:
    """One tabular mini-batch of a parallel run: a CSV's header with the data lines in ``[start, end)``
    bytes, or the rows of a table whose ``partition_keys`` columns equal ``keys``."""
    import io

    import pandas as pd

    if start is not None and end is not None:
        with open(path, "rb") as fh:
            data = fh.read()
        header = data[: data.find(b"\n") + 1]
        sep = "\t" if path.lower().endswith(".tsv") else ","
        return pd.read_csv(io.BytesIO(header + data[start:end]), sep=sep)
    frame = read_table(path)
    for column, value in keys.items():
        frame = frame[frame[column].astype(str) == str(value)]
    return frame.reset_index(drop=True)


def key_groups(path: str, columns: list[str]) -> list[tuple[dict[str, object], int]]:
    """The distinct values of ``columns`` in a table, in order of first appearance, with their row counts
    (a parallel run's ``partition_keys``: one mini-batch per group)."""
    frame = read_table(path)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise FrameError(
            f"{path} has no column {missing[0]!r} (partition_keys); columns: {list(frame.columns)}"
        )
    groups = frame.groupby([frame[c].astype(str) for c in columns], sort=False).size()
    found: list[tuple[dict[str, object], int]] = []
    for values, count in groups.items():
        values = values if isinstance(values, tuple) else (values,)
        found.append((dict(zip(columns, values, strict=True)), int(count)))
    return found


def frame_rows(frame: pd.DataFrame) -> list[str]:
    """A DataFrame's rows as text lines, values separated by spaces, no header (SDK v1's append_row)."""
    text = frame.to_csv(sep=" ", header=False, index=False)
    return [line for line in text.splitlines() if line]


def read_files(paths: list[str], keys: dict[str, object]) -> pd.DataFrame:
    """One ``partition_format`` group of a tabular dataset: its files' rows in path order, with each key
    of the group as a column (as SDK v1 adds a partitioned dataset's keys to its rows)."""
    import pandas as pd

    frame = pd.concat([read_table(p) for p in paths], ignore_index=True)
    for column, value in keys.items():
        frame[column] = value
    return frame
