"""A datastore path chosen per run: SDK v1's ``PipelineParameter(name, default_value=DataPath(...))``.

In the model such a parameter is an ordinary :class:`~airflow_mlpipelines.pipeline.model.ParameterSpec`
with ``datapath=True`` whose default is ``{"datastore": ..., "path_on_datastore": ...}``, and the input
it feeds is a :class:`~airflow_mlpipelines.pipeline.model.DatasetSpec` with ``parameter`` set to the
parameter's name (its ``datastore``/``paths`` are the default's). A run's ``conf`` gives the value in
either form:

- ``{"datastore": "lake", "path_on_datastore": "raw/2024-06"}`` (SDK v1's ``DataPath`` fields), or
- ``"lake/raw/2024-06"`` (datastore name, a slash, the path on it).

The rendered Airflow ``Param`` carries :func:`datapath_schema` (the datastore must be one the pipeline
declares), so a bad value is refused when the run is triggered; :func:`parse_datapath` checks it again at
run time (a value can also come from a hand-written trigger), and also refuses paths that leave the
datastore. The step's input is staged from the chosen path, and fingerprinted by its content.

Loaders (the SDK's ``DataPath``, a YAML loader) build the model with :func:`datapath_parameter` and
:func:`datapath_dataset`. Pure: no I/O.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.pipeline.model import DEFAULT_DATASTORE, DatasetSpec, ParameterSpec
from airflow_mlpipelines.pipeline.transfer import contained

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_mlpipelines.exceptions import SourceLocation
    from airflow_mlpipelines.pipeline.model import DatastoreSpec

DATASTORE_KEY = "datastore"
PATH_KEY = "path_on_datastore"


def datapath_value(datastore: str, path_on_datastore: str) -> dict[str, str]:
    """The JSON value of a data path parameter (what ``conf`` gives and the default is)."""
    return {DATASTORE_KEY: datastore, PATH_KEY: path_on_datastore}


def datapath_parameter(
    name: str, datastore: str, path_on_datastore: str, description: str | None = None
) -> ParameterSpec:
    """The model of a data path parameter whose default is ``datastore``/``path_on_datastore``."""
    return ParameterSpec(
        name,
        datapath_value(datastore, path_on_datastore),
        type="object",
        description=description
        or "a path on a datastore: {datastore, path_on_datastore} or 'datastore/path'",
        datapath=True,
    )


def datapath_dataset(
    input_name: str,
    parameter: str,
    datastore: str,
    path_on_datastore: str,
    mode: str = "mount",
    location: SourceLocation | None = None,
) -> DatasetSpec:
    """The input a data path parameter feeds (``mode``: DataPathComputeBinding's ``mount``/``download``)."""
    return DatasetSpec(
        name=input_name,
        datastore=datastore,
        paths=(path_on_datastore,),
        mode="download" if mode == "download" else "direct",
        kind="file",
        location=location,
        parameter=parameter,
    )


def file_datastores(declared: Sequence[DatastoreSpec]) -> list[str]:
    """The datastores a data path may name: the default one and every declared file datastore."""
    return list(dict.fromkeys([DEFAULT_DATASTORE, *(d.name for d in declared if not d.is_sql)]))


def datapath_schema(datastores: Sequence[str]) -> dict[str, Any]:
    """The JSON schema of a data path value (the Airflow ``Param``): one of the two forms, on one of
    ``datastores``; paths must be relative (no leading slash, no ``..`` segment)."""
    names = sorted(dict.fromkeys(datastores))
    relative = {"type": "string", "minLength": 1, "not": {"pattern": r"^/|(^|/)\.\.(/|$)|://"}}
    alternatives = "|".join(re.escape(n) for n in names)
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {DATASTORE_KEY: {"type": "string", "enum": names}, PATH_KEY: relative},
                "required": [DATASTORE_KEY, PATH_KEY],
                "additionalProperties": False,
            },
            {
                "type": "string",
                "pattern": rf"^({alternatives})/[^/]",
                "not": {"pattern": r"(^|/)\.\.(/|$)|://"},
            },
        ]
    }


def parse_datapath(value: object, datastores: Sequence[str]) -> tuple[str, str]:
    """``(datastore, path)`` of a run's value; :class:`ValueError` with a message in the user's terms."""
    if isinstance(value, dict):
        unknown = sorted(set(value) - {DATASTORE_KEY, PATH_KEY})
        if unknown or DATASTORE_KEY not in value or PATH_KEY not in value:
            raise ValueError(
                f"{value!r} must have exactly the keys '{DATASTORE_KEY}' and '{PATH_KEY}'"
                + (f" (unknown: {', '.join(map(str, unknown))})" if unknown else "")
            )
        store, path = value[DATASTORE_KEY], value[PATH_KEY]
    elif isinstance(value, str):
        store, _, path = value.partition("/")
        if not path:
            raise ValueError(f"{value!r} must be 'datastore/path/on/datastore'")
    else:
        raise ValueError(
            f"{value!r} must be {{'{DATASTORE_KEY}': ..., '{PATH_KEY}': ...}} or 'datastore/path/on/store'"
        )
    if not isinstance(store, str) or store not in datastores:
        raise ValueError(
            f"datastore {store!r} is not one of the pipeline's ({', '.join(sorted(datastores))})"
        )
    inside = contained(path) if isinstance(path, str) else None
    if not inside:
        raise ValueError(f"path {path!r} must be a relative path inside datastore '{store}'")
    return store, inside
