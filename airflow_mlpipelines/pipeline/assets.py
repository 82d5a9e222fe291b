"""Assets and data-triggered schedules, the pure part: stable asset URIs and the two schedule forms.

Every asset this provider declares has ``name == uri`` (Airflow keys an asset by both and refuses a
second asset with the same URI under another name), and every URI is built at parse time from the
definition alone (no settings, no I/O):

- a path on a datastore with a URL: the URL without its connection id, plus the path
  (``s3://conn@bucket/raw`` + ``a.csv`` → ``s3://bucket/raw/a.csv``; a local folder → ``file:///…``);
- a path on a datastore without a URL (it lives under ``[mlpipelines] datastore_root``, which is only
  read at run time): ``mlpipelines://datastore/<datastore>/<path>``;
- a step's output (a fresh folder per run): the logical output ``mlpipelines://output/<pipeline>/<step>/
  <output>`` (the run's folder, fingerprint and manifest digest travel in the asset event's extra); a
  fixed destination (a data transfer's ``DataReference``) is that datastore path instead.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from airflow_mlpipelines.exceptions import DefinitionError, did_you_mean

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_mlpipelines.exceptions import SourceLocation
    from airflow_mlpipelines.pipeline.model import DatastoreSpec, ParameterSpec, PipelineSpec, StepSpec
    from airflow_mlpipelines.pipeline.step_task import StepTask

SCHEME = "mlpipelines"
WATCH_PAYLOAD_KEY = "mlpipelines_watch"
"""Marks the payload of a datastore watch's event (the asset event's ``extra.payload``)."""
DEFAULT_POLLING_MINUTES = 5.0
"""Azure ML's default ``polling_interval`` (minutes)."""

ASSET_FORMS = (
    "a URI (s3://bucket/key, file:///data/x, mlpipelines://...), an absolute path, "
    "<datastore>:<path>, or <pipeline>.<step>.<output>"
)


@dataclass(frozen=True)
class AssetSchedule:
    """``schedule: {assets: [...]}``: a run starts once every listed asset has a new event.

    ``assets`` are the entries as written (resolved to URIs by :func:`schedule_uris`, which needs the
    pipeline's datastores); ``locations`` the line of each entry.
    """

    assets: tuple[str, ...]
    locations: tuple[SourceLocation | None, ...] = ()

    def where(self, index: int) -> SourceLocation | None:
        """The location of entry ``index`` (None when unknown)."""
        return self.locations[index] if index < len(self.locations) else None


@dataclass(frozen=True)
class DatastoreWatch:
    """Run when a file is added or changed directly in a datastore folder (Azure ML's datastore schedule).

    ``polling_interval`` is in minutes, as in Azure ML's ``Schedule.create``; the path of the file that
    fired is given to the run as parameter ``data_path_parameter_name`` (when set).
    """

    datastore: str
    path_on_datastore: str = ""
    polling_interval: float = DEFAULT_POLLING_MINUTES
    data_path_parameter_name: str | None = None
    location: SourceLocation | None = None

    @property
    def polling_seconds(self) -> float:
        """The polling interval in seconds (what the trigger sleeps)."""
        return self.polling_interval * 60.0


ScheduleSpec = str | AssetSchedule | DatastoreWatch | None
"""What ``PipelineSpec.schedule`` holds: a cron expression or preset, one of the forms here, or None."""


def datastore_watch(
    datastore: object,
    path_on_datastore: object = None,
    polling_interval: object = DEFAULT_POLLING_MINUTES,
    data_path_parameter_name: object = None,
    *,
    location: SourceLocation | None = None,
) -> DatastoreWatch:
    """A :class:`DatastoreWatch` from Azure ML's ``Schedule.create`` arguments (a datastore object or its
    name), checked: a clear :class:`DefinitionError` at ``location`` (default: the caller's line) for each
    wrong argument."""
    if location is None:
        from airflow_mlpipelines.pipeline.callsite import caller_location

        location = caller_location()
    name = getattr(datastore, "name", datastore)
    if not isinstance(name, str) or not name:
        raise _watch_error("datastore must be a datastore or its name", location, "datastore")
    if path_on_datastore is not None and not isinstance(path_on_datastore, str):
        raise _watch_error("path_on_datastore must be a string", location, "path_on_datastore")
    if (
        isinstance(polling_interval, bool)
        or not isinstance(polling_interval, int | float)
        or not math.isfinite(polling_interval)
        or polling_interval <= 0
    ):
        raise _watch_error(
            f"polling_interval must be a positive number of minutes, not {polling_interval!r}",
            location,
            "polling_interval",
        )
    if data_path_parameter_name is not None and (
        not isinstance(data_path_parameter_name, str) or not data_path_parameter_name
    ):
        raise _watch_error(
            "data_path_parameter_name must name a pipeline parameter", location, "data_path_parameter_name"
        )
    return DatastoreWatch(
        datastore=name,
        path_on_datastore=(path_on_datastore or "").strip("/"),
        polling_interval=float(polling_interval),
        data_path_parameter_name=data_path_parameter_name,
        location=location,
    )


