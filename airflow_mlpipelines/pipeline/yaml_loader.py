"""Load a YAML pipeline definition into the pure model, with file:line, step and field on every error.

The loader is a plain function from a path to a :class:`PipelineSpec` so that it can later be
registered as an Airflow DAG importer (AIP-85) without changes.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import warnings
from typing import TYPE_CHECKING, Any

import yaml
from pydantic import ValidationError

from airflow_mlpipelines.exceptions import (
    DefinitionError,
    MLPipelinesWarning,
    Problems,
    ScheduleError,
    SourceLocation,
    did_you_mean,
)
from airflow_mlpipelines.pipeline import command, eps, parallel, transfer
from airflow_mlpipelines.pipeline.model import (
    DEFAULT_DATASTORE,
    LOCAL_COMPUTE,
    ArgPart,
    Argument,
    ComputeSpec,
    DatasetSpec,
    DatastoreSpec,
    NotifierSpec,
    OutputSpec,
    ParameterSpec,
    PipelineSpec,
    Ref,
    ReferenceType,
    StepSpec,
    TaskSettings,
    TransferEndpoint,
    infer_param_type,
)
from airflow_mlpipelines.pipeline.recurrence import Recurrence, make_recurrence
from airflow_mlpipelines.pipeline.validate import build_pipeline, check_name
from airflow_mlpipelines.pipeline.yaml_assets import schedule_spec
from airflow_mlpipelines.pipeline.yaml_compute import (
    EnvironmentModel,
    environment_spec,
    inline_environment_name,
    target_spec,
)
from airflow_mlpipelines.pipeline.yaml_schema import (
    KEYS_BY_SECTION,
    ArgumentValue,
    CommandStepModel,
    DatasetModel,
    DatastoreModel,
    DataTransferStepModel,
    DefaultArgsModel,
    ExecutePythonScriptStepModel,
    ModelInputModel,
    OutputModel,
    ParallelRunStepModel,
    ParameterModel,
    PipelineModel,
    RecurrenceModel,
    StepModel,
    TransferEndpointModel,
    _TaskSettingsFields,
)

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.assets import AssetSchedule, DatastoreWatch

YAML_SUFFIXES = (".yaml", ".yml")
_INLINE_REF = re.compile(r"\$\{\{\s*(inputs|outputs|parameters)\.([A-Za-z0-9_.-]+)\s*\}\}")
_REF_KINDS = {"inputs": "input", "outputs": "output", "parameters": "parameter"}
_NESTED_SECTIONS = {
    "outputs": "outputs",
    "tolerations": "tolerations",
    "volumes": "volumes",
    "secrets": "secrets",
    "environment": "environments",
    "source": "source",
    "destination": "destination",
    "default_args": "default_args",
    "on_failure_notifiers": "on_failure_notifiers",
    "source_data_reference": "source",
    "destination_data_reference": "destination",
}


class _LineDict(dict[Any, Any]):
    """A mapping that remembers the line of itself and of each key (1-based)."""

    line: int = 0
    key_lines: dict[Any, int]


_SafeLoaderBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""libyaml's C loader when PyYAML has it (about 10x faster: parsing runs every time Airflow re-parses)."""


class _Loader(_SafeLoaderBase):  # type: ignore[misc]
    """The safe loader (C when available); :class:`_Converter` builds the values."""


_STR, _SEQ, _MAP = (f"tag:yaml.org,2002:{t}" for t in ("str", "seq", "map"))


class _Converter:
    """Turn a composed YAML node tree into Python values, keeping line numbers on every mapping.

    A direct walk over the nodes libyaml composed is several times faster than PyYAML's generic
    constructor, and the DAG processor pays this on every re-parse. Nodes are memoised so aliases
    cost nothing extra (no "billion laughs"); tags other than plain str/seq/map go through the safe
    constructor, which rejects anything unsafe.
    """

    def __init__(self, loader: _Loader, path: str) -> None:
        self.loader = loader
        self.path = path
        self.done: dict[int, Any] = {}

    def convert(self, node: yaml.Node) -> Any:
        if node.tag == _STR:
            return node.value
        key = id(node)
        if key in self.done:
            return self.done[key]
        if node.tag == _SEQ:
            value: Any = [self.convert(item) for item in node.value]
        elif node.tag == _MAP:
            value = self._mapping(node)  # type: ignore[arg-type]
        else:
            value = self.loader.construct_object(node, deep=True)
        self.done[key] = value
        return value

    def _mapping(self, node: yaml.MappingNode) -> _LineDict:
        self.loader.flatten_mapping(node)
        result = _LineDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.convert(key_node)
            if key in result:
                raise DefinitionError(
                    f"duplicate key '{key}' (first at line {result.key_lines[key]})",
                    location=SourceLocation(self.path, key_node.start_mark.line + 1),
                    field=str(key),
                )
            result[key] = self.convert(value_node)
            result.key_lines[key] = key_node.start_mark.line + 1
        return result


