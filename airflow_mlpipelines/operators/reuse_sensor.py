"""``ReuseSensor``: in front of every step; on a verified hit the step's compute task never starts."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseSensorOperator
from airflow.sdk.bases.skipmixin import SkipMixin
from airflow.sdk.exceptions import AirflowSensorTimeout

from airflow_mlpipelines import settings
from airflow_mlpipelines.compute.registry import compute_kind
from airflow_mlpipelines.connections import AirflowStorage
from airflow_mlpipelines.exceptions import StorageError, did_you_mean
from airflow_mlpipelines.operators.asset_events import emit_reused
from airflow_mlpipelines.operators.links import StepOutputsLink
from airflow_mlpipelines.operators.planner import Planner
from airflow_mlpipelines.reuse import lease, store
from airflow_mlpipelines.reuse.explain import explain
from airflow_mlpipelines.reuse.fingerprint import Fingerprint
from airflow_mlpipelines.runtime.plan import (
    COMPUTE_TASK_ID,
    PARTITION_TASK_ID,
    PLAN_KEY,
    StepPlan,
    lease_holder,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow.sdk import Context

    from airflow_mlpipelines.pipeline.step_task import StepTask, Token
    from airflow_mlpipelines.storage import Location, Storage

RESERVED_CONF_KEYS = frozenset({"regenerate_outputs", "force_rerun"})
POKE_SECONDS = 5.0
"""How often a run waiting for the same step in another run looks again (the slot is freed between)."""
WAIT_TIMEOUT_SECONDS = 7 * 24 * 3600.0
"""How long a run waits for another run's lease on a step before failing (Airflow's sensor default)."""
LOG_EVERY_SECONDS = 60.0


def forced_reason(task: StepTask, conf: dict[str, Any]) -> str | None:
    """Why this run must not reuse the step's outputs (``allow_reuse: false``, ``regenerate_outputs``,
    ``force_rerun``), or None; a parallel run's mini-batches follow the same rule."""
    if not task.allow_reuse:
        return "allow_reuse is false for this step"
    if conf.get("regenerate_outputs") is True:
        return "regenerate_outputs is true in the run's conf"
    force = conf.get("force_rerun") or []
    if task.step in (force if isinstance(force, list) else [force]):
        return "the run's conf lists this step in force_rerun"
    return None


