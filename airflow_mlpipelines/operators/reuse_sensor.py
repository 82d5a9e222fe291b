"""``ReuseSensor``: in front of every step; on a verified hit the step's compute task never starts."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from airflow.sdk.bases.skipmixin import SkipMixin

from airflow_mlpipelines import settings
from airflow_mlpipelines.compute.base import PLAN_KEY
from airflow_mlpipelines.exceptions import did_you_mean
from airflow_mlpipelines.operators import storage
from airflow_mlpipelines.operators.step_base import (
    COMPUTE_TASK_ID,
    FINGERPRINT_KEY,
    STEP_KEY,
    StepOperatorBase,
    lease_holder,
)
from airflow_mlpipelines.reuse import lease, store
from airflow_mlpipelines.reuse.explain import explain
from airflow_mlpipelines.reuse.fingerprint import Fingerprint

if TYPE_CHECKING:
    from airflow.sdk import Context

RESERVED_CONF_KEYS = frozenset({"regenerate_outputs", "force_rerun"})


class ReuseSensor(StepOperatorBase, SkipMixin):
    """Compute the step's fingerprint at run time and reuse committed, verified outputs when it matches.

    On a hit it publishes the stored output locations (so consumers read them) and marks the compute
    task ``skipped`` before it starts: no process, container or pod. On a miss it logs why, and hands
    the fingerprint to the compute task. ``allow_reuse=False`` on the step, ``regenerate_outputs: true``
    or ``force_rerun: [step, ...]`` in the run's ``conf`` force a miss.

    Takes the same arguments as :class:`PythonScriptStepOperator`, plus ``known_parameters`` (every
    pipeline parameter, to warn about ``conf`` keys that match none).
    """

    ui_color = "#e8f4e8"

    def __init__(
        self, *, known_parameters: list[str] | None = None, docker_url: str | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.known_parameters = list(known_parameters or [])
        self.docker_url = docker_url

    def execute(self, context: Context) -> None:
        """Decide: reuse (skip the compute task), wait for the same step in another run, or run."""
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        self._warn_unknown_conf(conf)
        fp = self.compute_fingerprint(context)
        loc = self.manifest_location(fp)
        forced = self._forced(conf)
        if forced is not None:
            self.log.info("not reused: %s (fingerprint %s)", forced, fp.short)
        else:
            manifest = self._verified(loc)
            if manifest is not None:
                self._reuse(context, fp, manifest)
                return
            self._explain_miss(fp, loc)
            manifest = self._claim_or_wait(context, fp, loc)
            if manifest is not None:
                self._reuse(context, fp, manifest)
                return
        context["ti"].xcom_push(key=FINGERPRINT_KEY, value=fp.to_json())
        if self.compute_kind != "local":
            self._prepare_container(context, fp)

    def _prepare_container(self, context: Context, fp: Fingerprint) -> None:
        """Hand a container step its plan (the official operator's templated command reads it).

        Also makes sure what gets bind-mounted exists, and for Docker that the daemon answers, so a
        missing daemon is one clear line here rather than a docker-py traceback in the compute task.
        """
        plan = self.build_plan(context, fp)
        for url in [settings.datastore_root(), *self.datastores.values()]:
            local = storage.local_path(url) if url else None
            if local is not None:
                os.makedirs(local, exist_ok=True)
        if self.compute_kind == "docker":
            from airflow_mlpipelines.compute.docker import check_daemon

            check_daemon(self.docker_url, step=self.step, target=self.compute)
        context["ti"].xcom_push(key=PLAN_KEY, value=plan)
        self.log.info(
            "step %s runs on %s target %s (fingerprint %s)",
            self.step,
            self.compute_kind,
            self.compute,
            fp.short,
        )

    def _verified(self, loc: str) -> dict[str, Any] | None:
        manifest = store.read_manifest(loc)
        if manifest is None:
            return None
        problems = store.verify(manifest, full=settings.verify_mode() == "full")
        if problems:
            self.log.warning("not reused: stored outputs at %s do not verify: %s", loc, problems)
            return None
        return manifest

    def _claim_or_wait(self, context: Context, fp: Fingerprint, loc: str) -> dict[str, Any] | None:
        """Take the step's in-flight lease (return None: we run it), or wait for the run holding it.

        Returns the holder's committed manifest when it finishes; takes the lease over when the holder
        fails or its lease expires. Leases need a POSIX datastore root; on object stores runs don't wait.
        """
        directory = storage.local_path(loc)
        if directory is None:
            return None
        holder = lease_holder(self.dag_id, context["run_id"])
        while (held := lease.try_acquire(directory, holder, settings.lease_seconds())) is not None:
            self.log.info(
                "waiting: step %s with fingerprint %s is running in %s (lease expires in %.0fs)",
                self.step,
                fp.short,
                held.holder,
                held.expires_at - time.time(),
            )
            time.sleep(settings.lease_poll_seconds())
            manifest = self._verified(loc)
            if manifest is not None:
                return manifest
        return None

    def _forced(self, conf: dict[str, Any]) -> str | None:
        if not self.allow_reuse:
            return "allow_reuse is false for this step"
        if conf.get("regenerate_outputs") is True:
            return "regenerate_outputs is true in the run's conf"
        force = conf.get("force_rerun") or []
        if self.step in (force if isinstance(force, list) else [force]):
            return "the run's conf lists this step in force_rerun"
        return None

    def _reuse(self, context: Context, fp: Fingerprint, manifest: dict[str, Any]) -> None:
        origin = manifest.get("produced_by", {})
        context["ti"].xcom_push(
            key=STEP_KEY,
            value={
                "outputs": {name: out["url"] for name, out in manifest["outputs"].items()},
                "manifest_digest": manifest["digest"],
                "fingerprint": fp.digest,
                "reused_from": origin,
            },
        )
        self.log.info(
            "reused %s from %s/%s (fingerprint %s)",
            self.step,
            origin.get("dag_id"),
            origin.get("run_id"),
            fp.short,
        )
        compute = self.get_direct_relatives(upstream=False)
        self.skip(ti=context["ti"], tasks=[t for t in compute if t.task_id.endswith(f".{COMPUTE_TASK_ID}")])

    def _explain_miss(self, fp: Fingerprint, loc: str) -> None:
        previous = store.latest_manifest(loc.rsplit("/", 1)[0], exclude=fp.short)
        if previous is None:
            self.log.info("not reused: no earlier outputs of step %s (fingerprint %s)", self.step, fp.short)
            return
        reasons = explain(Fingerprint.from_json(previous["fingerprint"]), fp)
        origin = previous.get("produced_by", {})
        self.log.info(
            "not reused: %s (fingerprint %s; compared with %s/%s)",
            "; ".join(reasons) or "fingerprint changed",
            fp.short,
            origin.get("dag_id"),
            origin.get("run_id"),
        )

    def _warn_unknown_conf(self, conf: dict[str, Any]) -> None:
        for key in conf:
            if key not in self.known_parameters and key not in RESERVED_CONF_KEYS:
                hint = did_you_mean(str(key), [*self.known_parameters, *RESERVED_CONF_KEYS])
                self.log.warning(
                    "run conf key %r is not a parameter of pipeline %r%s",
                    key,
                    self.pipeline,
                    f" ({hint})" if hint else "",
                )
