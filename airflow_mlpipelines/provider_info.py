"""Provider metadata for Airflow's providers manager (``apache_airflow_provider`` entry point)."""

from __future__ import annotations

from typing import Any

from airflow_mlpipelines import __version__

DOCS = "https://github.com/airflow-mlpipelines/airflow-mlpipelines#readme"


def get_provider_info() -> dict[str, Any]:
    """Describe the provider, its operators and its complete ``[mlpipelines]`` configuration."""
    return {
        "package-name": "airflow-mlpipelines",
        "name": "ML Pipelines",
        "description": "Azure-ML-style machine-learning pipelines (PythonScriptStep, PipelineData, "
        "PipelineParameter) as Apache Airflow 3 DAGs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": "ML Pipelines",
                "external-doc-url": DOCS,
                "how-to-guide": [
                    f"{DOCS}#write-a-pipeline",
                    f"{DOCS}#data-transfer-steps-azure-mls-datatransferstep",
                ],
                "tags": ["software"],
            }
        ],
        "operators": [
            {
                "integration-name": "ML Pipelines",
                "python-modules": [
                    "airflow_mlpipelines.operators.python_script",
                    "airflow_mlpipelines.operators.execute_python_script",
                    "airflow_mlpipelines.operators.data_transfer",
                ],
            }
        ],
        "sensors": [
            {
                "integration-name": "ML Pipelines",
                "python-modules": ["airflow_mlpipelines.operators.reuse_sensor"],
            }
        ],
        "triggers": [
            {
                "integration-name": "ML Pipelines",
                "python-modules": [
                    "airflow_mlpipelines.triggers.lease",
                    "airflow_mlpipelines.triggers.datastore_watch",
                ],
            }
        ],
        "plugins": [
            {"name": "mlpipelines", "plugin-class": "airflow_mlpipelines.plugins.ui.MLPipelinesPlugin"}
        ],
        "extra-links": [
            "airflow_mlpipelines.operators.links.StepOutputsLink",
            "airflow_mlpipelines.operators.links.MLflowRunLink",
        ],
        "cli": ["airflow_mlpipelines.cli_airflow.get_cli_commands"],
        "config": {
            "mlpipelines": {
                "description": "Settings of the airflow-mlpipelines provider.",
                "options": {
                    "datastore_root": {
                        "description": "Root path or URL of named datastores, step outputs, manifests "
                        "and leases. Default: $AIRFLOW_HOME/mlpipelines/datastore (one machine only). On a "
                        "deployment whose workers share no disk, an object store through an Airflow "
                        "connection: s3://<conn_id>@<bucket>/<prefix> (gs://, abfs://).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "s3://aws_default@bucket/mlpipelines",
                        "default": None,
                    },
                    "model_registry": {
                        "description": "Where registered models (Model.register, run.register_model) "
                        "live: versions, tags and files. A local path or an s3:// URL (versions are claimed "
                        "with conditional writes). Default: <datastore_root>/models.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "s3://aws_default@bucket/mlpipelines/models",
                        "default": None,
                    },
                    "metrics_backend": {
                        "description": "Where step runs' metrics go besides their run record: record "
                        "(only the record, no extra packages) or mlflow (also an MLflow run per step, a "
                        "child of one run per DAG run; needs mlflow-skinny).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "mlflow",
                        "default": "record",
                    },
                    "mlflow_tracking_uri": {
                        "description": "MLflow tracking URI (http(s)://..., sqlite:///...). Empty: "
                        "the URI of the connection mlflow_conn_id.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "http://mlflow:5000",
                        "default": "",
                    },
                    "mlflow_conn_id": {
                        "description": "Airflow connection whose host (a URI) or URI is the MLflow "
                        "tracking URI.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "mlflow_default",
                        "default": "",
                    },
                    "mlflow_ui_url": {
                        "description": "The MLflow UI the task's 'MLflow run' link opens (default: "
                        "the tracking URI when it is http(s)).",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "https://mlflow.example.com",
                        "default": "",
                    },
                    "verify": {
                        "description": "How stored step outputs are checked before reuse: size or full.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "full",
                        "default": "size",
                    },
                    "digest_cache": {
                        "description": "JSON cache of file digests keyed by path, size and mtime. "
                        "Default: $AIRFLOW_HOME/mlpipelines/cache/digests.json.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": None,
                        "default": None,
                    },
                    "lease_seconds": {
                        "description": "Lifetime of a step's in-flight lease (renewed while it runs).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "300",
                    },
                    "lease_poll_seconds": {
                        "description": "How often a compute task whose lease expired while it was queued "
                        "checks whether the run that took it over has finished (the reuse task's own wait "
                        "is a deferred trigger with the sensor's poke_interval).",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": None,
                        "default": "2",
                    },
                    "xcom_path": {
                        "description": "Folder of DataFrames stored by DataFrameXComBackend. "
                        "Default: $AIRFLOW_HOME/mlpipelines/xcom.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": None,
                        "default": None,
                    },
                    "xcom_format": {
                        "description": "File format of stored DataFrames: arrow, arrow-lz4 or parquet. "
                        "Default: arrow on local/shared disks, parquet (zstd) on object stores.",
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "parquet",
                        "default": None,
                    },
                    "eps_time_limit_seconds": {
                        "description": "Wall-clock limit of an Execute Python Script step's process "
                        "(0: none); a step's time_limit_seconds overrides it.",
                        "version_added": "0.1.0",
                        "type": "float",
                        "example": "600",
                        "default": "3600",
                    },
                    "eps_memory_limit_mb": {
                        "description": "Address-space limit (RLIMIT_AS) of an Execute Python Script "
                        "step's process in MiB (0: none); a step's memory_limit_mb overrides it.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "4096",
                        "default": "0",
                    },
                    "eps_bundle_max_bytes": {
                        "description": "Largest uncompressed size of an Execute Python Script bundle zip.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": None,
                        "default": "268435456",
                    },
                    "eps_bundle_max_files": {
                        "description": "Most entries an Execute Python Script bundle zip may hold.",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": None,
                        "default": "10000",
                    },
                    "xcom_offload_threshold": {
                        "description": "Size in bytes of its JSON from which a value that is not a DataFrame "
                        "is also stored as a file under xcom_path (typed reference in the XCom row). "
                        "-1: never (Airflow's own serialisation into the database).",
                        "version_added": "0.1.0",
                        "type": "integer",
                        "example": "1048576",
                        "default": "-1",
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
