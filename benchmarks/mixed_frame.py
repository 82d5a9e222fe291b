"""The DESIGN.md §4 benchmark frame, shared by the benchmarks so they all measure the same data.

``n`` rows of int64 (random), float64 (uniform), float64 (normal), a categorical of four letters, a string
column drawn from five values one of which is None, a tz-aware (UTC) datetime at one-second steps, and a
bool: 459 MB in memory at 10 M rows under pandas 3.

``strings="object"`` makes the string column an object column of Python ``str`` (None for missing), as
frames built from Python lists or read with pandas 2 have it; ``"arrow"`` (default) is pandas 3's ``str``.
"""

from __future__ import annotations

from typing import Any


def mixed_frame(n: int, strings: str = "arrow") -> Any:
    """Build the frame (pandas and numpy imported here, so importing this module stays cheap)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "i": rng.integers(0, 1 << 40, n),
            "u": rng.uniform(size=n),
            "g": rng.normal(size=n),
            "cat": pd.Categorical.from_codes(rng.integers(0, 4, n), list("abcd")),
            "s": pd.Series(
                np.array(["x", "y", "z", "w", None], dtype=object)[rng.integers(0, 5, n)],
                dtype="str" if strings == "arrow" else object,
            ),
            "ts": pd.date_range("2024-01-01", periods=n, freq="s", tz="UTC"),
            "b": rng.integers(0, 2, n).astype(bool),
        }
    )
