"""``DataFrameXComBackend``: pandas DataFrames (and pyarrow Tables) go to files; XCom rows hold a typed ref.

Configure with ``[core] xcom_backend = airflow_mlpipelines.xcom.backend.DataFrameXComBackend``. Every
other value keeps Airflow's own serialisation, unless ``[mlpipelines] xcom_offload_threshold`` is set and
its JSON reaches that many bytes: then it is stored as a JSON file the same way. The row holds
``{"__mlp_ref__": 1, "uri", "format", "bytes", "digest", "producer", ...}`` (frames add ``rows``,
``columns`` and a ``preview``); a missing or corrupt file is an error naming the uri and the producing
task, never a silent fallback to the reference. A user's own dict that happens to carry the marker key is
wrapped on the way in and unwrapped on the way out, so it can never be mistaken for a reference.
"""

from __future__ import annotations

import json
import os
import tempfile
import types
import uuid
from typing import TYPE_CHECKING, Any

from airflow.sdk import ObjectStoragePath
from airflow.sdk.bases.xcom import BaseXCom

from airflow_mlpipelines import settings
from airflow_mlpipelines.exceptions import StoredValueError as StoredValueError  # re-exported
from airflow_mlpipelines.paths import join, local_path, safe_segment

if TYPE_CHECKING:
    from collections.abc import Callable

REF_MARKER = "__mlp_ref__"
LITERAL_MARKER = "__mlp_literal__"
JSON_FORMAT = "json"


def _is_frame(value: Any) -> bool:
    module = type(value).__module__
    if module.startswith("pandas") and type(value).__name__ == "DataFrame":
        return True
    return module.startswith("pyarrow") and type(value).__name__ == "Table"


PREVIEW_ROWS = 5


def preview(frame: Any) -> dict[str, Any]:
    """Shape and first rows as text, so the UI and REST XCom views show something readable.

    (Airflow's XCom endpoints show the stored row, not what the backend would load.)
    """
    head = frame.head(PREVIEW_ROWS)
    rows = [[None if _missing(v) else str(v)[:80] for v in row] for row in head.itertuples(index=False)]
    return {
        "shape": [int(frame.shape[0]), int(frame.shape[1])],
        "columns": [str(c) for c in frame.columns],
        "head": rows,
    }


def _missing(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value) is True)  # NaN, NaT, None and pandas.NA; arrays are not missing
    except (TypeError, ValueError):
        return False


def is_ref(value: Any) -> bool:
    """Whether an XCom value is one of our references (to a stored frame or JSON value)."""
    return isinstance(value, dict) and value.get(REF_MARKER) == 1


def _store(base: str, name: str, write: Callable[[str], tuple[int, str]]) -> tuple[str, int, str]:
    """Write a file under ``base`` with ``write(local_path) -> (size, digest)``; return (uri, size, digest).

    Local folders are written in place (``write`` is atomic: temp file + rename); object stores get a
    local file put in one piece, which S3/GCS/Azure make visible atomically.
    """
    directory = local_path(base)
    if directory is not None:
        os.makedirs(directory, exist_ok=True)
        uri = os.path.join(directory, name)
        return (uri, *write(uri))
    uri = join(base, name)
    with tempfile.TemporaryDirectory(prefix="mlp-xcom-") as tmp:
        size, digest = write(os.path.join(tmp, name))
        ObjectStoragePath(f"file://{os.path.join(tmp, name)}").copy(ObjectStoragePath(uri))
    return uri, size, digest


def _fetch(uri: str, read: Callable[[str], Any]) -> Any:
    """Call ``read(local_path)`` on a stored file, pulling it to a temporary file first if it is remote."""
    if local_path(uri) is not None:
        return read(uri)
    with tempfile.TemporaryDirectory(prefix="mlp-xcom-") as tmp:
        local = os.path.join(tmp, "value")
        remote = ObjectStoragePath(uri)
        if not remote.exists():
            raise StoredValueError(f"stored value {uri} does not exist")
        remote.copy(ObjectStoragePath(f"file://{local}"))
        return read(local)