def sdk_schedule(schedule: object, location: SourceLocation | None) -> ScheduleSpec:
    """``Pipeline(schedule=...)`` of a Python definition: a cron string, a :class:`DatastoreWatch`, or a
    list of assets (strings in any YAML form, or objects with a ``uri``, such as Airflow's ``Asset``)."""
    if schedule is None or isinstance(schedule, str | DatastoreWatch | AssetSchedule):
        return schedule
    if isinstance(schedule, list | tuple):
        entries = []
        for i, item in enumerate(schedule):
            uri = item if isinstance(item, str) else getattr(item, "uri", None)
            if not isinstance(uri, str):
                raise DefinitionError(
                    f"schedule entry {item!r} is not an asset",
                    location=location,
                    field=f"schedule[{i}]",
                    hint=ASSET_FORMS,
                )
            entries.append(uri)
        return AssetSchedule(tuple(entries), tuple(location for _ in entries))
    raise DefinitionError(
        f"schedule {schedule!r} is not a cron string, a list of assets or a DatastoreWatch",
        location=location,
        field="schedule",
    )


def _watch_error(message: str, location: SourceLocation | None, field: str) -> DefinitionError:
    return DefinitionError(
        message, location=location, field=f"schedule.{field}", hint="see 'Assets and data-triggered runs'"
    )


def describe(schedule: object) -> str:
    """One line for a schedule (the CLI's ``render``)."""
    if isinstance(schedule, AssetSchedule):
        return "assets " + ", ".join(schedule.assets)
    if isinstance(schedule, DatastoreWatch):
        where = f"{schedule.datastore}:{schedule.path_on_datastore}"
        return f"new or changed files in {where}, every {schedule.polling_interval:g} min"
    summary = getattr(schedule, "summary", None)  # a Recurrence
    return summary() if callable(summary) else str(schedule)


# -- URIs -----------------------------------------------------------------------------------------
def canonical_uri(url: str) -> str:
    """An asset URI as Airflow stores it: lower-case scheme, no connection id, no trailing slash; a
    local path becomes ``file://<absolute path>``."""
    if "://" not in url:
        return "file://" + (os.path.normpath(os.path.abspath(url)).rstrip("/") or "/")
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    path = parts.path.rstrip("/")
    return f"{parts.scheme.lower()}://{netloc}{path}" if netloc or path else f"{parts.scheme.lower()}:///"


def datastore_uri(datastore: str, url: str | None, path: str = "") -> str:
    """The URI of ``path`` on a datastore (``url`` None: one under the configured datastore root)."""
    rel = path.strip("/")
    if url is None:
        return f"{SCHEME}://datastore/{datastore}" + (f"/{rel}" if rel else "")
    base = canonical_uri(url)
    return f"{base.rstrip('/')}/{rel}" if rel else base


def output_uri(pipeline: str, step: str, output: str) -> str:
    """The logical URI of a step's output (its folder changes every run; the asset does not)."""
    return f"{SCHEME}://output/{pipeline}/{step}/{output}"


def output_uris(task: StepTask) -> dict[str, str]:
    """Output name -> asset URI, for a step's outlets."""
    urls = task.datastore_urls
    return {
        o.name: datastore_uri(o.datastore, urls.get(o.datastore), o.path)
        if o.path is not None
        else output_uri(task.pipeline, task.step, o.name)
        for o in task.outputs
    }


def _urls(pipeline: PipelineSpec) -> dict[str, str | None]:
    return {d.name: d.url for d in pipeline.datastores}


def input_uris(pipeline: PipelineSpec, step: StepSpec) -> list[str]:
    """The asset URIs of what a step reads: its datasets' paths and other steps' outputs (its inlets)."""
    urls = _urls(pipeline)
    producers = pipeline.producers()
    datasets = {d.name: d for d in pipeline.datasets}
    found: list[str] = []
    for name in step.inputs:
        if name in producers:
            producer = pipeline.step(producers[name])
            out = next(o for o in producer.outputs if o.name == name)
            found.append(
                datastore_uri(out.datastore, urls.get(out.datastore), out.path)
                if out.path is not None
                else output_uri(pipeline.name, producer.name, name)
            )
        elif name in datasets:
            ds = datasets[name]
            found.extend(datastore_uri(ds.datastore, urls.get(ds.datastore), p) for p in ds.paths)
    return list(dict.fromkeys(found))


def watch_uri(pipeline: PipelineSpec, watch: DatastoreWatch) -> str:
    """The asset a datastore watch updates: one per pipeline and folder,
    ``mlpipelines://watch/<pipeline>/<datastore>/<path>``.

    Not the folder's own URI: every watcher of an asset feeds every pipeline scheduled on it, so two
    pipelines watching one folder through one asset would each start a run per file *per watcher*.
    """
    rel = watch.path_on_datastore.strip("/")
    return f"{SCHEME}://watch/{pipeline.name}/{watch.datastore}" + (f"/{rel}" if rel else "")


