"""What the reuse sensor and the compute task of a step share: its definition, inputs and fingerprint."""

from __future__ import annotations

import contextlib
import os
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator, ObjectStoragePath

from airflow_mlpipelines import settings
from airflow_mlpipelines.compute.base import PLAN_KEY
from airflow_mlpipelines.digests import stream_digest
from airflow_mlpipelines.exceptions import StepExecutionError
from airflow_mlpipelines.operators import storage
from airflow_mlpipelines.operators.eps_support import eps_components
from airflow_mlpipelines.operators.links import StepOutputsLink
from airflow_mlpipelines.reuse import lease, store
from airflow_mlpipelines.reuse.fingerprint import Fingerprint, StepState, digest_of, fingerprint
from airflow_mlpipelines.reuse.source_tree import DigestCache, TreeDigest, hash_tree

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

    from airflow.sdk import Context

    from airflow_mlpipelines.runtime.script_step import Token

STEP_KEY = "mlp_step"
"""XCom key under which a step (its compute task, or its reuse sensor on a hit) publishes its outputs."""
FINGERPRINT_KEY = "mlp_fingerprint"
"""XCom key under which the reuse sensor hands its fingerprint to the compute task on a miss."""
REUSE_TASK_ID = "reuse"
COMPUTE_TASK_ID = "run"


def lease_holder(dag_id: str, run_id: str) -> str:
    """The in-flight lease holder: one DAG run (its reuse sensor takes it, its compute task keeps it)."""
    return f"{dag_id}/{run_id}"


