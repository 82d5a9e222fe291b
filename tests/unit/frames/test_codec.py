"""Frames round-trip exactly through Arrow IPC, Arrow IPC + lz4 and Parquet, or fail naming the column."""

from __future__ import annotations

import datetime
import decimal
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from airflow_mlpipelines.frames import codec
from airflow_mlpipelines.frames.codec import FrameError


def mixed(n: int = 50) -> pd.DataFrame:
    """The benchmark frame of DESIGN.md §4, plus the dtypes the XCom issue lists."""
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {
            "i": rng.integers(0, 1000, n),
            "u": rng.uniform(size=n),
            "g": rng.normal(size=n),
            "cat": pd.Categorical(rng.choice(list("abcd"), n)),
            "s": pd.Series(rng.choice(["x", "y", "z", "w", None], n), dtype="str"),
            "ts": pd.date_range("2024-01-01", periods=n, freq="s", tz="UTC"),
            "b": rng.integers(0, 2, n).astype(bool),
            "ni": pd.array([None if k % 7 == 0 else k for k in range(n)], dtype="Int64"),
            "td": pd.to_timedelta(np.arange(n), unit="s"),
            "dec": [decimal.Decimal(k) / 4 for k in range(n)],
            "raw": [pickle.dumps(k) for k in range(n)],  # the seed's "pickled model in a bytes column"
            "nested": [[k, k + 1] for k in range(n)],
            "struct": [{"k": k, "v": str(k)} for k in range(n)],
            "obj": pd.Series([f"o{k}" if k % 5 else None for k in range(n)], dtype=object),
        }
    )


@pytest.mark.parametrize("fmt", codec.FORMATS)
def test_round_trip_keeps_values_dtypes_and_order(tmp_path: Path, fmt: str) -> None:
    df = mixed()
    info = codec.write(df, str(tmp_path / "f"), fmt)
    back = codec.read(str(tmp_path / "f"), fmt, expected=info)
    assert list(back.columns) == list(df.columns)
    for name in ("i", "u", "g", "cat", "s", "ts", "b", "ni", "td", "obj"):
        assert back[name].dtype == df[name].dtype, name
    pd.testing.assert_frame_equal(
        back.drop(columns=["dec", "nested", "struct", "raw"]),
        df.drop(columns=["dec", "nested", "struct", "raw"]),
    )
    assert list(back["raw"]) == list(df["raw"])  # bytes come back as bytes, never unpickled
    assert list(back["dec"]) == list(df["dec"])
    assert list(back["nested"]) == list(df["nested"])  # Python lists back as lists
    assert list(back["struct"]) == list(df["struct"])
    assert (info.rows, info.size) == (len(df), (tmp_path / "f").stat().st_size)


@pytest.mark.parametrize("fmt", codec.FORMATS)
def test_index_rule(tmp_path: Path, fmt: str) -> None:
    df = pd.DataFrame({"v": [1, 2, 3]})
    codec.write(df, str(tmp_path / "a"), fmt)
    back = codec.read(str(tmp_path / "a"), fmt)
    assert isinstance(back.index, pd.RangeIndex)
    named = df.set_index(pd.Index(["x", "y", "z"], name="key"))
    codec.write(named, str(tmp_path / "b"), fmt)
    pd.testing.assert_frame_equal(codec.read(str(tmp_path / "b"), fmt), named)
    multi = pd.DataFrame(
        {"v": [1, 2]}, index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"])
    )
    codec.write(multi, str(tmp_path / "c"), fmt)
    pd.testing.assert_frame_equal(codec.read(str(tmp_path / "c"), fmt), multi)


def test_non_string_column_names_are_restored(tmp_path: Path) -> None:
    df = pd.DataFrame({0: [1], 1.5: [2], True: [3], None: [4], "s": [5]})
    codec.write(df, str(tmp_path / "f"))
    assert list(codec.read(str(tmp_path / "f")).columns) == [0, 1.5, True, None, "s"]


def test_names_that_collide_as_text_are_an_error(tmp_path: Path) -> None:
    df = pd.DataFrame([[1, 2]], columns=[1, "1"])
    with pytest.raises(FrameError, match=r"column names 1 and '1' are the same once stored as text"):
        codec.write(df, str(tmp_path / "f"))


