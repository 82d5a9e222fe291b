"""The one runner: execute a step's plan on whatever machine the compute kind put us on.

The local operators call :func:`run_plan` on the Airflow worker; the Docker and Kubernetes compute
tasks run ``runtime.step_main`` in the container, which calls it too. The sequence is the same
everywhere: keep (or win back) the in-flight lease, stage the inputs (:func:`stage_inputs`), give every
output a fresh folder (:func:`make_outputs`), run the step kind's body, and commit the outputs with the
manifest written last (:func:`commit_outputs`). Pure: no Airflow; all storage through a
:class:`~airflow_mlpipelines.storage.Storage`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.exceptions import PlanError, StepExecutionError
from airflow_mlpipelines.paths import safe_segment
from airflow_mlpipelines.reuse import lease, store
from airflow_mlpipelines.runtime import run_record
from airflow_mlpipelines.runtime.dataset_registry import Registry
from airflow_mlpipelines.runtime.kinds import step_kind

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from airflow_mlpipelines.runtime.kinds.data_transfer import Databases
    from airflow_mlpipelines.runtime.plan import StepPlan
    from airflow_mlpipelines.storage import Storage

WAIT_LOG_SECONDS = 60.0
"""A wait for another run's lease is logged once a minute, not on every poll."""


class Stoppable(Protocol):
    """A running child process group that ``on_kill`` can stop."""

    def terminate(self, grace_seconds: float | None = None) -> None:
        """SIGTERM the group, SIGKILL after the grace time."""
        ...


def _ignore(_: Any) -> None:
    return None


@dataclass
class RunnerIO:
    """How the runner talks to its host: log lines, the user's output streams, the child to stop."""

    say: Callable[[str], None]
    on_stdout: Callable[[str], None]
    on_stderr: Callable[[str], None]
    python: str = sys.executable
    attach: Callable[[Stoppable | None], None] = _ignore
    """Called with the running child (and None once it ended), so ``on_kill`` can stop it."""
    on_record: Callable[[str, dict[str, Any], str], None] | None = None
    """Called with a run record's URL, its content and local folder once it is stored (also after a
    failure): a metrics backend (MLflow) takes its copy here."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment the user's code gets from the host (on a worker: the model registry's storage
    options, which a container gets from its compute task instead)."""


@dataclass
class Job:
    """One execution of a plan: its inputs and outputs and its private work folder.

    For kinds that stage data, ``inputs``/``outputs`` are local paths; for a kind that moves data itself
    (a data transfer) they are the plan's URLs, and it fills ``described`` (output name -> the
    manifest's entry) with what it wrote.
    """

    plan: StepPlan
    inputs: dict[str, str]
    outputs: dict[str, str]
    work: str
    io: RunnerIO
    result: dict[str, Any] = field(default_factory=dict)
    storage: Storage | None = None
    databases: Databases | None = None
    described: dict[str, dict[str, Any]] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    """Environment the user's code gets on top of the worker's (the run context)."""
    record: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    """The latest value of each metric the script logged (the compute task's XCom)."""


@dataclass(frozen=True)
class RunResult:
    """How a plan ended: the committed manifest, and whether another run's commit was adopted."""

    manifest: dict[str, Any]
    adopted: bool = False
    details: dict[str, Any] = field(default_factory=dict)


def stage_inputs(
    plan: StepPlan, storage: Storage, work: str, say: Callable[[str], None] = _ignore
) -> dict[str, str]:
    """Local paths of every input: local datastores in place, remote ones downloaded into ``work``.

    A downloaded file keeps its name (``inputs/<input>/<file name>``: readers go by its suffix).
    """
    paths: dict[str, str] = {}
    for name, url in plan.inputs.items():
        loc = storage.resolve(url)
        if loc.local:
            if not os.path.exists(loc.path):
                raise StepExecutionError(
                    f"step '{plan.step}': input '{name}' does not exist at {loc.path}"
                    + ("" if plan.task.compute_kind == "local" else " (is its datastore mounted here?)")
                )
            paths[name] = loc.path
            continue
        dest = os.path.join(work, "inputs", safe_segment(name))
        if not st.exists(loc):
            raise StepExecutionError(f"step '{plan.step}': input '{name}' does not exist at {loc.where()}")
        if not loc.fs.isdir(loc.path):
            dest = os.path.join(dest, loc.path.rstrip("/").rsplit("/", 1)[-1])
        say(f"downloading input {name} from {url}")
        paths[name] = st.download(loc, dest, say)
    return paths