def read_yaml(path: str) -> Any:
    """Parse YAML safely, turning syntax errors into :class:`DefinitionError` with the line."""
    try:
        with open(path, encoding="utf-8") as fh:
            loader = _Loader(fh)
            try:
                node = loader.get_single_node()
                return None if node is None else _Converter(loader, path).convert(node)
            finally:
                loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise DefinitionError(
            f"invalid YAML: {exc.problem or exc}", location=SourceLocation(path, line)
        ) from None
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except OSError as exc:
        raise DefinitionError(
            f"cannot read definition: {exc.strerror}", location=SourceLocation(path)
        ) from None


def _not_utf8(path: str) -> DefinitionError:
    """Where the first byte that is not UTF-8 is (the decoder's own offset, in the whole file)."""
    with open(path, "rb") as fh:
        raw = fh.read()
    try:
        raw.decode("utf-8")
        position = 0
    except UnicodeDecodeError as exc:
        position = exc.start
    line = raw[:position].count(b"\n") + 1
    column = position - (raw.rfind(b"\n", 0, position) + 1) + 1
    return DefinitionError(
        f"the definition is not valid UTF-8: byte 0x{raw[position]:02x} at line {line}, column {column}",
        location=SourceLocation(path, line),
        hint="save the file as UTF-8 (YAML definitions are read as UTF-8)",
    )


def _locate(data: Any, loc: tuple[Any, ...]) -> tuple[int | None, str | None]:
    """Return (line, step name) for a pydantic error location inside the YAML document."""
    line: int | None = getattr(data, "line", None)
    step: str | None = None
    node = data
    for i, key in enumerate(loc):
        if isinstance(node, _LineDict):
            line = node.key_lines.get(key, node.line)
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
            line = getattr(node, "line", line)
            if loc[:1] == ("steps",) and i == 1 and isinstance(node, dict):
                name = node.get("name")
                # A step without a usable name is named by its position, never by a repr.
                step = name if isinstance(name, str) and name else f"#{key + 1}"
        else:
            break
    return line, step


def _data_loc(data: Any, loc: tuple[Any, ...], missing: bool) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """Drop the union-member tags pydantic puts in error locations (``str``, ``OutputModel``, ...).

    Returns the location in the document and the error's site (the location up to the first tag),
    so that the failures of every member of one union count as one problem.
    """
    kept: list[Any] = []
    site: tuple[Any, ...] | None = None
    node = data
    for i, key in enumerate(loc):
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        elif not (missing and i == len(loc) - 1):
            site = tuple(kept) if site is None else site
            continue
        kept.append(key)
    return tuple(kept), tuple(kept) if site is None else site


_CLASS_NAMES = re.compile(r" or instance of \w+")


def _user_terms(message: str) -> str:
    """Pydantic's wording without our class names ("valid dictionary or instance of DatasetModel")."""
    return _CLASS_NAMES.sub("", message)


def _bad_reference(value: Any) -> bool:
    """``{output: true}``, ``{input: [x]}``: a reference mapping whose name is not a name."""
    return (
        isinstance(value, dict)
        and len(value) == 1
        and next(iter(value)) in ("input", "output", "parameter")
        and not isinstance(next(iter(value.values())), str)
    )


