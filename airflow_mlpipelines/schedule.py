"""Azure ML's ``Schedule``: a published pipeline's recurring or data-triggered runs, set from a notebook.

``Schedule.create(ws, name, pipeline_id, experiment_name, recurrence=ScheduleRecurrence(...))`` stores the
schedule for the published pipeline's DAG through the plugin's JSON API — the same record the plugin's
Schedules page edits, which the DAG factory reads when it parses the definition (the definition file is
never rewritten). ``datastore=``/``path_on_datastore=`` make it a data-triggered schedule instead.
A DAG has one schedule in Airflow, so a pipeline has at most one active ``Schedule``: creating a second
one for the same pipeline is refused, naming the first (update or disable it).
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from airflow_mlpipelines.experiment import AirflowTarget, SubmitError
from airflow_mlpipelines.published import PublishedPipeline, _request

if TYPE_CHECKING:
    import builtins

_RECURRENCE_FIELDS = (
    "frequency",
    "interval",
    "start_time",
    "time_zone",
    "hours",
    "minutes",
    "week_days",
    "time_of_day",
)


def recurrence_form(recurrence: Any) -> dict[str, Any]:
    """A ``ScheduleRecurrence`` as the mapping a definition's ``schedule:`` takes (unset fields left out)."""
    form: dict[str, Any] = {}
    for name in _RECURRENCE_FIELDS:
        value = getattr(recurrence, name, None)
        if value is None or value == []:
            continue
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif hasattr(value, "value"):  # an enum (TimeZone, Frequency)
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        form[name] = value
    return form


def watch_form(
    datastore: Any, path_on_datastore: str | None, polling_interval: float, parameter: str | None
) -> dict[str, Any]:
    """A data-triggered schedule as the mapping a definition's ``schedule:`` takes.

    ``polling_interval`` is in minutes, as in SDK v1.
    """
    name = getattr(datastore, "name", datastore)
    form: dict[str, Any] = {
        "datastore": str(name),
        "path_on_datastore": path_on_datastore or "",
        "polling_interval": polling_interval,
    }
    if parameter:
        form["data_path_parameter_name"] = parameter
    return form


