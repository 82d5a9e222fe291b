"""The ``azureml.core`` names ported code uses: ``from azureml.core import Run, Experiment`` becomes
``from airflow_mlpipelines.core import Run, Experiment``.

``Run`` is pure (no Airflow, no HTTP client), so step scripts import it in any step image;
``Experiment`` (submitting a pipeline to Airflow's REST API from a notebook) is imported on first use.
Pipeline-building names (``Workspace``, ``Datastore``, ``Dataset``...) are in
:mod:`airflow_mlpipelines.pipeline`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.runtime.run_context import Run, RunError

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


_LAZY = {
    "Experiment": "airflow_mlpipelines.experiment",
    "PipelineRun": "airflow_mlpipelines.experiment",
    "StepRun": "airflow_mlpipelines.experiment",
    "SubmitError": "airflow_mlpipelines.experiment",
    "Workspace": "airflow_mlpipelines.pipeline.sdk",
}

__all__ = [
    "VERSION",
    "Experiment",
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
