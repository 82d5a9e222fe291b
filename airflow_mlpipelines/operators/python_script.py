"""``PythonScriptStepOperator``: run a PythonScriptStep's script as a local child process."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_mlpipelines import settings
from airflow_mlpipelines.exceptions import StepExecutionError, did_you_mean
from airflow_mlpipelines.operators import storage
from airflow_mlpipelines.runtime.script_step import ScriptProcess, Token, resolve_arguments

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

RESERVED_CONF_KEYS = frozenset({"regenerate_outputs", "force_rerun"})


class PythonScriptStepOperator(BaseOperator):
    """Run ``python <script_name> <arguments>`` from ``source_directory`` (Azure ML's PythonScriptStep).

    Each output is a fresh directory ``<datastore>/<pipeline>/<step>/<run>/<output>`` that the script
    writes into; each input is the directory an upstream step produced (pulled from its XCom) or a
    dataset path. The task returns ``{output name: URL}`` so consumers find the data.

    :param pipeline: Pipeline name (the DAG id).
    :param step: Step name.
    :param script_name: Script, relative to ``source_directory``.
    :param source_directory: Folder the script runs in (its working directory).
    :param arguments: Argument parts: text, or ``{"input"|"output"|"parameter": name}``. (templated)
    :param inputs: Input name -> ``{"task_id": producer task}`` or ``{"datastore", "path", "mode"}``.
    :param outputs: Output name -> datastore name.
    :param datastores: Declared datastore name -> URL (None: under ``[mlpipelines] datastore_root``).
    :param parameters: Names of pipeline parameters, read from the run's params.
    :param compute: Compute target name (only ``local`` runs today).
    """

    template_fields: Sequence[str] = ("arguments",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"arguments": "json"}
    ui_color = "#d9e8fb"

    def __init__(
        self,
        *,
        pipeline: str,
        step: str,
        script_name: str,
        source_directory: str,
        arguments: Sequence[Sequence[Token]] = (),
        inputs: Mapping[str, Mapping[str, Any]] | None = None,
        outputs: Mapping[str, str] | None = None,
        datastores: Mapping[str, str | None] | None = None,
        parameters: Sequence[str] = (),
        compute: str = "local",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.step = step
        self.script_name = script_name
        self.source_directory = source_directory
        self.arguments = [list(a) for a in arguments]
        self.inputs = dict(inputs or {})
        self.outputs = dict(outputs or {})
        self.datastores = dict(datastores or {})
        self.parameters = list(parameters)
        self.compute = compute
        self._process: ScriptProcess | None = None

    def execute(self, context: Context) -> dict[str, str]:
        """Resolve paths and values, run the script, and return the output URLs."""
        if self.compute != "local":
            self.log.warning(
                "compute target %r is not supported yet; running as a local process", self.compute
            )
        params = self._parameter_values(context)
        run_key = storage.safe_segment(context["run_id"])
        root = settings.datastore_root()
        with tempfile.TemporaryDirectory(prefix=f"mlp-{self.step}-") as staging:
            input_paths = {
                name: self._input_path(name, spec, context, root, staging)
                for name, spec in self.inputs.items()
            }
            output_urls = {
                name: storage.join(
                    storage.datastore_url(store, self.datastores, root),
                    self.pipeline,
                    self.step,
                    run_key,
                    name,
                )
                for name, store in self.outputs.items()
            }
            output_paths = {name: self._output_dir(url, staging, name) for name, url in output_urls.items()}
            argv = resolve_arguments(
                self.arguments, inputs=input_paths, outputs=output_paths, parameters=params
            )
            self._run(argv)
            for name, url in output_urls.items():
                if storage.local_path(url) is None:
                    storage.upload(output_paths[name], url)
        return output_urls

    def _parameter_values(self, context: Context) -> dict[str, object]:
        params = context["params"]
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        for key in conf:
            if key not in self.parameters and key not in RESERVED_CONF_KEYS:
                self.log.warning(
                    "run conf key %r is not a parameter of pipeline %r%s",
                    key,
                    self.pipeline,
                    f" ({did_you_mean(key, self.parameters)})" if did_you_mean(key, self.parameters) else "",
                )
        return {name: params[name] for name in self.parameters}

    def _input_path(
        self, name: str, spec: Mapping[str, Any], context: Context, root: str, staging: str
    ) -> str:
        if "task_id" in spec:
            produced = context["ti"].xcom_pull(task_ids=spec["task_id"])
            if not isinstance(produced, dict) or name not in produced:
                raise StepExecutionError(
                    f"step '{self.step}': input '{name}' was not published by task '{spec['task_id']}'"
                )
            url = str(produced[name])
        else:
            base = storage.datastore_url(spec["datastore"], self.datastores, root)
            url = storage.join(base, spec["path"])
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
