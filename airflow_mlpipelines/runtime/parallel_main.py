"""``python -m airflow_mlpipelines.runtime.parallel_main JOB.json``: one mini-batch of a ParallelRunStep.

The mapped task (``runtime/parallel_batch.py``) writes the job and starts this child in its own process
group, like a script step's: it imports the entry script, calls ``init()`` then ``run(mini_batch)``
with a list of file paths (file input) or a pandas DataFrame (tabular input, read through ``frames``),
and writes what ``run`` returned as rows (``result.json``). An exception in ``run`` is the mini-batch's
failure (its traceback, from the user's first frame, goes to stderr); an entry script that cannot be
loaded or lacks ``run`` is a setup error (``fatal``) that fails the task.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from typing import Any

from airflow_mlpipelines.runtime import entry_script as es


def _write(path: str, value: dict[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(value, fh)
    os.replace(tmp, path)


def _load(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("mlp_entry_script", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules["mlp_entry_script"] = module
    spec.loader.exec_module(module)
    return module


def _mini_batch(job: dict[str, Any]) -> Any:
    if not job["tabular"]:
        return list(job["items"])
    from airflow_mlpipelines.frames.tables import read_files, read_part

    if job.get("path_keys"):  # one partition_format group: its files' rows, with the keys as columns
        return read_files(job["items"], job.get("keys") or {})
    return read_part(job["items"][0], job.get("start"), job.get("end"), job.get("keys") or {})


def _rows(result: Any) -> tuple[list[str], int]:
    """Rows of ``run``'s return: one per list item (``str``), or one per DataFrame row (space-separated,
    no header, as SDK v1 appends DataFrame results)."""
    if isinstance(result, list | tuple):
        return [str(item) for item in result], len(result)
    if hasattr(result, "to_csv") and hasattr(result, "columns"):
        from airflow_mlpipelines.frames.tables import frame_rows

        lines = frame_rows(result)
        return lines, len(lines)
    raise TypeError(f"run() must return a list or a pandas DataFrame, not {type(result).__name__}")


def main(argv: list[str]) -> int:
    """Run one mini-batch; 0 unless the job itself is unusable."""
    with open(argv[0], encoding="utf-8") as fh:
        job: dict[str, Any] = json.load(fh)
    os.environ[es.OUTPUT_DIR_ENV] = job["output_dir"]
    os.environ[es.WORKING_DIR_ENV] = job["working_dir"]
    os.environ[es.LEVEL_ENV] = job["logging_level"]
    os.environ[es.MINI_BATCH_ENV] = str(job["index"])
    sys.argv = [job["entry_script"], *job["arguments"]]
    sys.path.insert(0, job["source_directory"])
    try:
        module = _load(job["entry_script"])
    except FileNotFoundError:
        _write(job["result"], {"fatal": f"entry_script {job['entry_script']} not found"})
        return 0
    except Exception as exc:
        traceback.print_exc()
        _write(job["result"], {"fatal": f"entry_script {job['entry_script']} failed to import: {exc!r}"})
        return 0
    if not callable(getattr(module, "run", None)):
        _write(
            job["result"], {"fatal": f"entry_script {job['entry_script']} has no run(mini_batch) function"}
        )
        return 0
    items: dict[str, int] = {}
    try:
        init = getattr(module, "init", None)
        if callable(init):
            init()
        mini_batch = _mini_batch(job)
        items["items"] = len(mini_batch)  # what a failure of the whole mini-batch counts
        rows, returned = _rows(module.run(mini_batch))
    except Exception as exc:
        traceback.print_exc()
        error = f"{type(exc).__name__}: {exc}"
        _write(job["result"], {"rows": [], "returned": 0, "error": error, **items})
        return 0
    _write(job["result"], {"rows": rows, "returned": returned, "error": None, **items})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
