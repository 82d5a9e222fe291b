"""Azure-only SDK v1 step classes: each is a clear error naming what to use on Airflow instead.

Ported code that builds one of these must not be accepted silently (its work would never run); the
error names the class, where it was built, and the Airflow provider or pattern that does the job.
"""

from __future__ import annotations

from typing import Any, ClassVar

from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.pipeline.callsite import caller_location


class _Unsupported:
    instead: ClassVar[str] = ""

    def __init__(self, *_args: Any, **kwargs: Any) -> None:
        name = kwargs.get("name")
        raise DefinitionError(
            f"{type(self).__name__} is an Azure-only step and cannot run on Airflow",
            location=caller_location(),
            step=str(name) if name else None,
            hint=self.instead,
        )


class HyperDriveStep(_Unsupported):
    """Azure ML hyperparameter tuning."""

    instead = (
        "run trials as parallel steps (one per parameter set) or use Optuna/Ray Tune in a PythonScriptStep"
    )


class AutoMLStep(_Unsupported):
    """Azure AutoML."""

    instead = "train with an AutoML library (FLAML, AutoGluon, auto-sklearn) in a PythonScriptStep"


class DatabricksStep(_Unsupported):
    """A Databricks job."""

    instead = "use the Databricks provider's DatabricksSubmitRunOperator in a hand-written DAG"


class AdlaStep(_Unsupported):
    """Azure Data Lake Analytics (retired by Azure)."""

    instead = "port the U-SQL job to Spark (the Spark or Databricks provider) or SQL (a data_transfer step)"


class AzureBatchStep(_Unsupported):
    """An Azure Batch job."""

    instead = "use the Microsoft Azure provider's AzureBatchOperator, or a Kubernetes compute target"


class KustoStep(_Unsupported):
    """An Azure Data Explorer query."""

    instead = "use the Microsoft Azure provider's AzureDataExplorerQueryOperator"


class ModuleStep(_Unsupported):
    """An Azure ML designer module."""

    instead = "run the module's script as a PythonScriptStep (Execute Python Script for Studio modules)"


class EstimatorStep(_Unsupported):
    """The deprecated Estimator step."""

    instead = "use a PythonScriptStep with the estimator's entry script and a RunConfiguration"


class MpiStep(_Unsupported):
    """An MPI job on an Azure cluster."""

    instead = "run the job with a Kubernetes compute target (an MPIJob via the cncf-kubernetes provider)"


class PipelineDraft(_Unsupported):
    """Azure ML Studio pipeline drafts."""

    instead = "keep the pipeline as a YAML or Python definition under version control"


class NotebookRunnerStep(_Unsupported):
    """A parameterised notebook as a step."""

    instead = "run the notebook with papermill from a PythonScriptStep (or the papermill provider's operator)"
