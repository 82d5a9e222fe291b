"""``ExecutePythonScriptOperator``: Azure ML Studio's "Execute Python Script" module (seeds 000/003).

The operator is the Airflow side only: it resolves the inputs, prepares a sandbox, starts
:mod:`airflow_mlpipelines.runtime.eps_main` (which runs the user's ``azureml_main`` in a child process
and applies the seed's type rules), then commits the outputs like every step and returns the output
DataFrame, so ``xcom_pull``/TaskFlow consumers get it through the DataFrame XCom backend.

Outputs (the contract with the UI plugin): the DataFrame at ``<dataframe output>/data.parquet``
(written by ``frames.codec``), the PNGs directly in ``<visualisations output>/``; both folders are
``<datastore>/<pipeline>/<step>/<fingerprint>/<run>/<output>`` and published under XCom ``mlp_step``.
"""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Any, ClassVar

from airflow_mlpipelines import settings
from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.operators import storage
from airflow_mlpipelines.operators.eps_support import StagedFrame, is_frame, script_text
from airflow_mlpipelines.operators.step_base import (
    StepOperatorBase,
)
from airflow_mlpipelines.pipeline.model import DEFAULT_DATASTORE
from airflow_mlpipelines.runtime.bundle import BundleError, BundleLimits, extract
from airflow_mlpipelines.runtime.eps_job import INLINE_SCRIPT_NAME, EpsJob, EpsRunner, write_inline_script

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_mlpipelines.reuse.fingerprint import Fingerprint

DATA_FILE = "data.parquet"
PORTS = ("dataframe1", "dataframe2")


