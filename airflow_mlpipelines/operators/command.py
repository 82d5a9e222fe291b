"""``CommandStepOperator``: run a CommandStep's command line as a local child process."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.operators.step_operator import StepOperator
from airflow_mlpipelines.pipeline.compute import LOCAL_TARGET
from airflow_mlpipelines.pipeline.model import DEFAULT_DATASTORE
from airflow_mlpipelines.pipeline.step_task import (
    InputBinding,
    OutputBinding,
    StepTask,
    arguments_from_tokens,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

    from airflow_mlpipelines.pipeline.step_task import Token


class CommandStepOperator(StepOperator):
    """Run a command (Azure ML SDK v1's CommandStep) from ``source_directory``, with the same reuse,
    outputs and manifests as a PythonScriptStep; each word may hold input/output/parameter references.

    In a pipeline the DAG factory passes ``task``. In a hand-written DAG give the command's words::

        CommandStepOperator(
            task_id="convert", source_directory="/opt/src",
            arguments=[["bash"], ["convert.sh"], [{"input": "raw"}], [{"output": "out"}]],
            inputs={"raw": "s3://aws_default@bucket/raw.csv"}, outputs=["out"],
        )

    :param task: The step's description (pipelines).
    :param arguments: The command's words as parts: text, or ``{"input"|"output"|"parameter": name}``.
        (templated)
    :param source_directory: Hand-written use: folder the command runs in; hashed for reuse.
    :param inputs: Hand-written use: input name -> file or folder URL (local path or object storage).
    :param outputs: Hand-written use: output names (folders on the default datastore).
    """

    ui_color = "#e6dcf5"

    def __init__(
        self,
        *,
        task: StepTask | None = None,
        arguments: list[list[Token]] | None = None,
        source_directory: str | None = None,
        inputs: Mapping[str, str] | None = None,
        outputs: Sequence[str] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(task=task, arguments=arguments, **kwargs)
        if task is None and (not arguments or source_directory is None):
            raise ValueError("give task= (pipelines) or arguments= (the command) and source_directory=")
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
            kind="command",
            script_name="",
            source_directory=str(self.source_directory),
            target=LOCAL_TARGET,
            arguments=tuple(arguments_from_tokens(self.arguments or [])),
            inputs=tuple(InputBinding(name, path=url) for name, url in sorted(self.inputs.items())),
            outputs=tuple(OutputBinding(name, DEFAULT_DATASTORE) for name in self.outputs),
        )

    def execute(self, context: Context) -> dict[str, str]:
        """Run the step's plan; return the output folder URLs."""
        return self.run_outputs(context)[0]
