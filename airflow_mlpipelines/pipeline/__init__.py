"""The pure pipeline model and the Azure ML SDK v1 names that build it (no Airflow, no pandas).

Names are imported lazily: Airflow's DAG processor imports a DAG file in a fresh process every time
it parses it, so a YAML stub should not pay for the SDK classes or the Python-definition loader.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # What type checkers and IDEs see: the real classes and signatures (at run time the names are
    # imported lazily by __getattr__ below, so a YAML stub does not pay for the SDK).
    from airflow_mlpipelines.pipeline.model import PipelineSpec, StepSpec
    from airflow_mlpipelines.pipeline.python_loader import load_python_pipelines
    from airflow_mlpipelines.pipeline.recurrence import Recurrence, parse_schedule
    from airflow_mlpipelines.pipeline.sdk import (
        CondaDependencies,
        Dataset,
        DatasetConsumptionConfig,
        Datastore,
        Environment,
        PipelineData,
        PipelineParameter,
        RunConfiguration,
        Workspace,
    )
    from airflow_mlpipelines.pipeline.sdk_command import CommandStep
    from airflow_mlpipelines.pipeline.sdk_compute import (
        DEFAULT_CPU_IMAGE,
        DEFAULT_GPU_IMAGE,
        AmlCompute,
        ComputeTarget,
        ComputeTargetException,
        DockerConfiguration,
    )
    from airflow_mlpipelines.pipeline.sdk_data import (
        DataPath,
        DataPathComputeBinding,
        OutputFileDatasetConfig,
    )
    from airflow_mlpipelines.pipeline.sdk_eps import ExecutePythonScriptStep
    from airflow_mlpipelines.pipeline.sdk_parallel import ParallelRunConfig, ParallelRunStep
    from airflow_mlpipelines.pipeline.sdk_schedule import ScheduleRecurrence, TimeZone
    from airflow_mlpipelines.pipeline.sdk_steps import Pipeline, PythonScriptStep, StepSequence
    from airflow_mlpipelines.pipeline.sdk_transfer import DataReference, DataTransferStep, SqlDataReference
    from airflow_mlpipelines.pipeline.sdk_unsupported import (
        AdlaStep,
        AutoMLStep,
        AzureBatchStep,
        DatabricksStep,
        EstimatorStep,
        HyperDriveStep,
        KustoStep,
        ModuleStep,
        MpiStep,
        NotebookRunnerStep,
        PipelineDraft,
    )
    from airflow_mlpipelines.pipeline.yaml_loader import YAML_SUFFIXES, load_yaml_pipeline

_LAZY = {
    "PipelineSpec": "model",
    "StepSpec": "model",
    "load_python_pipelines": "python_loader",
    "CondaDependencies": "sdk",
    "ComputeTarget": "sdk_compute",
    "DockerConfiguration": "sdk_compute",
    "Dataset": "sdk",
    "DatasetConsumptionConfig": "sdk",
    "Datastore": "sdk",
    "Environment": "sdk",
    "PipelineData": "sdk",
    "PipelineParameter": "sdk",
    "RunConfiguration": "sdk",
    "Workspace": "sdk",
    "Pipeline": "sdk_steps",
    "PythonScriptStep": "sdk_steps",
    "ExecutePythonScriptStep": "sdk_eps",
    "CommandStep": "sdk_command",
    "ParallelRunStep": "sdk_parallel",
    "ParallelRunConfig": "sdk_parallel",
    "DataTransferStep": "sdk_transfer",
    "HyperDriveStep": "sdk_unsupported",
    "AutoMLStep": "sdk_unsupported",
    "DatabricksStep": "sdk_unsupported",
    "AdlaStep": "sdk_unsupported",
    "AzureBatchStep": "sdk_unsupported",
    "KustoStep": "sdk_unsupported",
    "ModuleStep": "sdk_unsupported",
    "EstimatorStep": "sdk_unsupported",
    "MpiStep": "sdk_unsupported",
    "PipelineDraft": "sdk_unsupported",
    "NotebookRunnerStep": "sdk_unsupported",
    "AmlCompute": "sdk_compute",
    "ComputeTargetException": "sdk_compute",
    "DEFAULT_CPU_IMAGE": "sdk_compute",
    "DEFAULT_GPU_IMAGE": "sdk_compute",
    "StepSequence": "sdk_steps",
    "ScheduleRecurrence": "sdk_schedule",
    "TimeZone": "sdk_schedule",
    "Recurrence": "recurrence",
    "parse_schedule": "recurrence",
    "DataPath": "sdk_data",
    "DataPathComputeBinding": "sdk_data",
    "OutputFileDatasetConfig": "sdk_data",
    "DataReference": "sdk_transfer",
    "SqlDataReference": "sdk_transfer",
    "YAML_SUFFIXES": "yaml_loader",
    "load_yaml_pipeline": "yaml_loader",
}

_OPERATING = {
    "PublishedPipeline": "airflow_mlpipelines.published",
    "PipelineEndpoint": "airflow_mlpipelines.published",
    "Schedule": "airflow_mlpipelines.schedule",
}
"""``azureml.pipeline.core`` names that talk to Airflow over REST from a notebook: they live above this
pure package (they need httpx and the REST client) and are resolved by name only when a notebook asks,
so nothing here imports them and a DAG file never does."""

__all__ = [*sorted(_LAZY), *sorted(_OPERATING), "load_definition"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    if name in _OPERATING:
        return getattr(importlib.import_module(_OPERATING[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


DEFINITION_TEXT_LIMIT = 256 * 1024
"""A definition longer than this is not copied into the DAG's docs (its path still is)."""


def load_definition(path: str) -> list[PipelineSpec]:
    """Load a YAML (one pipeline) or Python (one or more pipelines) definition file; each pipeline keeps
    the file's text, so the DAG can show what it was built from."""
    import dataclasses

    from airflow_mlpipelines.pipeline.yaml_loader import YAML_SUFFIXES, load_yaml_pipeline

    if path.endswith(YAML_SUFFIXES):
        specs = [load_yaml_pipeline(path)]
    else:
        from airflow_mlpipelines.pipeline.python_loader import load_python_pipelines

        specs = load_python_pipelines(path)
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text: str | None = fh.read(DEFINITION_TEXT_LIMIT + 1)
    except OSError:
        text = None
    if text is not None and len(text) > DEFINITION_TEXT_LIMIT:
        text = None
    return [dataclasses.replace(spec, definition_text=text) for spec in specs]
