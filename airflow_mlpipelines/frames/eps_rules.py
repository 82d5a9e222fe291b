"""Azure ML Studio's "Execute Python Script" type rules (seeds 000/003), as pure functions.

The seed lists the translation between datasets and pandas; each rule is one function here so the
conformance tests can walk them one by one:

- **Inputs** (:func:`input_frame`): every input DataFrame has a 64-bit integer index ``0..n-1``
  (whatever index it was stored with); missing values arrive as pandas NA/NaN (Arrow nulls).
- **Return value** (:func:`unwrap_result`): ``azureml_main`` returns one DataFrame packaged in a
  sequence (tuple, list, numpy array) whose *first* element goes to the first output; a bare DataFrame
  and ``None`` (an empty output) are accepted too; anything else is an error naming what came back.
- **Outputs** (:func:`output_frame`): the index is dropped (datasets have none); non-string column
  names become ``str(name)``; duplicate names are made unique by :func:`unique_names`; NA is stored as
  missing (Arrow null). bytes columns stay bytes: nothing is ever unpickled.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import ScriptResultError as ScriptResultError  # re-exported

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd

PORTS = ("dataframe1", "dataframe2")
"""The module's two DataFrame input ports, in order."""


def input_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The frame as ``azureml_main`` receives it: index replaced by a 64-bit ``RangeIndex`` 0..n-1."""
    import pandas as pd

    if isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1:
        if df.index.name is None:
            return df
    return df.set_axis(pd.RangeIndex(len(df)), axis=0)


def connected_arguments(frames: dict[str, pd.DataFrame | None]) -> list[pd.DataFrame]:
    """Positional arguments of ``azureml_main``: the connected ports' frames in port order.

    The seed: "the first connected input port is mapped to the first parameter of the function, and
    the second input (if connected) to the second" -- so a frame on ``dataframe2`` alone becomes the
    first argument.
    """
    return [frame for port in PORTS if (frame := frames.get(port)) is not None]


def _describe(value: Any) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}" if kind.__module__ != "builtins" else kind.__qualname__


def unwrap_result(value: Any) -> pd.DataFrame:
    """The DataFrame that goes to the first output port, from what ``azureml_main`` returned."""
    import numpy as np
    import pandas as pd

    if value is None:
        return pd.DataFrame()
    if isinstance(value, pd.DataFrame):
        return value
    if isinstance(value, tuple | list | np.ndarray):
        if len(value) == 0:
            raise ScriptResultError(
                f"azureml_main returned an empty {_describe(value)}; "
                "return a DataFrame, or a sequence whose first element is one"
            )
        first = value[0]
        if first is None:
            return pd.DataFrame()
        if isinstance(first, pd.DataFrame):
            return first
        raise ScriptResultError(
            f"azureml_main returned a {_describe(value)} whose first element is a {_describe(first)}, "
            "not a pandas DataFrame"
        )
    raise ScriptResultError(
        f"azureml_main returned a {_describe(value)}; expected a pandas DataFrame, a tuple, list or "
        "numpy array whose first element is one, or None"
    )


def unique_names(names: Iterable[object]) -> list[str]:
    """Column names as text, made unique the seed's way.

    Every name becomes ``str(name)``. The first occurrence of a name keeps it; the first duplicate gets
    the suffix ``" (2)"``, the second ``" (3)"``, and so on (``a, a, a`` -> ``a, a (2), a (3)``). A
    suffixed name never takes a name that already occurs in the frame, nor one given earlier: the
    count goes on until the name is free (``a, a, a (2)`` -> ``a, a (3), a (2)``).
    """
    texts = [str(n) for n in names]
    reserved = set(texts)
    used: set[str] = set()
    counters: dict[str, int] = {}
    result: list[str] = []
    for text in texts:
        if text not in used:
            used.add(text)
            result.append(text)
            continue
        n = counters.get(text, 1)
        while True:
            n += 1
            candidate = f"{text} ({n})"
            if candidate not in reserved and candidate not in used:
                break
        counters[text] = n
        used.add(candidate)
        result.append(candidate)
    return result


def output_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The frame stored on the first output: no index, unique text column names.

    Columns are not copied: only the axes are replaced.
    """
    import pandas as pd

    names = unique_names(df.columns)
    out = df.set_axis(pd.RangeIndex(len(df)), axis=0)
    if names != list(df.columns) or not all(type(c) is str for c in df.columns):
        out = out.set_axis(pd.Index(names, dtype=object), axis=1)
    return out
