"""XCom backend that moves DataFrames between tasks as Arrow/Parquet files, never pickle."""

from __future__ import annotations
