"""Step kind ``python_script`` (Azure ML's PythonScriptStep): ``python <script> <arguments>``."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import ScriptFailedError, StepExecutionError
from airflow_mlpipelines.runtime.script_step import ScriptProcess, resolve_arguments, signal_note

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.step_task import StepTask
    from airflow_mlpipelines.runtime.kinds import PlanContext
    from airflow_mlpipelines.runtime.runner import Job


class PythonScriptKind:
    """The script runs from its source directory, in its own process group, output streamed."""

    name = "python_script"
    hashes_source_tree = True
    stages_data = True

    def components(self, task: StepTask, context: PlanContext) -> tuple[dict[str, str], dict[str, Any]]:
        """No components beyond every step's (source tree, script, arguments, inputs...)."""
        return {}, {}

    def execute(self, job: Job) -> None:
        """Run the script with input/output paths and parameter values substituted into its arguments."""
        plan = job.plan
        script = os.path.join(plan.source_directory, plan.task.script_name)
        if not os.path.isfile(script):
            where = (
                ""
                if plan.task.compute_kind == "local"
                else " (is the source directory mounted or in the image?)"
            )
            raise StepExecutionError(
                f"step '{plan.step}': script '{plan.task.script_name}' not found in source_directory "
                f"{plan.source_directory}{where}"
            )
        argv = resolve_arguments(
            plan.arguments, inputs=job.inputs, outputs=job.outputs, parameters=plan.parameters
        )
        job.io.say(f"Running step {plan.step}: python {plan.task.script_name} {' '.join(argv)}")
        process = ScriptProcess(
            python=job.io.python,
            script=script,
            argv=argv,
            cwd=plan.source_directory,
            env={**os.environ, **job.env},
            on_stdout=job.io.on_stdout,
            on_stderr=job.io.on_stderr,
            grace_seconds=plan.limits.kill_grace_seconds,
        )
        job.io.attach(process)
        try:
            result = process.run()
        finally:
            job.io.attach(None)
        job.result = {
            "returncode": result.returncode,
            "stderr_tail": list(result.stderr_tail),
        }  # the run record
        if result.returncode != 0:
            tail = "\n".join(result.stderr_tail)
            stderr = f"; last lines of stderr:\n{tail}" if tail.strip() else "; it wrote nothing to stderr"
            raise ScriptFailedError(
                f"step '{plan.step}': script {plan.task.script_name} exited with code {result.returncode}"
                f"{signal_note(result.returncode)}{stderr}",
                exit_code=result.returncode if result.returncode > 0 else 128 - result.returncode,
            )


KIND = PythonScriptKind()