class ReuseSensor(BaseSensorOperator, SkipMixin):
    """Compute the step's fingerprint at run time and reuse committed, verified outputs when it matches.

    On a hit it hands over a ``reuse`` plan and marks the compute task ``skipped`` before it starts: no
    process, container or pod. On a miss it takes the step's in-flight lease and hands over a ``run``
    plan (always a :class:`~airflow_mlpipelines.runtime.plan.StepPlan`, for every compute kind).
    ``allow_reuse=False`` on the step, ``regenerate_outputs: true`` or ``force_rerun: [step, ...]`` in
    the run's ``conf`` force a miss.

    When another run holds the lease (it is computing the same step with the same fingerprint) the
    sensor waits like any Airflow sensor: in ``reschedule`` mode by default, so the wait holds no worker
    slot; ``poke_interval`` and ``timeout`` as usual. Then it reuses that run's outputs, or takes the
    lease when the holder failed or its lease expired.

    :param task: The step's description (built by the DAG factory).
    :param arguments: The step's argument parts (templated).
    """

    template_fields: Sequence[str] = ("arguments",)
    template_fields_renderers: ClassVar[dict[str, str]] = {"arguments": "json"}
    operator_extra_links = (StepOutputsLink(),)
    ui_color = "#e8f4e8"

    def __init__(
        self,
        *,
        task: StepTask,
        arguments: list[list[Token]] | None = None,
        deferrable: bool = True,
        poke_interval: float = POKE_SECONDS,
        timeout: float = WAIT_TIMEOUT_SECONDS,
        mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        # Deferring never returns False from poke, so "poke" mode never sleeps in a slot; without a
        # triggerer, "reschedule" frees the slot between looks instead.
        super().__init__(
            poke_interval=poke_interval,
            timeout=timeout,
            mode=mode or ("poke" if deferrable else "reschedule"),
            **kwargs,
        )
        self.task = task
        self.arguments = arguments
        self.deferrable = deferrable
        self._unusable: str | None = None

    @property
    def step(self) -> str:
        """The step's name (the UI link reads it)."""
        return self.task.step

    def poke(self, context: Context, waiting_since: float | None = None) -> bool:
        """Decide: reuse (skip the compute task), run (hand over the plan), or wait for another run."""
        storage = AirflowStorage()
        conf = getattr(context.get("dag_run"), "conf", None) or {}
        if waiting_since is None:
            self._warn_unknown_conf(conf, context)
        planner = Planner(self.task, context, storage, arguments=self.arguments, say=self.log.info)
        try:
            return self._decide(context, conf, planner, waiting_since)
        except StorageError as exc:
            if str(exc).startswith("step '"):
                raise
            raise StorageError(f"step '{self.task.step}': {exc}") from None

    def _decide(
        self, context: Context, conf: dict[str, Any], planner: Planner, waiting_since: float | None
    ) -> bool:
        storage = planner.storage
        fp = planner.fingerprint()
        loc = planner.manifest_url(fp)
        forced = self._forced(conf)
        if forced is not None:
            planner.check_storage()
            self._hand_over(
                context, planner.run_plan(fp, leased=False, reason=forced), f"not reused: {forced}"
            )
            return True
        manifest = self._verified(loc, storage)
        if manifest is not None:
            self._reuse(context, planner.reuse_plan(fp, manifest))
            return True
        # Before anything is written (the lease included): every store the step writes to answers.
        planner.check_storage()
        folder = storage.resolve(loc)
        leased = lease.supports_leases(folder)
        if leased:
            holder = lease_holder(planner.dag_id, planner.run_id)
            held = lease.try_acquire(folder, holder, settings.lease_seconds())
            if held is not None:
                self._waiting(context, fp, held, folder, waiting_since)
                return False
        reason = self._explain_miss(fp, loc, storage, planner)
        plan = planner.run_plan(fp, leased=leased, reason=reason)
        try:
            self._hand_over(context, plan, f"not reused: {reason}")
        except BaseException:
            if leased:
                lease.release(folder, lease_holder(planner.dag_id, planner.run_id))
            raise
        return True

    # -- outcomes ---------------------------------------------------------------------------------
    def _hand_over(self, context: Context, plan: StepPlan, why: str) -> None:
        """Let the compute kind check and complete the plan, then push it for the compute task."""
        plan = compute_kind(plan.task.compute_kind).prepare(plan, self.log.warning)
        self.log.info("%s (fingerprint %s)", why, plan.fingerprint.short)
        context["ti"].xcom_push(key=PLAN_KEY, value=plan.to_json())
        if plan.task.compute_kind != "local":
            self.log.info(
                "step %s runs on %s target %s",
                self.task.step,
                plan.task.compute_kind,
                plan.task.target.name,
            )

    def _reuse(self, context: Context, plan: StepPlan) -> None:
        context["ti"].xcom_push(key=PLAN_KEY, value=plan.to_json())
        if self.task.outputs:
            # The compute task is skipped and emits nothing: the outputs' events come from here.
            emit_reused(context, self.task, plan)
        origin = plan.reused_from
        self.log.info(
            "reused %s from %s/%s (fingerprint %s)",
            self.task.step,
            origin.dag_id if origin else None,
            origin.run_id if origin else None,
            plan.fingerprint.short,
        )
        compute = self.get_direct_relatives(upstream=False)
        # The step's compute task (a parallel run's partition task: its mapped and gather tasks follow
        # it into "skipped").
        leaves = (f".{COMPUTE_TASK_ID}", f".{PARTITION_TASK_ID}")
        self.skip(ti=context["ti"], tasks=[t for t in compute if t.task_id.endswith(leaves)])

    def _waiting(
        self,
        context: Context,
        fp: Fingerprint,
        held: lease.LeaseInfo,
        folder: Location,
        waiting_since: float | None,
    ) -> None:
        """Wait for the holder: defer to :class:`LeaseTrigger`, or (not deferrable) let the sensor reschedule.

        Logged when the wait starts and then once a minute (by the trigger), never on every look.
        """
        if self.deferrable:
            since = time.time() if waiting_since is None else waiting_since
            log_now = waiting_since is None
        else:
            first = context["ti"].get_first_reschedule_date(context)
            since = time.time() if first is None else first.timestamp()
            minute = int((time.time() - since) // LOG_EVERY_SECONDS)
            before = int(max(0.0, time.time() - since - self.poke_interval) // LOG_EVERY_SECONDS)
            log_now = first is None or minute != before
        waited = time.time() - since
        if waited >= self.timeout:
            self._timed_out(fp, held.holder, waited)
        if log_now:
            self.log.info(
                "waiting: step %s with fingerprint %s is running in %s (lease expires in %.0fs); "
                "this task frees its slot until it finishes",
                self.task.step,
                fp.short,
                held.holder,
                held.expires_at - time.time(),
            )
        if not self.deferrable:
            return
        from airflow_mlpipelines.connections import export_connections
        from airflow_mlpipelines.storage import split_url
        from airflow_mlpipelines.triggers.lease import LeaseTrigger

        scheme, conn_id, _ = split_url(folder.url)
        self.defer(
            trigger=LeaseTrigger(
                lease_url=folder.url,
                fingerprint=fp.digest,
                step=self.task.step,
                poke_seconds=self.poke_interval,
                timeout_seconds=max(self.timeout - waited, 0.0),
                connections=export_connections([conn_id], {conn_id: scheme}) if conn_id else None,
            ),
            method_name="resume",
            kwargs={"waiting_since": since},
        )

    def resume(self, context: Context, event: dict[str, Any], waiting_since: float) -> None:
        """Back from :class:`LeaseTrigger`: decide again (reuse the holder's outputs, or take the lease)."""
        if event.get("status") == "timeout":
            self._timed_out(None, str(event.get("holder")), float(event.get("waited", 0.0)))
        self.log.info("the wait for step %s ended: %s", self.task.step, event.get("status"))
        self.poke(context, waiting_since=waiting_since)

    def _timed_out(self, fp: Fingerprint | None, holder: str, waited: float) -> None:
        where = f" (fingerprint {fp.short})" if fp is not None else ""
        raise AirflowSensorTimeout(
            f"step '{self.task.step}': gave up after waiting {waited:.0f}s for run {holder}, which holds the "
            f"in-flight lease of this step{where} (raise the reuse task's timeout, or clear that run)"
        )

    # -- decisions --------------------------------------------------------------------------------
    def _verified(self, loc: str, storage: Storage) -> dict[str, Any] | None:
        """The committed manifest of this fingerprint when every file it lists checks out.

        What was wrong otherwise is kept for the miss's explanation (one story in the log).
        """
        self._unusable = None
        try:
            manifest = store.load_manifest(loc, storage)
        except store.CorruptManifestError as exc:
            self._unusable = f"the stored manifest is unusable ({exc})"
            return None
        if manifest is None:
            return None
        problems = store.verify(manifest, full=settings.verify_mode() == "full", storage=storage)
        if problems:
            shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            self._unusable = f"the stored outputs of this fingerprint do not verify: {shown}"
            return None
        return manifest

    def _forced(self, conf: dict[str, Any]) -> str | None:
        return forced_reason(self.task, conf)

    def _explain_miss(self, fp: Fingerprint, loc: str, storage: Storage, planner: Planner) -> str:
        """Why the step runs, in one line: outputs that do not verify, an attempt that never committed,
        or what changed compared with the step's latest committed outputs."""
        if self._unusable is not None:
            return self._unusable
        previous = store.latest_manifest(loc.rsplit("/", 1)[0], exclude=fp.short, storage=storage)
        if previous is None:
            attempt = planner.uncommitted_attempt(fp)
            if attempt is not None:
                return (
                    f"an earlier attempt of step {self.task.step} with this fingerprint left outputs at "
                    f"{attempt} but never committed them (no manifest), so they are not used"
                )
            return f"no earlier outputs of step {self.task.step}"
        reasons = explain(Fingerprint.from_json(previous["fingerprint"]), fp)
        origin = previous.get("produced_by", {})
        return (
            f"{'; '.join(reasons) or 'fingerprint changed'} "
            f"(compared with {origin.get('dag_id')}/{origin.get('run_id')})"
        )

    def _warn_unknown_conf(self, conf: dict[str, Any], context: Context) -> None:
        # Once per try, not on every reschedule.
        if self.reschedule and context["ti"].get_first_reschedule_date(context) is not None:
            return
        known = list(self.task.known_parameters)
        for key in conf:
            if key not in known and key not in RESERVED_CONF_KEYS:
                hint = did_you_mean(str(key), [*known, *RESERVED_CONF_KEYS])
                self.log.warning(
                    "run conf key %r is not a parameter of pipeline %r%s",
                    key,
                    self.task.pipeline,
                    f" ({hint})" if hint else "",
                )
