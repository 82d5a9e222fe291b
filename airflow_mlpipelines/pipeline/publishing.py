"""Published pipelines, pipeline endpoints and schedules as records, and Azure ML's run request body.

Azure ML SDK v1 kept these in the workspace; here they are small JSON records that the plugin keeps in
Airflow Variables (the metadata database every component reaches, no shared disk), under the keys
below. This module is pure: the records, their JSON form, and the translation of the body other systems
POST to a published pipeline (``ExperimentName``, ``ParameterAssignments``, ``DataPathAssignments``,
``Tags``, ``Description``) into an Airflow run's ``conf`` and note, with errors that name the field.
"""

from __future__ import annotations

import difflib
import json
import math
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from airflow_mlpipelines.exceptions import RequestError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

Status = Literal["Active", "Disabled"]

PUBLISHED_PREFIX = "mlpipelines.published."
ENDPOINT_PREFIX = "mlpipelines.endpoint."
SCHEDULE_PREFIX = "mlpipelines.schedule."
"""Variable key prefixes: ``<prefix><id | endpoint name | dag id>``."""

HISTORY_KEPT = 20
"""How many earlier schedules a schedule record remembers (who set them, when)."""


def published_key(pipeline_id: str) -> str:
    """The Variable key of a published pipeline."""
    return PUBLISHED_PREFIX + pipeline_id


def endpoint_key(name: str) -> str:
    """The Variable key of a pipeline endpoint."""
    return ENDPOINT_PREFIX + name


def schedule_key(dag_id: str) -> str:
    """The Variable key of a pipeline's schedule set outside its definition (the UI page, Schedule.create)."""
    return SCHEDULE_PREFIX + dag_id


@dataclass(frozen=True)
class PublishedRecord:
    """``pipeline.publish()``: a pipeline's DAG, pinned to the definition it was published from.

    ``definition_digest`` is the SHA-256 of the definition text the DAG was built from when it was
    published. Airflow runs the DAG's current code, so a request to a published pipeline whose
    definition has changed since is refused (409) rather than silently running something else.
    """

    id: str
    name: str
    dag_id: str
    definition_digest: str
    published_by: str
    published_at: str
    version: str | None = None
    description: str | None = None
    status: Status = "Active"
    continue_on_step_failure: bool = False

    def to_json(self) -> str:
        """The Variable value."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PublishedRecord:
        """Read a Variable value written by :meth:`to_json`."""
        return cls(**json.loads(text))


@dataclass(frozen=True)
class EndpointRecord:
    """``PipelineEndpoint``: one name; versions ``"0"``, ``"1"``, ... each a published pipeline; a default."""

    name: str
    default_version: str
    versions: dict[str, str]
    """Version -> published pipeline id."""
    created_by: str
    created_at: str
    description: str | None = None
    status: Status = "Active"

    def to_json(self) -> str:
        """The Variable value."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> EndpointRecord:
        """Read a Variable value written by :meth:`to_json`."""
        return cls(**json.loads(text))

    def with_pipeline(self, pipeline_id: str, make_default: bool) -> EndpointRecord:
        """Add a version for ``pipeline_id`` (the next number), default if asked or if it is the first."""
        version = str(max((int(v) for v in self.versions), default=-1) + 1)
        default = version if make_default or not self.versions else self.default_version
        return replace(self, versions={**self.versions, version: pipeline_id}, default_version=default)

    def pipeline_of(self, version: str | None) -> str:
        """The published pipeline id of ``version`` (None: the default version)."""
        chosen = self.default_version if version in (None, "") else str(version)
        if chosen not in self.versions:
            raise RequestError(
                f"pipeline endpoint {self.name!r} has no version {chosen!r} "
                f"(versions: {', '.join(sorted(self.versions, key=int))})",
                field="PipelineVersion",
                status=404,
            )
        return self.versions[chosen]


@dataclass(frozen=True)
class ScheduleChange:
    """One change of a pipeline's schedule: what it became, who changed it and when."""

    schedule: Any
    changed_by: str
    changed_at: str
    paused: bool | None = None


@dataclass(frozen=True)
class ScheduleRecord:
    """A pipeline's schedule set outside its definition: the UI page or ``Schedule.create``.

    The DAG factory reads it when it parses the definition (never by rewriting the definition file,
    which may live in a git-backed DAG bundle). ``schedule`` is in the definition's own forms (a cron
    string, a preset, a recurrence mapping, a datastore watch, ``None``); ``pipeline_parameters``
    replace the defaults of the scheduled runs' parameters. ``status`` ``Disabled`` (``Schedule.disable``)
    keeps the record but stops the scheduled runs (the DAG gets no schedule; runs triggered over REST or
    an endpoint still start).
    """

    dag_id: str
    schedule: Any
    changed_by: str
    changed_at: str
    name: str | None = None
    schedule_id: str | None = None
    pipeline_id: str | None = None
    experiment_name: str | None = None
    description: str | None = None
    pipeline_parameters: dict[str, Any] = field(default_factory=dict)
    status: Status = "Active"
    history: tuple[ScheduleChange, ...] = ()

    def to_json(self) -> str:
        """The Variable value."""
        return json.dumps(asdict(self), sort_keys=True, default=str)

    @classmethod
    def from_json(cls, text: str) -> ScheduleRecord:
        """Read a Variable value written by :meth:`to_json`."""
        data = json.loads(text)
        data["history"] = tuple(ScheduleChange(**h) for h in data.get("history", ()))
        return cls(**data)

    def changed(self, schedule: Any, by: str, at: str, **updates: Any) -> ScheduleRecord:
        """This record with a new schedule, the old one kept in the history (newest first)."""
        previous = ScheduleChange(self.schedule, self.changed_by, self.changed_at)
        history = (previous, *self.history)[:HISTORY_KEPT]
        return replace(self, schedule=schedule, changed_by=by, changed_at=at, history=history, **updates)


