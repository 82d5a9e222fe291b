"""The ``azureml.core`` names a step's script uses, for ported code: ``from azureml.core import Run``
becomes ``from airflow_mlpipelines.core import Run``.

Pure (no Airflow), so it imports in any step image; pipeline-building names (``Workspace``,
``Datastore``, ``Dataset``...) are in :mod:`airflow_mlpipelines.pipeline`.
"""

from __future__ import annotations

from airflow_mlpipelines.runtime.run_context import Experiment, Run, RunError

__all__ = ["Experiment", "Run", "RunError"]
