"""``ExecutePythonScriptOperator``: Azure ML Studio's "Execute Python Script" module (seeds 000/003).

The operator is the Airflow side only: it takes the step's plan (or makes one in a hand-written DAG,
writing DataFrames handed to its ports as Arrow files first), runs it with the runtime's runner — whose
``execute_python_script`` kind starts :mod:`airflow_mlpipelines.runtime.eps_main` in a child process and
applies the seed's type rules — and returns the output DataFrame, so ``xcom_pull``/TaskFlow consumers
get it through the DataFrame XCom backend.

Outputs (the contract with the UI plugin): the DataFrame at ``<dataframe output>/data.parquet``
(written by ``frames.codec``), the PNGs directly in ``<visualisations output>/``; both folders are
``<datastore>/<pipeline>/<step>/<fingerprint>/<run>/<output>``, recorded in the committed manifest.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.connections import AirflowStorage
from airflow_mlpipelines.operators.step_operator import StepOperator
from airflow_mlpipelines.pipeline.compute import LOCAL_TARGET
from airflow_mlpipelines.pipeline.eps import INLINE_SCRIPT_NAME
from airflow_mlpipelines.pipeline.model import DEFAULT_DATASTORE, ExecutePythonScriptSpec
from airflow_mlpipelines.pipeline.step_task import InputBinding, OutputBinding, StepTask
from airflow_mlpipelines.runtime.plan import StagedFrame

if TYPE_CHECKING:
    from collections.abc import Mapping

    from airflow.sdk import Context

    from airflow_mlpipelines.pipeline.step_task import Token
    from airflow_mlpipelines.runtime.runner import Job

DATA_FILE = "data.parquet"
PORTS = ("dataframe1", "dataframe2")


def is_frame(value: Any) -> bool:
    """Whether a port value is a DataFrame (checked without importing pandas)."""
    kind = type(value)
    return kind.__module__.startswith("pandas") and kind.__name__ == "DataFrame"


class ExecutePythonScriptOperator(StepOperator):
    """Run ``azureml_main(dataframe1, dataframe2)`` from a script, with an optional zip bundle.

    In a pipeline the DAG factory builds it from a ``type: execute_python_script`` step (``task`` holds
    the step's description). In a hand-written DAG, give the settings directly::

        ExecutePythonScriptOperator(
            task_id="rank", script=SCRIPT, dataframe1=load_frame(), bundle="/path/Hello.zip"
        )

    :param script: The script's text; it defines ``azureml_main``. It runs as ``azureml_main.py``.
    :param script_file: Or a path to the script.
    :param bundle: A zip of Python modules, extracted into the sandbox and put on ``sys.path``.
    :param dataframe1: First DataFrame port: a CSV/Parquet path or URL, or a DataFrame (e.g. an
        ``XComArg``). (templated)
    :param dataframe2: Second DataFrame port, the same. The first *connected* port is the first
        argument of ``azureml_main`` (seed rule), so ``dataframe2`` alone is passed first.
    :param dataframe_output: Name of the DataFrame output (default ``dataframe``).
    :param visualizations_output: Name of the visualisations output (default ``visualizations``).
    :param time_limit_seconds: Kill the process group after this long (default
        ``[mlpipelines] eps_time_limit_seconds``; 0: none).
    :param memory_limit_mb: Address-space limit of the child process (default
        ``[mlpipelines] eps_memory_limit_mb``; 0: none).
    """

    template_fields = (*StepOperator.template_fields, "dataframe1", "dataframe2")
    ui_color = "#fbe7d9"

    def __init__(
        self,
        *,
        task: StepTask | None = None,
        arguments: list[list[Token]] | None = None,
        script: str | None = None,
        script_file: str | None = None,
        bundle: str | None = None,
        dataframe1: Any = None,
        dataframe2: Any = None,
        dataframe_output: str = "dataframe",
        visualizations_output: str = "visualizations",
        time_limit_seconds: float | None = None,
        memory_limit_mb: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(task=task, arguments=arguments, **kwargs)
        if task is None and (script is None) == (script_file is None):
            raise ValueError("give exactly one of script (the text) and script_file (a path)")
        self.script = script
        self.script_file = script_file
        self.bundle = bundle
        self.dataframe1 = dataframe1
        self.dataframe2 = dataframe2
        self.dataframe_output = dataframe_output
        self.visualizations_output = visualizations_output
        self.time_limit_seconds = time_limit_seconds
        self.memory_limit_mb = memory_limit_mb

    # -- the step's description -------------------------------------------------------------------
    def step_task(self, context: Context) -> StepTask:
        """The pipeline's description, or one built from the rendered arguments of a hand-written task."""
        if self.task is not None:
            return self.task
        script_file = os.path.abspath(self.script_file) if self.script_file else None
        ports: dict[str, str | None] = {}
        inputs = []
        for port in PORTS:
            value = getattr(self, port)
            if value is None or is_frame(value):
                ports[port] = None
            elif isinstance(value, str):
                ports[port] = port
                inputs.append(InputBinding(port, path=value))
            else:
                raise TypeError(
                    f"task {self.task_id!r}: {port} must be a path, a URL or a DataFrame; "
                    f"got {type(value).__name__}"
                )
        spec = ExecutePythonScriptSpec(
            dataframe_output=self.dataframe_output,
            visualizations_output=self.visualizations_output,
            script=self.script,
            script_file=script_file,
            bundle=os.path.abspath(self.bundle) if self.bundle else None,
            dataframe1=ports["dataframe1"],
            dataframe2=ports["dataframe2"],
            time_limit_seconds=self.time_limit_seconds,
            memory_limit_mb=self.memory_limit_mb,
        )
        return StepTask(
            pipeline=self.dag_id,
            step=self.task_id,
            kind="execute_python_script",
            script_name=os.path.basename(script_file) if script_file else INLINE_SCRIPT_NAME,
            # Not hashed for this kind (the script and bundle are): only where the script lives.
            source_directory=os.path.dirname(script_file) if script_file else os.getcwd(),
            target=LOCAL_TARGET,
            inputs=tuple(inputs),
            outputs=(
                OutputBinding(self.dataframe_output, DEFAULT_DATASTORE),
                OutputBinding(self.visualizations_output, DEFAULT_DATASTORE),
            ),
            eps=spec,
        )

    def frames(self, context: Context, work: str) -> Mapping[str, StagedFrame]:
        """Write DataFrames handed to the ports (e.g. XComArgs) as Arrow files for the child, once."""
        from airflow_mlpipelines.frames import codec

        staged = {}
        for port in PORTS:
            value = getattr(self, port)
            if is_frame(value):
                path = os.path.join(work, f"{port}.arrow")
                # The digest is a fingerprint component: a content digest, not an integrity checksum.
                staged[port] = StagedFrame(path, codec.write(value, path, "arrow", digest="content").digest)
        return staged

    # -- run --------------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        """Run the step's plan and return the output DataFrame."""
        with tempfile.TemporaryDirectory(prefix="mlp-eps-frames-") as work:
            plan, result, frame = self.run(context, work)
        if frame is not None:
            return frame
        # The outputs were committed by another run (or reused): read the frame from where they are.
        url = result.manifest.get("outputs", {}).get(self._dataframe_output(plan.task), {}).get("url")
        return self._read_remote(str(url)) if url else None

    @staticmethod
    def _dataframe_output(task: StepTask) -> str:
        return task.eps.dataframe_output if task.eps is not None else "dataframe"

    def collect(self, job: Job, manifest: dict[str, Any]) -> Any:
        """The output DataFrame, read from the local output folder before it is cleaned up."""
        from airflow_mlpipelines.frames import codec

        return codec.read(
            os.path.join(job.outputs[self._dataframe_output(job.plan.task)], DATA_FILE), "parquet"
        )

    @staticmethod
    def _read_remote(url: str) -> Any:
        from airflow_mlpipelines.frames import codec

        loc = AirflowStorage().resolve(url).child(DATA_FILE)
        if loc.local:
            return codec.read(loc.path, "parquet")
        with tempfile.TemporaryDirectory(prefix="mlp-eps-out-") as tmp:
            return codec.read(st.download(loc, os.path.join(tmp, DATA_FILE)), "parquet")
