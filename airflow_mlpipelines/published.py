"""Azure ML's published pipelines, pipeline endpoints and schedules, from a notebook, over REST.

``pipeline.publish(...)`` returns a :class:`PublishedPipeline` whose ``endpoint`` other systems POST
Azure ML's request body to (``ExperimentName``, ``ParameterAssignments``, ...), with an Airflow token
instead of an Azure AD one; :class:`PipelineEndpoint` puts versions behind one address; :class:`Schedule`
sets the pipeline's schedule (a recurrence, or a datastore path to watch). All of them call the
plugin's JSON API on the Airflow API server (``/mlpipelines/api``), which checks the caller's permission
on the DAG and keeps the records in Airflow Variables; the workspace's ``config.json`` ``airflow``
section (or ``$MLPIPELINES_AIRFLOW_URL`` and the token/credential variables) says where Airflow is, as
for ``Experiment.submit``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_mlpipelines.exceptions import MLPipelinesWarning
from airflow_mlpipelines.experiment import (
    AirflowTarget,
    Experiment,
    PipelineRun,
    SubmitError,
    _call,
    _check,
    _spec,
    differences,
    expected_tasks,
)

if TYPE_CHECKING:
    import builtins

    import httpx

    from airflow_mlpipelines.pipeline.model import PipelineSpec

API = "/mlpipelines/api"


class _Remote:
    """A record on the API server, read and changed through the plugin's JSON API."""

    def __init__(self, workspace: Any, data: dict[str, Any], client: httpx.Client, url: str) -> None:
        self._workspace = workspace
        self._client = client
        self._url = url
        self._data = data

    @property
    def name(self) -> str:
        """The name it was published under (an endpoint's name is part of its URL)."""
        return str(self._data["Name"])

    @property
    def description(self) -> str | None:
        """The description it was published with."""
        return self._data.get("Description")

    @property
    def status(self) -> str:
        """``Active`` or ``Disabled``."""
        return str(self._data["Status"])

    @property
    def endpoint(self) -> str:
        """The URL other systems POST Azure ML's request body to (with ``Authorization: Bearer``); an
        endpoint's ``<endpoint>/<version>`` runs one version."""
        return str(self._data["Endpoint"])

    @staticmethod
    def _connect(workspace: Any) -> tuple[httpx.Client, str]:
        target = AirflowTarget.of(workspace)
        return target.client(), target.url

    def _request(self, method: str, path: str, what: str, json: Any = None) -> Any:
        return _request(self._client, self._url, method, path, what, json)


def _request(client: httpx.Client, url: str, method: str, path: str, what: str, json: Any = None) -> Any:
    response = _call(lambda: client.request(method, f"{API}{path}", json=json), url)
    if response.status_code == 404 and response.headers.get("content-type", "").startswith("text/html"):
        raise SubmitError(f"Airflow at {url} has no airflow-mlpipelines plugin (404 on {API}{path})")
    _check(response, url, what)
    return response.json()


