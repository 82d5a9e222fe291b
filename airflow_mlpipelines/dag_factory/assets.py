"""A pipeline's assets as Airflow objects: its schedule on assets or a datastore watch, and each step's
inlets and outlets (see ``operators/asset_events.py`` for which task emits the output events)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.dag_factory.schedules import airflow_schedule
from airflow_mlpipelines.operators.asset_events import OutputEventExtras, asset, reuse_alias
from airflow_mlpipelines.pipeline.assets import (
    AssetSchedule,
    DatastoreWatch,
    input_uris,
    output_uris,
    schedule_uris,
    watch_uri,
    watched_folder_uri,
)

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.model import PipelineSpec
    from airflow_mlpipelines.pipeline.step_task import StepTask


def dag_schedule(pipeline: PipelineSpec) -> Any:
    """What ``DAG(schedule=...)`` gets: the assets (all of them must have been updated since the last
    run: Airflow's rule for a list), the watched folder's asset, else the time schedule (a cron string
    as written, a recurrence's exact cron or its timetable: :func:`schedules.airflow_schedule`)."""
    schedule = pipeline.schedule
    if isinstance(schedule, AssetSchedule):
        return [asset(uri) for uri in schedule_uris(pipeline)]
    if isinstance(schedule, DatastoreWatch):
        return [watched_asset(pipeline, schedule)]
    return airflow_schedule(schedule)


def watched_asset(pipeline: PipelineSpec, watch: DatastoreWatch) -> Any:
    """The pipeline's watch as an asset (the folder in its ``extra``) with an ``AssetWatcher`` polling the
    folder on the triggerer."""
    from airflow.sdk import Asset, AssetWatcher

    from airflow_mlpipelines.triggers.datastore_watch import DatastoreWatchTrigger

    uri = watch_uri(pipeline, watch)
    trigger = DatastoreWatchTrigger(
        pipeline=pipeline.name,
        datastore=watch.datastore,
        datastore_url={d.name: d.url for d in pipeline.datastores}.get(watch.datastore),
        path_on_datastore=watch.path_on_datastore,
        polling_seconds=watch.polling_seconds,
        parameter=watch.data_path_parameter_name,
    )
    return Asset(
        name=uri,
        uri=uri,
        extra={"folder": watched_folder_uri(pipeline, watch)},
        watchers=[AssetWatcher(name=f"mlpipelines-watch-{pipeline.name}", trigger=trigger)],
    )


def lineage(pipeline: PipelineSpec, task: StepTask) -> tuple[dict[str, Any], dict[str, Any]]:
    """(reuse task, compute task) arguments: inlets (what the step reads), outlets (what it writes)
    and the hook that puts the committed manifest's details into the output events."""
    inlets = [asset(uri) for uri in input_uris(pipeline, pipeline.step(task.step))]
    outlets = [asset(uri) for uri in output_uris(task).values()]
    compute: dict[str, Any] = {"inlets": inlets}
    reuse: dict[str, Any] = {}
    if outlets:
        compute.update(outlets=outlets, post_execute=OutputEventExtras(task))
        reuse["outlets"] = [reuse_alias(task)]
    return reuse, compute
