"""Property-based round trips: any frame of supported column types comes back equal, in every format."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.pandas import column, data_frames, range_indexes

from airflow_mlpipelines.frames import codec

NAMES = st.one_of(st.text(min_size=1, max_size=8), st.integers(-5, 5))

frames = data_frames(
    columns=[
        column("ints", dtype=np.int64),
        column("floats", elements=st.floats(allow_nan=True, allow_infinity=True), dtype=float),
        column("flags", dtype=bool),
        column("texts", elements=st.text(max_size=12), dtype=object),
        column("when", elements=st.datetimes(), dtype="datetime64[ns]"),
    ],
    index=range_indexes(max_size=40),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(df=frames, fmt=st.sampled_from(codec.FORMATS))
def test_generated_frames_round_trip(df: pd.DataFrame, fmt: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "f")
        info = codec.write(df, path, fmt)
        back = codec.read(path, fmt, expected=info)
    pd.testing.assert_frame_equal(back, df, check_dtype=True)


@settings(max_examples=30, deadline=None)
@given(names=st.lists(NAMES, min_size=1, max_size=6, unique_by=str))
def test_generated_column_names_round_trip(names: list[object]) -> None:
    df = pd.DataFrame([list(range(len(names)))], columns=names)
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "f")
        codec.write(df, path)
        assert list(codec.read(path).columns) == names


@pytest.mark.parametrize("fmt", codec.FORMATS)
def test_empty_frame(tmp_path: Path, fmt: str) -> None:
    df = pd.DataFrame({"a": pd.Series([], dtype="int64"), "b": pd.Series([], dtype=object)})
    codec.write(df, str(tmp_path / "f"), fmt)
    pd.testing.assert_frame_equal(codec.read(str(tmp_path / "f"), fmt), df)