def _problem(path: str, data: Any, err: Any, loc: tuple[Any, ...]) -> DefinitionError:
    """One schema problem as a :class:`DefinitionError` at its line, step and field."""
    line, step = _locate(data, loc)
    field = ".".join(str(p) for p in loc if not isinstance(p, int)) or None
    if loc and loc[0] == "steps" and len(loc) > 2:
        field = ".".join(str(p) if not isinstance(p, int) else f"[{p}]" for p in loc[2:]).replace(".[", "[")
    hint = None
    if err["type"] == "extra_forbidden":
        section = str(loc[0]) if len(loc) > 1 else ""
        nested = [_NESTED_SECTIONS[str(k)] for k in loc[:-1] if str(k) in _NESTED_SECTIONS]
        section = nested[-1] if nested else section
        message = f"unknown key '{loc[-1]}'"
        hint = did_you_mean(str(loc[-1]), KEYS_BY_SECTION.get(section, []))
    elif err["type"] == "missing":
        message = f"missing required key '{loc[-1]}'"
    elif _bad_reference(err.get("input")):
        ((kind, value),) = err["input"].items()
        shown = json.dumps(value) if value is None or isinstance(value, bool | int | float) else repr(value)
        message = (
            f"{{{kind}: {shown}}} is not a reference: '{kind}' must be followed by the name of an {kind}"
        )
    else:
        message = f"{_user_terms(err['msg'])} (got {err.get('input')!r})"
        if err["type"] == "literal_error" and loc[:1] == ("schedule",):
            # A misspelt frequency or week day: name the closest of the literal's values.
            hint = did_you_mean(str(err.get("input")), re.findall(r"'([^']*)'", err["ctx"]["expected"]))
    return DefinitionError(message, location=SourceLocation(path, line), step=step, field=field, hint=hint)


def _from_validation_error(path: str, data: Any, exc: ValidationError) -> DefinitionError:
    """Every schema problem of the file, one per place (the failures of one union's members count once);
    the first is the error's own location, step and field."""
    errors = exc.errors()
    where = [_data_loc(data, tuple(e["loc"]), e["type"] == "missing") for e in errors]
    # Of one place's failures (a union's members), a misspelt key says most (its hint names the right
    # one), then a missing key, then anything else ("not a string").
    rank = {"extra_forbidden": 0, "missing": 1}
    chosen: dict[tuple[Any, ...], int] = {}
    for i, e in enumerate(errors):
        site = where[i][1]
        if site not in chosen or rank.get(e["type"], 2) < rank.get(errors[chosen[site]]["type"], 2):
            chosen[site] = i
    problems = [_problem(path, data, errors[i], where[i][0]) for i in chosen.values()]
    first, others = problems[0], problems[1:]
    first.also(others)
    return first


def load_yaml_pipeline(path: str) -> PipelineSpec:
    """Load and validate one YAML definition file: this provider's format, or SDK v1's dialect (a
    top-level ``pipeline:``, see :mod:`airflow_mlpipelines.pipeline.sdk_yaml`)."""
    path = os.path.abspath(path)
    data = read_yaml(path)
    if isinstance(data, dict) and "pipeline" in data:
        # Azure ML SDK v1's own YAML dialect (Pipeline.load_yaml): a file ported as it is.
        from airflow_mlpipelines.pipeline.sdk_yaml import pipeline_from_data

        return pipeline_from_data(path, data)
    if not isinstance(data, dict):
        raise DefinitionError(
            "a pipeline definition must be a YAML mapping", location=SourceLocation(path, 1)
        )
    try:
        model = PipelineModel.model_validate(data)
    except ValidationError as exc:
        raise _from_validation_error(path, data, exc) from None
    return _to_spec(path, data, model)


