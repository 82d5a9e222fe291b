"""Cross-field rules of a whole pipeline; every error names file:line, step and field."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from airflow_mlpipelines.exceptions import DefinitionError, Problems, SourceLocation, did_you_mean
from airflow_mlpipelines.pipeline.assets import check_schedule
from airflow_mlpipelines.pipeline.compute import check_compute
from airflow_mlpipelines.pipeline.eps import check_ports
from airflow_mlpipelines.pipeline.graph import topological_order, upstream_map
from airflow_mlpipelines.pipeline.model import (
    DEFAULT_DATASTORE,
    DatasetSpec,
    DatastoreSpec,
    ParameterSpec,
    PipelineSpec,
    StepSpec,
    TaskSettings,
)
from airflow_mlpipelines.pipeline.parallel import check_parallel
from airflow_mlpipelines.pipeline.transfer import check_transfers, contained, transfer_sources

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_mlpipelines.pipeline.assets import AssetSchedule, DatastoreWatch
    from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec, EnvironmentSpec
    from airflow_mlpipelines.pipeline.recurrence import Recurrence

_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
"""Step, output and pipeline names become Airflow task/DAG ids, so they follow Airflow's key rule."""


def check_name(
    name: str, *, what: str, location: SourceLocation | None, step: str | None = None, field: str = "name"
) -> None:
    """Reject names Airflow cannot use as ids (spaces, slashes, empty)."""
    if not isinstance(name, str) or not _NAME.match(name) or len(name) > 200:
        raise DefinitionError(
            f"invalid {what} name {name!r}",
            location=location,
            step=step,
            field=field,
            hint="use letters, digits, '_', '-' and '.', starting with a letter, digit or '_'",
        )


def _check_unique_steps(steps: Sequence[StepSpec], problems: Problems) -> None:
    seen: dict[str, StepSpec] = {}
    for step in steps:
        with problems.each():
            check_name(step.name, what="step", location=step.location, step=step.name)
        names: set[str] = set()
        for out in step.outputs:
            with problems.each():
                # An output name is a folder name under the step's output root: no '/' or '..'.
                check_name(out.name, what="output", location=step.location, step=step.name, field="outputs")
                if out.name in names:
                    raise DefinitionError(
                        f"output '{out.name}' is declared twice in this step",
                        location=step.location,
                        step=step.name,
                        field="outputs",
                        hint="give each output its own name",
                    )
            names.add(out.name)
        with problems.each():
            if step.name in seen:
                first = seen[step.name]
                raise DefinitionError(
                    f"duplicate step name '{step.name}' (first defined at {first.location or 'unknown'})",
                    location=step.location,
                    step=step.name,
                    field="name",
                    hint="every step needs a unique name",
                )
            seen[step.name] = step


def _check_refs(step: StepSpec, parameters: Sequence[ParameterSpec], problems: Problems) -> None:
    params = [p.name for p in parameters]
    outputs = [o.name for o in step.outputs]
    what, key = ("word", "command") if step.kind == "command" else ("argument", "arguments")
    for i, arg in enumerate(step.arguments):
        for ref in arg.refs:
            pool = {"input": list(step.inputs), "output": outputs, "parameter": params}[ref.kind]
            if ref.name not in pool:
                problems.found.append(
                    DefinitionError(
                        f"{what} {i} refers to unknown {ref.kind} '{ref.name}'",
                        location=step.location,
                        step=step.name,
                        field=f"{key}[{i}]",
                        hint=did_you_mean(ref.name, pool)
                        or f"known {ref.kind}s: {', '.join(pool) or 'none'}",
                    )
                )


def _check_datastores(
    steps: Sequence[StepSpec],
    datasets: Sequence[DatasetSpec],
    datastores: Sequence[DatastoreSpec],
    problems: Problems,
) -> None:
    known = [DEFAULT_DATASTORE, *(d.name for d in datastores)]
    sql = {d.name for d in datastores if d.is_sql}
    transferred = transfer_sources(steps)
    for ds in datasets:
        with problems.each():
            if ds.datastore in sql and ds.name not in transferred:
                raise DefinitionError(
                    f"dataset '{ds.name}' is on SQL datastore '{ds.datastore}', which has no files",
                    location=ds.location,
                    field="datastore",
                    hint="copy the table to files with a data_transfer step and consume its output",
                )
            if ds.kind == "model":
                continue  # a registered model: no paths, found in the registry when the step runs
            if len(ds.paths) != 1:
                raise DefinitionError(
                    f"dataset '{ds.name}' has {len(ds.paths)} paths; one file or folder per dataset is "
                    "supported",
                    location=ds.location,
                    field="path",
                    hint="point the dataset at the folder that holds the files",
                )
            if ds.datastore not in known:
                raise DefinitionError(
                    f"dataset '{ds.name}' uses unknown datastore '{ds.datastore}'",
                    location=ds.location,
                    field="datastore",
                    hint=did_you_mean(ds.datastore, known),
                )
    for step in steps:
        for out in step.outputs:
            if out.datastore in sql and step.transfer is None:
                problems.found.append(
                    DefinitionError(
                        f"output '{out.name}' is on SQL datastore '{out.datastore}', which has no files",
                        location=step.location,
                        step=step.name,
                        field="outputs",
                        hint="write to a file datastore; a data_transfer step can load files into a table",
                    )
                )
            if out.datastore not in known:
                problems.found.append(
                    DefinitionError(
                        f"output '{out.name}' uses unknown datastore '{out.datastore}'",
                        location=step.location,
                        step=step.name,
                        field="outputs",
                        hint=did_you_mean(out.datastore, known),
                    )
                )


