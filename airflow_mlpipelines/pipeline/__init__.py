"""The pure pipeline model and the Azure ML SDK v1 names that build it (no Airflow, no pandas)."""

from __future__ import annotations

from airflow_mlpipelines.pipeline.model import PipelineSpec, StepSpec
from airflow_mlpipelines.pipeline.python_loader import load_python_pipelines
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
from airflow_mlpipelines.pipeline.sdk_steps import Pipeline, PythonScriptStep
from airflow_mlpipelines.pipeline.yaml_loader import YAML_SUFFIXES, load_yaml_pipeline

__all__ = [
    "YAML_SUFFIXES",
    "CondaDependencies",
    "Dataset",
    "DatasetConsumptionConfig",
    "Datastore",
    "Environment",
    "Pipeline",
    "PipelineData",
    "PipelineParameter",
    "PipelineSpec",
    "PythonScriptStep",
    "RunConfiguration",
    "StepSpec",
    "Workspace",
    "load_definition",
    "load_python_pipelines",
    "load_yaml_pipeline",
]


def load_definition(path: str) -> list[PipelineSpec]:
    """Load a YAML (one pipeline) or Python (one or more pipelines) definition file."""
    if path.endswith(YAML_SUFFIXES):
        return [load_yaml_pipeline(path)]
    return load_python_pipelines(path)
