"""``python -m airflow_mlpipelines.runtime.step_main PLAN_JSON``: run one step inside its container or pod.

The reuse task hands every step its :class:`~airflow_mlpipelines.runtime.plan.StepPlan`; the official
DockerOperator/KubernetesPodOperator pass the plan's JSON here as the one argument. This module runs
the same runner the local operators run on the worker (:func:`runtime.runner.run_plan`), with the
storage layer built from the credentials the compute task handed in (``$MLP_STORAGE_CONNECTIONS``), so
local, Docker and Kubernetes steps are interchangeable and reuse works the same across them. It
imports no Airflow: a step image needs Python, fsspec (plus the fsspec driver of its object store) and
this package.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import LeaseError, StepExecutionError, StorageError
from airflow_mlpipelines.runtime.plan import StepPlan
from airflow_mlpipelines.runtime.runner import RunnerIO, RunResult, Stoppable
from airflow_mlpipelines.runtime.runner import run_plan as _run
from airflow_mlpipelines.storage import FsspecStorage

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_mlpipelines.storage import Storage

PLAN_ENV = "MLP_STEP_PLAN"
"""Environment variable that may carry the plan instead of the argument (``-`` reads stdin)."""
EXIT_SETUP_ERROR = 3
"""Exit status when the plan, the storage or the data cannot be used (the user's script did not run)."""


def _say(text: str) -> None:
    """One line to stdout: the container's log, which the operators copy into the task log."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


class _Child:
    """The running child the SIGTERM handler stops (the container's PID 1 is this process)."""

    def __init__(self) -> None:
        self.current: Stoppable | None = None

    def attach(self, child: Stoppable | None) -> None:
        self.current = child


def _drop_privileges(run_as: tuple[int, int] | None) -> None:
    """Run as the worker's uid:gid when started as root (files in bind-mounted datastores are then
    the Airflow user's, as the reuse task decided at run time)."""
    if run_as is None or os.getuid() != 0:
        return
    uid, gid = run_as
    if (uid, gid) == (0, 0):
        return
    os.setgroups([])
    os.setgid(gid)
    os.setuid(uid)
    os.environ.setdefault("HOME", "/tmp")  # noqa: S108 - the target user may have no home in the image


def run_plan(
    plan: StepPlan | Mapping[str, Any], python: str = sys.executable, storage: Storage | None = None
) -> dict[str, Any]:
    """Run a plan (object or JSON) with the container's storage; returns the committed manifest."""
    step_plan = plan if isinstance(plan, StepPlan) else StepPlan.from_json(dict(plan))
    child = _Child()
    io = RunnerIO(
        say=_say,
        on_stdout=_say,
        on_stderr=lambda line: _say(f"[stderr] {line}"),
        python=python,
        attach=child.attach,
    )

    def stop(signum: int, _frame: object) -> None:
        # As PID 1 of a container, SIGTERM would otherwise be ignored: stop the script's group and exit.
        if child.current is not None:
            child.current.terminate(step_plan.limits.kill_grace_seconds)
        raise SystemExit(128 + signum)

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, stop)
    result: RunResult = _run(step_plan, storage or FsspecStorage.from_environment(), io)
    return result.manifest


def load_plan(argv: Sequence[str]) -> dict[str, Any]:
    """The plan's JSON from the first argument (``-`` for stdin), else from ``$MLP_STEP_PLAN``."""
    text = argv[0] if argv else os.environ.get(PLAN_ENV, "")
    if text == "-":
        text = sys.stdin.read()
    if not text:
        raise StepExecutionError(f"no step plan: pass it as the first argument or in ${PLAN_ENV}")
    try:
        plan = json.loads(text)
    except ValueError as exc:
        raise StepExecutionError(f"the step plan is not JSON: {exc}") from None
    if not isinstance(plan, dict):
        raise StepExecutionError("the step plan must be a JSON object")
    return plan


MINI_BATCH_FLAG = "--mini-batch"
"""``step_main --mini-batch <descriptor>``: one mini-batch of a parallel run step (the plan in
``$MLP_STEP_PLAN``)."""


def run_mini_batch(plan: StepPlan, descriptor: str, python: str = sys.executable) -> dict[str, Any]:
    """Run (or reuse) one mini-batch with the container's storage; returns how it ended."""
    from airflow_mlpipelines.runtime import parallel, parallel_batch

    child = _Child()
    io = RunnerIO(
        say=_say,
        on_stdout=_say,
        on_stderr=lambda line: _say(f"[stderr] {line}"),
        python=python,
        attach=child.attach,
    )
    batch = parallel.MiniBatch.from_json(descriptor)
    return parallel_batch.run_batch(plan, batch, FsspecStorage.from_environment(), io).to_json()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; a failure prints one line (no traceback) and returns its exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        if args[:1] == [MINI_BATCH_FLAG] and len(args) == 2:
            plan = StepPlan.from_json(load_plan([]))
            _drop_privileges(plan.run_as)
            run_mini_batch(plan, args[1])
            return 0
        plan = StepPlan.from_json(load_plan(args))
        _drop_privileges(plan.run_as)
        run_plan(plan)
    except StepExecutionError as exc:
        _say(f"ERROR: {exc}")
        return exc.exit_code
    except (StorageError, LeaseError) as exc:
        _say(f"ERROR: step '{_step_name(argv)}': {exc}")
        return EXIT_SETUP_ERROR
    except Exception as exc:  # anything else: one line in the container's log, never a bare traceback
        reason = str(exc).splitlines()[0] if str(exc) else ""
        _say(f"ERROR: step '{_step_name(argv)}' failed to run: {type(exc).__name__}: {reason[:500]}")
        return EXIT_SETUP_ERROR
    return 0


def _step_name(argv: Sequence[str] | None) -> str:
    try:
        return str(load_plan(sys.argv[1:] if argv is None else argv)["task"]["step"])
    except (StepExecutionError, KeyError, TypeError):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
