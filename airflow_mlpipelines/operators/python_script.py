"""``PythonScriptStepOperator``: run a PythonScriptStep's script as a local child process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.operators.step_operator import StepOperator
from airflow_mlpipelines.pipeline.compute import LOCAL_TARGET
from airflow_mlpipelines.pipeline.model import DEFAULT_DATASTORE
from airflow_mlpipelines.pipeline.step_task import InputBinding, OutputBinding, StepTask

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

    from airflow_mlpipelines.pipeline.step_task import Token


class PythonScriptStepOperator(StepOperator):
    """Run ``python <script_name> <arguments>`` from ``source_directory`` (Azure ML's PythonScriptStep).

    Each output is a fresh directory ``<datastore>/<pipeline>/<step>/<fingerprint>/<run>/<output>`` that
    the script writes into; each input is the directory an upstream step published or a dataset path.
    After the script succeeds the outputs are described (size and SHA-256 of every file) in a manifest,
    committed last and atomically: outputs without a manifest do not exist for reuse. Returns the output
    URLs.

    In a pipeline the DAG factory passes ``task`` (the step's description). In a hand-written DAG give
    the script directly::

        PythonScriptStepOperator(
            task_id="train", script_name="train.py", source_directory="/opt/src",
            arguments=[["--data"], [{"input": "raw"}], ["--model"], [{"output": "model"}]],
            inputs={"raw": "s3://aws_default@bucket/raw.csv"}, outputs=["model"],
        )

    :param task: The step's description (pipelines).
    :param arguments: Argument parts: text, or ``{"input"|"output"|"parameter": name}``. (templated)
    :param script_name: Hand-written use: the script, relative to ``source_directory``.
    :param source_directory: Hand-written use: folder the script runs in; hashed for reuse.
    :param inputs: Hand-written use: input name -> file or folder URL (local path or object storage).
    :param outputs: Hand-written use: output names (folders on the default datastore).
    """

    ui_color = "#d9e8fb"

    def __init__(
        self,
        *,
        task: StepTask | None = None,
        arguments: list[list[Token]] | None = None,
        script_name: str | None = None,
        source_directory: str | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(task=task, arguments=arguments, **kwargs)
        if task is None and (script_name is None or source_directory is None):
            raise ValueError("give task= (pipelines) or script_name= and source_directory=")
        self.script_name = script_name
        self.source_directory = source_directory
        self.inputs = dict(inputs or {})
        self.outputs = list(outputs)

    def step_task(self, context: Context) -> StepTask:
        """The pipeline's description, or one built from this operator's own arguments."""
        if self.task is not None:
            return self.task
        return StepTask(
            pipeline=self.dag_id,
            step=self.task_id,
            kind="python_script",
            script_name=str(self.script_name),
            source_directory=str(self.source_directory),
            target=LOCAL_TARGET,
            inputs=tuple(InputBinding(name, path=url) for name, url in sorted(self.inputs.items())),
            outputs=tuple(OutputBinding(name, DEFAULT_DATASTORE) for name in self.outputs),
        )

    def execute(self, context: Context) -> dict[str, str]:
        """Run the step's plan; return the output folder URLs."""
        return self.run_outputs(context)[0]
