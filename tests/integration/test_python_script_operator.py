"""PythonScriptStepOperator against real scripts and processes: failures, logs, kill, outputs."""

from __future__ import annotations

import re
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from airflow_mlpipelines.exceptions import StepExecutionError
from tests.step_fakes import context, make_task, publish

pytestmark = pytest.mark.integration


def _context(params: dict[str, Any] | None = None, published: dict[str, dict[str, str]] | None = None) -> Any:
    """A context whose upstream steps committed ``published`` (step -> output name -> folder)."""
    folder = Path(tempfile.mkdtemp(prefix="mlp-published-"))
    plans = {step: publish(folder, step, outs) for step, outs in (published or {}).items()}
    return context(params, plans)


def _operator(source: Path, script: str, *, arguments: Any = None, **kwargs: Any) -> Any:
    from airflow_mlpipelines.operators.python_script import PythonScriptStepOperator

    return PythonScriptStepOperator(
        task_id="run", task=make_task(source, script, **kwargs), arguments=arguments
    )


def test_non_zero_exit_fails_with_stderr_tail(tmp_path: Path) -> None:
    (tmp_path / "boom.py").write_text(
        "import sys\nprint('working')\n"
        "for i in range(30):\n    print(f'err {i}', file=sys.stderr)\nsys.exit(3)\n"
    )
    op = _operator(tmp_path, "boom.py")
    with pytest.raises(StepExecutionError, match=r"(?s)exited with code 3.*err 10\n.*err 29") as info:
        op.execute(_context())
    assert "err 9\n" not in str(info.value)


def test_missing_script_names_step_and_directory(tmp_path: Path) -> None:
    op = _operator(tmp_path, "nope.py")
    with pytest.raises(StepExecutionError, match=r"step 's': script 'nope.py' not found in source_directory"):
        op.execute(_context())


def test_outputs_inputs_and_parameters_are_substituted(tmp_path: Path, airflow_home: Path) -> None:
    (tmp_path / "copy.py").write_text(
        "import sys, os, shutil\n"
        "src, dst, lr = sys.argv[1], sys.argv[2], sys.argv[3]\n"
        "shutil.copy(os.path.join(src, 'in.txt'), os.path.join(dst, 'out.txt'))\n"
        "open(os.path.join(dst, 'lr.txt'), 'w').write(lr)\n"
    )
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    (upstream / "in.txt").write_text("payload")
    op = _operator(
        tmp_path,
        "copy.py",
        arguments=[[{"input": "data"}], [{"output": "result"}], ["--lr=", {"parameter": "lr"}]],
        inputs={"data": {"step": "prep"}},
        outputs={"result": "workspaceblobstore"},
        parameters=("lr",),
    )
    urls = op.execute(_context({"lr": 0.5}, {"prep": {"data": str(upstream)}}))
    out = Path(urls["result"])
    base = airflow_home / "mlpipelines/datastore/workspaceblobstore/p/s"
    assert out.parent.parent.parent == base
    assert re.fullmatch(r"[0-9a-f]{16}", out.parent.parent.name)
    assert out.parent.name == "manual__2026-01-01T00_00_00_00_00"
    assert (out / "out.txt").read_text() == "payload"
    assert (out / "lr.txt").read_text() == "--lr=0.5"


def test_missing_upstream_output_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "x.py").write_text("pass\n")
    op = _operator(tmp_path, "x.py", arguments=[[{"input": "data"}]], inputs={"data": {"step": "prep"}})
    with pytest.raises(StepExecutionError, match=r"upstream step 'prep' published no outputs"):
        op.execute(_context())


def test_on_kill_terminates_the_script_process_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    (tmp_path / "sleepy.py").write_text(
        "import os, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pidfile)!r}, 'w').write(f'{{os.getpid()}} {{child.pid}}')\n"
        "time.sleep(60)\n"
    )
    op = _operator(tmp_path, "sleepy.py")
    errors: list[BaseException] = []

    def target() -> None:
        try:
            op.execute(_context())
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    deadline = time.monotonic() + 20
    while not (pidfile.exists() and pidfile.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = [int(p) for p in pidfile.read_text().split()]
    op.on_kill()
    thread.join(timeout=20)
    assert not thread.is_alive()
    assert errors
    assert "exited with code -15" in str(errors[0])
    time.sleep(0.2)
    assert [pid for pid in pids if _alive(pid)] == []


def _alive(pid: int) -> bool:
    """Running, not merely a zombie waiting for a reaper (there may be no init in a container)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_remote_datastore_is_staged_through_object_storage(tmp_path: Path) -> None:
    """A non-local datastore URL (fsspec's in-memory filesystem here) is downloaded and uploaded."""
    import fsspec
    from airflow.sdk import ObjectStoragePath
    from airflow.sdk.io import attach

    attach("memory", fs=fsspec.filesystem("memory"))
    remote = ObjectStoragePath("memory://mlp-test/store")
    (remote / "raw").mkdir(parents=True, exist_ok=True)
    (remote / "raw" / "in.txt").write_text("remote payload")
    (tmp_path / "copy.py").write_text(
        "import sys, os\n"
        "data = open(sys.argv[1]).read()\n"
        "open(os.path.join(sys.argv[2], 'out.txt'), 'w').write(data.upper())\n"
    )
    op = _operator(
        tmp_path,
        "copy.py",
        arguments=[[{"input": "raw"}], [{"output": "result"}]],
        inputs={"raw": {"datastore": "remote", "path": "raw/in.txt", "mode": "download"}},
        outputs={"result": "remote"},
        datastores={"remote": "memory://mlp-test/store"},
    )
    urls = op.execute(_context())
    assert re.fullmatch(
        r"memory://mlp-test/store/p/s/[0-9a-f]{16}/manual__2026-01-01T00_00_00_00_00/result", urls["result"]
    )
    assert (ObjectStoragePath(urls["result"]) / "out.txt").read_text() == "REMOTE PAYLOAD"
