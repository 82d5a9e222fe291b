"""The record of one step execution: what its script logged through ``Run``, committed with its outputs.

Before the script starts, :func:`start` writes the run context (``$MLP_RUN_CONTEXT``) and an empty record
folder in the job's work folder; whatever happens to the script, :func:`finish` describes the run
(``run.json``: status, metrics, tags, images, files, the stderr tail, the source snapshot's digest and the
source folder's git commit, branch, dirty flag and remote) and uploads the folder through the storage layer
to ``<manifest folder>/runs/<run>-<attempt>/``. The manifest names the record of the run that produced it,
so a step reused later shows the record of the run it reused; a failed attempt's record is kept too.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import shutil
import subprocess
import time
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines import storage as st
from airflow_mlpipelines.paths import join, safe_segment
from airflow_mlpipelines.runtime import run_context
from airflow_mlpipelines.runtime.models import REGISTRY_ENV

if TYPE_CHECKING:
    from airflow_mlpipelines.runtime.runner import Job
    from airflow_mlpipelines.storage import Storage

RECORD_FILE = "run.json"


def start(job: Job) -> dict[str, str]:
    """Create the record folder and the run context; returns the environment the script gets."""
    plan = job.plan
    record = os.path.join(job.work, "run_record")
    os.makedirs(record, exist_ok=True)
    attempt = f"{int(time.time() * 1000)}"
    inputs = {}
    for binding in plan.task.inputs:
        path = job.inputs.get(binding.name)
        if path is not None:
            inputs[binding.name] = {
                "path": path,
                "kind": binding.kind,
                "partition_format": binding.partition_format,
            }
    context = {
        "id": f"{plan.dag_id}_{safe_segment(plan.run_id)}_{plan.step}_{attempt}",
        "step": plan.step,
        "pipeline": plan.task.pipeline,
        "attempt": 1,
        "parent": {"dag_id": plan.dag_id, "run_id": plan.run_id},
        "record": record,
        "inputs": inputs,
        "models": plan.models,
    }
    path = os.path.join(job.work, "run_context.json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(context, fh)
    job.record = {"dir": record, "id": context["id"], "attempt": attempt}
    env = {run_context.ENV: path}
    if plan.models:
        env[REGISTRY_ENV] = plan.models  # Model(...) and Model.get_model_path in the script
    return env


def finish(job: Job, storage: Storage, status: str, stderr_tail: list[str] | None = None) -> str | None:
    """Describe and upload the record (also after a failure); returns its URL (None when none started)."""
    if not job.record:
        return None
    plan = job.plan
    record = str(job.record["dir"])
    entries = run_context.read_entries(record)
    tags: dict[str, Any] = {}
    with (
        contextlib.suppress(FileNotFoundError, ValueError),
        open(os.path.join(record, run_context.TAGS_FILE)) as fh,
    ):
        tags = json.load(fh)
    described = {
        "id": job.record["id"],
        "step": plan.step,
        "pipeline": plan.task.pipeline,
        "dag_id": plan.dag_id,
        "run_id": plan.run_id,
        "status": status,
        "finished_at": datetime.datetime.now(datetime.UTC).isoformat(),
        "metrics": run_context.metrics_of(entries),
        "latest": run_context.latest(entries),
        "entries": entries,
        "tags": tags,
        "images": sorted(_files(os.path.join(record, run_context.IMAGES_DIR))),
        "files": sorted(_files(os.path.join(record, run_context.FILES_DIR))),
        "models": run_context.read_models(record),
        "stderr_tail": list(stderr_tail or job.result.pop("stderr_tail", []) or []),
        "source_digest": plan.fingerprint.components.get("source"),
        "fingerprint": plan.fingerprint.digest,
        "git": git_info(plan.source_directory),
    }
    with open(os.path.join(record, RECORD_FILE), "w", encoding="utf-8") as fh:
        json.dump(described, fh, indent=1, sort_keys=True, default=str)
    url = join(plan.manifest, "runs", f"{safe_segment(plan.run_id)}-{job.record['attempt']}")
    loc = storage.resolve(url)
    try:
        # a copy: the work folder is deleted after the run
        if loc.local:
            shutil.copytree(record, loc.path, dirs_exist_ok=True)
        else:
            st.upload(record, loc)
    except Exception as exc:  # the record must not turn a successful step into a failed one
        job.io.say(f"the run record of step {plan.step} could not be stored at {url}: {exc}")
        return None
    job.summary = dict(described["latest"])
    if job.io.on_record is not None:
        job.io.on_record(url, described, record)
    if entries:
        job.io.say(f"run record of {plan.step}: {len(entries)} logged value(s), stored at {url}")
    return url


def read(url: str, storage: Storage) -> dict[str, Any] | None:
    """A stored run record (None when there is none)."""
    data = st.read_bytes(storage.resolve(join(url, RECORD_FILE)))
    return None if data is None else dict(json.loads(data))


def _files(folder: str) -> list[str]:
    found = []
    for dirpath, _, names in os.walk(folder):
        found += [os.path.relpath(os.path.join(dirpath, n), folder).replace(os.sep, "/") for n in names]
    return found


def git_info(path: str) -> dict[str, Any] | None:
    """Commit, branch, dirty flag and remote of the git repository holding ``path`` (None when it is not
    in one, or git is not installed)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", "-C", path, *args], capture_output=True, text=True, timeout=10, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    if not path or not os.path.isdir(path):
        return None
    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None
    status = git("status", "--porcelain", "--untracked-files=no", "--", ".")
    return {
        "commit": commit,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD"),
        "dirty": bool(status),
        "remote": git("remote", "get-url", "origin"),
    }
