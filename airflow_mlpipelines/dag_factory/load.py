"""Entry points called from DAG files in ``dags/``: one small stub per definition, or one folder loader.

Airflow 3 drops *every* DAG of a file whose import raises, so isolation needs one DAG file per
definition: :func:`load_pipeline` is called from a stub ``<name>.py`` and loads ``<name>.yaml`` (or
``.yml``/``.py``) beside it or in ``definitions/``. A broken definition then shows up as an Airflow
import error on that stub alone, naming the definition's file:line, step and field, while every
other pipeline keeps loading. ``mlpipelines stubs`` writes and checks these stubs.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.dag_factory.overrides import with_stored_schedule
from airflow_mlpipelines.dag_factory.render import render_pipeline
from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesError, SourceLocation
from airflow_mlpipelines.pipeline import load_definition
from airflow_mlpipelines.pipeline.sources import check_sources
from airflow_mlpipelines.pipeline.yaml_loader import YAML_SUFFIXES

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from airflow.sdk import DAG

log = logging.getLogger(__name__)

DEFINITIONS_SUBDIR = "definitions"
DEFINITION_SUFFIXES = (*YAML_SUFFIXES, ".py")


def find_definition(stub_file: str) -> str:
    """Return the definition a stub stands for: ``<stem>.yaml|.yml`` beside it, or in ``definitions/``."""
    folder, base = os.path.split(os.path.abspath(stub_file))
    stem = os.path.splitext(base)[0]
    candidates = [os.path.join(folder, stem + s) for s in YAML_SUFFIXES]
    candidates += [os.path.join(folder, DEFINITIONS_SUBDIR, stem + s) for s in DEFINITION_SUFFIXES]
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    raise DefinitionError(
        f"no definition found for DAG file {base}",
        location=SourceLocation(stub_file),
        hint="expected one of: " + ", ".join(os.path.relpath(c, folder) for c in candidates),
    )


def _register(namespace: MutableMapping[str, Any], definition: str) -> list[DAG]:
    specs = load_definition(definition)
    for spec in specs:
        check_sources(spec)  # a missing script fails here, as this file's import error, not at run time
    # A schedule set in the plugin's page or with Schedule.create is read here, at parse time.
    dags = [render_pipeline(with_stored_schedule(spec)) for spec in specs]
    for dag in dags:
        namespace[f"dag_{dag.dag_id}"] = dag
    return dags


def load_pipeline(
    namespace: MutableMapping[str, Any], stub_file: str, definition: str | None = None
) -> list[DAG]:
    """Render the definition behind ``stub_file`` into DAGs and put them in the stub's ``globals()``.

    Errors propagate on purpose: Airflow records them as this file's import error.
    """
    path = definition if definition is not None else find_definition(stub_file)
    if not os.path.isabs(path):
        path = os.path.join(os.path.dirname(os.path.abspath(stub_file)), path)
    return _register(namespace, path)


def list_definitions(folder: str) -> list[str]:
    """Definition files directly inside ``folder`` (YAML and Python), sorted."""
    return sorted(
        os.path.join(folder, name)
        for name in os.listdir(folder)
        if name.endswith(DEFINITION_SUFFIXES) and not name.startswith(("_", "."))
    )


def load_pipelines(namespace: MutableMapping[str, Any], folder: str, *, strict: bool = True) -> list[DAG]:
    """Render every definition in ``folder`` from one DAG file.

    With ``strict`` (the default) any broken definition makes this file raise an import error that
    lists every broken definition -- which, because Airflow drops all DAGs of a failing file, also
    hides the good ones. With ``strict=False`` good pipelines load and broken ones are only logged by
    the DAG processor. Prefer one stub per definition (:func:`load_pipeline`) for isolation with
    visible errors.
    """
    dags: list[DAG] = []
    errors: list[str] = []
    for path in list_definitions(folder):
        try:
            dags += _register(namespace, path)
        except MLPipelinesError as exc:
            errors.append(str(exc))
            log.error("Pipeline definition %s is invalid: %s", path, exc)
    if errors and strict:
        raise DefinitionError(
            f"{len(errors)} pipeline definition(s) in {folder} are invalid:\n" + "\n".join(errors),
            hint="use one stub per definition (mlpipelines stubs) so the other pipelines keep loading",
        )
    return dags