def _to_spec(path: str, data: Any, model: PipelineModel) -> PipelineSpec:
    base = os.path.dirname(path)
    steps_data = data.get("steps", [])
    steps: list[StepSpec] = []
    step_datasets: list[DatasetSpec] = []
    problems = Problems()
    for i, step in enumerate(model.steps):
        with problems.each():
            if isinstance(step, ExecutePythonScriptStepModel):
                steps.append(_eps_step(path, base, model, step, steps_data[i]))
            elif isinstance(step, ParallelRunStepModel):
                steps.append(_parallel_step(path, base, model, step, steps_data[i]))
            elif isinstance(step, DataTransferStepModel):
                spec, made = _transfer_step(path, base, model, step, getattr(steps_data[i], "line", None))
                steps.append(spec)
                step_datasets.extend(made)
            else:
                steps.append(_step(path, base, model, step, getattr(steps_data[i], "line", None)))
    datastores = []
    for name, d in model.datastores.items():
        with problems.each():
            datastores.append(
                _datastore(name, d, base, SourceLocation(path, _locate(data, ("datastores", name))[0]))
            )
    if len(steps) < len(model.steps):
        problems.raise_if_any()  # a step that did not convert would be reported again as missing
    schedule: str | Recurrence | AssetSchedule | DatastoreWatch | None = None
    with problems.each():
        schedule = _schedule(path, data, model.schedule)
    with problems.each():
        pipeline = build_pipeline(
            name=model.name or os.path.splitext(os.path.basename(path))[0],
            steps=steps,
            description=model.description,
            schedule=schedule,
            parameters=[_parameter(name, p) for name, p in model.parameters.items()],
            datastores=datastores,
            datasets=[
                *(
                    _dataset(name, d, SourceLocation(path, _locate(data, ("datasets", name))[0]))
                    for name, d in model.datasets.items()
                ),
                *step_datasets,
                *_models(path, data, model, problems),
            ],
            tags=model.tags,
            source=SourceLocation(path, getattr(data, "line", 1)),
            locations=[
                (key, SourceLocation(path, line)) for key, line in getattr(data, "key_lines", {}).items()
            ],
            default_args=task_settings(model.default_args),
            max_active_runs=model.max_active_runs,
            catchup=model.catchup,
            doc_md=model.doc_md,
            compute_targets=[
                target_spec(name, t, SourceLocation(path, _locate(data, ("compute_targets", name))[0]))
                for name, t in model.compute_targets.items()
            ],
            environments=[
                *(
                    environment_spec(name, e, SourceLocation(path, _locate(data, ("environments", name))[0]))
                    for name, e in model.environments.items()
                ),
                *(
                    environment_spec(inline_environment_name(s.name), s.environment, SourceLocation(path))
                    for s in model.steps
                    if isinstance(s, StepModel | CommandStepModel)
                    and isinstance(s.environment, EnvironmentModel)
                ),
            ],
        )
    problems.raise_if_any()
    return pipeline


def _schedule(
    path: str, data: Any, value: object
) -> str | Recurrence | AssetSchedule | DatastoreWatch | None:
    """The ``schedule``: a recurrence mapping's rules are checked here, the error at its field's line;
    the asset and datastore-watch forms become theirs (``yaml_assets.schedule_spec``)."""
    if not isinstance(value, RecurrenceModel):
        return schedule_spec(value, lambda keys: SourceLocation(path, _locate(data, ("schedule", *keys))[0]))
    try:
        return make_recurrence(**value.model_dump(exclude_none=True))
    except ScheduleError as exc:
        line = _locate(data, ("schedule", exc.key) if exc.key else ("schedule",))[0]
        raise exc.at(SourceLocation(path, line)) from None


def _datastore(name: str, model: DatastoreModel, base: str, location: SourceLocation) -> DatastoreSpec:
    """A file datastore (``url``) or a SQL one (``connection``): exactly one of the two."""
    if (model.url is None) == (model.connection is None):
        raise DefinitionError(
            f"datastore '{name}' needs either url (files) or connection (a SQL database), not "
            + ("both" if model.url is not None else "neither"),
            location=location,
            field=f"datastores.{name}",
            hint="url: s3://<conn_id>@bucket/prefix or a local path; connection: an Airflow connection id",
        )
    if model.connection is not None:
        return DatastoreSpec(name, connection=model.connection)
    return DatastoreSpec(name, _resolve_url(base, str(model.url)))


def _transfer_step(
    path: str, base: str, model: PipelineModel, step: DataTransferStepModel, line: int | None
) -> tuple[StepSpec, list[DatasetSpec]]:
    """A data transfer step; ``compute`` (Azure Data Factory in SDK v1) is accepted and ignored."""
    location = SourceLocation(path, line)
    if step.compute is not None and step.compute != LOCAL_COMPUTE:
        warnings.warn_explicit(
            f"step '{step.name}': compute_target '{step.compute}' is ignored: a data transfer runs on the "
            "Airflow worker (Azure ML ran it on Data Factory)",
            MLPipelinesWarning,
            path,
            line or 0,
        )
    src, dst = step.source, step.destination

    def bad(field: str, message: str, hint: str | None = None) -> DefinitionError:
        return DefinitionError(message, location=location, step=step.name, field=field, hint=hint)

    if src.output is not None or src.name is not None:
        key = "output" if src.output is not None else "name"
        raise bad(
            f"source.{key}",
            f"'{key}' is for the destination; the source names an input or a path",
            "source: {input: <dataset or output>} or {datastore: ..., path: ...}",
        )
    if dst.input is not None:
        raise bad(
            "destination.input",
            "'input' is for the source; the destination names an output or a path",
            "destination: {output: <name>} or {datastore: ..., path: ...}",
        )
    if src.input is not None and (src.path is not None or _sql(src)):
        raise bad("source.input", "the source names an input and also a path or SQL; give one of them")
    if dst.output is not None and (dst.path is not None or _sql(dst)):
        raise bad("destination.output", "the destination names an output and also a path or SQL; give one")
    source = None if src.input is not None else _endpoint(src, step.source_reference_type)
    destination = _endpoint(dst, step.destination_reference_type)
    spec, datasets = transfer.build_step(
        name=step.name,
        base_dir=base,
        source=source,
        source_input=src.input,
        destination=destination,
        destination_output=dst.output or dst.name,
        destination_fixed=dst.output is None,
        format=step.format,
        reuse_query=step.reuse_query,
        allow_reuse=step.allow_reuse,
        run_after=step.run_after,
        queue=step.queue,
        location=location,
        **_retries(model, step),
    )
    return dataclasses.replace(spec, settings=task_settings(step)), datasets


