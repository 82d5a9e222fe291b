"""``PythonScriptStepOperator``: run a PythonScriptStep's script as a local child process."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_mlpipelines import settings
from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.operators import storage
from airflow_mlpipelines.operators.step_base import (
    StepOperatorBase,
)
from airflow_mlpipelines.runtime.script_step import ScriptProcess, resolve_arguments

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlpipelines.reuse.fingerprint import Fingerprint


class PythonScriptStepOperator(StepOperatorBase):
    """Run ``python <script_name> <arguments>`` from ``source_directory`` (Azure ML's PythonScriptStep).

    Each output is a fresh directory ``<datastore>/<pipeline>/<step>/<fingerprint>/<run>/<output>`` that
    the script writes into; each input is the directory an upstream step published or a dataset path.
    After the script succeeds the outputs are described (size and SHA-256 of every file) in a manifest,
    committed last and atomically: outputs without a manifest do not exist for reuse.

    :param pipeline: Pipeline name (the DAG id).
    :param step: Step name.
    :param script_name: Script, relative to ``source_directory``.
    :param source_directory: Folder the script runs in (its working directory); hashed for reuse.
    :param arguments: Argument parts: text, or ``{"input"|"output"|"parameter": name}``. (templated)
    :param inputs: Input name -> ``{"step": producer step}`` or ``{"datastore", "path", "mode"}``.
    :param outputs: Output name -> datastore name.
    :param datastores: Declared datastore name -> URL (None: under ``[mlpipelines] datastore_root``).
    :param parameters: Names of the pipeline parameters the arguments use.
    :param compute: Compute target name (a local target: Docker and Kubernetes targets render to the
        official operators instead, see :mod:`airflow_mlpipelines.compute`).
    :param compute_kind: The target's kind (``local``, ``docker``, ``kubernetes``): a fingerprint component;
        for container kinds the reuse sensor hands the run-time plan to the official operator.
    :param container_source_directory: Where a pod finds ``source_directory`` (the target's
        ``source_path``); None: the same path (Docker bind-mounts it).
    :param environment: The step's environment content (image, pip, conda, env): a fingerprint component.
    """

    template_fields_renderers: ClassVar[dict[str, str]] = {"arguments": "json"}
    ui_color = "#d9e8fb"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._process: ScriptProcess | None = None

    def execute(self, context: Context) -> dict[str, str]:
        """Resolve paths and values, run the script, commit the manifest, and return the output URLs."""
        if self.compute_kind != "local":
            self.log.warning(
                "compute target %r is of kind %s; this operator runs it as a local process",
                self.compute,
                self.compute_kind,
            )
        fp = self.handed_fingerprint(context)
        with self.held_lease(context, fp):
            return self._execute(context, fp)

    def _execute(self, context: Context, fp: Fingerprint) -> dict[str, str]:
        output_urls = self.output_urls(fp, context["run_id"])
        with tempfile.TemporaryDirectory(prefix=f"mlp-{self.step}-") as staging:
            input_paths = {
                name: self._local_input(self.input_url(context, name, spec), staging, name)
                for name, spec in self.inputs.items()
            }
            output_paths = {name: self._output_dir(url, staging, name) for name, url in output_urls.items()}
            argv = resolve_arguments(
                self.arguments,
                inputs=input_paths,
                outputs=output_paths,
                parameters=self.parameter_values(context),
            )
            self._run(argv)
            self.commit_outputs(context, fp, output_paths, output_urls)
        return output_urls

    def _local_input(self, url: str, staging: str, name: str) -> str:
        local = storage.local_path(url)
        if local is not None:
            if not os.path.exists(local):
                raise StepExecutionError(f"step '{self.step}': input '{name}' does not exist at {local}")
            return local
        return storage.download(url, os.path.join(staging, "inputs", name))

    @staticmethod
    def _output_dir(url: str, staging: str, name: str) -> str:
        local = storage.local_path(url)
        return storage.fresh_local_dir(local if local is not None else os.path.join(staging, "outputs", name))

    def _run(self, argv: list[str]) -> None:
        script = os.path.join(self.source_directory, self.script_name)
        if not os.path.isfile(script):
            raise StepExecutionError(
                f"step '{self.step}': script '{self.script_name}' not found in source_directory "
                f"{self.source_directory}"
            )
        self.log.info("Running step %s: python %s %s", self.step, self.script_name, " ".join(argv))
        self._process = ScriptProcess(
            python=sys.executable,
            script=script,
            argv=argv,
            cwd=self.source_directory,
            on_stdout=lambda line: self.log.info("%s", line),
            on_stderr=lambda line: self.log.info("[stderr] %s", line),
        )
        result = self._process.run()
        if result.returncode != 0:
            tail = "\n".join(result.stderr_tail)
            raise StepExecutionError(
                f"step '{self.step}': script {self.script_name} exited with code {result.returncode}; "
                f"last lines of stderr:\n{tail}"
            )

    def on_kill(self) -> None:
        """Stop the script's whole process group when Airflow stops the task."""
        if self._process is not None:
            self._process.terminate(settings.kill_grace_seconds())
