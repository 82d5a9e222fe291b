"""Asset events of step outputs, and the path a datastore watch hands to the run it starts.

A step's outputs are Airflow assets (URIs from :mod:`airflow_mlpipelines.pipeline.assets`). Exactly one
task of the step emits their events, and only once the outputs are committed:

- computed: the compute task ``<step>.run`` has the assets as its ``outlets`` (Airflow emits them when it
  succeeds, i.e. after the runner committed the manifest); :class:`OutputEventExtras`, the task's
  ``post_execute`` hook, fills each event's ``extra`` from the committed manifest. The hook is a plain
  operator argument, so the official Docker and Kubernetes operators get it as shipped.
- reused: ``<step>.run`` is skipped and skipped tasks emit nothing, so the reuse task has an
  ``AssetAlias`` as its outlet (:func:`reuse_alias`) and adds the output events through it on the reuse
  path only (:func:`emit_reused`); on the run path it adds none, and the alias emits nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.pipeline.assets import WATCH_PAYLOAD_KEY, output_uris

if TYPE_CHECKING:
    from collections.abc import Iterable

    from airflow.sdk import Context

    from airflow_mlpipelines.pipeline.step_task import StepTask
    from airflow_mlpipelines.runtime.plan import StepPlan
    from airflow_mlpipelines.runtime.publication import Publication


def asset(uri: str) -> Any:
    """The Airflow asset of a URI (name = URI, so every pipeline naming it means the same asset)."""
    from airflow.sdk import Asset

    return Asset(name=uri, uri=uri)


def reuse_alias(task: StepTask) -> Any:
    """The alias the reuse task emits a reused step's output events through."""
    from airflow.sdk import AssetAlias

    return AssetAlias(name=f"mlpipelines-reused:{task.pipeline}.{task.step}")


def output_extra(publication: Publication, output: str, dag_id: str, run_id: str) -> dict[str, Any]:
    """An output event's ``extra``: where this run's data is and what identifies it."""
    return {
        "pipeline": dag_id,
        "run_id": run_id,
        "step": publication.step,
        "output": output,
        "url": publication.outputs[output],
        "fingerprint": publication.fingerprint,
        "manifest_digest": publication.manifest_digest,
        "reused": publication.reused,
        "produced_by": {"dag_id": publication.origin.dag_id, "run_id": publication.origin.run_id},
    }


def _publication(plan: StepPlan | None) -> Publication:
    from airflow_mlpipelines.connections import AirflowStorage
    from airflow_mlpipelines.runtime.publication import published

    step = plan.step if plan is not None else "?"
    return published(plan, AirflowStorage(), step=step, consumer=step)


class OutputEventExtras:
    """``post_execute`` hook of a compute task: the committed manifest's details in its output events.

    Runs on the worker after the compute task's ``execute`` returned (the step committed its outputs).
    """

    def __init__(self, task: StepTask) -> None:
        self.task = task

    def __call__(self, context: Context, result: Any = None) -> None:
        """Set the ``extra`` of each output's outlet event."""
        from airflow_mlpipelines.operators.planner import upstream_plan

        publication = _publication(upstream_plan(context, self.task.step))
        events = context["outlet_events"]
        for output, uri in output_uris(self.task).items():
            events[asset(uri)].extra = output_extra(
                publication, output, str(context["ti"].dag_id), str(context["run_id"])
            )


def emit_reused(context: Context, task: StepTask, plan: StepPlan) -> None:
    """Emit the output events of a reused step through the reuse task's alias (the data is current)."""
    publication = _publication(plan)
    alias = context["outlet_events"][reuse_alias(task)]
    for output, uri in output_uris(task).items():
        alias.add(asset(uri), extra=output_extra(publication, output, str(context["ti"].dag_id), plan.run_id))


def watched_files(context: Context, parameters: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Parameter -> (path, stamp) of the file a datastore watch fired for, in the run it started.

    Airflow starts one run for all events that arrived since the previous run; the newest file wins
    (each event is in the run's ``triggering_asset_events``).
    """
    wanted = set(parameters)
    events = context.get("triggering_asset_events") or {}
    found: dict[str, tuple[Any, str, str]] = {}
    for key in events:
        for event in events[key]:
            payload = (event.extra or {}).get("payload")
            if not isinstance(payload, dict) or not payload.get(WATCH_PAYLOAD_KEY):
                continue
            name = payload.get("parameter")
            if name in wanted and isinstance(payload.get("path"), str):
                if name not in found or event.timestamp >= found[name][0]:
                    found[name] = (event.timestamp, str(payload["path"]), str(payload.get("stamp", "")))
    return {name: (path, version) for name, (_, path, version) in found.items()}