def _sql(end: TransferEndpointModel) -> bool:
    return any(getattr(end, f) is not None for f in ("sql_table", "sql_query", "sql_stored_procedure"))


def _endpoint(end: TransferEndpointModel, reference_type: ReferenceType | None) -> TransferEndpoint:
    return TransferEndpoint(
        datastore=end.datastore,
        path=end.path,
        sql_table=end.sql_table,
        sql_query=end.sql_query,
        sql_stored_procedure=end.sql_stored_procedure,
        reference_type=end.type or reference_type,
    )


def _resolve_url(base: str, url: str) -> str:
    """A datastore URL without a scheme is a local path relative to the definition file."""
    if "://" in url:
        return url
    return os.path.normpath(os.path.join(base, os.path.expanduser(url)))


def _parameter(name: str, value: ParameterModel | str | int | float | bool | None) -> ParameterSpec:
    if isinstance(value, ParameterModel):
        return ParameterSpec(
            name=name,
            default=value.default,
            type=value.type or infer_param_type(value.default),
            description=value.description,
            enum=tuple(value.enum) if value.enum is not None else None,
            minimum=value.minimum,
            maximum=value.maximum,
        )
    return ParameterSpec(name=name, default=value, type=infer_param_type(value))


def _dataset(name: str, model: DatasetModel, location: SourceLocation) -> DatasetSpec:
    paths = tuple(model.paths or ()) + ((model.path,) if model.path else ())
    if not paths:
        raise DefinitionError(
            "a dataset needs 'path' or 'paths'", location=location, field=f"datasets.{name}.path"
        )
    return DatasetSpec(
        name,
        model.datastore,
        paths,
        model.mode,
        model.kind,
        location,
        partition_format=model.partition_format,
    )


def _models(path: str, data: Any, model: PipelineModel, problems: Problems) -> list[DatasetSpec]:
    """``models:``: registered models consumed as inputs (``name`` or ``name:version`` in short form)."""
    found = []
    for input_name, entry in model.models.items():
        location = SourceLocation(path, _locate(data, ("models", input_name))[0])
        with problems.each():
            if input_name in model.datasets:
                raise DefinitionError(
                    f"'{input_name}' is declared both as a dataset and as a model",
                    location=location,
                    field=f"models.{input_name}",
                    hint="give the model input its own name",
                )
            if isinstance(entry, str):
                name, sep, version = entry.rpartition(":")
                if not sep:
                    name, version = entry, ""
                if version and not version.isdigit():
                    raise DefinitionError(
                        f"model {entry!r}: the version after ':' must be a number",
                        location=location,
                        field=f"models.{input_name}",
                        hint="write 'name' (the latest version) or 'name:3'",
                    )
                entry = ModelInputModel(name=name, version=int(version) if version else None)
            check_name(entry.name, what="model", location=location, field=f"models.{input_name}.name")
            check_name(input_name, what="model input", location=location, field=f"models.{input_name}")
            found.append(
                DatasetSpec(
                    input_name,
                    DEFAULT_DATASTORE,
                    (),
                    kind="model",
                    location=location,
                    model=entry.name,
                    model_version=entry.version,
                )
            )
    return found


def _warn_no_effect(
    step: StepModel | CommandStepModel | ParallelRunStepModel,
    model: PipelineModel,
    path: str,
    line: int | None,
) -> None:
    """An environment on a local step only counts for reuse: say so at its line."""
    compute = step.compute or model.defaults.compute
    target = model.compute_targets.get(compute)
    if step.environment and (target is None or target.kind == "local") and compute == LOCAL_COMPUTE:
        warnings.warn_explicit(
            f"step '{step.name}': environment only counts for reuse on the local target: the worker's "
            "Python runs the script",
            MLPipelinesWarning,
            path,
            line or 0,
        )