class ExecutePythonScriptOperator(StepOperatorBase):
    """Run ``azureml_main(dataframe1, dataframe2)`` from a script, with an optional zip bundle.

    In a pipeline the DAG factory builds it from a ``type: execute_python_script`` step (``eps`` holds
    the step's settings). In a hand-written DAG, give the settings directly::

        ExecutePythonScriptOperator(
            task_id="rank", script=SCRIPT, dataframe1=load_frame(), bundle="/path/Hello.zip"
        )

    :param script: The script's text; it defines ``azureml_main``. It runs as ``azureml_main.py``.
    :param script_file: Or a path to the script.
    :param bundle: A zip of Python modules, extracted into the sandbox and put on ``sys.path``.
    :param dataframe1: First DataFrame port: an input name of ``inputs``, a CSV/Parquet path or URL,
        or a DataFrame (e.g. an ``XComArg``). (templated)
    :param dataframe2: Second DataFrame port, the same. The first *connected* port is the first
        argument of ``azureml_main`` (seed rule), so ``dataframe2`` alone is passed first.
    :param dataframe_output: Name of the DataFrame output (default ``dataframe``).
    :param visualizations_output: Name of the visualisations output (default ``visualizations``).
    :param time_limit_seconds: Kill the process group after this long (default
        ``[mlpipelines] eps_time_limit_seconds``; 0: none).
    :param memory_limit_mb: Address-space limit of the child process (default
        ``[mlpipelines] eps_memory_limit_mb``; 0: none).
    """

    template_fields = (*StepOperatorBase.template_fields, "dataframe1", "dataframe2")
    template_fields_renderers: ClassVar[dict[str, str]] = {"arguments": "json"}
    ui_color = "#fbe7d9"

    def __init__(
        self,
        *,
        script: str | None = None,
        script_file: str | None = None,
        bundle: str | None = None,
        dataframe1: Any = None,
        dataframe2: Any = None,
        dataframe_output: str = "dataframe",
        visualizations_output: str = "visualizations",
        time_limit_seconds: float | None = None,
        memory_limit_mb: int | None = None,
        eps: dict[str, Any] | None = None,
        pipeline: str | None = None,
        step: str | None = None,
        **kwargs: Any,
    ) -> None:
        if eps is None:
            if (script is None) == (script_file is None):
                raise ValueError("give exactly one of script (the text) and script_file (a path)")
            eps = {
                "script": script,
                "script_file": os.path.abspath(script_file) if script_file else None,
                "bundle": os.path.abspath(bundle) if bundle else None,
                "ports": {"dataframe1": None, "dataframe2": None},
                "dataframe_output": dataframe_output,
                "visualizations_output": visualizations_output,
                "time_limit_seconds": time_limit_seconds,
                "memory_limit_mb": memory_limit_mb,
            }
            kwargs.setdefault(
                "outputs",
                {dataframe_output: DEFAULT_DATASTORE, visualizations_output: DEFAULT_DATASTORE},
            )
            kwargs.setdefault(
                "script_name", os.path.basename(script_file) if script_file else INLINE_SCRIPT_NAME
            )
            # Not hashed for this kind (the script and bundle are): only where the script lives.
            kwargs.setdefault(
                "source_directory", os.path.dirname(eps["script_file"]) if eps["script_file"] else os.getcwd()
            )
            kwargs.setdefault("kind", "execute_python_script")
        ports = eps.get("ports", {})
        super().__init__(
            pipeline=pipeline or "",
            step=step or kwargs.get("task_id", "execute_python_script"),
            eps=eps,
            **kwargs,
        )
        if not self.pipeline:
            self.pipeline = self.dag_id
        self.dataframe1 = dataframe1 if dataframe1 is not None else ports.get("dataframe1")
        self.dataframe2 = dataframe2 if dataframe2 is not None else ports.get("dataframe2")
        self._runner: EpsRunner | None = None
        self._staged: dict[str, StagedFrame] = {}

    @property
    def eps_settings(self) -> dict[str, Any]:
        """The step's Execute Python Script settings (never None on this operator)."""
        assert self.eps is not None  # noqa: S101 - set in __init__
        return self.eps

    # -- run --------------------------------------------------------------------------------------
    def execute(self, context: Context) -> Any:
        """Run the script in a sandbox, commit both outputs, publish ``mlp_step``, return the frame."""
        # The seed: the script runs in a fresh working directory, deleted when the module finishes.
        with tempfile.TemporaryDirectory(prefix=f"mlp-eps-{storage.safe_segment(self.step)}-") as sandbox:
            self._stage_frames(sandbox)
            fp = self.handed_fingerprint(context)
            with self.held_lease(context, fp):
                return self._execute(context, fp, sandbox)

    def _stage_frames(self, sandbox: str) -> None:
        """Write DataFrames handed to the ports (e.g. XComArgs) as Arrow files for the child, once."""
        from airflow_mlpipelines.frames import codec

        self._staged = {}
        for port in PORTS:
            value = getattr(self, port)
            if is_frame(value):
                path = os.path.join(sandbox, f"{port}.arrow")
                self._staged[port] = StagedFrame(path, codec.write(value, path, "arrow").digest)

    def eps_ports(self) -> dict[str, Any]:
        """Port values for the fingerprint: staged frames stand for the DataFrames they hold."""
        return {port: self._staged.get(port, getattr(self, port)) for port in PORTS}

    def _execute(self, context: Context, fp: Fingerprint, sandbox: str) -> Any:
        from airflow_mlpipelines.frames import codec

        eps = self.eps_settings
        output_urls = self.output_urls(fp, context["run_id"])
        df_name, vis_name = eps["dataframe_output"], eps["visualizations_output"]
        output_paths = {name: self._output_dir(url, sandbox, name) for name, url in output_urls.items()}
        job = EpsJob(
            sandbox=sandbox,
            script=self._script_path(sandbox),
            script_label=self._script_label(),
            dataframe_output=output_paths[df_name],
            visualizations_output=output_paths[vis_name],
            inputs={port: self._port_input(context, port, sandbox) for port in PORTS},
            bundle_dir=self._bundle(sandbox),
            memory_limit_bytes=self._memory_limit_mb() * 1024 * 1024,
        )
        self.log.info("Running step %s: azureml_main from %s", self.step, job.script_label)
        self._runner = EpsRunner(
            job,
            step=self.step,
            time_limit_seconds=self._time_limit(),
            grace_seconds=settings.kill_grace_seconds(),
            on_stdout=lambda line: self.log.info("%s", line),
            on_stderr=lambda line: self.log.info("[stderr] %s", line),
        )
        summary = self._runner.run()
        self.log.info(
            "azureml_main returned %d rows x %d columns; visualisations: %s",
            summary["rows"],
            len(summary["columns"]),
            ", ".join(summary["visualizations"]) or "none",
        )
        frame = codec.read(os.path.join(output_paths[df_name], DATA_FILE), "parquet")
        self.commit_outputs(context, fp, output_paths, output_urls)
        return frame

    # -- inputs -----------------------------------------------------------------------------------
    def _port_input(self, context: Context, port: str, sandbox: str) -> dict[str, str] | None:
        """Where the child reads a port's frame: a table file/folder, or an Arrow file we write."""
        value = getattr(self, port)
        if value is None:
            return None
        if port in self._staged:
            return {"path": self._staged[port].path, "format": "arrow"}
        if not isinstance(value, str):
            raise StepExecutionError(
                f"step '{self.step}': {port} must be an input name, a path or a DataFrame; "
                f"got {type(value).__name__}"
            )
        spec = self.inputs.get(value)
        url = self.input_url(context, value, spec) if spec is not None else value
        local = storage.local_path(url)
        if local is None:
            # Keep the name: its suffix says how to read it (CSV or Parquet).
            local = storage.download(
                url, os.path.join(sandbox, "inputs", port, url.rstrip("/").rsplit("/", 1)[-1])
            )
        elif not os.path.exists(local):
            raise StepExecutionError(
                f"step '{self.step}': input '{value}' on {port} does not exist at {local}"
            )
        return {"path": local, "format": "table"}

    def _script_path(self, sandbox: str) -> str:
        eps = self.eps_settings
        if eps.get("script") is None:
            script_text(eps, self.step)  # a clear error when the file is missing
            return str(eps["script_file"])
        return write_inline_script(sandbox, str(eps["script"]))

    def _script_label(self) -> str:
        eps = self.eps_settings
        if eps.get("script") is None:
            return str(eps["script_file"])
        where = eps.get("script_where")
        if where:
            return f"{INLINE_SCRIPT_NAME} (the inline script of step '{self.step}'; its line 1 is {where})"
        return f"{INLINE_SCRIPT_NAME} (the inline script of step '{self.step}')"

    def _bundle(self, sandbox: str) -> str | None:
        bundle = self.eps_settings.get("bundle")
        if not bundle:
            return None
        dest = os.path.join(sandbox, "bundle")
        limits = BundleLimits(settings.eps_bundle_max_bytes(), settings.eps_bundle_max_files())
        try:
            files = extract(str(bundle), dest, limits)
        except BundleError as exc:
            raise StepExecutionError(f"step '{self.step}': {exc}") from None
        self.log.info("extracted script bundle %s (%d files) onto sys.path", bundle, len(files))
        return dest

    @staticmethod
    def _output_dir(url: str, sandbox: str, name: str) -> str:
        local = storage.local_path(url)
        return storage.fresh_local_dir(local if local is not None else os.path.join(sandbox, "outputs", name))

    # -- the child process ------------------------------------------------------------------------
    def _time_limit(self) -> float:
        value = self.eps_settings.get("time_limit_seconds")
        return float(value) if value else settings.eps_time_limit_seconds()

    def _memory_limit_mb(self) -> int:
        value = self.eps_settings.get("memory_limit_mb")
        return int(value) if value else settings.eps_memory_limit_mb()

    def on_kill(self) -> None:
        """Stop the script's whole process group when Airflow stops the task."""
        if self._runner is not None:
            self._runner.terminate()
