"""MLflow as a metrics backend (``[mlpipelines] metrics_backend = mlflow``): each step run's record is
also logged as an MLflow run, a child of one MLflow run per DAG run, in an experiment named after the
pipeline; runs are tagged with the DAG id, run id and task id, so MLflow and Airflow point at each other.

The run record stays the source of truth (it is committed with the outputs either way); MLflow gets a
copy when the step ends (also when it failed). Needs ``mlflow-skinny`` (or ``mlflow``) on the worker.

Registered models are mirrored into MLflow's model registry (:func:`register_model_version`); the
datastore's registry (``runtime/models.py``) stays the source of truth that steps and ``Model`` read.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import MLPipelinesError

if TYPE_CHECKING:
    from collections.abc import Mapping

TAG_DAG_RUN = "mlpipelines.dag_run"
TAG_KIND = "mlpipelines.kind"
TAG_MODEL_VERSION = "mlpipelines.model_version"
TAG_MODEL_DIGEST = "mlpipelines.model_digest"


class TrackingError(MLPipelinesError):
    """MLflow is configured but cannot be used (the message says why)."""


def _client(uri: str) -> Any:
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise TrackingError(
            "[mlpipelines] metrics_backend = mlflow, but mlflow is not installed on this worker "
            "(pip install mlflow-skinny)"
        ) from None
    return MlflowClient(tracking_uri=uri)


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(client.create_experiment(name))


def _parent(client: Any, experiment: str, dag_id: str, run_id: str) -> str:
    key = f"{dag_id}/{run_id}"
    runs = client.search_runs(
        [experiment], filter_string=f"tags.`{TAG_DAG_RUN}` = '{key}' and tags.`{TAG_KIND}` = 'pipeline'"
    )
    if runs:
        return str(runs[0].info.run_id)
    tags = {TAG_DAG_RUN: key, TAG_KIND: "pipeline", "airflow.dag_id": dag_id, "airflow.run_id": run_id}
    return str(client.create_run(experiment, tags=tags, run_name=run_id).info.run_id)


def log_record(
    uri: str,
    record: Mapping[str, Any],
    record_dir: str | None,
    *,
    task_id: str,
    parameters: Mapping[str, Any],
) -> dict[str, str]:
    """Log one step run's record to MLflow; returns the experiment and run ids."""
    from mlflow.entities import Metric, Param, RunTag

    client = _client(uri)
    pipeline, dag_id, run_id = str(record["pipeline"]), str(record["dag_id"]), str(record["run_id"])
    experiment = _experiment(client, pipeline)
    parent = _parent(client, experiment, dag_id, run_id)
    tags = {
        "mlflow.parentRunId": parent,
        TAG_DAG_RUN: f"{dag_id}/{run_id}",
        TAG_KIND: "step",
        "airflow.dag_id": dag_id,
        "airflow.run_id": run_id,
        "airflow.task_id": task_id,
        "mlpipelines.step": str(record["step"]),
        "mlpipelines.fingerprint": str(record.get("fingerprint", "")),
        **{f"user.{k}": str(v) for k, v in dict(record.get("tags", {})).items()},
    }
    child = client.create_run(experiment, tags=tags, run_name=str(record["step"])).info.run_id
    metrics: list[Any] = []
    steps: dict[str, int] = {}
    for entry in record.get("entries", []):
        name, value, when = str(entry["name"]), entry["value"], int(float(entry.get("time", 0)) * 1000)
        values = value if entry.get("kind") == "list" else [value]
        for item in values:
            if isinstance(item, int | float) and not isinstance(item, bool):
                index = steps.get(name, 0)
                steps[name] = index + 1
                metrics.append(Metric(name, float(item), when, index))
    params = [Param(k, str(v)[:500]) for k, v in sorted(parameters.items())]
    status = [RunTag("mlpipelines.status", str(record.get("status")))]
    for start in range(0, max(len(metrics), 1), 1000):  # MLflow takes at most 1,000 metrics a batch
        first = start == 0
        batch = metrics[start : start + 1000]
        client.log_batch(child, metrics=batch, params=params if first else [], tags=status if first else [])
    if record_dir is not None:
        for folder in ("images", "files"):
            path = os.path.join(record_dir, folder)
            if os.path.isdir(path):
                client.log_artifacts(child, path, artifact_path=folder)
    client.set_terminated(child, status="FINISHED" if record.get("status") == "completed" else "FAILED")
    return {"experiment_id": experiment, "run_id": str(child), "parent_run_id": parent}


def run_url(ui: str, ids: Mapping[str, str]) -> str:
    """The MLflow UI page of a run."""
    return f"{ui.rstrip('/')}/#/experiments/{ids['experiment_id']}/runs/{ids['run_id']}"


def register_model_version(uri: str, model: Mapping[str, Any], url: str, *, run_id: str | None = None) -> str:
    """Mirror one version of the datastore's model registry into MLflow's model registry; returns the
    MLflow version (numbered by MLflow: the datastore's number is the tag ``mlpipelines.model_version``).

    The version's ``source`` is the datastore URL of its files; ``run_id`` links it to the step's MLflow run.
    """
    from mlflow.exceptions import MlflowException

    client = _client(uri)
    name = str(model["name"])
    try:
        client.create_registered_model(name)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    tags = {
        **{str(k): str(v) for k, v in dict(model.get("tags") or {}).items()},
        TAG_MODEL_VERSION: str(model["version"]),
        TAG_MODEL_DIGEST: str(model.get("digest", "")),
    }
    source = f"{url.rstrip('/')}/files/{model['path']}"
    created = client.create_model_version(
        name, source=source, run_id=run_id, tags=tags, description=model.get("description")
    )
    return str(created.version)
