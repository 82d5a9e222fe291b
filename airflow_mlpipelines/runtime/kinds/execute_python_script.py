"""Step kind ``execute_python_script`` (Azure ML Studio's module, seeds 000/003): ``azureml_main(df1, df2)``.

The runner has staged the inputs and made the two output folders; this kind prepares the sandbox (the
job's private work folder: the bundle extracted by :mod:`runtime.bundle`, an inline script written as
``azureml_main.py``) and starts :mod:`runtime.eps_main` in a child process through
:class:`runtime.eps_job.EpsRunner`, under the plan's time and memory limits.

Fingerprint components of the kind: ``script_text`` (the script's text), ``bundle`` (the zip's
SHA-256), ``ports`` (which input is on which DataFrame port) and ``frame:<port>`` for DataFrames handed
in directly (hand-written DAGs); inputs from datasets and upstream steps are every step's ``input:<name>``.
The source tree is not hashed: an inline script's folder is the definitions folder.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import BundleError, StepExecutionError
from airflow_mlpipelines.reuse.fingerprint import digest_of
from airflow_mlpipelines.runtime.bundle import BundleLimits, extract
from airflow_mlpipelines.runtime.eps_job import INLINE_SCRIPT_NAME, EpsJob, EpsRunner, write_inline_script

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.model import ExecutePythonScriptSpec
    from airflow_mlpipelines.pipeline.step_task import StepTask
    from airflow_mlpipelines.runtime.kinds import PlanContext
    from airflow_mlpipelines.runtime.plan import StepPlan
    from airflow_mlpipelines.runtime.runner import Job

PORTS = ("dataframe1", "dataframe2")


def _settings(task: StepTask) -> ExecutePythonScriptSpec:
    if task.eps is None:
        raise StepExecutionError(f"step '{task.step}' is not an Execute Python Script step")
    return task.eps


def script_text(task: StepTask) -> str:
    """The script's text: inline, or read from ``script_file``."""
    eps = _settings(task)
    if eps.script is not None:
        return eps.script
    path = str(eps.script_file)
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    except OSError as exc:
        raise StepExecutionError(
            f"step '{task.step}': cannot read script_file {path}: {exc.strerror}"
        ) from None


def relocated(plan: StepPlan, path: str) -> str:
    """``path`` (from the definition) as seen where the runner runs: containers mount or bake the source
    directory elsewhere (``source_path``), and files below it move with it."""
    source = plan.task.source_directory.rstrip("/")
    if plan.source_directory and plan.source_directory != source and path.startswith(source + "/"):
        return plan.source_directory.rstrip("/") + path[len(source) :]
    return path


class ExecutePythonScriptKind:
    """Azure ML Studio's "Execute Python Script" module as a step kind."""

    name = "execute_python_script"
    hashes_source_tree = False
    stages_data = True

    def components(self, task: StepTask, context: PlanContext) -> tuple[dict[str, str], dict[str, Any]]:
        """``script_text``, ``bundle``, ``ports`` and ``frame:<port>`` (see the module docstring)."""
        frames, cache = context.frames, context.cache
        eps = _settings(task)
        text = script_text(task)
        bundle_digest = None
        if eps.bundle:
            if not os.path.isfile(eps.bundle):
                raise StepExecutionError(f"step '{task.step}': script bundle {eps.bundle} does not exist")
            bundle_digest = cache.digest(eps.bundle, os.stat(eps.bundle))
        ports = {port: (None if port in frames else name) for port, name in eps.ports.items()}
        components = {
            "script_text": digest_of(text),
            "bundle": digest_of(bundle_digest),
            "ports": digest_of(ports),
        }
        components.update({f"frame:{port}": frame.digest for port, frame in frames.items()})
        details: dict[str, Any] = {
            "script_text": f"{eps.script_file or 'inline script'} ({components['script_text'][:12]})",
            "bundle": f"{eps.bundle} (sha256 {bundle_digest[:12]})" if eps.bundle and bundle_digest else None,
            "ports": ports,
        }
        return components, details

    def execute(self, job: Job) -> None:
        """Prepare the sandbox, run ``azureml_main`` in the child, leave its summary in ``job.result``."""
        plan = job.plan
        eps = _settings(plan.task)
        sandbox = job.work
        df_name, vis_name = eps.dataframe_output, eps.visualizations_output
        eps_job = EpsJob(
            sandbox=sandbox,
            script=self._script(plan, sandbox),
            script_label=self._label(plan),
            dataframe_output=job.outputs[df_name],
            visualizations_output=job.outputs[vis_name],
            inputs={port: self._port(job, port, name) for port, name in eps.ports.items()},
            bundle_dir=self._bundle(job),
            memory_limit_bytes=plan.limits.memory_limit_mb * 1024 * 1024,
        )
        job.io.say(f"Running step {plan.step}: azureml_main from {eps_job.script_label}")
        runner = EpsRunner(
            eps_job,
            step=plan.step,
            time_limit_seconds=plan.limits.time_limit_seconds,
            grace_seconds=plan.limits.kill_grace_seconds,
            on_stdout=job.io.on_stdout,
            on_stderr=job.io.on_stderr,
            python=job.io.python,
            env=job.env,
        )
        job.io.attach(runner)
        try:
            summary = runner.run()
        finally:
            job.io.attach(None)
        job.io.say(
            f"azureml_main returned {summary['rows']} rows x {len(summary['columns'])} columns; "
            f"visualisations: {', '.join(summary['visualizations']) or 'none'}"
        )
        job.result = summary

    @staticmethod
    def _port(job: Job, port: str, name: str | None) -> dict[str, str] | None:
        frame = job.plan.frames.get(port)
        if frame is not None:
            return {"path": frame.path, "format": "arrow"}
        if name is None:
            return None
        return {"path": job.inputs[name], "format": "table"}

    @staticmethod
    def _script(plan: StepPlan, sandbox: str) -> str:
        eps = _settings(plan.task)
        if eps.script is not None:
            return write_inline_script(sandbox, eps.script)
        path = relocated(plan, str(eps.script_file))
        if not os.path.isfile(path):
            raise StepExecutionError(f"step '{plan.step}': cannot read script_file {path}: it does not exist")
        return path

    @staticmethod
    def _label(plan: StepPlan) -> str:
        eps = _settings(plan.task)
        if eps.script is None:
            return relocated(plan, str(eps.script_file))
        where = plan.task.script_where
        if where:
            return f"{INLINE_SCRIPT_NAME} (the inline script of step '{plan.step}'; its line 1 is {where})"
        return f"{INLINE_SCRIPT_NAME} (the inline script of step '{plan.step}')"

    @staticmethod
    def _bundle(job: Job) -> str | None:
        plan = job.plan
        bundle = _settings(plan.task).bundle
        if not bundle:
            return None
        source = relocated(plan, bundle)
        dest = os.path.join(job.work, "bundle")
        limits = BundleLimits(plan.limits.bundle_max_bytes, plan.limits.bundle_max_files)
        try:
            files = extract(source, dest, limits)
        except BundleError as exc:
            raise StepExecutionError(f"step '{plan.step}': {exc}") from None
        job.io.say(f"extracted script bundle {source} ({len(files)} files) onto sys.path")
        return dest


KIND = ExecutePythonScriptKind()
