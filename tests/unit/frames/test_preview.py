"""Bounded previews of stored Parquet frames: shape and schema from the footer, a few rows, text cells."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airflow_mlpipelines.frames import codec
from airflow_mlpipelines.frames.codec import FrameError
from airflow_mlpipelines.frames.preview import MAX_CELL_CHARS, MAX_COLUMNS, preview_parquet


def test_codec_frame_restores_names_and_shows_first_rows(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            1: np.arange(100),
            "s": pd.Series(["a", None] * 50, dtype=object),
            "f": np.linspace(0, 1, 100),
            "blob": [b"\x80\x04K\x01."] * 100,
            "na": pd.array([None, 2] * 50, dtype="Int64"),
        }
    )
    path = tmp_path / "data.parquet"
    codec.write(frame, str(path), "parquet")
    preview = preview_parquet(str(path), rows=3)
    assert (preview.rows, preview.columns) == (100, 5)
    assert [c.name for c in preview.schema] == ["1", "s", "f", "blob", "na"]
    assert [c.dtype for c in preview.schema] == ["int64", "object", "float64", "object", "Int64"]
    assert [c.arrow_type for c in preview.schema] == ["int64", "string", "double", "binary", "int64"]
    assert preview.head == [
        ["0", "a", "0.0", "<5 bytes>", "<NA>"],
        ["1", "<NA>", "0.010101010101010102", "<5 bytes>", "2"],
        ["2", "a", "0.020202020202020204", "<5 bytes>", "<NA>"],
    ]
    assert preview.note is None


def test_any_writer_and_a_kept_index(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    pd.DataFrame({"x": [1, 2]}, index=pd.Index(["r1", "r2"], name="key")).to_parquet(path)
    preview = preview_parquet(str(path))
    assert (preview.rows, preview.columns) == (2, 1)
    assert [(c.name, c.arrow_type) for c in preview.schema] == [("x", "int64")]
    assert preview.head == [["1"], ["2"]]


def test_over_the_size_cap_only_shape_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    codec.write(pd.DataFrame({"x": np.arange(1000)}), str(path), "parquet")
    preview = preview_parquet(str(path), max_bytes=10)
    assert (preview.rows, preview.columns) == (1000, 1)
    assert preview.head == []
    assert preview.note is not None
    assert "larger than the preview cap (10)" in preview.note


def test_wide_frames_and_long_cells_are_cut(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    wide = pd.DataFrame({f"c{i}": ["x" * 500] for i in range(MAX_COLUMNS + 5)})
    codec.write(wide, str(path), "parquet")
    preview = preview_parquet(str(path))
    assert preview.columns == MAX_COLUMNS + 5
    assert len(preview.schema) == MAX_COLUMNS
    assert len(preview.head[0]) == MAX_COLUMNS
    assert len(preview.head[0][0]) == MAX_CELL_CHARS
    assert preview.note == f"only the first {MAX_COLUMNS} of {MAX_COLUMNS + 5} columns are shown"


def test_empty_frame(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    codec.write(pd.DataFrame({"x": pd.Series([], dtype="float64")}), str(path), "parquet")
    preview = preview_parquet(str(path))
    assert (preview.rows, preview.columns, preview.head) == (0, 1, [])


def test_not_parquet_is_an_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "data.parquet"
    path.write_bytes(b"not parquet at all")
    with pytest.raises(FrameError, match=r"data\.parquet cannot be previewed as Parquet"):
        preview_parquet(str(path))
