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

_LAZY = {
    "Experiment": "airflow_mlpipelines.experiment",
    "PipelineRun": "airflow_mlpipelines.experiment",
    "StepRun": "airflow_mlpipelines.experiment",
    "SubmitError": "airflow_mlpipelines.experiment",
    "Workspace": "airflow_mlpipelines.pipeline.sdk",
}

__all__ = ["Experiment", "PipelineRun", "Run", "RunError", "StepRun", "SubmitError", "Workspace"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