class PublishedPipeline(_Remote):
    """A published pipeline: ``id``, ``name``, ``version``, ``status``, ``endpoint`` (POST runs it)."""

    def __init__(
        self,
        workspace: Any,
        data: dict[str, Any],
        client: httpx.Client,
        url: str,
        spec: PipelineSpec | None = None,
    ) -> None:
        super().__init__(workspace, data, client, url)
        self._spec = spec

    @property
    def id(self) -> str:
        """The published pipeline's id (what ``PublishedPipeline.get`` and ``Schedule.create`` take)."""
        return str(self._data["Id"])

    @property
    def version(self) -> str | None:
        """The version string given to ``publish`` (None if none)."""
        return self._data.get("Version")

    @property
    def dag_id(self) -> str:
        """The Airflow DAG it runs."""
        return str(self._data["DagId"])

    @classmethod
    def create(
        cls, workspace: Any, pipeline: Any, name: str | None = None, **kwargs: Any
    ) -> PublishedPipeline:
        """Publish ``pipeline`` (what ``Pipeline.publish`` calls): its DAG must be deployed and current."""
        spec = _spec(pipeline)
        if kwargs.get("continue_on_step_failure"):
            warnings.warn(
                "publish(continue_on_step_failure=True) has no effect yet: a failed step stops its "
                "downstream steps",
                MLPipelinesWarning,
                stacklevel=3,
            )
        client, url = cls._connect(workspace)
        dag_id = spec.name
        tasks = _call(lambda: client.get(f"/api/v2/dags/{quote(dag_id, safe='')}/tasks"), url)
        if tasks.status_code == 404:
            raise SubmitError(
                f"pipeline '{dag_id}' is not deployed: Airflow at {url} has no DAG '{dag_id}' (put its "
                "definition under the DAGs folder's definitions/, run `mlpipelines stubs`, then publish)"
            )
        _check(tasks, url, f"reading the tasks of DAG '{dag_id}'")
        deployed = {str(t["task_id"]): set(t.get("downstream_task_ids") or []) for t in tasks.json()["tasks"]}
        differ = differences(expected_tasks(spec), deployed)
        if differ:
            raise SubmitError(
                f"the deployed DAG '{dag_id}' differs from the pipeline being published: {'; '.join(differ)}"
            )
        body = {
            "dag_id": dag_id,
            "name": name or dag_id,
            "description": kwargs.get("description"),
            "version": kwargs.get("version"),
            "continue_on_step_failure": bool(kwargs.get("continue_on_step_failure") or False),
        }
        data = _request(client, url, "POST", "/published", f"publishing pipeline '{dag_id}'", body)
        return cls(workspace, data, client, url, spec)

    @classmethod
    def get(cls, workspace: Any, id: str, **_kwargs: Any) -> PublishedPipeline:
        """The published pipeline ``id``."""
        client, url = cls._connect(workspace)
        path = f"/published/{quote(id, safe='')}"
        return cls(
            workspace, _request(client, url, "GET", path, f"reading published pipeline {id}"), client, url
        )

    @classmethod
    def list(
        cls, workspace: Any, active_only: bool = True, **_kwargs: Any
    ) -> builtins.list[PublishedPipeline]:
        """The published pipelines of DAGs this user may read (only active ones unless asked)."""
        client, url = cls._connect(workspace)
        found = _request(client, url, "GET", "/published", "listing published pipelines")
        return [
            cls(workspace, data, client, url)
            for data in found
            if not active_only or data["Status"] == "Active"
        ]

    def disable(self) -> None:
        """Refuse runs (409) and pause the DAG, as SDK v1's disable stopped the pipeline."""
        self._data = self._request("POST", f"/published/{self.id}/disable", f"disabling {self.name}")

    def enable(self) -> None:
        """Accept runs again and unpause the DAG."""
        self._data = self._request("POST", f"/published/{self.id}/enable", f"enabling {self.name}")

    def submit(
        self,
        workspace: Any,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        **_kwargs: Any,
    ) -> PipelineRun:
        """Run it through its endpoint, as another system would; returns the run to follow."""
        body = {"ExperimentName": experiment_name, "ParameterAssignments": dict(pipeline_parameters or {})}
        response = _call(lambda: self._client.post(self.endpoint, json=body), self._url)
        _check(response, self._url, f"running published pipeline {self.name}")
        run_id = str(response.json()["Id"])
        return PipelineRun(
            Experiment(workspace, experiment_name), self._client, self._url, self.dag_id, run_id, self._spec
        )

    def __repr__(self) -> str:
        return f"PublishedPipeline(name={self.name!r}, id={self.id!r}, status={self.status!r})"