def _fresh(path: str) -> str:
    """Empty ``path`` (left by an earlier try of this same run) and create it."""
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path, exist_ok=True)
    return path


def make_outputs(plan: StepPlan, storage: Storage, work: str) -> dict[str, str]:
    """A fresh local folder per output: the datastore folder itself, or a staging folder in ``work``."""
    paths: dict[str, str] = {}
    for name, url in plan.outputs.items():
        loc = storage.resolve(url)
        if not loc.local:
            # What an earlier try of this same run left (killed mid-upload) must not mix with this try's
            # files: consumers read the whole folder.
            st.remove(loc)
        local = loc.path if loc.local else os.path.join(work, "outputs", safe_segment(name))
        paths[name] = _fresh(local)
    return paths


def commit_outputs(
    plan: StepPlan,
    storage: Storage,
    local_outputs: dict[str, str],
    say: Callable[[str], None] = _ignore,
    run_record: str | None = None,
) -> dict[str, Any]:
    """Describe the outputs, upload remote ones, then commit the manifest last; returns the manifest."""
    described = store.describe_outputs(local_outputs)
    for name, url in plan.outputs.items():
        loc = storage.resolve(url)
        if not loc.local:
            say(f"uploading output {name} to {url}")
            st.upload(local_outputs[name], loc, say)
            store.stamp_remote(described[name], st.details_below(loc))
    return commit_described(plan, storage, described, run_record)


def commit_described(
    plan: StepPlan, storage: Storage, described: dict[str, dict[str, Any]], record: str | None = None
) -> dict[str, Any]:
    """Commit the manifest of outputs already in place (``described``: output name -> entry)."""
    manifest = store.build_manifest(
        pipeline=plan.task.pipeline,
        step=plan.step,
        fingerprint=plan.fingerprint,
        outputs=described,
        urls=dict(plan.outputs),
        produced_by=plan.produced_by.to_json(),
    )
    if record is not None:
        manifest["run_record"] = record  # reused later: the record of the run that produced it
    store.commit(plan.manifest, manifest, storage)
    return manifest


def register_outputs(plan: StepPlan, storage: Storage, say: Callable[[str], None] = _ignore) -> None:
    """Register each committed output that asks for it (``OutputFileDatasetConfig.register_on_complete``)
    as a dataset whose one target is the output's URL; after the commit, so a registered dataset always
    names committed data."""
    if plan.registry is None:
        return
    registry = Registry(storage, plan.registry)
    for output in plan.task.outputs:
        if output.register_as is None:
            continue
        definition = {
            "kind": output.kind,
            "targets": [[output.datastore, None, plan.outputs[output.name]]],
            "partition_format": None,
        }
        record = registry.register(output.register_as, definition, create_new_version=True)
        say(f"registered output {output.name} as dataset {record['name']} version {record['version']}")


def committed(plan: StepPlan, storage: Storage) -> dict[str, Any] | None:
    """A manifest for the plan's fingerprint that verifies (sizes), e.g. one another run committed."""
    manifest = store.read_manifest(plan.manifest, storage)
    if manifest is None or manifest.get("fingerprint", {}).get("digest") != plan.fingerprint.digest:
        return None
    return manifest if not store.verify(manifest, storage=storage) else None


