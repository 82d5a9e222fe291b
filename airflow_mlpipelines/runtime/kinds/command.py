"""Step kind ``command`` (Azure ML SDK v1's CommandStep): a command line instead of a Python script.

The command's words are the step's arguments (``StepTask.arguments``: text and input/output/parameter
references, substituted exactly like a PythonScriptStep's arguments), run without a shell from the
source directory. A first word ``python``/``python3`` is the step's own interpreter (the worker's, or
the image's in a container), as ``python`` was the environment's in Azure ML.
"""

from __future__ import annotations

import os
import shlex
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import ScriptFailedError, StepExecutionError
from airflow_mlpipelines.runtime.script_step import ChildProcess, resolve_arguments, signal_note

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.step_task import StepTask
    from airflow_mlpipelines.runtime.kinds import PlanContext
    from airflow_mlpipelines.runtime.runner import Job

PYTHON_NAMES = frozenset({"python", "python3"})
"""First words that mean "the step's Python" rather than whatever ``python`` is first on ``PATH``."""


class CommandKind:
    """The command runs from its source directory, in its own process group, output streamed."""

    name = "command"
    hashes_source_tree = True
    stages_data = True

    def components(self, task: StepTask, context: PlanContext) -> tuple[dict[str, str], dict[str, Any]]:
        """No components beyond every step's: the command is the arguments component, with the source tree."""
        return {}, {}

    def execute(self, job: Job) -> None:
        """Run the command with input/output paths and parameter values substituted into its words."""
        plan = job.plan
        argv = resolve_arguments(
            plan.arguments, inputs=job.inputs, outputs=job.outputs, parameters=plan.parameters
        )
        if not argv or not argv[0]:
            raise StepExecutionError(f"step '{plan.step}': the command is empty")
        shown, program = shlex.join(argv), argv[0]
        if argv[0] in PYTHON_NAMES:
            argv = [job.io.python, *argv[1:]]
        job.io.say(f"Running step {plan.step}: {shown}")
        process = ChildProcess(
            command=argv,
            cwd=plan.source_directory,
            env={**os.environ, **job.env},
            on_stdout=job.io.on_stdout,
            on_stderr=job.io.on_stderr,
            grace_seconds=plan.limits.kill_grace_seconds,
        )
        job.io.attach(process)
        try:
            result = process.run()
        except OSError as exc:  # no such program, not executable, no such source directory
            where = "" if plan.task.compute_kind == "local" else " (is it installed in the image?)"
            raise StepExecutionError(
                f"step '{plan.step}': cannot start '{program}' in {plan.source_directory}: "
                f"{exc.strerror or exc}{where}"
            ) from None
        finally:
            job.io.attach(None)
        job.result = {"returncode": result.returncode, "stderr_tail": list(result.stderr_tail)}
        if result.returncode != 0:
            tail = "\n".join(result.stderr_tail)
            stderr = f"; last lines of stderr:\n{tail}" if tail.strip() else "; it wrote nothing to stderr"
            raise ScriptFailedError(
                f"step '{plan.step}': command {shlex.quote(program)} exited"
                f" with code {result.returncode}{signal_note(result.returncode)}{stderr}",
                exit_code=result.returncode if result.returncode > 0 else 128 - result.returncode,
            )


KIND = CommandKind()
