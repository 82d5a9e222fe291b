"""What a step's reuse task works out at run time: upstream publications, fingerprint, plan.

Everything here happens inside a task (never while a DAG file is parsed): settings are read, the
source tree and inputs are hashed, upstream steps' manifests are read through the storage layer.
The reuse sensor uses it for every step; a compute task that runs without one (a hand-written
``ExecutePythonScriptOperator``) plans for itself with the same code.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import settings
from airflow_mlpipelines import storage as st
from airflow_mlpipelines.databases import AirflowDatabases
from airflow_mlpipelines.exceptions import ModelError, StepExecutionError, StorageError
from airflow_mlpipelines.operators.asset_events import watched_files
from airflow_mlpipelines.paths import datastore_url, expand_destination, join, safe_segment
from airflow_mlpipelines.pipeline.datapath import file_datastores, parse_datapath
from airflow_mlpipelines.reuse import store
from airflow_mlpipelines.reuse.fingerprint import Fingerprint, StepState, digest_of, fingerprint
from airflow_mlpipelines.reuse.remote_digest import remote_digest
from airflow_mlpipelines.reuse.source_tree import DigestCache, TreeDigest, hash_tree
from airflow_mlpipelines.runtime.dataset_registry import REGISTRY
from airflow_mlpipelines.runtime.kinds import PlanContext, step_kind
from airflow_mlpipelines.runtime.models import ModelRegistry, ModelVersion
from airflow_mlpipelines.runtime.plan import (
    COMPUTE_TASK_ID,
    PLAN_KEY,
    REUSE_TASK_ID,
    LeaseSpec,
    Limits,
    Origin,
    StagedFrame,
    StepPlan,
    lease_holder,
    task_id,
)
from airflow_mlpipelines.runtime.publication import Publication, published

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from airflow.sdk import Context

    from airflow_mlpipelines.pipeline.step_task import InputBinding, StepTask, Token
    from airflow_mlpipelines.runtime.kinds.data_transfer import Databases
    from airflow_mlpipelines.storage import Storage

MANIFESTS = "_manifests"


def upstream_plan(context: Context, step: str) -> StepPlan | None:
    """The plan a step's reuse task pushed in this run (None when it pushed none)."""
    value = context["ti"].xcom_pull(task_ids=task_id(step, REUSE_TASK_ID), key=PLAN_KEY)
    return StepPlan.from_json(value) if isinstance(value, dict) else None


def limits(task: StepTask) -> Limits:
    """The run-time limits of a step, from its definition and ``[mlpipelines]``."""
    eps = task.eps
    return Limits(
        kill_grace_seconds=settings.kill_grace_seconds(),
        time_limit_seconds=float(eps.time_limit_seconds)
        if eps is not None and eps.time_limit_seconds
        else settings.eps_time_limit_seconds(),
        memory_limit_mb=int(eps.memory_limit_mb)
        if eps is not None and eps.memory_limit_mb
        else settings.eps_memory_limit_mb(),
        bundle_max_bytes=settings.eps_bundle_max_bytes(),
        bundle_max_files=settings.eps_bundle_max_files(),
        lease_poll_seconds=settings.lease_poll_seconds(),
    )