class Schedule:
    """One pipeline's schedule: ``id``, ``name``, ``pipeline_id``, ``status``, ``recurrence`` or datastore."""

    def __init__(self, workspace: Any, data: dict[str, Any]) -> None:
        self._workspace = workspace
        self._data = data

    @property
    def id(self) -> str:
        """The schedule's id (``Schedule.get`` takes it)."""
        return str(self._data.get("Id") or "")

    @property
    def name(self) -> str | None:
        """The name given to ``create``."""
        return self._data.get("Name")

    @property
    def pipeline_id(self) -> str | None:
        """The published pipeline it runs."""
        return self._data.get("PipelineId")

    @property
    def status(self) -> str:
        """``Active`` or ``Disabled``."""
        return str(self._data["Status"])

    @property
    def description(self) -> str | None:
        """The description given to ``create``."""
        return self._data.get("Description")

    @property
    def schedule(self) -> Any:
        """The stored schedule, in the definition's form (a recurrence or datastore mapping, or a string)."""
        return self._data.get("Schedule")

    @property
    def recurrence(self) -> dict[str, Any] | None:
        """The recurrence mapping (None for a data-triggered schedule)."""
        value = self.schedule
        return value if isinstance(value, dict) and "frequency" in value else None

    @property
    def datastore_name(self) -> str | None:
        """The watched datastore of a data-triggered schedule."""
        value = self.schedule
        return value.get("datastore") if isinstance(value, dict) else None

    @property
    def path_on_datastore(self) -> str | None:
        """The watched path of a data-triggered schedule."""
        value = self.schedule
        return value.get("path_on_datastore") if isinstance(value, dict) else None

    @property
    def polling_interval(self) -> float | None:
        """Minutes between polls of a data-triggered schedule."""
        value = self.schedule
        return value.get("polling_interval") if isinstance(value, dict) else None

    @property
    def data_path_parameter_name(self) -> str | None:
        """The parameter a data-triggered run gets the changed path in."""
        value = self.schedule
        return value.get("data_path_parameter_name") if isinstance(value, dict) else None

    @property
    def next_run(self) -> str | None:
        """When Airflow will start the next scheduled run (ISO 8601), once the DAG is parsed again."""
        return self._data.get("NextRun")

    @classmethod
    def create(
        cls,
        workspace: Any,
        name: str,
        pipeline_id: str,
        experiment_name: str,
        recurrence: Any = None,
        description: str | None = None,
        pipeline_parameters: dict[str, Any] | None = None,
        wait_for_provisioning: bool = False,
        wait_timeout: int = 3600,
        datastore: Any = None,
        polling_interval: float = 5,
        data_path_parameter_name: str | None = None,
        continue_on_step_failure: bool | None = None,
        path_on_datastore: str | None = None,
        **_kwargs: Any,
    ) -> Schedule:
        """Schedule published pipeline ``pipeline_id``: by ``recurrence``, or on changes in ``datastore``."""
        if (recurrence is None) == (datastore is None):
            raise SubmitError("Schedule.create needs exactly one of recurrence= and datastore=")
        pipeline = PublishedPipeline.get(workspace, pipeline_id)
        for existing in cls.list(workspace, active_only=True):
            # One schedule per DAG; one set in the Schedules page (no name) is replaced.
            if existing._data.get("DagId") == pipeline.dag_id and existing.name not in (None, name):
                raise SubmitError(
                    f"pipeline '{pipeline.name}' already has schedule {existing.name!r} (id {existing.id}): "
                    "an Airflow DAG has one schedule; update or disable that one"
                )
        form = (
            recurrence_form(recurrence)
            if recurrence is not None
            else watch_form(datastore, path_on_datastore, polling_interval, data_path_parameter_name)
        )
        body = {
            "schedule": form,
            "name": name,
            "schedule_id": str(uuid.uuid4()),
            "pipeline_id": pipeline_id,
            "experiment_name": experiment_name,
            "description": description,
            "pipeline_parameters": dict(pipeline_parameters or {}),
        }
        return cls._put(workspace, pipeline.dag_id, body, f"creating schedule {name!r}")

    @classmethod
    def _put(cls, workspace: Any, dag_id: str, body: dict[str, Any], what: str) -> Schedule:
        target = AirflowTarget.of(workspace)
        data = _request(
            target.client(), target.url, "PUT", f"/schedules/{quote(dag_id, safe='')}", what, body
        )
        return cls(workspace, data)

    @classmethod
    def list(
        cls, workspace: Any, active_only: bool = True, pipeline_id: str | None = None, **_kwargs: Any
    ) -> builtins.list[Schedule]:
        """The schedules of pipelines this user may read (of one published pipeline if given)."""
        target = AirflowTarget.of(workspace)
        found = _request(target.client(), target.url, "GET", "/schedules", "listing schedules")
        return [
            cls(workspace, d)
            for d in found
            if (not active_only or d["Status"] == "Active")
            and (pipeline_id is None or d["PipelineId"] == pipeline_id)
        ]

    @classmethod
    def get(cls, workspace: Any, id: str, **_kwargs: Any) -> Schedule:
        """The schedule ``id``."""
        for schedule in cls.list(workspace, active_only=False):
            if schedule.id == id:
                return schedule
        raise SubmitError(f"no schedule with id {id!r}")

    @classmethod
    def get_schedules_for_pipeline_id(
        cls, workspace: Any, pipeline_id: str, **_kwargs: Any
    ) -> builtins.list[Schedule]:
        """Every schedule of one published pipeline."""
        return cls.list(workspace, active_only=False, pipeline_id=pipeline_id)

    def _dag(self) -> str:
        return str(self._data["DagId"])

    def disable(self, wait_for_provisioning: bool = False, wait_timeout: int = 3600) -> None:
        """Stop the scheduled runs (the DAG then has no schedule; triggered runs still start)."""
        self._action("disable")

    def enable(self, wait_for_provisioning: bool = False, wait_timeout: int = 3600) -> None:
        """Resume the scheduled runs."""
        self._action("enable")

    def _action(self, action: str) -> None:
        target = AirflowTarget.of(self._workspace)
        path = f"/schedules/{quote(self._dag(), safe='')}/{action}"
        self._data = _request(target.client(), target.url, "POST", path, f"{action} schedule {self.name!r}")

    def update(
        self,
        name: str | None = None,
        description: str | None = None,
        recurrence: Any = None,
        pipeline_parameters: dict[str, Any] | None = None,
        status: str | None = None,
        datastore: Any = None,
        polling_interval: float | None = None,
        data_path_parameter_name: str | None = None,
        path_on_datastore: str | None = None,
        **_kwargs: Any,
    ) -> None:
        """Change what is given; the rest stays (recorded with who and when, like a change in the page)."""
        schedule = self.schedule
        if recurrence is not None:
            schedule = recurrence_form(recurrence)
        elif datastore is not None or any(
            v is not None for v in (polling_interval, data_path_parameter_name, path_on_datastore)
        ):
            old = schedule if isinstance(schedule, dict) and "datastore" in schedule else {}
            schedule = watch_form(
                datastore if datastore is not None else old.get("datastore"),
                path_on_datastore if path_on_datastore is not None else old.get("path_on_datastore"),
                polling_interval if polling_interval is not None else old.get("polling_interval", 5),
                data_path_parameter_name or old.get("data_path_parameter_name"),
            )
        body = {
            "schedule": schedule,
            "name": name or self.name,
            "schedule_id": self.id or None,
            "pipeline_id": self.pipeline_id,
            "experiment_name": self._data.get("ExperimentName"),
            "description": description if description is not None else self.description,
            "pipeline_parameters": dict(
                pipeline_parameters
                if pipeline_parameters is not None
                else self._data.get("PipelineParameters") or {}
            ),
            "status": status or self.status,
        }
        self._data = self._put(self._workspace, self._dag(), body, f"updating schedule {self.name!r}")._data

    def __repr__(self) -> str:
        return f"Schedule(name={self.name!r}, id={self.id!r}, status={self.status!r})"
