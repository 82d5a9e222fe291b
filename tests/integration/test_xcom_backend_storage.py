"""DataFrameXComBackend's public methods against local and object storage (fsspec's memory filesystem)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

pytestmark = pytest.mark.integration


class _Row:
    """What Airflow hands deserialize_value/purge: an object with the stored ``value``."""

    def __init__(self, value: Any) -> None:
        self.value = value


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64"), "s": ["a", "b", None]})


@pytest.fixture
def backend(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    from airflow_mlpipelines import settings
    from airflow_mlpipelines.xcom.backend import DataFrameXComBackend

    def use(path: str, fmt: str | None = None) -> type[DataFrameXComBackend]:
        monkeypatch.setattr(settings, "xcom_frames_path", lambda: path)
        monkeypatch.setattr(settings, "xcom_frame_format", lambda: fmt)
        return DataFrameXComBackend

    return use


def _push(backend: Any) -> Any:
    return backend.serialize_value(
        _frame(), key="return_value", task_id="t", dag_id="d", run_id="r", map_index=-1
    )


@pytest.mark.parametrize("fmt", ["arrow", "arrow-lz4", "parquet"])
def test_local_round_trip_and_reference(backend: Any, tmp_path: Path, fmt: str) -> None:
    b = backend(str(tmp_path / "xcom"), fmt)
    stored = _push(b)
    ref = json.loads(stored) if isinstance(stored, str) else stored
    assert ref["__mlp_ref__"] == 1
    assert (ref["format"], ref["rows"], ref["preview"]["shape"]) == (fmt, 3, [3, 2])
    assert ref["digest"].startswith("xxh3_128:")  # an integrity checksum, checked on every read
    pd.testing.assert_frame_equal(b.deserialize_value(_Row(stored)), _frame())
    b.purge(_Row(stored))
    assert not Path(ref["uri"]).exists()


def test_default_format_on_local_disk_is_arrow(backend: Any, tmp_path: Path) -> None:
    stored = _push(backend(str(tmp_path / "xcom")))
    assert (json.loads(stored) if isinstance(stored, str) else stored)["format"] == "arrow"


def test_plain_values_keep_airflow_serialisation(backend: Any, tmp_path: Path) -> None:
    b = backend(str(tmp_path / "xcom"))
    stored = b.serialize_value({"a": [1, 2]}, key="k", task_id="t", dag_id="d", run_id="r")
    assert b.deserialize_value(_Row(stored)) == {"a": [1, 2]}
    assert not (tmp_path / "xcom").exists()


def test_missing_and_corrupt_files_are_errors_naming_the_task(backend: Any, tmp_path: Path) -> None:
    from airflow_mlpipelines.frames.codec import FrameError

    b = backend(str(tmp_path / "xcom"))
    stored = _push(b)
    uri = Path((json.loads(stored) if isinstance(stored, str) else stored)["uri"])
    data = bytearray(uri.read_bytes())
    data[-40] ^= 0xFF
    uri.write_bytes(bytes(data))
    with pytest.raises(FrameError, match=r"is corrupt .*XCom 'return_value' of task d\.t in run r"):
        b.deserialize_value(_Row(stored))
    uri.unlink()
    with pytest.raises(FrameError, match=r"does not exist .*of task d\.t"):
        b.deserialize_value(_Row(stored))


def test_a_frame_stored_with_a_blake3_digest_by_an_earlier_version_still_verifies(
    backend: Any, tmp_path: Path
) -> None:
    from airflow_mlpipelines.digests import fast_file_digest
    from airflow_mlpipelines.frames.codec import FrameError

    b = backend(str(tmp_path / "xcom"))
    ref = json.loads(s) if isinstance(s := _push(b), str) else s
    old = {**ref, "digest": fast_file_digest(ref["uri"])}
    pd.testing.assert_frame_equal(b.deserialize_value(_Row(old)), _frame())
    with pytest.raises(FrameError, match="is corrupt"):
        b.deserialize_value(_Row({**old, "digest": "blake3:" + "0" * 64}))


def test_object_storage_round_trip(backend: Any) -> None:
    import fsspec
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach

    attach("memory", fs=fsspec.filesystem("memory"))
    b = backend("memory://mlp-xcom/frames")
    stored = _push(b)
    ref = json.loads(stored) if isinstance(stored, str) else stored
    assert ref["format"] == "parquet"  # the default on object storage
    assert ref["uri"].startswith("memory://mlp-xcom/frames/d/r/t/return_value--1-")
    assert ObjectStoragePath(ref["uri"]).exists()
    pd.testing.assert_frame_equal(b.deserialize_value(_Row(stored)), _frame())
    b.purge(_Row(stored))
    assert not ObjectStoragePath(ref["uri"]).exists()


@pytest.fixture
def offload(monkeypatch: pytest.MonkeyPatch) -> Any:
    from airflow_mlpipelines import settings

    def use(threshold: int) -> None:
        monkeypatch.setattr(settings, "xcom_offload_threshold", lambda: threshold)

    return use


def test_a_users_dict_carrying_the_marker_is_never_a_reference(backend: Any, tmp_path: Path) -> None:
    b = backend(str(tmp_path / "xcom"))
    lookalike = {"__mlp_ref__": 1, "uri": str(tmp_path / "nothing.arrow"), "format": "arrow"}
    stored = b.serialize_value(lookalike, key="k", task_id="t", dag_id="d", run_id="r")
    assert b.deserialize_value(_Row(stored)) == lookalike
    b.purge(_Row(stored))  # must not try to delete the user's "uri"


@pytest.mark.parametrize("where", ["local", "memory"])
def test_values_over_the_threshold_are_stored_as_verified_json_files(
    backend: Any, offload: Any, tmp_path: Path, where: str
) -> None:
    import fsspec
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach

    from airflow_mlpipelines.xcom.backend import StoredValueError

    attach("memory", fs=fsspec.filesystem("memory"))
    b = backend(str(tmp_path / "xcom") if where == "local" else "memory://mlp-xcom/json")
    offload(1000)
    small = {"metrics": [0.5, 0.25]}
    kept = b.serialize_value(small, key="k", task_id="t", dag_id="d", run_id="r")
    assert kept == {"metrics": [0.5, 0.25]}  # below the threshold: the value itself, in the database
    assert b.deserialize_value(_Row(kept)) == small
    big = {"rows": list(range(1000)), "name": "x" * 50}
    stored = b.serialize_value(big, key="k", task_id="t", dag_id="d", run_id="r", map_index=2)
    ref = json.loads(stored) if isinstance(stored, str) else stored
    assert (ref["__mlp_ref__"], ref["format"]) == (1, "json")
    assert ref["bytes"] > 1000
    assert "rows" not in ref
    assert ref["uri"].endswith(".json")
    assert "/d/r/t/k-2-" in ref["uri"]
    path = ObjectStoragePath(ref["uri"]) if where == "memory" else Path(ref["uri"])
    assert b.deserialize_value(_Row(stored)) == big
    data = bytearray(path.read_bytes())
    data[5] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(StoredValueError, match=r"is corrupt .*XCom 'k' of task d\.t in run r"):
        b.deserialize_value(_Row(stored))
    b.purge(_Row(stored))
    assert not path.exists()
    with pytest.raises(StoredValueError, match=r"does not exist .*XCom 'k' of task d\.t"):
        b.deserialize_value(_Row(stored))


def test_offloaded_values_keep_airflow_serde_types(backend: Any, offload: Any, tmp_path: Path) -> None:
    import datetime

    b = backend(str(tmp_path / "xcom"))
    offload(0)
    value = {"when": datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC), "pair": (1, 2), "s": {3}}
    stored = b.serialize_value(value, key="k", task_id="t", dag_id="d", run_id="r")
    assert (json.loads(stored) if isinstance(stored, str) else stored)["format"] == "json"
    assert b.deserialize_value(_Row(stored)) == value