class PipelineEndpoint(_Remote):
    """Versions of published pipelines behind one address; POST to ``endpoint`` runs the default one."""

    @property
    def id(self) -> str:
        """SDK v1 had a separate id; here the name is the id."""
        return self.name

    @property
    def default_version(self) -> str:
        """The version POSTs without a version run."""
        return str(self._data["DefaultVersion"])

    @classmethod
    def publish(
        cls, workspace: Any, name: str, description: str | None, pipeline: PublishedPipeline, **_kwargs: Any
    ) -> PipelineEndpoint:
        """A new endpoint whose version 0 (the default) is ``pipeline``."""
        client, url = cls._connect(workspace)
        body = {"name": name, "description": description, "pipeline_id": pipeline.id}
        return cls(
            workspace,
            _request(client, url, "POST", "/endpoints", f"publishing endpoint {name}", body),
            client,
            url,
        )

    @classmethod
    def get(
        cls, workspace: Any, id: str | None = None, name: str | None = None, **_kwargs: Any
    ) -> PipelineEndpoint:
        """The endpoint called ``name`` (or ``id``: the same here)."""
        key = name or id
        if not key:
            raise SubmitError("PipelineEndpoint.get needs name= (or id=)")
        client, url = cls._connect(workspace)
        path = f"/endpoints/{quote(key, safe='')}"
        return cls(workspace, _request(client, url, "GET", path, f"reading endpoint {key}"), client, url)

    @classmethod
    def list(
        cls, workspace: Any, active_only: bool = True, **_kwargs: Any
    ) -> builtins.list[PipelineEndpoint]:
        """The endpoints this user may read."""
        client, url = cls._connect(workspace)
        found = _request(client, url, "GET", "/endpoints", "listing pipeline endpoints")
        return [cls(workspace, d, client, url) for d in found if not active_only or d["Status"] == "Active"]

    def list_versions(self) -> builtins.list[tuple[str, str]]:
        """(version, published pipeline id), oldest first."""
        versions: dict[str, str] = self._data["Versions"]
        return sorted(versions.items(), key=lambda item: int(item[0]))

    def get_pipeline(self, version: str | None = None) -> PublishedPipeline:
        """The published pipeline of ``version`` (the default version when None)."""
        chosen = str(version) if version is not None else self.default_version
        versions: dict[str, str] = self._data["Versions"]
        if chosen not in versions:
            raise SubmitError(
                f"endpoint {self.name!r} has no version {chosen!r} (versions: {', '.join(versions)})"
            )
        return PublishedPipeline.get(self._workspace, versions[chosen])

    def add(self, pipeline: PublishedPipeline) -> None:
        """Add ``pipeline`` as the next version (the default stays)."""
        self._add(pipeline, False)

    def add_default(self, pipeline: PublishedPipeline) -> None:
        """Add ``pipeline`` as the next version and make it the default."""
        self._add(pipeline, True)

    def _add(self, pipeline: PublishedPipeline, default: bool) -> None:
        body = {"pipeline_id": pipeline.id, "set_default": default}
        self._data = self._request(
            "POST", f"/endpoints/{quote(self.name, safe='')}/versions", "adding a version", body
        )

    def set_default_version(self, version: str) -> None:
        """Make ``version`` the one POSTs without a version run."""
        body = {"version": str(version)}
        self._data = self._request(
            "PUT", f"/endpoints/{quote(self.name, safe='')}/default", "setting the default", body
        )

    def disable(self) -> None:
        """Refuse runs through this endpoint (409)."""
        self._data = self._request("POST", f"/endpoints/{quote(self.name, safe='')}/disable", "disabling")

    def enable(self) -> None:
        """Accept runs through this endpoint again."""
        self._data = self._request("POST", f"/endpoints/{quote(self.name, safe='')}/enable", "enabling")

    def submit(
        self,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        pipeline_version: str | None = None,
        **_kwargs: Any,
    ) -> PipelineRun:
        """Run the default version (or ``pipeline_version``) through the endpoint."""
        target = self.endpoint + (
            f"/{quote(str(pipeline_version), safe='')}" if pipeline_version is not None else ""
        )
        body = {"ExperimentName": experiment_name, "ParameterAssignments": dict(pipeline_parameters or {})}
        response = _call(lambda: self._client.post(target, json=body), self._url)
        _check(response, self._url, f"running endpoint {self.name}")
        data = response.json()
        experiment = Experiment(self._workspace, experiment_name)
        return PipelineRun(experiment, self._client, self._url, str(data["DagId"]), str(data["Id"]), None)

    def __repr__(self) -> str:
        return f"PipelineEndpoint(name={self.name!r}, default_version={self.default_version!r})"