def test_unrepresentable_column_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    df = pd.DataFrame({"ok": [1, 2], "mixed": pd.Series([1, "two"], dtype=object)})
    with pytest.raises(FrameError, match=r"column 'mixed' \(object\) cannot be stored without pickle"):
        codec.write(df, str(tmp_path / "f"))
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(FrameError, match="column 'when'"):
        codec.write(pd.DataFrame({"when": [datetime.date(2024, 1, 1), object()]}), str(tmp_path / "g"))


def test_corrupt_and_missing_files_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "f"
    info = codec.write(pd.DataFrame({"v": range(100)}), str(path))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(FrameError, match="is corrupt"):
        codec.read(str(path), expected=info)
    with pytest.raises(FrameError, match="does not exist"):
        codec.read(str(tmp_path / "missing"))
    path.write_bytes(b"not arrow")
    with pytest.raises(FrameError, match="cannot be read"):
        codec.read(str(path))


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(FrameError, match="unknown frame format 'csv'"):
        codec.write(pd.DataFrame({"v": [1]}), str(tmp_path / "f"), "csv")


@pytest.mark.parametrize("fmt", codec.FORMATS)
def test_frames_are_written_in_chunks_and_come_back_whole(
    tmp_path: Path, fmt: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(codec, "CHUNK_ROWS", 7)  # 50 rows -> 8 Parquet row groups
    df = mixed().drop(columns=["dec", "nested", "struct", "raw"])
    df.loc[:10, "obj"] = None  # a first chunk with only missing values must not fix the column's type
    info = codec.write(df, str(tmp_path / "f"), fmt)
    pd.testing.assert_frame_equal(codec.read(str(tmp_path / "f"), fmt, expected=info), df)
    kept = df.set_index(pd.Index([f"r{k}" for k in range(len(df))], name="row"))
    codec.write(kept, str(tmp_path / "g"), fmt)
    pd.testing.assert_frame_equal(codec.read(str(tmp_path / "g"), fmt), kept)


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
def test_frame_read_from_parquet_with_chunked_strings_can_be_written_again(tmp_path: Path, fmt: str) -> None:
    # pandas 3 keeps a Parquet string column as a multi-chunk Arrow array; writing it again used to
    # fail with "Cannot convert pyarrow.lib.ChunkedArray to pyarrow.lib.Array".
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.table(
        {"s": pa.chunked_array([["a", None], ["b", "c"]]), "n": pa.chunked_array([[1, 2], [3, 4]])}
    )
    pq.write_table(table, tmp_path / "in.parquet", row_group_size=2)
    df = codec.read(str(tmp_path / "in.parquet"), "parquet")
    codec.write(df, str(tmp_path / f"out.{fmt}"), fmt)
    back = codec.read(str(tmp_path / f"out.{fmt}"), fmt)
    assert back["s"].isna().tolist() == [False, True, False, False]
    assert back["s"].dropna().tolist() == ["a", "b", "c"]
    assert back["n"].tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize("fmt", codec.FORMATS)
def test_python_lists_and_dicts_come_back_as_they_went(tmp_path: Path, fmt: str) -> None:
    """Issue 16, item 3: a column of Python lists comes back as lists (not numpy arrays), nested too."""
    df = pd.DataFrame(
        {
            "lists": [[1, 2], [], None, [3]],
            "nested": [[[1], [2, 3]], [], [[]], None],
            "dicts": [{"a": [1, 2]}, None, {"a": []}, {"a": [3]}],
        }
    )
    back = codec.read(_write(df, tmp_path, fmt), fmt)
    assert back["lists"].tolist() == [[1, 2], [], None, [3]]
    assert all(type(v) is list for v in back["lists"] if v is not None)
    assert back["nested"].tolist() == [[[1], [2, 3]], [], [[]], None]
    assert back["dicts"].tolist() == df["dicts"].tolist()
    assert back.equals(df)


@pytest.mark.parametrize("fmt", codec.FORMATS)
def test_a_frame_with_rows_and_no_columns_keeps_its_rows(tmp_path: Path, fmt: str) -> None:
    df = pd.DataFrame(index=range(7))
    back = codec.read(_write(df, tmp_path, fmt), fmt)
    assert back.shape == (7, 0)
    assert back.index.equals(df.index)


def _write(df: pd.DataFrame, folder: Path, fmt: str) -> str:
    path = str(folder / f"frame.{fmt}")
    codec.write(df, path, fmt)
    return path
