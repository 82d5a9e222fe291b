"""The seed's type rules as pure functions (the conformance tests run them through the child process)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from airflow_mlpipelines.frames.eps_rules import (
    ScriptResultError,
    connected_arguments,
    input_frame,
    output_frame,
    unique_names,
    unwrap_result,
)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ([], []),
        (["a", "b"], ["a", "b"]),
        (["a", "a", "a", "a"], ["a", "a (2)", "a (3)", "a (4)"]),
        (["a (2)", "a", "a"], ["a (2)", "a", "a (3)"]),
        (["a", "a", "a (2)", "a (2)"], ["a", "a (3)", "a (2)", "a (2) (2)"]),
        ([1, 1.0, "1"], ["1", "1.0", "1 (2)"]),
        ([None, "None"], ["None", "None (2)"]),
    ],
)
def test_unique_names(names: list[object], expected: list[str]) -> None:
    assert unique_names(names) == expected
    assert len(set(unique_names(names))) == len(names)


def test_input_frame_index() -> None:
    df = pd.DataFrame({"v": [1, 2]}, index=pd.Index([5, 9], name="k"))
    out = input_frame(df)
    assert isinstance(out.index, pd.RangeIndex)
    assert out.index.dtype == np.int64
    assert out.index.name is None
    assert list(out.index) == [0, 1]
    same = pd.DataFrame({"v": [1]})
    assert input_frame(same) is same


def test_connected_arguments_are_positional() -> None:
    one, two = pd.DataFrame({"a": [1]}), pd.DataFrame({"b": [2]})
    assert connected_arguments({"dataframe1": None, "dataframe2": two}) == [two]
    assert connected_arguments({"dataframe1": one, "dataframe2": two}) == [one, two]
    assert connected_arguments({"dataframe1": None, "dataframe2": None}) == []


def test_unwrap_and_output() -> None:
    df = pd.DataFrame([[1, 2]], columns=["x", "x"], index=["r"])
    for value in (df, (df,), [df, None], np.array([df, 1], dtype=object)):
        assert unwrap_result(value) is df
    assert unwrap_result(None).shape == (0, 0)
    assert unwrap_result((None,)).shape == (0, 0)
    out = output_frame(df)
    assert list(out.columns) == ["x", "x (2)"]
    assert list(out.index) == [0]
    assert list(df.columns) == ["x", "x"]  # the user's frame is not modified
    with pytest.raises(ScriptResultError, match=r"returned a set"):
        unwrap_result({1})