class StepOperatorBase(BaseOperator):
    """Common arguments of a step's tasks (see :class:`PythonScriptStepOperator` for their meaning)."""

    template_fields: Sequence[str] = ("arguments",)
    # Both tasks of a step link to the step's outputs page (plots, DataFrame previews) in the UI plugin.
    operator_extra_links = (StepOutputsLink(),)

    def __init__(
        self,
        *,
        pipeline: str,
        step: str,
        script_name: str,
        source_directory: str,
        arguments: Sequence[Sequence[Token]] = (),
        inputs: Mapping[str, Mapping[str, Any]] | None = None,
        outputs: Mapping[str, str] | None = None,
        datastores: Mapping[str, str | None] | None = None,
        parameters: Sequence[str] = (),
        compute: str = "local",
        kind: str = "python_script",
        allow_reuse: bool = True,
        hash_paths: Sequence[str] = (),
        version: str | None = None,
        environment: Mapping[str, Any] | None = None,
        compute_kind: str = "local",
        container_source_directory: str | None = None,
        eps: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.pipeline = pipeline
        self.step = step
        self.script_name = script_name
        self.source_directory = source_directory
        self.arguments = [list(a) for a in arguments]
        self.inputs = dict(inputs or {})
        self.outputs = dict(outputs or {})
        self.datastores = dict(datastores or {})
        self.parameters = list(parameters)
        self.compute = compute
        self.kind = kind
        self.allow_reuse = allow_reuse
        self.hash_paths = list(hash_paths)
        self.version = version
        self.environment = dict(environment or {})
        self.compute_kind = compute_kind
        self.container_source_directory = container_source_directory
        self.eps = dict(eps) if eps is not None else None
        """Execute Python Script settings (script, bundle, ports, output names); None for other kinds."""

    # -- where things are -------------------------------------------------------------------------
    def published(self, context: Context, step: str) -> dict[str, Any]:
        """What an upstream step published: by its compute task when it ran, else by its reuse sensor.

        A container step's compute task is the official Docker/Kubernetes operator, which publishes
        nothing of ours: its outputs are those of the manifest the container committed at the location
        its plan named (read back and checked against the plan's fingerprint).
        """
        ti = context["ti"]
        for task in (COMPUTE_TASK_ID, REUSE_TASK_ID):
            value = ti.xcom_pull(task_ids=f"{step}.{task}", key=STEP_KEY)
            if isinstance(value, dict):
                return value
        plan = ti.xcom_pull(task_ids=f"{step}.{REUSE_TASK_ID}", key=PLAN_KEY)
        if isinstance(plan, dict):
            manifest = store.read_manifest(str(plan["manifest"]))
            if manifest is not None and manifest["fingerprint"]["digest"] == plan["fingerprint"]["digest"]:
                return {
                    "outputs": {name: out["url"] for name, out in manifest["outputs"].items()},
                    "manifest_digest": manifest["digest"],
                    "fingerprint": plan["fingerprint"]["digest"],
                }
            raise StepExecutionError(
                f"step '{self.step}': upstream step '{step}' committed no manifest at {plan['manifest']}"
            )
        raise StepExecutionError(f"step '{self.step}': upstream step '{step}' published no outputs")

    def build_plan(self, context: Context, fp: Fingerprint) -> dict[str, Any]:
        """Everything the runtime entrypoint in a container or pod needs to run this step."""
        lease_dir = storage.local_path(self.manifest_location(fp))
        group = self.task_id.rsplit(".", 1)[0] if "." in self.task_id else self.task_id
        return {
            "plan_version": 1,
            "pipeline": self.pipeline,
            "step": self.step,
            "script_name": self.script_name,
            "source_directory": self.container_source_directory or self.source_directory,
            "arguments": self.arguments,
            "inputs": {name: self.input_url(context, name, spec) for name, spec in self.inputs.items()},
            "outputs": self.output_urls(fp, context["run_id"]),
            "parameters": self.parameter_values(context),
            "manifest": self.manifest_location(fp),
            "fingerprint": fp.to_json(),
            "produced_by": {
                "dag_id": self.dag_id,
                "run_id": context["run_id"],
                "task_id": f"{group}.{COMPUTE_TASK_ID}",
            },
            "lease": None
            if lease_dir is None
            else {
                "directory": lease_dir,
                "holder": lease_holder(self.dag_id, context["run_id"]),
                "seconds": settings.lease_seconds(),
            },
            "kill_grace_seconds": settings.kill_grace_seconds(),
        }

    def input_url(self, context: Context, name: str, spec: Mapping[str, Any]) -> str:
        """URL of one input: an upstream output or a dataset path on its datastore."""
        if "step" in spec:
            outputs = self.published(context, spec["step"]).get("outputs", {})
            if name not in outputs:
                raise StepExecutionError(
                    f"step '{self.step}': input '{name}' was not published by step '{spec['step']}'"
                )
            return str(outputs[name])
        base = storage.datastore_url(spec["datastore"], self.datastores, settings.datastore_root())
        return storage.join(base, spec["path"])

    def manifest_location(self, fp: Fingerprint) -> str:
        """Where this step's manifest for ``fp`` is committed."""
        return store.location(
            storage.join(settings.datastore_root(), "_manifests"), self.pipeline, self.step, fp
        )

    def output_urls(self, fp: Fingerprint, run_id: str) -> dict[str, str]:
        """Fresh output folders: ``<datastore>/<pipeline>/<step>/<fingerprint>/<run>/<output>``.

        The run segment means a forced re-run never overwrites outputs another run may be reading.
        """
        root = settings.datastore_root()
        return {
            name: storage.join(
                storage.datastore_url(datastore, self.datastores, root),
                self.pipeline,
                self.step,
                fp.short,
                storage.safe_segment(run_id),
                name,
            )
            for name, datastore in self.outputs.items()
        }

    # -- what a local compute task does around the user's code ------------------------------------
    def handed_fingerprint(self, context: Context) -> Fingerprint:
        """The reuse sensor's fingerprint (computed once per step), or our own when run without one."""
        group = self.task_id.rsplit(".", 1)[0] if "." in self.task_id else None
        if group is not None:
            handed = context["ti"].xcom_pull(task_ids=f"{group}.{REUSE_TASK_ID}", key=FINGERPRINT_KEY)
            if isinstance(handed, dict):
                return Fingerprint.from_json(handed)
        return self.compute_fingerprint(context)

    @contextlib.contextmanager
    def held_lease(self, context: Context, fp: Fingerprint) -> Iterator[None]:
        """Keep this run's in-flight lease on the step while it runs; release it afterwards (also on
        failure, so a run waiting for the same step takes over at once). Only on POSIX datastore roots."""
        directory = storage.local_path(self.manifest_location(fp))
        if directory is None:
            yield
            return
        holder, seconds = lease_holder(self.dag_id, context["run_id"]), settings.lease_seconds()
        lease.try_acquire(directory, holder, seconds)
        with lease.kept(directory, holder, seconds):
            yield

    def commit_outputs(
        self,
        context: Context,
        fp: Fingerprint,
        output_paths: Mapping[str, str],
        output_urls: Mapping[str, str],
    ) -> None:
        """Describe the outputs, upload remote ones, commit the manifest last, publish ``mlp_step``.

        Call while ``output_paths`` (staging folders for remote outputs) still exist.
        """
        described = store.describe_outputs(dict(output_paths))
        for name, url in output_urls.items():
            if storage.local_path(url) is None:
                storage.upload(output_paths[name], url)
        manifest = store.build_manifest(
            pipeline=self.pipeline,
            step=self.step,
            fingerprint=fp,
            outputs=described,
            urls=dict(output_urls),
            produced_by={"dag_id": self.dag_id, "run_id": context["run_id"], "task_id": self.task_id},
        )
        store.commit(self.manifest_location(fp), manifest)
        self.log.info("committed outputs of %s (fingerprint %s)", self.step, fp.short)
        context["ti"].xcom_push(
            key=STEP_KEY,
            value={
                "outputs": dict(output_urls),
                "manifest_digest": manifest["digest"],
                "fingerprint": fp.digest,
            },
        )

    # -- fingerprint ------------------------------------------------------------------------------
    def parameter_values(self, context: Context) -> dict[str, Any]:
        """Values of the parameters this step uses (defaults merged with the run's conf)."""
        params = context["params"]
        return {name: params[name] for name in self.parameters}

    def compute_fingerprint(self, context: Context) -> Fingerprint:
        """Hash everything the step's result depends on, at run time (paths may move between parses)."""
        cache = DigestCache.load(settings.digest_cache_path())
        extra: tuple[dict[str, str], dict[str, Any]] = ({}, {})
        if self.eps is not None:
            # The script and bundle stand for the source tree: an inline script's folder is the
            # definitions folder, whose other files must not invalidate this step.
            tree = TreeDigest(digest_of(None), {}, None)
            extra = eps_components(self.eps, self.eps_ports(), cache, self.step)
        else:
            tree = hash_tree(self.source_directory, cache)
        hash_paths = {
            p: self._path_digest(os.path.join(self.source_directory, p), cache) for p in self.hash_paths
        }
        inputs = {name: self._input_digest(context, name, spec, cache) for name, spec in self.inputs.items()}
        cache.save()
        return fingerprint(
            StepState(
                kind=self.kind,
                name=self.step,
                script_name=self.script_name,
                source_digest=tree.digest,
                source_files=tree.files,
                arguments=self.arguments,
                parameters=self.parameter_values(context),
                inputs=inputs,
                hash_paths=hash_paths,
                environment=self.environment,
                compute=self.compute_kind,
                version=self.version,
                extra=extra[0],
                extra_details=extra[1],
            )
        )

    def eps_ports(self) -> dict[str, Any]:
        """Execute Python Script ports: input names, or the values the compute task rendered (frames)."""
        ports = (self.eps or {}).get("ports", {})
        return {port: getattr(self, port, ports.get(port)) for port in ("dataframe1", "dataframe2")}

    def _input_digest(self, context: Context, name: str, spec: Mapping[str, Any], cache: DigestCache) -> str:
        if "step" in spec:
            # The producer's manifest digest covers its outputs' content: identical data, same digest.
            return str(self.published(context, spec["step"])["manifest_digest"])
        return self._path_digest(self.input_url(context, name, spec), cache)

    def _path_digest(self, url: str, cache: DigestCache) -> str:
        local = storage.local_path(url)
        if local is not None:
            if os.path.isdir(local):
                return hash_tree(local, cache).digest
            if os.path.isfile(local):
                return cache.digest(local, os.stat(local))
            raise StepExecutionError(f"step '{self.step}': {local} does not exist")
        path = ObjectStoragePath(url)
        if not path.exists():
            raise StepExecutionError(f"step '{self.step}': {url} does not exist")
        files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        return digest_of({str(p.relative_to(path)) if p != path else "": _stream_digest(p) for p in files})


def _stream_digest(path: ObjectStoragePath) -> str:
    with path.open("rb") as fh:  # type: ignore[no-untyped-call]
        return stream_digest(fh)
