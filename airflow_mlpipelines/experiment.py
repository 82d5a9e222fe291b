"""Submitting a pipeline from a notebook (SDK v1's ``Experiment(ws, name).submit(pipeline)``).

``submit`` triggers the deployed pipeline's DAG through Airflow's REST API (v2), after checking that the
deployed DAG has the submitted pipeline's steps and edges; it returns a :class:`PipelineRun` that can wait
(streaming step logs), report status, steps, metrics and outputs. ``submit(..., local=True)`` runs the
pipeline in-process instead (Airflow's ``dag.test()``), for the notebook's inner loop.

Where Airflow is and how to log in comes from the workspace: ``config.json``'s ``airflow`` section
(``api_url``, and the *names* of environment variables holding the credentials) or the environment
(``MLP_AIRFLOW_URL``, ``MLP_AIRFLOW_TOKEN`` or ``MLP_AIRFLOW_USERNAME`` + ``MLP_AIRFLOW_PASSWORD``).
Credentials are never read from the file.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import httpx

from airflow_mlpipelines.exceptions import MLPipelinesError

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.model import PipelineSpec

DEFAULT_URL_ENV = "MLP_AIRFLOW_URL"
TOKEN_ENV = "MLP_AIRFLOW_TOKEN"  # noqa: S105 - the name of a variable, not a token
USERNAME_ENV = "MLP_AIRFLOW_USERNAME"
PASSWORD_ENV = "MLP_AIRFLOW_PASSWORD"  # noqa: S105 - the name of a variable, not a password
_FINISHED = {"success": "Finished", "failed": "Failed"}
_STATUS = {"queued": "Queued", "running": "Running", **_FINISHED}
_TI_STATUS = {
    "success": "Finished", "failed": "Failed", "upstream_failed": "Failed", "skipped": "Finished",
    "running": "Running", "queued": "Queued", "scheduled": "Queued", "deferred": "Running",
    "up_for_retry": "Running", "up_for_reschedule": "Running", None: "NotStarted",
}  # fmt: skip


class SubmitError(MLPipelinesError):
    """Submitting or following a pipeline run failed (the message says where and why)."""


@dataclass(frozen=True)
class AirflowTarget:
    """Where the Airflow API is and how to authenticate (resolved from the workspace or environment)."""

    url: str
    token: str | None = None
    username: str | None = None
    password: str | None = None

    @classmethod
    def of(cls, workspace: Any) -> AirflowTarget:
        """From ``workspace.airflow`` (config.json's ``airflow`` section) and the environment."""
        section = dict(getattr(workspace, "airflow", None) or {})
        if any(k in section for k in ("password", "token")):
            raise SubmitError(
                "config.json holds a credential: put it in an environment variable and name that variable "
                "(airflow.token_env, airflow.password_env)"
            )
        url = section.get("api_url") or os.environ.get(DEFAULT_URL_ENV)
        if not url:
            raise SubmitError(
                "no Airflow API URL: set airflow.api_url in the workspace's config.json or "
                f"${DEFAULT_URL_ENV}"
            )

        def env(key: str, default: str) -> str | None:
            return os.environ.get(str(section.get(key, default))) or None

        return cls(
            str(url).rstrip("/"),
            token=env("token_env", TOKEN_ENV),
            username=env("username_env", USERNAME_ENV),
            password=env("password_env", PASSWORD_ENV),
        )

    def client(self) -> httpx.Client:
        """An HTTP client with a Bearer token (given, or from ``POST /auth/token``)."""
        token = self.token
        if token is None:
            if not (self.username and self.password):
                raise SubmitError(
                    f"no Airflow credentials: set ${TOKEN_ENV}, or ${USERNAME_ENV} and ${PASSWORD_ENV}"
                )
            response = _call(
                lambda: httpx.post(
                    f"{self.url}/auth/token",
                    json={"username": self.username, "password": self.password},
                    timeout=15,
                ),
                self.url,
            )
            if response.status_code in (401, 403):
                raise SubmitError(f"Airflow at {self.url} refused the credentials ({response.status_code})")
            _check(response, self.url, "logging in")
            token = str(response.json()["access_token"])
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"}, timeout=30)


def _call(request: Any, url: str) -> httpx.Response:
    try:
        response: httpx.Response = request()
    except httpx.HTTPError as exc:
        raise SubmitError(f"cannot reach the Airflow API at {url}: {type(exc).__name__}: {exc}") from None
    return response


def _check(response: httpx.Response, url: str, what: str) -> None:
    if response.status_code == 401:
        raise SubmitError(f"Airflow at {url} refused the credentials (401) while {what}")
    if response.status_code == 403:
        raise SubmitError(f"Airflow at {url}: this user may not do that (403) while {what}")
    if response.status_code >= 400:
        raise SubmitError(
            f"Airflow at {url} answered {response.status_code} while {what}: {response.text[:300]}"
        )


def _spec(pipeline: Any) -> PipelineSpec:
    """A ``Pipeline``, a ``PipelineSpec`` or a definition file's path, as the model."""
    from airflow_mlpipelines.pipeline import load_definition
    from airflow_mlpipelines.pipeline.model import PipelineSpec
    from airflow_mlpipelines.pipeline.sdk_steps import Pipeline

    if isinstance(pipeline, PipelineSpec):
        return pipeline
    if isinstance(pipeline, Pipeline):
        return pipeline.to_spec()
    if isinstance(pipeline, str | os.PathLike):
        specs = load_definition(os.fspath(pipeline))
        if len(specs) != 1:
            raise SubmitError(f"{pipeline} defines {len(specs)} pipelines; submit one Pipeline object")
        return specs[0]
    raise SubmitError(f"submit() takes a Pipeline, got {type(pipeline).__name__}")


def expected_tasks(spec: PipelineSpec) -> dict[str, set[str]]:
    """The DAG's task ids and each one's downstream tasks, as the DAG factory renders the pipeline."""
    from airflow_mlpipelines.dag_factory.render import render_pipeline

    dag = render_pipeline(spec)
    return {t.task_id: set(t.downstream_task_ids) for t in dag.tasks}


def differences(expected: dict[str, set[str]], deployed: dict[str, set[str]]) -> list[str]:
    """What differs between the submitted pipeline's tasks and the deployed DAG's, in words."""
    found = []
    missing, extra = sorted(set(expected) - set(deployed)), sorted(set(deployed) - set(expected))
    if missing:
        found.append(f"the deployed DAG lacks {', '.join(missing)}")
    if extra:
        found.append(f"the deployed DAG has {', '.join(extra)}, which the submitted pipeline does not")
    for task in sorted(set(expected) & set(deployed)):
        if expected[task] != deployed[task]:
            found.append(
                f"{task} leads to {sorted(deployed[task]) or 'nothing'} there, "
                f"to {sorted(expected[task]) or 'nothing'} here"
            )
    return found


class Experiment:
    """``Experiment(workspace, name)``: ``submit`` runs a pipeline on Airflow (see the module docstring)."""

    def __init__(self, workspace: Any, name: str, **_kwargs: Any) -> None:
        self.workspace = workspace
        self.name = name

    def submit(
        self,
        config: Any,
        tags: dict[str, str] | None = None,
        *,
        pipeline_parameters: dict[str, Any] | None = None,
        regenerate_outputs: bool = False,
        continue_on_step_failure: bool | None = None,
        local: bool = False,
        **_kwargs: Any,
    ) -> PipelineRun:
        """Trigger the pipeline's DAG (or run it in-process with ``local=True``); returns its run."""
        spec = _spec(config)
        conf: dict[str, Any] = dict(pipeline_parameters or {})
        unknown = sorted(set(conf) - {p.name for p in spec.parameters})
        if unknown:
            raise SubmitError(
                f"pipeline '{spec.name}' has no parameter {', '.join(repr(u) for u in unknown)} "
                f"(its parameters: {', '.join(p.name for p in spec.parameters) or 'none'})"
            )
        if regenerate_outputs:
            conf["regenerate_outputs"] = True
        if local:
            return LocalPipelineRun(self, spec, conf)
        target = AirflowTarget.of(self.workspace)
        client = target.client()
        dag_id = spec.name
        response = _call(lambda: client.get(f"/api/v2/dags/{quote(dag_id, safe='')}"), target.url)
        if response.status_code == 404:
            raise SubmitError(
                f"pipeline '{dag_id}' is not deployed: Airflow at {target.url} has no DAG '{dag_id}' "
                "(put its definition under the DAGs folder's definitions/ and run `mlpipelines stubs`)"
            )
        _check(response, target.url, f"looking up DAG '{dag_id}'")
        tasks = _call(lambda: client.get(f"/api/v2/dags/{quote(dag_id, safe='')}/tasks"), target.url)
        _check(tasks, target.url, f"reading the tasks of DAG '{dag_id}'")
        deployed = {str(t["task_id"]): set(t.get("downstream_task_ids") or []) for t in tasks.json()["tasks"]}
        differ = differences(expected_tasks(spec), deployed)
        if differ:
            raise SubmitError(
                f"the deployed DAG '{dag_id}' differs from the submitted pipeline: {'; '.join(differ)} "
                "(deploy the definition you submit, or submit the deployed one)"
            )
        if response.json().get("is_paused"):
            path = f"/api/v2/dags/{quote(dag_id, safe='')}"
            unpaused = _call(lambda: client.patch(path, json={"is_paused": False}), target.url)
            _check(unpaused, target.url, f"unpausing DAG '{dag_id}'")
        note = f"submitted by Experiment {self.name!r}" + (f" (tags {tags})" if tags else "")
        body: dict[str, Any] = {"logical_date": None, "conf": conf, "note": note}
        triggered = _call(
            lambda: client.post(f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns", json=body), target.url
        )
        _check(triggered, target.url, f"triggering DAG '{dag_id}'")
        return PipelineRun(self, client, target.url, dag_id, str(triggered.json()["dag_run_id"]), spec)


class StepRun:
    """One step of a pipeline run (``pipeline_run.find_step_run(name)``)."""

    def __init__(self, run: PipelineRun, name: str) -> None:
        self.run = run
        self.name = name

    def get_status(self) -> str:
        """``NotStarted``, ``Queued``, ``Running``, ``Finished`` or ``Failed`` (a reused step is Finished)."""
        states = self.run.task_states()
        compute, reuse = states.get(f"{self.name}.run"), states.get(f"{self.name}.reuse")
        if compute == "skipped" and reuse == "success":
            return "Finished"
        return _TI_STATUS.get(compute if compute is not None else reuse, "Running")

    def get_metrics(self) -> dict[str, Any]:
        """The latest value of each metric the step's script logged."""
        return self.run.step_metrics(self.name)

    def get_output_data(self, name: str) -> PortDataReference:
        """One of the step's outputs."""
        return self.run.get_output_data(name)

    def __repr__(self) -> str:
        return f"StepRun({self.name!r}, {self.get_status()})"


class PortDataReference:
    """A step output's location; ``download(path)`` copies it (local folders, or object storage through
    fsspec's own credentials, e.g. the notebook's AWS profile)."""

    def __init__(self, name: str, url: str) -> None:
        self.name = name
        self.url = url

    def download(self, local_path: str, overwrite: bool = False, show_progress: bool = False) -> str:
        """Copy the output folder to ``local_path/<name>``; returns that path."""
        from airflow_mlpipelines import storage as st

        loc = st.FsspecStorage().resolve(self.url)
        target = os.path.join(local_path, self.name)
        if os.path.exists(target) and not overwrite:
            raise SubmitError(f"{target} exists (pass overwrite=True)")
        if loc.local:
            import shutil

            shutil.copytree(loc.path, target, dirs_exist_ok=True)
            return target
        return st.download(loc, target, print if show_progress else None)


class PipelineRun:
    """A submitted pipeline's DAG run, followed through the REST API."""

    def __init__(self, experiment: Experiment, client: httpx.Client, url: str, dag_id: str, run_id: str,
                 spec: PipelineSpec | None) -> None:  # fmt: skip
        self.experiment = experiment
        self._client = client
        self._url = url
        self.dag_id = dag_id
        self.run_id = run_id
        self.id = f"{dag_id}/{run_id}"
        self._spec = spec

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        response = _call(lambda: self._client.get(path, params=params or None), self._url)
        _check(response, self._url, f"reading {path}")
        data: dict[str, Any] = response.json()
        return data

    def _run_path(self) -> str:
        return f"/api/v2/dags/{quote(self.dag_id, safe='')}/dagRuns/{quote(self.run_id, safe='')}"

    def get_status(self) -> str:
        """SDK v1's status words: ``Queued``, ``Running``, ``Finished``, ``Failed``."""
        return _STATUS.get(str(self._get(self._run_path()).get("state")), "Running")

    def task_states(self) -> dict[str, str | None]:
        """Task id -> state of this run's task instances."""
        data = self._get(f"{self._run_path()}/taskInstances", limit=1000)
        return {str(t["task_id"]): t.get("state") for t in data.get("task_instances", [])}

    def wait_for_completion(
        self, show_output: bool = True, timeout_seconds: float = 3600, raise_on_error: bool = True
    ) -> str:
        """Wait until the run ends; with ``show_output``, each step's log is printed once it ends."""
        deadline = time.monotonic() + timeout_seconds
        shown: set[str] = set()
        while True:
            status = self.get_status()
            if show_output:
                for task, state in sorted(self.task_states().items()):
                    if task not in shown and state in ("success", "failed", "upstream_failed"):
                        shown.add(task)
                        sys.stdout.write(f"--- {task}: {state}\n{self._log(task)}\n")
            if status in ("Finished", "Failed"):
                break
            if time.monotonic() > deadline:
                raise SubmitError(
                    f"run {self.id} did not finish within {timeout_seconds:.0f} s (it is {status})"
                )
            time.sleep(2)
        if status == "Failed" and raise_on_error:
            failed = [t for t, s in self.task_states().items() if s == "failed"]
            raise SubmitError(
                f"pipeline run {self.id} failed (failed tasks: {', '.join(sorted(failed)) or 'none'})"
            )
        return status

    def _log(self, task: str) -> str:
        response = _call(
            lambda: self._client.get(
                f"{self._run_path()}/taskInstances/{task}/logs/1",
                params={"full_content": "true"},
                headers={"Accept": "application/json"},
            ),
            self._url,
        )
        if response.status_code >= 400:
            return f"(no log: {response.status_code})"
        return "\n".join(str(item.get("event", "")) for item in response.json().get("content", []))

    def get_steps(self) -> list[StepRun]:
        """The pipeline's steps, in execution order (from the DAG's tasks when the run was started
        through a published pipeline without the pipeline object at hand)."""
        if self._spec is not None:
            return [StepRun(self, step.name) for step in self._spec.steps]
        return [StepRun(self, t.removesuffix(".run")) for t in self.task_states() if t.endswith(".run")]

    def find_step_run(self, name: str) -> list[StepRun]:
        """The step called ``name`` (a list, as SDK v1 returns)."""
        return [s for s in self.get_steps() if s.name == name]

    def _xcom(self, task: str, key: str) -> Any:
        response = _call(
            lambda: self._client.get(f"{self._run_path()}/taskInstances/{task}/xcomEntries/{key}"), self._url
        )
        if response.status_code == 404:
            return None
        _check(response, self._url, f"reading XCom {key} of {task}")
        value = response.json().get("value")
        if isinstance(value, str):
            import json

            try:
                value = json.loads(value)
            except ValueError:
                return value
        return value

    def step_metrics(self, step: str) -> dict[str, Any]:
        """The latest metric values a step logged (its compute task's ``mlp_metrics`` XCom)."""
        value = self._xcom(f"{step}.run", "mlp_metrics")
        return dict(value) if isinstance(value, dict) else {}

    def get_metrics(self) -> dict[str, dict[str, Any]]:
        """Step name -> its latest metric values (steps that logged nothing are left out)."""
        return {s.name: m for s in self.get_steps() if (m := s.get_metrics())}

    def get_output_data(self, name: str) -> PortDataReference:
        """The output called ``name`` (a PipelineData) of whichever step produced it in this run."""
        producers = self._spec.producers() if self._spec is not None else self._producers()
        if name not in producers:
            known = ", ".join(sorted(producers))
            raise SubmitError(f"pipeline '{self.dag_id}' has no output {name!r} (its outputs: {known})")
        plan = self._xcom(f"{producers[name]}.reuse", "mlp_plan")
        if not isinstance(plan, dict) or name not in plan.get("outputs", {}):
            raise SubmitError(f"step '{producers[name]}' has not published {name!r} in run {self.id} (yet)")
        return PortDataReference(name, str(plan["outputs"][name]))

    def _producers(self) -> dict[str, str]:
        """Output name -> step, from the plans this run's reuse tasks pushed."""
        found = {}
        for step in self.get_steps():
            plan = self._xcom(f"{step.name}.reuse", "mlp_plan")
            if isinstance(plan, dict):
                found.update(dict.fromkeys(plan.get("outputs", {}), step.name))
        return found


class LocalPipelineRun(PipelineRun):
    """``submit(..., local=True)``: the pipeline run in this process by Airflow's ``dag.test()``."""

    def __init__(self, experiment: Experiment, spec: PipelineSpec, conf: dict[str, Any]) -> None:
        self._dag_run = _run_locally(spec, conf)
        super().__init__(experiment, httpx.Client(), "local", spec.name, str(self._dag_run.run_id), spec)

    def get_status(self) -> str:
        """The finished in-process run's status."""
        return _STATUS.get(str(self._dag_run.state), "Failed")

    def task_states(self) -> dict[str, str | None]:
        """Task id -> state."""
        return {
            ti.task_id: (str(ti.state) if ti.state else None) for ti in self._dag_run.get_task_instances()
        }

    def wait_for_completion(self, show_output: bool = True, timeout_seconds: float = 3600,
                            raise_on_error: bool = True) -> str:  # fmt: skip
        """The run has ended already (``dag.test()`` returns when it does)."""
        status = self.get_status()
        if status == "Failed" and raise_on_error:
            failed = [t for t, s in self.task_states().items() if s == "failed"]
            raise SubmitError(f"pipeline run {self.id} failed (failed tasks: {', '.join(sorted(failed))})")
        return status

    def _xcom(self, task: str, key: str) -> Any:
        for ti in self._dag_run.get_task_instances():
            if ti.task_id == task:
                return ti.xcom_pull(task_ids=task, key=key)
        return None


LOCAL_STUB = """\
# Written by Experiment.submit(local=True) for one in-process run; removed afterwards.
from airflow_mlpipelines.dag_factory import load_pipeline

load_pipeline(globals(), __file__, definition={definition!r})
"""


def _run_locally(spec: PipelineSpec, conf: dict[str, Any]) -> Any:
    """``dag.test()`` of the pipeline: Airflow runs only DAGs of its DAG bundles, so a stub naming the
    definition is put in the DAGs folder for the run and removed afterwards."""
    from airflow.configuration import conf as airflow_conf
    from airflow.dag_processing.dagbag import DagBag

    definition = spec.source.file if spec.source is not None else None
    if not definition or not os.path.isfile(definition):
        raise SubmitError(
            f"local mode runs a pipeline from its definition file; pipeline '{spec.name}' has none on disk "
            f"({definition or 'built in memory'}): save the definition as a .py or .yaml file and submit it"
        )
    folder = airflow_conf.get("core", "dags_folder")
    os.makedirs(folder, exist_ok=True)
    stub = os.path.join(folder, f"mlpipelines_local_{spec.name}.py")
    with open(stub, "w", encoding="utf-8") as fh:
        fh.write(LOCAL_STUB.format(definition=os.path.abspath(definition)))
    try:
        bag = DagBag(stub)
        if spec.name not in bag.dags:
            errors = "; ".join(str(e) for e in bag.import_errors.values())
            raise SubmitError(f"pipeline '{spec.name}' does not load: {errors}")
        return bag.dags[spec.name].test(run_conf=conf or None)
    finally:
        os.remove(stub)