def task_settings(model: _TaskSettingsFields) -> TaskSettings:
    """The Airflow task settings a step (or ``default_args``) gives."""
    email = model.email
    extra: dict[str, Any] = {}
    if isinstance(model, DefaultArgsModel):
        extra = {"retries": model.retries, "retry_delay_seconds": model.retry_delay, "queue": model.queue}
    return TaskSettings(
        owner=model.owner,
        retry_exponential_backoff=model.retry_exponential_backoff,
        max_retry_delay_seconds=model.max_retry_delay,
        execution_timeout_seconds=model.execution_timeout,
        pool=model.pool,
        pool_slots=model.pool_slots,
        priority_weight=model.priority_weight,
        email=(email,) if isinstance(email, str) else (tuple(email) if email is not None else None),
        email_on_failure=model.email_on_failure,
        email_on_retry=model.email_on_retry,
        on_failure_notifiers=tuple(
            NotifierSpec(n.class_, tuple(sorted(n.args.items()))) for n in model.on_failure_notifiers
        ),
        **extra,
    )


def _retries(
    model: PipelineModel,
    step: StepModel
    | ExecutePythonScriptStepModel
    | DataTransferStepModel
    | CommandStepModel
    | ParallelRunStepModel,
) -> dict[str, Any]:
    """The step's ``retries`` and ``retry_delay_seconds``, each falling back to ``defaults``."""
    return {
        "retries": step.retries if step.retries is not None else model.defaults.retries,
        "retry_delay_seconds": (
            step.retry_delay_seconds
            if step.retry_delay_seconds is not None
            else model.defaults.retry_delay_seconds
        ),
    }


def _eps_step(
    path: str, base: str, model: PipelineModel, step: ExecutePythonScriptStepModel, data: Any
) -> StepSpec:
    """An Execute Python Script step; an inline script's first line is the line after ``script: |``."""
    line = getattr(data, "line", None)
    script_line = None
    if step.script is not None and isinstance(data, _LineDict):
        key_line = data.key_lines.get("script")
        if key_line is not None:
            script_line = key_line + 1 if "\n" in step.script else key_line
    spec = eps.build_step(
        name=step.name,
        base_dir=base,
        script=step.script,
        script_file=step.script_file,
        bundle=step.bundle,
        dataframe1=step.dataframe1,
        dataframe2=step.dataframe2,
        dataframe_output=step.outputs.dataframe,
        visualizations_output=step.outputs.visualizations,
        allow_reuse=step.allow_reuse,
        run_after=step.run_after,
        version=step.version,
        queue=step.queue,
        time_limit_seconds=step.time_limit_seconds,
        memory_limit_mb=step.memory_limit_mb,
        location=SourceLocation(path, line),
        script_line=script_line,
    )
    return dataclasses.replace(spec, settings=task_settings(step), **_retries(model, step))


def _command_words(step: CommandStepModel, location: SourceLocation) -> list[tuple[ArgumentValue, str]]:
    """The command's words with the field each came from: a string split like a shell would (each word
    may hold ``${{...}}`` references), a list taken word by word."""
    if isinstance(step.command, str):
        words = command.split_words(step.command, location=location, step=step.name, field="command")
        return [(w, "command") for w in words]
    return [(w, f"command[{i}]") for i, w in enumerate(step.command)]


def _parallel_step(
    path: str, base: str, model: PipelineModel, step: ParallelRunStepModel, data: Any
) -> StepSpec:
    """A ParallelRunStep: a script step whose script is the entry script, with its checked settings."""
    line = getattr(data, "line", None)
    config_line = data.key_lines.get("parallel_run_config", line) if isinstance(data, _LineDict) else line
    spec = _step(path, base, model, step, line)
    settings = step.parallel_run_config.model_dump(exclude_none=True)
    return dataclasses.replace(
        spec,
        kind="parallel_run",
        parallel=parallel.build_spec(
            settings,
            input_name=step.inputs[0],
            output=spec.outputs[0].name,
            where=SourceLocation(path, config_line),
            step=step.name,
        ),
    )


