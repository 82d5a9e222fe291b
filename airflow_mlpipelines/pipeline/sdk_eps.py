"""``ExecutePythonScriptStep``: Azure ML Studio's Execute Python Script module in SDK-v1-style definitions.

Studio's module had no SDK v1 class, so this one follows ``PythonScriptStep``'s conventions: inputs
are ``PipelineData`` (also another step's ``dataframe_output``), ``.as_input()`` or datasets; outputs
are ``PipelineData`` that later steps consume. It compiles to the same model as a YAML step with
``type: execute_python_script``.
"""

from __future__ import annotations

import os
from typing import Any

from airflow_mlpipelines.pipeline import eps
from airflow_mlpipelines.pipeline.model import DEFAULT_DATASTORE, StepSpec
from airflow_mlpipelines.pipeline.sdk import PipelineData, _caller_location
from airflow_mlpipelines.pipeline.sdk_steps import PythonScriptStep


def _output(value: PipelineData | str | None, default: str) -> PipelineData:
    if isinstance(value, PipelineData):
        return value
    return PipelineData(value or default)


class ExecutePythonScriptStep(PythonScriptStep):
    """Run ``azureml_main(dataframe1, dataframe2)`` with an optional zip bundle on ``sys.path``.

    :param name: Step name.
    :param script: The script's text (it defines ``azureml_main``); or
    :param script_file: a script file, relative to ``source_directory`` (default: the defining file's
        folder).
    :param bundle: A zip of Python modules (relative like ``script_file``).
    :param dataframe1: First DataFrame port: ``PipelineData``, ``.as_input()``, or a dataset
        (``Dataset.Tabular.from_delimited_files(...)``/``from_parquet_files`` or ``.as_named_input``).
    :param dataframe2: Second DataFrame port. The first *connected* port is the first argument.
    :param dataframe_output: ``PipelineData`` (or name) of the DataFrame output
        (default ``<name>_dataframe``); available as ``step.dataframe_output``.
    :param visualizations_output: ``PipelineData`` (or name) of the PNG folder
        (default ``<name>_visualizations``); available as ``step.visualizations_output``.
    :param time_limit_seconds: Kill the script after this long (default from configuration).
    :param memory_limit_mb: Address-space limit of the script's process (default from configuration).
    """

    def __init__(
        self,
        name: str,
        script: str | None = None,
        script_file: str | None = None,
        source_directory: str | None = None,
        bundle: str | None = None,
        dataframe1: Any = None,
        dataframe2: Any = None,
        dataframe_output: PipelineData | str | None = None,
        visualizations_output: PipelineData | str | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        time_limit_seconds: float | None = None,
        memory_limit_mb: int | None = None,
    ) -> None:
        # PythonScriptStep.__init__ is not called: its arguments (script_name, arguments, compute...)
        # do not apply; the attributes its graph methods use are set here.
        self.location = _caller_location()
        self.name = name
        self.script = script
        self.script_file = script_file
        self.script_name = script_file or eps.INLINE_SCRIPT_NAME
        self.source_directory = source_directory
        self.bundle = bundle
        self.ports = {"dataframe1": dataframe1, "dataframe2": dataframe2}
        default_df, default_vis = eps.default_output_names(name)
        self.dataframe_output = _output(dataframe_output, default_df)
        self.visualizations_output = _output(visualizations_output, default_vis)
        self.arguments: list[Any] = []
        self.inputs = [p for p in (dataframe1, dataframe2) if p is not None]
        self.outputs = [self.dataframe_output, self.visualizations_output]
        self.allow_reuse = bool(allow_reuse)
        self.version = version
        self.time_limit_seconds = time_limit_seconds
        self.memory_limit_mb = memory_limit_mb
        self._run_after: list[PythonScriptStep] = []
        self.register_outputs()

    def spec(self, base_dir: str, default_source_directory: str | None) -> tuple[StepSpec, list[Any]]:
        """Compile to a :class:`StepSpec` with its Execute Python Script settings."""
        used: list[Any] = []
        inputs: list[str] = []
        ports = {
            port: self._input_name(item, inputs, used) if item is not None else None
            for port, item in self.ports.items()
        }
        folder = os.path.normpath(
            os.path.join(base_dir, self.source_directory or default_source_directory or ".")
        )

        def store(data: PipelineData) -> str:
            return data.datastore.name if data.datastore is not None else DEFAULT_DATASTORE

        step = eps.build_step(
            name=self.name,
            base_dir=folder,
            script=self.script,
            script_file=self.script_file,
            bundle=self.bundle,
            dataframe1=ports["dataframe1"],
            dataframe2=ports["dataframe2"],
            dataframe_output=self.dataframe_output.name,
            visualizations_output=self.visualizations_output.name,
            dataframe_datastore=store(self.dataframe_output),
            visualizations_datastore=store(self.visualizations_output),
            allow_reuse=self.allow_reuse,
            run_after=[s.name for s in self._run_after],
            version=self.version,
            time_limit_seconds=self.time_limit_seconds,
            memory_limit_mb=self.memory_limit_mb,
            location=self.location,
        )
        return step, used