@contextlib.contextmanager
def claimed(plan: StepPlan, storage: Storage, io: RunnerIO) -> Iterator[dict[str, Any] | None]:
    """Hold the plan's lease while the block runs; yields a manifest to adopt instead of running.

    The reuse task took the lease; normally we only renew it. If it expired while the compute task was
    queued and another run took it over, this run must not compute the step as well: it waits for that
    run and adopts its committed outputs, or takes the lease back once it is free.
    """
    spec = plan.lease
    if spec is None:
        yield None
        return
    folder = storage.resolve(spec.url)
    if not lease.renew(folder, spec.holder, spec.seconds):
        manifest = _win_back(plan, storage, io, folder)
        if manifest is not None:
            yield manifest
            return
    with lease.kept(folder, spec.holder, spec.seconds):
        yield None


def _win_back(plan: StepPlan, storage: Storage, io: RunnerIO, folder: st.Location) -> dict[str, Any] | None:
    spec = plan.lease
    assert spec is not None  # noqa: S101 - only called with a lease
    started = time.monotonic()
    logged = -WAIT_LOG_SECONDS
    while True:
        held = lease.try_acquire(folder, spec.holder, spec.seconds)
        manifest = committed(plan, storage)
        if manifest is not None:
            if held is None:
                lease.release(folder, spec.holder)
            origin = manifest.get("produced_by", {})
            io.say(
                f"not run: this run's lease on step {plan.step} expired and run {origin.get('run_id')} "
                f"committed its outputs (fingerprint {plan.fingerprint.short}); they are used as they are"
            )
            return manifest
        if held is None:
            io.say(f"took back the in-flight lease of step {plan.step} (it had expired)")
            return None
        waited = time.monotonic() - started
        if waited - logged >= WAIT_LOG_SECONDS:
            logged = waited
            io.say(
                f"waiting: this run's lease on step {plan.step} expired while it was queued; run "
                f"{held.holder} holds it now (for {held.expires_at - time.time():.0f}s more)"
            )
        time.sleep(plan.limits.lease_poll_seconds)


def run_plan(
    plan: StepPlan,
    storage: Storage,
    io: RunnerIO,
    *,
    on_committed: Callable[[Job, dict[str, Any]], None] | None = None,
    databases: Databases | None = None,
) -> RunResult:
    """Run a ``decision="run"`` plan to a committed manifest (see the module docstring).

    ``on_committed`` is called after the commit while the job's local folders still exist (the Execute
    Python Script operator reads its output frame there). ``databases`` opens SQL datastores (workers
    only: containers have none).
    """
    if plan.decision != "run":
        raise PlanError(f"step '{plan.step}': the plan says reuse; there is nothing to run")
    kind = step_kind(plan.task.kind)
    with claimed(plan, storage, io) as adopted:
        if adopted is not None:
            return RunResult(adopted, adopted=True)
        with tempfile.TemporaryDirectory(prefix=f"mlp-{safe_segment(plan.step)}-") as work:
            if kind.stages_data:
                inputs = stage_inputs(plan, storage, work, io.say)
                outputs = make_outputs(plan, storage, work)
                job = Job(plan, inputs, outputs, work, io, storage=storage, databases=databases)
                job.env.update(io.env)
                job.env.update(run_record.start(job))
                try:
                    kind.execute(job)
                except BaseException:
                    run_record.finish(job, storage, "failed")  # what it logged is kept with the attempt
                    raise
                record = run_record.finish(job, storage, "completed")
                manifest = commit_outputs(plan, storage, outputs, io.say, run_record=record)
                register_outputs(plan, storage, io.say)
            else:
                job = Job(
                    plan,
                    dict(plan.inputs),
                    dict(plan.outputs),
                    work,
                    io,
                    storage=storage,
                    databases=databases,
                )
                kind.execute(job)
                manifest = commit_described(plan, storage, job.described)
            io.say(f"committed outputs of {plan.step} (fingerprint {plan.fingerprint.short})")
            if on_committed is not None:
                on_committed(job, manifest)
            return RunResult(manifest, details={**job.result, "metrics": dict(job.summary)})