def _check_parameters(
    parameters: Sequence[ParameterSpec], source: SourceLocation | None, problems: Problems
) -> None:
    seen: set[str] = set()
    for p in parameters:
        with problems.each():
            check_name(p.name, what="parameter", location=source)
            if p.name in seen:
                raise DefinitionError(f"duplicate parameter '{p.name}'", location=source, field="parameters")
            seen.add(p.name)


def _check_datapaths(
    datasets: Sequence[DatasetSpec], parameters: Sequence[ParameterSpec], problems: Problems
) -> None:
    """A dataset chosen per run names a data path parameter, and its default path stays on its datastore."""
    datapaths = {p.name for p in parameters if p.datapath}
    for ds in datasets:
        if ds.parameter is None:
            continue
        with problems.each():
            if ds.parameter not in datapaths:
                raise DefinitionError(
                    f"dataset '{ds.name}' is chosen by parameter '{ds.parameter}', which is not a data path "
                    "parameter",
                    location=ds.location,
                    field="parameter",
                    hint=did_you_mean(ds.parameter, sorted(datapaths))
                    or "give the parameter a DataPath default",
                )
            if not contained(ds.paths[0] if ds.paths else ""):
                raise DefinitionError(
                    f"parameter '{ds.parameter}': default path {ds.paths[0] if ds.paths else ''!r} must be a "
                    f"relative path inside datastore '{ds.datastore}'",
                    location=ds.location,
                    field="path_on_datastore",
                )


def build_pipeline(
    *,
    name: str,
    steps: Sequence[StepSpec],
    description: str | None = None,
    schedule: str | Recurrence | AssetSchedule | DatastoreWatch | None = None,
    parameters: Sequence[ParameterSpec] = (),
    datastores: Sequence[DatastoreSpec] = (),
    datasets: Sequence[DatasetSpec] = (),
    tags: Sequence[str] = (),
    source: SourceLocation | None = None,
    compute_targets: Sequence[ComputeTargetSpec] = (),
    environments: Sequence[EnvironmentSpec] = (),
    locations: Sequence[tuple[str, SourceLocation]] = (),
    default_args: TaskSettings | None = None,
    max_active_runs: int | None = None,
    catchup: bool = False,
    doc_md: str | None = None,
) -> PipelineSpec:
    """Validate a set of steps as one pipeline and return it with steps in execution order.

    Every independent problem is reported (sorted by line), not only the first: the order of the steps
    is only computed once the steps' references are sound.
    """
    problems = Problems()
    with problems.each():
        check_name(name, what="pipeline", location=source)
    if not steps:
        problems.found.append(
            DefinitionError("a pipeline needs at least one step", location=source, field="steps")
        )
        problems.raise_if_any()
    _check_unique_steps(steps, problems)
    _check_parameters(parameters, source, problems)
    dataset_names = [d.name for d in datasets]
    for step in steps:
        clash = set(dataset_names) & {o.name for o in step.outputs}
        if clash:
            problems.found.append(
                DefinitionError(
                    f"output '{sorted(clash)[0]}' has the same name as a dataset",
                    location=step.location,
                    step=step.name,
                    field="outputs",
                )
            )
        _check_refs(step, parameters, problems)
    _check_datastores(steps, datasets, datastores, problems)
    with problems.each():
        check_schedule(
            name=name,
            schedule=schedule,
            steps=steps,
            parameters=parameters,
            datastores=datastores,
            where=dict(locations).get("schedule", source),
        )
    _check_datapaths(datasets, parameters, problems)
    check_transfers(steps, datastores, datasets, problems)
    check_parallel(steps, datasets, problems)
    with problems.each():
        check_compute(steps, compute_targets, environments)
    with problems.each():
        check_ports(steps, dataset_names)
    upstream: dict[str, tuple[str, ...]] = {}
    with problems.each():
        upstream = upstream_map(steps, dataset_names)
    problems.raise_if_any()
    ordered = topological_order(steps, upstream)
    return PipelineSpec(
        name=name,
        steps=tuple(ordered),
        description=description,
        schedule=schedule,
        parameters=tuple(parameters),
        datastores=tuple(datastores),
        datasets=tuple(datasets),
        tags=tuple(tags),
        source=source,
        compute_targets=tuple(compute_targets),
        environments=tuple(environments),
        locations=tuple(locations),
        default_args=default_args or TaskSettings(),
        max_active_runs=max_active_runs,
        catchup=catchup,
        doc_md=doc_md,
    )


def step_upstream(pipeline: PipelineSpec) -> dict[str, tuple[str, ...]]:
    """Dependencies of every step of an already validated pipeline."""
    return upstream_map(pipeline.steps, [d.name for d in pipeline.datasets])
