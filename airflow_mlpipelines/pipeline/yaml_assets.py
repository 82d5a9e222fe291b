"""YAML schema of the asset and datastore-watch forms of ``schedule:`` (pydantic), and their conversion."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from airflow_mlpipelines.pipeline.assets import (
    DEFAULT_POLLING_MINUTES,
    AssetSchedule,
    DatastoreWatch,
    datastore_watch,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from airflow_mlpipelines.exceptions import SourceLocation


class _StrictSchedule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AssetScheduleModel(_StrictSchedule):
    """``schedule: {assets: [...]}``: run when every listed asset has been updated since the last run."""

    assets: list[str] = Field(
        description="URIs, absolute paths, <datastore>:<path> or <pipeline>.<step>.<output>"
    )


class DatastoreWatchModel(_StrictSchedule):
    """``schedule: {datastore: ...}``: run when a file is added or changed in a datastore folder (Azure
    ML's datastore schedule; ``polling_interval`` in minutes, as there)."""

    datastore: str
    path_on_datastore: str | None = None
    polling_interval: PositiveFloat = DEFAULT_POLLING_MINUTES
    data_path_parameter_name: str | None = None


SCHEDULE_KEYS = list(dict.fromkeys([*AssetScheduleModel.model_fields, *DatastoreWatchModel.model_fields]))
"""Known keys of a ``schedule:`` mapping (for did-you-mean hints)."""


def schedule_spec(
    model: object, where: Callable[[tuple[object, ...]], SourceLocation]
) -> str | AssetSchedule | DatastoreWatch | None:
    """The model's form of a validated ``schedule:`` value; ``where(keys)`` locates a key under it."""
    if isinstance(model, AssetScheduleModel):
        return AssetSchedule(
            assets=tuple(model.assets),
            locations=tuple(where(("assets", i)) for i in range(len(model.assets))),
        )
    if isinstance(model, DatastoreWatchModel):
        return datastore_watch(
            model.datastore,
            model.path_on_datastore,
            model.polling_interval,
            model.data_path_parameter_name,
            location=where(()),
        )
    return model if isinstance(model, str) else None
