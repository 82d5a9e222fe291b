"""The ``azureml.core`` names ported code uses: ``from azureml.core import Run, Experiment`` becomes
``from airflow_mlpipelines.core import Run, Experiment``.

``Run``, ``Model`` and ``EntryScript`` (a ParallelRunStep entry script's ``azureml_user.parallel_run``
name) are pure (no Airflow, no HTTP client), so step scripts import them in any step image;
``Experiment`` (submitting a pipeline to Airflow's REST API from a notebook) is imported on first use.
Pipeline-building names (``Workspace``, ``Datastore``, ``Dataset``...) are in
:mod:`airflow_mlpipelines.pipeline`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import ModelError, ModelNotFoundError
from airflow_mlpipelines.runtime import sdk_model
from airflow_mlpipelines.runtime.entry_script import EntryScript
from airflow_mlpipelines.runtime.models import REGISTRY_ENV, ModelRegistry
from airflow_mlpipelines.runtime.run_context import Run, RunError
from airflow_mlpipelines.runtime.sdk_model import Model

if TYPE_CHECKING:
    from airflow_mlpipelines.experiment import Experiment, PipelineRun, StepRun, SubmitError
    from airflow_mlpipelines.pipeline.sdk import Workspace


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("airflow-mlpipelines")
    except PackageNotFoundError:
        return "0+unknown"


VERSION = _version()
"""SDK v1's ``azureml.core.VERSION``, which notebooks print: this package's version."""


class RunDetails:
    """SDK v1's notebook widget (``azureml.widgets.RunDetails(run).show()``): outside Jupyter widgets, the
    run's state and where to see it in the Airflow UI, printed."""

    def __init__(self, run: Any) -> None:
        self.run = run

    def show(self) -> None:
        """Print the run's status, its steps' statuses and its page in the Airflow UI."""
        import sys

        run = self.run
        lines = [f"run {getattr(run, 'id', run)}: {run.get_status()}"]
        for step in getattr(run, "get_steps", list)():
            lines.append(f"  {step.name}: {step.get_status()}")
        url = getattr(run, "_url", None)
        if url and url != "local":
            lines.append(f"  {url}/dags/{run.dag_id}/runs/{run.run_id}")
        sys.stdout.write("\n".join(lines) + "\n")


def _airflow_registry() -> ModelRegistry:
    """The installation's model registry for a notebook (outside a step): ``[mlpipelines] model_registry``
    through Airflow's connections, mirrored into MLflow's registry when ``metrics_backend = mlflow``."""
    try:
        from airflow_mlpipelines import settings
        from airflow_mlpipelines.connections import AirflowStorage
    except ImportError as exc:  # a step image without Airflow: only $MLP_MODEL_REGISTRY works there
        raise ModelError(
            f"no model registry: ${REGISTRY_ENV} is not set and Airflow cannot be imported ({exc})"
        ) from None
    mirror = None
    uri = settings.mlflow_tracking_uri() if settings.metrics_backend() == "mlflow" else None
    if uri:
        from airflow_mlpipelines import tracking

        def mirror(model: Any) -> None:
            tracking.register_model_version(uri, model.to_json(), model.url)

    return ModelRegistry(AirflowStorage(), settings.model_registry(), mirror=mirror)


sdk_model.set_default_registry(_airflow_registry)

_LAZY = {
    "Experiment": "airflow_mlpipelines.experiment",
    "PipelineRun": "airflow_mlpipelines.experiment",
    "StepRun": "airflow_mlpipelines.experiment",
    "SubmitError": "airflow_mlpipelines.experiment",
    "Workspace": "airflow_mlpipelines.pipeline.sdk",
}

__all__ = [
    "VERSION",
    "EntryScript",
    "Experiment",
    "Model",
    "ModelError",
    "ModelNotFoundError",
    "PipelineRun",
    "Run",
    "RunDetails",
    "RunError",
    "StepRun",
    "SubmitError",
    "Workspace",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
