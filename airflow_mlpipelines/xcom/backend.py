"""``DataFrameXComBackend``: pandas DataFrames (and pyarrow Tables) go to files; XCom rows hold a typed ref.

Configure with ``[core] xcom_backend = airflow_mlpipelines.xcom.backend.DataFrameXComBackend``. Every
other value keeps Airflow's own serialisation. The row holds ``{"__mlp_ref__": 1, "uri", "format",
"rows", "columns", "bytes", "digest", "producer", "preview"}``; a missing or corrupt file is an error
naming the uri and the producing task, never a silent fallback to the reference.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from typing import Any

from airflow.sdk import ObjectStoragePath
from airflow.sdk.bases.xcom import BaseXCom

from airflow_mlpipelines import settings
from airflow_mlpipelines.paths import join, local_path, safe_segment

REF_MARKER = "__mlp_ref__"


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
    """Whether an XCom value is one of our frame references."""
    return isinstance(value, dict) and value.get(REF_MARKER) == 1


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
        """Write a DataFrame to a file and return its reference; anything else goes to Airflow's serde."""
        if not _is_frame(value):
            return BaseXCom.serialize_value(value)
        from airflow_mlpipelines.frames import codec

        frame = value.to_pandas() if type(value).__name__ == "Table" else value
        base = join(
            settings.xcom_frames_path(),
            safe_segment(dag_id or "dag"),
            safe_segment(run_id or "run"),
            safe_segment(task_id or "task"),
        )
        # Arrow IPC (uncompressed, memory-mapped reads) on local disks; Parquet-zstd where bytes cost time.
        fmt = settings.xcom_frame_format() or ("arrow" if local_path(base) is not None else "parquet")
        index = map_index if map_index is not None else -1
        name = f"{safe_segment(key or 'return_value')}-{index}-{uuid.uuid4().hex[:8]}.{fmt}"
        directory = local_path(base)
        if directory is not None:
            os.makedirs(directory, exist_ok=True)
            uri = os.path.join(directory, name)
            info = codec.write(frame, uri, fmt)
        else:
            # Object storage: write a local file, then put it in one piece (an atomic put on S3/GCS/Azure).
            uri = join(base, name)
            with tempfile.TemporaryDirectory(prefix="mlp-xcom-") as tmp:
                info = codec.write(frame, os.path.join(tmp, name), fmt)
                ObjectStoragePath(f"file://{os.path.join(tmp, name)}").copy(ObjectStoragePath(uri))
        ref = {
            REF_MARKER: 1,
            "uri": uri,
            "format": fmt,
            "rows": info.rows,
            "columns": [list(c) for c in info.columns],
            "bytes": info.size,
            "digest": info.digest,
            "producer": {"dag_id": dag_id, "run_id": run_id, "task_id": task_id, "key": key},
            "preview": preview(frame),
        }
        return BaseXCom.serialize_value(ref)

    @staticmethod
    def deserialize_value(result: Any) -> Any:
        """Read a referenced DataFrame back (verifying size and digest); other values pass through."""
        value = BaseXCom.deserialize_value(result)
        if not is_ref(value):
            return value
        from airflow_mlpipelines.frames import codec

        producer = value.get("producer", {})
        expected = codec.FrameInfo(
            value["format"],
            value["rows"],
            [tuple(c) for c in value["columns"]],
            value["bytes"],
            value["digest"],
        )
        try:
            uri = str(value["uri"])
            if local_path(uri) is not None:
                return codec.read(uri, value["format"], expected=expected)
            with tempfile.TemporaryDirectory(prefix="mlp-xcom-") as tmp:
                local = os.path.join(tmp, "frame")
                remote = ObjectStoragePath(uri)
                if not remote.exists():
                    raise codec.FrameError(f"stored frame {uri} does not exist")
                remote.copy(ObjectStoragePath(f"file://{local}"))
                return codec.read(local, value["format"], expected=expected)
        except codec.FrameError as exc:
            raise codec.FrameError(
                f"{exc} (XCom {producer.get('key')!r} of task "
                f"{producer.get('dag_id')}.{producer.get('task_id')} in run {producer.get('run_id')})"
            ) from None

    @staticmethod
    def purge(xcom: Any, *args: Any) -> None:  # type: ignore[override]
        """Delete the file behind a reference when Airflow clears the XCom."""
        value = getattr(xcom, "value", None)
        try:
            value = BaseXCom.deserialize_value(xcom) if not isinstance(value, dict) else value
        except Exception:
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