def _step_outputs(step: StepModel | CommandStepModel | ParallelRunStepModel) -> list[OutputModel]:
    if isinstance(step, ParallelRunStepModel):
        out = step.output or f"{step.name}_output"
        return [out if isinstance(out, OutputModel) else OutputModel(name=out)]
    return [o if isinstance(o, OutputModel) else OutputModel(name=o) for o in step.outputs]


def _step(
    path: str,
    base: str,
    model: PipelineModel,
    step: StepModel | CommandStepModel | ParallelRunStepModel,
    line: int | None,
) -> StepSpec:
    location = SourceLocation(path, line)
    _warn_no_effect(step, model, path, line)
    inputs = list(step.inputs)
    if isinstance(step, ParallelRunStepModel):
        inputs += step.side_inputs
    outputs = _step_outputs(step)
    output_names = [o.name for o in outputs]
    if isinstance(step, CommandStepModel):
        values = _command_words(step, location)
    else:
        values = [(v, f"arguments[{i}]") for i, v in enumerate(step.arguments)]
    arguments = tuple(
        _argument(value, location, step.name, field, inputs, output_names) for value, field in values
    )
    if isinstance(step, CommandStepModel):
        command.check_command(arguments, location=location, step=step.name)
    source = step.source_directory or model.defaults.source_directory or "."
    return StepSpec(
        name=step.name,
        kind="command" if isinstance(step, CommandStepModel) else "python_script",
        script_name=step.script
        if isinstance(step, StepModel)
        else (step.parallel_run_config.entry_script if isinstance(step, ParallelRunStepModel) else ""),
        source_directory=os.path.normpath(os.path.join(base, source)),
        arguments=arguments,
        inputs=tuple(dict.fromkeys(inputs)),
        outputs=tuple(OutputSpec(o.name, o.datastore) for o in outputs),
        compute=ComputeSpec(step.compute or model.defaults.compute),
        allow_reuse=step.allow_reuse,
        run_after=tuple(step.run_after),
        hash_paths=tuple(step.hash_paths),
        version=step.version,
        queue=step.queue,
        **_retries(model, step),
        settings=task_settings(step),
        location=location,
        environment_name=(
            inline_environment_name(step.name)
            if isinstance(step.environment, EnvironmentModel)
            else step.environment
        ),
    )


def _argument(
    value: ArgumentValue,
    location: SourceLocation,
    step: str,
    field: str,
    inputs: list[str],
    outputs: list[str],
) -> Argument:
    """Turn ``{input: x}``/``{output: x}``/``{parameter: x}`` or ``${{inputs.x}}`` text into an Argument.

    An input referenced only from arguments is added to the step's inputs, as Azure ML does.
    """
    if isinstance(value, dict):
        if len(value) != 1 or next(iter(value)) not in ("input", "output", "parameter"):
            raise DefinitionError(
                f"an argument mapping must be one of {{input: name}}, {{output: name}}, "
                f"{{parameter: name}}; got {dict(value)!r}",
                location=location,
                step=step,
                field=field,
            )
        kind, name = next(iter(value.items()))
        parts: list[ArgPart] = [Ref(kind, name)]  # type: ignore[arg-type]
    elif isinstance(value, bool):
        parts = [str(value).lower()]
    else:
        parts = _split_inline(str(value))
    for part in parts:
        if isinstance(part, str) and "${{" in part:
            raise DefinitionError(
                f"unrecognised reference in argument {part!r}",
                location=location,
                step=step,
                field=field,
                hint="write ${{inputs.NAME}}, ${{outputs.NAME}} or ${{parameters.NAME}}",
            )
        if isinstance(part, Ref) and part.kind == "input" and part.name not in inputs:
            inputs.append(part.name)
        if isinstance(part, Ref) and part.kind == "output" and part.name not in outputs:
            raise DefinitionError(
                f"argument refers to output '{part.name}' that the step does not declare",
                location=location,
                step=step,
                field=field,
                hint=did_you_mean(part.name, outputs) or "add it to the step's outputs",
            )
    return Argument(tuple(parts))


def _split_inline(text: str) -> list[ArgPart]:
    parts: list[ArgPart] = []
    pos = 0
    for match in _INLINE_REF.finditer(text):
        if match.start() > pos:
            parts.append(text[pos : match.start()])
        parts.append(Ref(_REF_KINDS[match.group(1)], match.group(2)))  # type: ignore[arg-type]
        pos = match.end()
    if pos < len(text) or not parts:
        parts.append(text[pos:])
    return parts
