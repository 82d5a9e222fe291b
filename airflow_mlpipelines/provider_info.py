"""Provider metadata for Airflow's providers manager (``apache_airflow_provider`` entry point)."""

from __future__ import annotations

from typing import Any

from airflow_mlpipelines import __version__


def get_provider_info() -> dict[str, Any]:
    """Describe the provider, its operators and its complete ``[mlpipelines]`` configuration."""
    return {
        "package-name": "airflow-mlpipelines",
        "name": "ML Pipelines",
        "description": "Azure-ML-style machine-learning pipelines (PythonScriptStep, PipelineData, "
        "PipelineParameter) as Apache Airflow 3 DAGs.",
        "versions": [__version__],
        "operators": [
            {
                "integration-name": "ML Pipelines",
                "python-modules": ["airflow_mlpipelines.operators.python_script"],
            }
        ],
        "config": {
            "mlpipelines": {
                "description": "Settings of the airflow-mlpipelines provider.",
                "options": {
                    "datastore_root": {
                        "description": "Root path or URL of named datastores and step outputs. "
                        "Default: $AIRFLOW_HOME/mlpipelines/datastore.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "s3://aws_default@bucket/mlpipelines",
                        "default": None,
                    },
                    "kill_grace_seconds": {
                        "description": "Seconds a step's process gets after SIGTERM before SIGKILL.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "10",
                    },
                },
            }
        },
    }