@dataclass(frozen=True)
class ParamInfo:
    """What a run request is checked against: one of the DAG's Params (its JSON-schema type, if any)."""

    name: str
    type: str | None = None


@dataclass(frozen=True)
class RunRequest:
    """An Azure ML run request, as an Airflow trigger: the run's ``conf`` and its note."""

    conf: dict[str, Any]
    note: str
    experiment_name: str | None
    tags: dict[str, str]
    version: str | None = None


REQUEST_FIELDS = (
    "ExperimentName",
    "ParameterAssignments",
    "DataPathAssignments",
    "Tags",
    "Description",
    "PipelineVersion",
)


def _object(body: Mapping[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise RequestError(f"{key} must be a JSON object, got {type(value).__name__}", field=key)
    return value


def _coerce(name: str, value: Any, type_: str | None) -> Any:
    """Azure ML clients often send every parameter as a string: ``"0.2"`` for a number parameter."""
    if not isinstance(value, str) or type_ in (None, "string"):
        return value
    text = value.strip()
    try:
        if type_ == "integer":
            return int(text)
        if type_ == "number":
            number = float(text)
            if not math.isfinite(number):
                raise ValueError(text)
            return number
    except ValueError:
        raise RequestError(
            f"ParameterAssignments.{name}: {value!r} is not a {type_}", field=f"ParameterAssignments.{name}"
        ) from None
    if type_ == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    return value


def _datapath(name: str, value: Any) -> dict[str, str]:
    """``{"DataStoreName": ..., "RelativePath": ...}`` (Azure's form) as this provider's DataPath value."""
    where = f"DataPathAssignments.{name}"
    if not isinstance(value, dict):
        raise RequestError(f"{where} must be an object with DataStoreName and RelativePath", field=where)
    store, path = value.get("DataStoreName"), value.get("RelativePath")
    if not isinstance(store, str) or not store or not isinstance(path, str):
        raise RequestError(f"{where} needs DataStoreName and RelativePath (strings)", field=where)
    return {"datastore": store, "path_on_datastore": path}


def _assignments(body: Mapping[str, Any], known: Mapping[str, ParamInfo], pipeline: str) -> dict[str, Any]:
    """``ParameterAssignments`` and ``DataPathAssignments`` as one ``conf``, every name checked."""
    conf: dict[str, Any] = {}
    for section in ("ParameterAssignments", "DataPathAssignments"):
        for name, value in _object(body, section).items():
            if name not in known:
                close = difflib.get_close_matches(name, list(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise RequestError(
                    f"pipeline {pipeline!r} has no parameter {name!r} "
                    f"(its parameters: {', '.join(known) or 'none'}){hint}",
                    field=f"{section}.{name}",
                )
            if name in conf:
                raise RequestError(f"parameter {name!r} is assigned twice", field=f"{section}.{name}")
            if section == "DataPathAssignments":
                conf[name] = _datapath(name, value)
            else:
                conf[name] = _coerce(name, value, known[name].type)
    return conf


def run_request(body: Any, params: Sequence[ParamInfo], pipeline: str) -> RunRequest:
    """Translate Azure ML's request body into an Airflow trigger, refusing what it cannot honour.

    Unknown fields and parameters are refused by name (with a did-you-mean), never dropped: a caller
    that misspells a parameter would otherwise run with its default and not know it. Values are then
    validated by Airflow against the DAG's Params when the run is created.
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object, got {type(body).__name__}")
    for key in body:
        if key not in REQUEST_FIELDS:
            close = difflib.get_close_matches(key, REQUEST_FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (fields: {', '.join(REQUEST_FIELDS)})"
            raise RequestError(f"unknown field {key!r} in the request body{hint}", field=key)
    conf = _assignments(body, {p.name: p for p in params}, pipeline)
    experiment = body.get("ExperimentName")
    if experiment is not None and not isinstance(experiment, str):
        raise RequestError("ExperimentName must be a string", field="ExperimentName")
    tags = {str(k): str(v) for k, v in _object(body, "Tags").items()}
    description = body.get("Description")
    if description is not None and not isinstance(description, str):
        raise RequestError("Description must be a string", field="Description")
    note = " ".join(
        part
        for part in (
            f"Submitted to published pipeline {pipeline!r}",
            f"(experiment {experiment!r})." if experiment else ".",
            description or "",
            f"Tags: {json.dumps(tags, sort_keys=True)}" if tags else "",
        )
        if part
    )
    version = body.get("PipelineVersion")
    return RunRequest(conf, note, experiment, tags, None if version is None else str(version))