class Planner:
    """Run-time resolution of one step in one DAG run (``context``), through ``storage``."""

    def __init__(
        self,
        task: StepTask,
        context: Context,
        storage: Storage,
        *,
        arguments: list[list[Token]] | None = None,
        frames: Mapping[str, StagedFrame] | None = None,
        say: Callable[[str], None] = lambda _: None,
        databases: Databases | None = None,
    ) -> None:
        self.task = task
        self.context = context
        self.storage = storage
        self.arguments = arguments if arguments is not None else task.argument_tokens()
        self.frames = dict(frames or {})
        self.say = say
        self.databases = databases if databases is not None else AirflowDatabases()
        self._published: dict[str, Publication] = {}
        self._models: dict[str, ModelVersion] = {}

    @property
    def dag_id(self) -> str:
        """The DAG of the run (the pipeline, for pipelines)."""
        return str(self.context["ti"].dag_id)

    @property
    def run_id(self) -> str:
        """The DAG run."""
        return str(self.context["run_id"])

    # -- where things are -------------------------------------------------------------------------
    def publication(self, producer: str) -> Publication:
        """What ``producer`` published in this run (its committed manifest, checked)."""
        found = self._published.get(producer)
        if found is None:
            plan = upstream_plan(self.context, producer)
            found = published(plan, self.storage, step=producer, consumer=self.task.step)
            self._published[producer] = found
        return found

    def model(self, binding: InputBinding) -> ModelVersion:
        """The registered model version a ``model`` input names (the latest when it names none), looked
        up once per plan, so the fingerprint and the staged files are of the same version."""
        found = self._models.get(binding.name)
        if found is None:
            registry = ModelRegistry(self.storage, settings.model_registry())
            try:
                found = registry.get(str(binding.model), binding.model_version)
            except ModelError as exc:
                raise StepExecutionError(f"step '{self.task.step}': input '{binding.name}': {exc}") from None
            self.say(
                f"input {binding.name}: model {found.name} version {found.version} ({found.digest[:19]})"
            )
            self._models[binding.name] = found
        return found

    def input_url(self, binding: InputBinding) -> str:
        """URL of one input: an upstream output, a registered model's file or folder, or a dataset path
        on its datastore."""
        if binding.kind == "model":
            return self.model(binding).model_url
        if binding.producer is not None:
            outputs = self.publication(binding.producer).outputs
            if binding.name not in outputs:
                raise StepExecutionError(
                    f"step '{self.task.step}': input '{binding.name}' was not published by step "
                    f"'{binding.producer}'"
                )
            return outputs[binding.name]
        if binding.datastore is None or st.is_web_url(str(binding.path or "")):
            return str(binding.path)  # a plain URL (hand-written DAGs) or a web file
        store, path = (
            (binding.datastore, str(binding.path or ""))
            if binding.parameter is None
            else self.chosen_datapath(binding)
        )
        base = datastore_url(store, self.task.datastore_urls, settings.datastore_root())
        return join(base, path)

    def chosen_datapath(self, binding: InputBinding) -> tuple[str, str]:
        """The datastore and path this run's value of a data path parameter names (checked again here:
        a value may come from a trigger that skipped the ``Param``'s schema)."""
        value = self.context["params"].get(str(binding.parameter))
        try:
            return parse_datapath(value, file_datastores(self.task.datastores))
        except ValueError as exc:
            raise StepExecutionError(
                f"step '{self.task.step}': input '{binding.name}': parameter '{binding.parameter}': {exc}"
            ) from None

    def manifest_url(self, fp: Fingerprint) -> str:
        """Where this step's manifest (and lease) for ``fp`` live."""
        root = join(settings.datastore_root(), MANIFESTS)
        return store.location(root, self.task.pipeline, self.task.step, fp)

    def output_urls(self, fp: Fingerprint) -> dict[str, str]:
        """Fresh output folders: ``<datastore>/<pipeline>/<step>/<fingerprint>/<run>/<output>``.

        The run segment means a forced re-run never overwrites outputs another run may be reading.
        """
        root = settings.datastore_root()
        return {
            o.name: join(
                datastore_url(o.datastore, self.task.datastore_urls, root),
                expand_destination(o.path, self.run_id),
            )
            if o.path is not None
            else join(
                datastore_url(o.datastore, self.task.datastore_urls, root),
                self.task.pipeline,
                self.task.step,
                fp.short,
                safe_segment(self.run_id),
                o.name,
            )
            for o in self.task.outputs
        }

    def uncommitted_attempt(self, fp: Fingerprint) -> str | None:
        """The folder of outputs an earlier attempt with ``fp`` wrote without committing (None if none)."""
        for output in self.task.outputs:
            if output.path is not None:
                continue  # a fixed destination: what is there may be anyone's
            base = datastore_url(output.datastore, self.task.datastore_urls, settings.datastore_root())
            folder = join(base, self.task.pipeline, self.task.step, fp.short)
            if st.list_names(self.storage.resolve(folder)):
                return folder
        return None

    def check_storage(self) -> None:
        """Each object store the step writes to answers (one clear line naming it otherwise)."""
        root = settings.datastore_root()
        targets = {root: f"step '{self.task.step}': [mlpipelines] datastore_root"}
        for output in self.task.outputs:
            base = datastore_url(output.datastore, self.task.datastore_urls, root)
            targets.setdefault(base, f"step '{self.task.step}': datastore '{output.datastore}'")
        for url, what in targets.items():
            try:
                loc = self.storage.resolve(url)
            except StorageError as exc:
                raise StorageError(f"{what}: {exc}") from None
            st.check_reachable(loc, what)

    def parameter_values(self) -> dict[str, Any]:
        """Values of the parameters this step uses (defaults merged with the run's conf); in a run a
        datastore watch started, its ``data_path_parameter_name`` is the path of the file that fired."""
        params = self.context["params"]
        values = {name: params[name] for name in self.task.parameters}
        return {**values, **{name: path for name, (path, _) in self.watched().items()}}

    def watched(self) -> dict[str, tuple[str, str]]:
        """Parameter -> (path, stamp) of the file that started this run (a datastore watch's run)."""
        return watched_files(self.context, self.task.parameters)

    # -- fingerprint ------------------------------------------------------------------------------
    def fingerprint(self) -> Fingerprint:
        """Hash everything the step's result depends on (paths may move between parses: never at parse)."""
        task = self.task
        kind = step_kind(task.kind)
        cache = DigestCache.load(settings.digest_cache_path())
        tree = (
            hash_tree(task.source_directory, cache)
            if kind.hashes_source_tree
            else TreeDigest(digest_of(None), {}, None)
        )
        extra, extra_details = kind.components(
            task,
            PlanContext(cache, self.run_id, self.frames, self.databases, self.say),
        )
        hash_paths = {
            p: self._path_digest(os.path.join(task.source_directory, p), cache) for p in task.hash_paths
        }
        inputs = {b.name: self._input_digest(b, cache) for b in task.inputs}
        # The watched file's path is only a string to the step: its version decides whether it changed.
        extra = {**extra, **{f"watched:{name}": stamp for name, (_, stamp) in self.watched().items()}}
        cache.save()
        return fingerprint(
            StepState(
                kind=task.kind,
                name=task.step,
                script_name=task.script_name,
                source_digest=tree.digest,
                source_files=tree.files,
                arguments=self.arguments,
                parameters=self.parameter_values(),
                inputs=inputs,
                hash_paths=hash_paths,
                environment=task.environment_content,
                compute=task.compute_kind,
                version=task.version,
                extra=extra,
                extra_details=extra_details,
            )
        )

    def _input_digest(self, binding: InputBinding, cache: DigestCache) -> str:
        if binding.producer is not None:
            # The producer's manifest digest covers its outputs' content: identical data, same digest.
            return self.publication(binding.producer).manifest_digest
        if binding.kind == "model":
            # The digest of the version's files from its model.json: a new version with other files
            # re-runs the step, the same version (or identical files) is reused.
            return self.model(binding).digest
        return self._path_digest(self.input_url(binding), cache)

    def _path_digest(self, url: str, cache: DigestCache) -> str:
        loc = self.storage.resolve(url)
        if loc.local:
            if os.path.isdir(loc.path):
                return hash_tree(loc.path, cache).digest
            if os.path.isfile(loc.path):
                return cache.digest(loc.path, os.stat(loc.path))
            raise StepExecutionError(f"step '{self.task.step}': {loc.path} does not exist")
        if not st.exists(loc):
            raise StepExecutionError(f"step '{self.task.step}': {loc.where()} does not exist")
        return remote_digest(loc, self.say)

    # -- plans ------------------------------------------------------------------------------------
    def _origin(self, leaf: str) -> Origin:
        return Origin(self.dag_id, self.run_id, task_id(self.task.step, leaf))

    def run_plan(self, fp: Fingerprint, *, leased: bool, reason: str) -> StepPlan:
        """The plan of a step that runs: resolved inputs, fresh outputs, parameters, lease, limits."""
        manifest = self.manifest_url(fp)
        return StepPlan(
            task=self.task,
            decision="run",
            dag_id=self.dag_id,
            run_id=self.run_id,
            fingerprint=fp,
            manifest=manifest,
            produced_by=self._origin(COMPUTE_TASK_ID),
            inputs={b.name: self.input_url(b) for b in self.task.inputs},
            outputs=self.output_urls(fp),
            parameters=self.parameter_values(),
            arguments=self.arguments,
            source_directory=self.task.target.source_path or self.task.source_directory,
            lease=LeaseSpec(manifest, lease_holder(self.dag_id, self.run_id), settings.lease_seconds())
            if leased
            else None,
            reason=reason,
            limits=limits(self.task),
            frames=self.frames,
            models=settings.model_registry(),
            registry=join(settings.datastore_root(), REGISTRY)
            if any(o.register_as for o in self.task.outputs)
            else None,
        )

    def reuse_plan(self, fp: Fingerprint, manifest: dict[str, Any]) -> StepPlan:
        """The plan of a step whose committed outputs are reused (its compute task is skipped)."""
        return StepPlan(
            task=self.task,
            decision="reuse",
            dag_id=self.dag_id,
            run_id=self.run_id,
            fingerprint=fp,
            manifest=self.manifest_url(fp),
            produced_by=Origin.from_json(manifest.get("produced_by", {})),
            outputs={name: str(out["url"]) for name, out in manifest["outputs"].items()},
            parameters=self.parameter_values(),
            arguments=self.arguments,
            reused_from=Origin.from_json(manifest.get("produced_by", {})),
            reason=f"reused from {manifest.get('produced_by', {}).get('run_id')}",
            limits=limits(self.task),
        )