def watched_folder_uri(pipeline: PipelineSpec, watch: DatastoreWatch) -> str:
    """The URI of the folder a datastore watch lists (the watch asset's ``extra.folder``)."""
    return datastore_uri(watch.datastore, _urls(pipeline).get(watch.datastore), watch.path_on_datastore)


def entry_uri(entry: str, datastores: Mapping[str, str | None]) -> str:
    """The URI of one ``schedule.assets`` entry (a :class:`ValueError` naming the forms when it is none)."""
    text = entry.strip()
    if "://" in text:
        return canonical_uri(text)
    if text.startswith("/"):
        return canonical_uri(text)
    if ":" in text:
        store, _, path = text.partition(":")
        if not store:
            raise ValueError(f"{entry!r} names no datastore before ':'")
        return datastore_uri(store, datastores.get(store), path)
    parts = text.rsplit(".", 2)
    if len(parts) == 3 and all(parts):
        return output_uri(*parts)
    raise ValueError(f"{entry!r} is not {ASSET_FORMS}")


def schedule_uris(pipeline: PipelineSpec) -> list[str]:
    """The asset URIs an :class:`AssetSchedule` waits for (in order, without duplicates)."""
    schedule = pipeline.schedule
    if not isinstance(schedule, AssetSchedule):
        return []
    urls = _urls(pipeline)
    return list(dict.fromkeys(entry_uri(e, urls) for e in schedule.assets))


# -- checks ---------------------------------------------------------------------------------------
def check_schedule(
    *,
    name: str,
    schedule: object,
    steps: Sequence[StepSpec],
    parameters: Sequence[ParameterSpec],
    datastores: Sequence[DatastoreSpec],
    where: SourceLocation | None,
) -> None:
    """The asset and watch forms of a pipeline's schedule are sound (cron strings are Airflow's to
    check when the DAG is rendered)."""
    if isinstance(schedule, AssetSchedule):
        _check_assets(name, schedule, steps, datastores, where)
    elif isinstance(schedule, DatastoreWatch):
        _check_watch(schedule, parameters, datastores, where)


def _check_assets(
    name: str,
    schedule: AssetSchedule,
    steps: Sequence[StepSpec],
    datastores: Sequence[DatastoreSpec],
    where: SourceLocation | None,
) -> None:
    if not schedule.assets:
        raise DefinitionError(
            "schedule.assets lists no asset", location=where, field="schedule.assets", hint=ASSET_FORMS
        )
    urls = {d.name: d.url for d in datastores}
    sql = {d.name for d in datastores if d.is_sql}
    own = {o.name: s.name for s in steps for o in s.outputs}
    for i, entry in enumerate(schedule.assets):
        at = schedule.where(i) or where
        field = f"schedule.assets[{i}]"
        try:
            uri = entry_uri(entry, urls)
        except ValueError as exc:
            raise DefinitionError(str(exc), location=at, field=field, hint=ASSET_FORMS) from None
        store = entry.partition(":")[0] if "://" not in entry and ":" in entry else None
        if store in sql:
            raise DefinitionError(
                f"datastore '{store}' is a SQL database: it has no files to be an asset",
                location=at,
                field=field,
            )
        if uri.startswith(f"{SCHEME}://output/{name}/"):
            step, output = uri.rsplit("/", 2)[-2:]
            if own.get(output) == step:
                raise DefinitionError(
                    f"pipeline '{name}' would be scheduled on its own output {step}.{output} (every run "
                    "would start the next)",
                    location=at,
                    field=field,
                )
            raise DefinitionError(
                f"pipeline '{name}' has no step '{step}' with output '{output}'",
                location=at,
                field=field,
                hint=did_you_mean(f"{step}.{output}", [f"{s}.{o}" for o, s in own.items()]),
            )


def _check_watch(
    watch: DatastoreWatch,
    parameters: Sequence[ParameterSpec],
    datastores: Sequence[DatastoreSpec],
    where: SourceLocation | None,
) -> None:
    at = watch.location or where
    store = next((d for d in datastores if d.name == watch.datastore), None)
    if store is not None and store.is_sql:
        raise _watch_error(
            f"datastore '{watch.datastore}' is a SQL database: only file datastores can be watched",
            at,
            "datastore",
        )
    name = watch.data_path_parameter_name
    if name is None:
        return
    param = next((p for p in parameters if p.name == name), None)
    if param is None:
        raise DefinitionError(
            f"data_path_parameter_name '{name}' is not a parameter of the pipeline",
            location=at,
            field="schedule.data_path_parameter_name",
            hint=did_you_mean(name, [p.name for p in parameters])
            or f"declare it: parameters: {{{name}: {{type: string, default: ''}}}}",
        )
    if param.type not in (None, "string"):
        raise DefinitionError(
            f"parameter '{name}' gets the path of the file that fired, so it must be a string, not "
            f"{param.type}",
            location=at,
            field="schedule.data_path_parameter_name",
        )
