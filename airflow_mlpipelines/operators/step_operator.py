"""What every local compute task does: take the step's plan and run it with the runtime's runner.

The reuse task hands the plan over (XCom ``mlp_plan``); a compute task used without one (a hand-written
DAG) plans for itself. The run itself — lease, staging, the user's code in its own process group,
commit — is :func:`airflow_mlpipelines.runtime.runner.run_plan`, exactly what a container runs.
"""

from __future__ import annotations

import json
import tempfile
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator

from airflow_mlpipelines import settings
from airflow_mlpipelines.connections import AirflowStorage, export_connections
from airflow_mlpipelines.databases import AirflowDatabases
from airflow_mlpipelines.exceptions import StorageError
from airflow_mlpipelines.operators.links import MLflowRunLink, StepOutputsLink
from airflow_mlpipelines.operators.planner import Planner, upstream_plan
from airflow_mlpipelines.runtime.plan import StagedFrame, StepPlan, step_of
from airflow_mlpipelines.runtime.runner import Job, RunnerIO, RunResult, Stoppable, run_plan
from airflow_mlpipelines.storage import CONNECTIONS_ENV, split_url

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow.sdk import Context

    from airflow_mlpipelines.pipeline.step_task import StepTask, Token
    from airflow_mlpipelines.storage import Storage


MLFLOW_KEY = "mlp_mlflow_run"
"""XCom key of the MLflow run a step execution was logged as (experiment, run, parent run, URL)."""
METRICS_KEY = "mlp_metrics"
"""XCom key of a compute task's metric summary (metric name -> the last value logged)."""


def registry_env(plan: StepPlan) -> dict[str, str]:
    """The storage options of a remote model registry for the step's script (``run.register_model``):
    on a worker the script cannot ask Airflow for the connection itself."""
    conn_id = split_url(plan.models)[1] if plan.models else None
    if conn_id is None:
        return {}
    scheme = plan.models.split("://", 1)[0]
    try:
        return {CONNECTIONS_ENV: json.dumps(export_connections([conn_id], {conn_id: scheme}))}
    except StorageError:  # the script's register_model then fails naming the store; other steps run
        return {}


class StepOperator(BaseOperator):
    """Base of the local compute tasks (``PythonScriptStepOperator``, ``ExecutePythonScriptOperator``).

    :param task: The step's description (the DAG factory builds it from the pipeline).
    :param arguments: The step's argument parts (templated).
    """

    template_fields: Sequence[str] = ("arguments",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"arguments": "json"}
    # Both tasks of a step link to the step's outputs page (plots, DataFrame previews) in the UI plugin.
    operator_extra_links = (StepOutputsLink(), MLflowRunLink())

    def __init__(
        self, *, task: StepTask | None = None, arguments: list[list[Token]] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.task = task
        self.arguments = arguments
        self._child: Stoppable | None = None
        self.mlflow_run_url: str | None = None

    @property
    def step(self) -> str:
        """The step's name (the UI link reads it)."""
        return self.task.step if self.task is not None else step_of(self.task_id)

    def step_task(self, context: Context) -> StepTask:
        """The step's description (subclasses used in hand-written DAGs build it from their arguments)."""
        if self.task is None:
            raise ValueError(f"{type(self).__name__} {self.task_id!r} needs task= (a StepTask)")
        return self.task

    def frames(self, context: Context, work: str) -> Mapping[str, StagedFrame]:
        """DataFrames handed to the step directly (Execute Python Script ports); none by default."""
        return {}

    def plan(self, context: Context, storage: Storage, work: str) -> StepPlan:
        """The plan the step's reuse task handed over, or one made here when there is no reuse task."""
        task = self.step_task(context)
        if "." in self.task_id:
            handed = upstream_plan(context, task.step)
            if handed is not None:
                return handed
        planner = Planner(
            task,
            context,
            storage,
            arguments=self.arguments,
            frames=self.frames(context, work),
            say=self.log.info,
        )
        return planner.run_plan(planner.fingerprint(), leased=False, reason="the task has no reuse task")

    def run_outputs(self, context: Context) -> tuple[dict[str, str], RunResult]:
        """Run the plan in a scratch folder (removed afterwards): the committed outputs' URLs (what the
        script-like operators return as their XCom) and how the run ended."""
        with tempfile.TemporaryDirectory(prefix="mlp-plan-") as work:
            _, result, _ = self.run(context, work)
        urls = {name: str(out["url"]) for name, out in result.manifest.get("outputs", {}).items()}
        return urls, result

    def run(self, context: Context, work: str) -> tuple[StepPlan, RunResult, Any]:
        """Run the plan; returns it, how it ended, and what :meth:`collect` made of the committed job."""
        storage = AirflowStorage()
        plan = self.plan(context, storage, work)
        collected: list[Any] = []
        if plan.decision != "run":
            self.log.info("step %s was reused (plan decision %s): nothing to run", plan.step, plan.decision)
            return plan, RunResult({}, adopted=True), None
        io = RunnerIO(
            say=self.log.info,
            on_stdout=lambda line: self.log.info("%s", line),
            on_stderr=lambda line: self.log.info("[stderr] %s", line),
            attach=self._attach,
            on_record=lambda url, record, folder: self._track(context, plan, record, folder),
            env=registry_env(plan),
        )
        result = run_plan(
            plan,
            storage,
            io,
            on_committed=lambda job, manifest: collected.append(self.collect(job, manifest)),
            databases=AirflowDatabases(),
        )
        metrics = result.details.get("metrics")
        if metrics:
            # The latest value of each metric the script logged, for other tasks and the REST API.
            context["ti"].xcom_push(key=METRICS_KEY, value=metrics)
        return plan, result, collected[0] if collected else None

    def _track(self, context: Context, plan: StepPlan, record: dict[str, Any], folder: str) -> None:
        """With ``metrics_backend = mlflow``, log the run record as an MLflow run (never fails the step:
        the record is stored either way)."""
        if settings.metrics_backend() != "mlflow":
            return
        from airflow_mlpipelines import tracking

        uri = settings.mlflow_tracking_uri()
        if not uri:
            self.log.warning("metrics_backend = mlflow but no mlflow_tracking_uri or mlflow_conn_id is set")
            return
        try:
            ids = tracking.log_record(uri, record, folder, task_id=self.task_id, parameters=plan.parameters)
            for model in record.get("models") or []:  # the datastore registry stays the source of truth
                tracking.register_model_version(uri, model["record"], model["url"], run_id=ids["run_id"])
        except Exception as exc:  # an MLflow outage must not fail a training that succeeded
            self.log.warning("could not log the run of step %s to MLflow at %s: %s", plan.step, uri, exc)
            return
        ui = settings.mlflow_ui_url() or (uri if uri.startswith(("http://", "https://")) else None)
        self.mlflow_run_url = tracking.run_url(ui, ids) if ui else None
        context["ti"].xcom_push(
            key=MLFLOW_KEY, value={**ids, "tracking_uri": uri, "url": self.mlflow_run_url}
        )
        self.log.info("logged to MLflow: experiment %s, run %s", ids["experiment_id"], ids["run_id"])

    def collect(self, job: Job, manifest: dict[str, Any]) -> Any:
        """Called after the commit while the job's local folders exist; the default keeps nothing."""
        return None

    def _attach(self, child: Stoppable | None) -> None:
        self._child = child

    def on_kill(self) -> None:
        """Stop the user's whole process group when Airflow stops the task."""
        if self._child is not None:
            self._child.terminate(settings.kill_grace_seconds())
