"""Start an Execute Python Script job in a child process with its limits, and report how it ended.

The operator (Airflow side) and the conformance tests both go through :class:`EpsRunner`, so what the
tests check is what a task does: ``python -u -m airflow_mlpipelines.runtime.eps_main JOB`` in the
sandbox's working directory, in its own process group (so a time-out kills everything the script
started), with ``MPLBACKEND=Agg`` preset; the failure message names the user's exception and line.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import threading
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.runtime.script_step import ScriptProcess

if TYPE_CHECKING:
    from collections.abc import Callable

RUNNER_MODULE = "airflow_mlpipelines.runtime.eps_main"
INLINE_SCRIPT_NAME = "azureml_main.py"


@dataclass
class EpsJob:
    """One run of a script: what :mod:`eps_main` reads from ``job.json``.

    ``inputs`` maps each port to ``{"path", "format"}`` (``table``: a CSV/Parquet file or folder;
    ``arrow``: an Arrow IPC file of ``frames.codec``) or None when not connected.
    """

    sandbox: str
    script: str
    script_label: str
    dataframe_output: str
    visualizations_output: str
    inputs: dict[str, dict[str, str] | None] = field(default_factory=dict)
    bundle_dir: str | None = None
    memory_limit_bytes: int = 0

    @property
    def work_dir(self) -> str:
        """The script's working directory (its PNGs are collected from here)."""
        return os.path.join(self.sandbox, "work")

    @property
    def error_file(self) -> str:
        """Written by the child when the script fails."""
        return os.path.join(self.sandbox, "error.json")

    @property
    def result_file(self) -> str:
        """Written by the child when the script succeeds (rows, columns, PNG names, timings)."""
        return os.path.join(self.sandbox, "result.json")

    def write(self) -> str:
        """Write ``job.json`` into the sandbox (and create the working directory); return its path."""
        os.makedirs(self.work_dir, exist_ok=True)
        path = os.path.join(self.sandbox, "job.json")
        data = asdict(self) | {"error_file": self.error_file, "result_file": self.result_file}
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        return path


def write_inline_script(sandbox: str, text: str) -> str:
    """Put an inline script in the sandbox as ``azureml_main.py`` (a real file: tracebacks show lines)."""
    path = os.path.join(sandbox, INLINE_SCRIPT_NAME)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text)
    return path


class EpsRunner:
    """Run an :class:`EpsJob` in a child process under a time limit; ``terminate`` stops it early."""

    def __init__(
        self,
        job: EpsJob,
        *,
        step: str,
        time_limit_seconds: float = 0.0,
        grace_seconds: float = 5.0,
        on_stdout: Callable[[str], None],
        on_stderr: Callable[[str], None],
        python: str | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.job = job
        self.step = step
        self.time_limit = time_limit_seconds
        self.memory_limit_mb = job.memory_limit_bytes // (1024 * 1024)
        self.grace = grace_seconds
        self.timed_out = False
        env = {**os.environ, **(env or {})}
        env["MPLBACKEND"] = "Agg"  # the seed's first step for plots, preset
        # ``-m`` as the "script": python -u -m airflow_mlpipelines.runtime.eps_main JOB
        self.process = ScriptProcess(
            python=python or sys.executable,
            script="-m",
            argv=[RUNNER_MODULE, job.write()],
            cwd=job.work_dir,
            env=env,
            on_stdout=on_stdout,
            on_stderr=on_stderr,
        )

    def run(self) -> dict[str, Any]:
        """Run to the end; return the child's summary or raise :class:`StepExecutionError`."""
        timer = threading.Timer(self.time_limit, self._time_out) if self.time_limit > 0 else None
        if timer is not None:
            timer.daemon = True
            timer.start()
        try:
            result = self.process.run()
        finally:
            if timer is not None:
                timer.cancel()
        if self.timed_out:
            raise StepExecutionError(
                f"step '{self.step}': azureml_main ran longer than its time limit of {self.time_limit:g} s; "
                "its process group was killed (time_limit_seconds, [mlpipelines] eps_time_limit_seconds)"
            )
        if result.returncode != 0:
            raise self._failure(result.returncode, result.stderr_tail)
        with open(self.job.result_file, encoding="utf-8") as fh:
            summary: dict[str, Any] = json.load(fh)
        return summary

    def terminate(self, grace_seconds: float | None = None) -> None:
        """SIGTERM the child's process group, SIGKILL after the grace time."""
        self.process.terminate(self.grace if grace_seconds is None else grace_seconds)

    def _time_out(self) -> None:
        self.timed_out = True
        self.terminate()
        # What the script started may outlive it (its own children ignore or outlast SIGTERM).
        if self.process.pid is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def _failure(self, returncode: int, tail: list[str]) -> StepExecutionError:
        try:
            with open(self.job.error_file, encoding="utf-8") as fh:
                error = json.load(fh)
        except (OSError, ValueError):
            error = None
        memory = f" (the step's memory limit is {self.memory_limit_mb} MiB)" if self.memory_limit_mb else ""
        if error is not None and error.get("kind") == "user":
            where = f" at line {error['line']} of {self.job.script_label}" if error.get("line") else ""
            hint = memory if error.get("type") == "MemoryError" else ""
            return StepExecutionError(
                f"step '{self.step}': azureml_main raised {error['type']}: {error['message']}{where}{hint}; "
                "its full traceback is in the task log above"
            )
        if error is not None:
            return StepExecutionError(f"step '{self.step}': {error['message']}")
        if returncode < 0:
            return StepExecutionError(
                f"step '{self.step}': the script's process was killed by signal {-returncode}{memory}"
            )
        text = "\n".join(tail)
        return StepExecutionError(
            f"step '{self.step}': the script's process exited with code {returncode}; "
            f"last lines of stderr:\n{text}"
        )