def _write_json(data: bytes) -> Callable[[str], tuple[int, str]]:
    from airflow_mlpipelines.digests import integrity_digest

    def write(path: str) -> tuple[int, str]:
        tmp = f"{path}.tmp-{uuid.uuid4().hex}"
        try:
            with open(tmp, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        return len(data), integrity_digest(path)

    return write


def _read_json(ref: dict[str, Any]) -> Callable[[str], Any]:
    from airflow_mlpipelines.digests import file_matches

    def read(path: str) -> Any:
        if not os.path.exists(path):
            raise StoredValueError(f"stored value {ref['uri']} does not exist")
        size = os.path.getsize(path)
        if size != ref["bytes"] or not file_matches(path, ref["digest"]):
            raise StoredValueError(
                f"stored value {ref['uri']} is corrupt ({size} bytes; expected {ref['bytes']} and its digest)"
            )
        with open(path, "rb") as fh:
            return json.load(fh)

    return read


class DataFrameXComBackend(BaseXCom):
    """Store DataFrames as Arrow IPC / Parquet files under ``[mlpipelines] xcom_path``."""

    @staticmethod
    def serialize_value(  # type: ignore[override]
        value: Any,
        *,
        key: str | None = None,
        task_id: str | None = None,
        dag_id: str | None = None,
        run_id: str | None = None,
        map_index: int | None = None,
    ) -> Any:
        """Write a DataFrame (or a large value) to a file and return its reference; else Airflow's serde."""
        frame_value = _is_frame(value)
        if not frame_value:
            if is_ref(value):
                value = {LITERAL_MARKER: value}
            serialized = BaseXCom.serialize_value(value)
            threshold = settings.xcom_offload_threshold()
            if threshold < 0:
                return serialized
            data = json.dumps(serialized, separators=(",", ":")).encode()
            if len(data) < threshold:
                return serialized
        # Only values that go to a file pay for its location (Airflow calls this for every XCom push).
        base = join(
            settings.xcom_frames_path(),
            safe_segment(dag_id or "dag"),
            safe_segment(run_id or "run"),
            safe_segment(task_id or "task"),
        )
        stem = f"{safe_segment(key or 'return_value')}-{map_index if map_index is not None else -1}"
        stem = f"{stem}-{uuid.uuid4().hex[:8]}"
        producer = {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "key": key}
        if not frame_value:
            uri, size, digest = _store(base, f"{stem}.json", _write_json(data))
            ref = {REF_MARKER: 1, "uri": uri, "format": JSON_FORMAT, "bytes": size, "digest": digest}
            return BaseXCom.serialize_value({**ref, "producer": producer})

        from airflow_mlpipelines.frames import codec

        frame = value.to_pandas() if type(value).__name__ == "Table" else value
        # Arrow IPC (uncompressed, memory-mapped reads) on local disks; Parquet-zstd where bytes cost time.
        fmt = settings.xcom_frame_format() or ("arrow" if local_path(base) is not None else "parquet")
        written: list[codec.FrameInfo] = []

        def write(path: str) -> tuple[int, str]:
            written.append(codec.write(frame, path, fmt))
            return written[0].size, written[0].digest

        uri, size, digest = _store(base, f"{stem}.{fmt}", write)
        ref = {
            REF_MARKER: 1,
            "uri": uri,
            "format": fmt,
            "rows": written[0].rows,
            "columns": [list(c) for c in written[0].columns],
            "bytes": size,
            "digest": digest,
            "producer": producer,
            "preview": preview(frame),
        }
        return BaseXCom.serialize_value(ref)

    @staticmethod
    def deserialize_value(result: Any) -> Any:
        """Read a referenced value back (verifying size and digest); other values pass through."""
        value = BaseXCom.deserialize_value(result)
        if isinstance(value, dict) and set(value) == {LITERAL_MARKER}:
            return value[LITERAL_MARKER]
        if not is_ref(value):
            return value
        from airflow_mlpipelines.frames import codec

        producer = value.get("producer", {})
        uri = str(value["uri"])
        try:
            if value["format"] == JSON_FORMAT:
                stored = _fetch(uri, _read_json(value))
                return DataFrameXComBackend.deserialize_value(types.SimpleNamespace(value=stored))
            expected = codec.FrameInfo(
                value["format"],
                value["rows"],
                [tuple(c) for c in value["columns"]],
                value["bytes"],
                value["digest"],
            )
            return _fetch(uri, lambda path: codec.read(path, value["format"], expected=expected))
        except (codec.FrameError, StoredValueError) as exc:
            raise type(exc)(
                f"{exc} (XCom {producer.get('key')!r} of task "
                f"{producer.get('dag_id')}.{producer.get('task_id')} in run {producer.get('run_id')})"
            ) from None

    @staticmethod
    def purge(xcom: Any, *args: Any) -> None:  # type: ignore[override]
        """Delete the file behind a reference when Airflow clears the XCom (before a task's retry)."""
        value = getattr(xcom, "value", None)
        try:
            value = BaseXCom.deserialize_value(xcom) if not isinstance(value, dict) else value
        except (ValueError, TypeError, ImportError, AttributeError):
            # Not a value this backend wrote (nothing stored in a file to delete); Airflow deletes the row.
            return
        if is_ref(value):
            uri = str(value["uri"])
            if local_path(uri) is None:
                ObjectStoragePath(uri).unlink(missing_ok=True)
                return
            try:
                os.remove(uri)
            except FileNotFoundError:
                pass
