"""The one typed description of a step's task, from the pipeline model to the runner.

:func:`step_tasks` resolves everything a step refers to by name in its pipeline (producers of its
inputs, datasets, datastores, its compute target and environment) into one frozen, JSON-round-trippable
:class:`StepTask`. The DAG factory hands exactly this object to the step's tasks; the reuse task puts it
into the run-time plan, so the runner in a container reads the same description the operators did.
Adding a field to a step touches the model, this module and the code that uses the field.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import SourceLocation
from airflow_mlpipelines.pipeline.compute import (
    ComputeTargetSpec,
    SecretSpec,
    VolumeSpec,
    step_environment,
    step_target,
)
from airflow_mlpipelines.pipeline.model import (
    Argument,
    DatastoreSpec,
    DataTransferSpec,
    ExecutePythonScriptSpec,
    NotifierSpec,
    ParallelRunSpec,
    PipelineSpec,
    Ref,
    StepSpec,
    TaskSettings,
    TransferEndpoint,
)

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

Token = str | dict[str, str]
"""An argument part as JSON: literal text or ``{"input"|"output"|"parameter": name}`` (templated)."""


@dataclass(frozen=True)
class InputBinding:
    """Where one input comes from: another step's output (``producer``) or a dataset on a datastore."""

    name: str
    producer: str | None = None
    datastore: str | None = None
    path: str | None = None
    mode: str = "direct"
    kind: str = "file"
    """``tabular`` for a tabular dataset (``Run.input_datasets[...]`` gives ``to_pandas_dataframe()``);
    ``model`` for a registered model (``model``, ``model_version``: None for the latest at run time)."""
    model: str | None = None
    model_version: int | None = None
    parameter: str | None = None
    """A data path parameter whose run-time value is the input's datastore and path."""
    partition_format: str | None = None
    """Columns a tabular read adds from each file's path (``pipeline/partition_format.py``)."""


@dataclass(frozen=True)
class OutputBinding:
    """One output folder and the datastore it is written to (``path``: that exact path on it)."""

    name: str
    datastore: str
    path: str | None = None
    register_as: str | None = None
    """Register the committed output as this dataset (a new version when its folder changed)."""
    kind: str = "file"


@dataclass(frozen=True)
class StepTask:
    """Everything a step's tasks need, resolved from the pipeline at parse time (no I/O, no settings).

    ``environment`` is the environment's canonical content (a fingerprint component), ``image`` and
    ``env_vars`` what a container runs with, ``target`` the compute target (its ``kind`` picks the
    compute task). ``eps`` is set exactly for Execute Python Script steps, ``transfer`` for data transfers.
    """

    pipeline: str
    step: str
    kind: str
    script_name: str
    source_directory: str
    target: ComputeTargetSpec
    arguments: tuple[Argument, ...] = ()
    inputs: tuple[InputBinding, ...] = ()
    outputs: tuple[OutputBinding, ...] = ()
    datastores: tuple[DatastoreSpec, ...] = ()
    parameters: tuple[str, ...] = ()
    known_parameters: tuple[str, ...] = ()
    allow_reuse: bool = True
    hash_paths: tuple[str, ...] = ()
    version: str | None = None
    environment: tuple[tuple[str, Any], ...] = ()
    image: str | None = None
    env_vars: tuple[tuple[str, str], ...] = ()
    eps: ExecutePythonScriptSpec | None = None
    transfer: DataTransferSpec | None = None
    parallel: ParallelRunSpec | None = None
    queue: str | None = None
    retries: int | None = None
    retry_delay_seconds: float | None = None
    settings: TaskSettings = field(default_factory=TaskSettings)
    """Airflow task settings: the step's own over the pipeline's ``default_args``."""
    location: SourceLocation | None = None

    # -- derived views ----------------------------------------------------------------------------
    @property
    def compute_kind(self) -> str:
        """``local``, ``docker`` or ``kubernetes``."""
        return self.target.kind

    @property
    def environment_content(self) -> dict[str, Any]:
        """The environment as the fingerprint hashes it."""
        return dict(self.environment)

    @property
    def datastore_urls(self) -> dict[str, str | None]:
        """Declared datastore name -> URL (None: under the configured datastore root)."""
        return {d.name: d.url for d in self.datastores}

    @property
    def output_datastores(self) -> dict[str, str]:
        """Output name -> datastore name."""
        return {o.name: o.datastore for o in self.outputs}

    def input(self, name: str) -> InputBinding:
        """The binding of input ``name``."""
        for binding in self.inputs:
            if binding.name == name:
                return binding
        raise KeyError(name)

    def argument_tokens(self) -> list[list[Token]]:
        """The arguments as JSON parts (what the operators template and the runner substitutes)."""
        return [[{p.kind: p.name} if isinstance(p, Ref) else p for p in a.parts] for a in self.arguments]

    @property
    def script_where(self) -> str | None:
        """``file:line`` of an inline Execute Python Script's first line in the definition."""
        eps = self.eps
        if eps is None or eps.script is None or self.location is None or eps.script_line is None:
            return None
        return f"{self.location.file}:{eps.script_line}"

    # -- JSON -------------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """Plain JSON (the plan carries it to the runner, in a container too)."""
        data = asdict(self)
        data["arguments"] = self.argument_tokens()
        data["environment"] = self.environment_content
        data["env_vars"] = dict(self.env_vars)
        data["location"] = None if self.location is None else [self.location.file, self.location.line]
        data["target"]["location"] = None
        # Tuples become lists: the value must be plain JSON wherever it is read (raw XCom rows included).
        plain: dict[str, Any] = json.loads(json.dumps(data))
        return plain

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StepTask:
        """Read back what :meth:`to_json` wrote."""
        location = data.get("location")
        return cls(
            pipeline=str(data["pipeline"]),
            step=str(data["step"]),
            kind=str(data["kind"]),
            script_name=str(data["script_name"]),
            source_directory=str(data["source_directory"]),
            target=target_from_json(data["target"]),
            arguments=tuple(arguments_from_tokens(data.get("arguments", []))),
            inputs=tuple(InputBinding(**i) for i in data.get("inputs", [])),
            outputs=tuple(OutputBinding(**o) for o in data.get("outputs", [])),
            datastores=tuple(
                DatastoreSpec(d["name"], d.get("url"), d.get("connection"))
                for d in data.get("datastores", [])
            ),
            parameters=tuple(data.get("parameters", [])),
            known_parameters=tuple(data.get("known_parameters", [])),
            allow_reuse=bool(data.get("allow_reuse", True)),
            hash_paths=tuple(data.get("hash_paths", [])),
            version=data.get("version"),
            environment=tuple(sorted(dict(data.get("environment", {})).items())),
            image=data.get("image"),
            env_vars=tuple(sorted(dict(data.get("env_vars", {})).items())),
            eps=None if data.get("eps") is None else ExecutePythonScriptSpec(**data["eps"]),
            transfer=None if data.get("transfer") is None else transfer_from_json(data["transfer"]),
            parallel=None if data.get("parallel") is None else parallel_from_json(data["parallel"]),
            queue=data.get("queue"),
            retries=data.get("retries"),
            retry_delay_seconds=data.get("retry_delay_seconds"),
            settings=settings_from_json(data.get("settings") or {}),
            location=None if location is None else SourceLocation(str(location[0]), location[1]),
        )


def arguments_from_tokens(tokens: Sequence[Sequence[Token]]) -> list[Argument]:
    """Arguments from their JSON parts."""
    result = []
    for parts in tokens:
        items: list[str | Ref] = []
        for part in parts:
            if isinstance(part, str):
                items.append(part)
            else:
                ((kind, name),) = part.items()
                items.append(Ref(kind, name))  # type: ignore[arg-type]
        result.append(Argument(tuple(items)))
    return result


def settings_from_json(data: Mapping[str, Any]) -> TaskSettings:
    """Task settings from ``dataclasses.asdict`` output."""
    values = dict(data)
    if values.get("email") is not None:
        values["email"] = tuple(values["email"])
    values["on_failure_notifiers"] = tuple(
        NotifierSpec(str(n["class_path"]), tuple((str(k), v) for k, v in n.get("args", ())))
        for n in values.get("on_failure_notifiers", ())
    )
    return TaskSettings(**values)


def parallel_from_json(data: Mapping[str, Any]) -> ParallelRunSpec:
    """A parallel run's settings from their JSON form (lists back to tuples)."""
    values = dict(data)
    values["partition_keys"] = tuple(values.get("partition_keys") or ())
    values["environment_variables"] = tuple(tuple(p) for p in values.get("environment_variables") or ())
    return ParallelRunSpec(**values)


def transfer_from_json(data: Mapping[str, Any]) -> DataTransferSpec:
    """A data transfer's settings from ``dataclasses.asdict`` output."""
    values = dict(data)
    values["source"] = TransferEndpoint(**values["source"])
    values["destination"] = TransferEndpoint(**values["destination"])
    return DataTransferSpec(**values)


def _pairs(value: Any) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), str(v)) for k, v in value)


def target_from_json(data: Mapping[str, Any]) -> ComputeTargetSpec:
    """A compute target from ``dataclasses.asdict`` output (lists back to tuples)."""
    values = {f.name: data[f.name] for f in fields(ComputeTargetSpec) if f.name in data}
    values["node_selector"] = _pairs(values.get("node_selector", ()))
    values["env"] = _pairs(values.get("env", ()))
    values["tolerations"] = tuple(_pairs(t) for t in values.get("tolerations", ()))
    values["volumes"] = tuple(VolumeSpec(**v) for v in values.get("volumes", ()))
    values["secrets"] = tuple(SecretSpec(**s) for s in values.get("secrets", ()))
    values["location"] = None
    return ComputeTargetSpec(**values)


# -- building ---------------------------------------------------------------------------------------


def _inputs(pipeline: PipelineSpec, step: StepSpec, producers: Mapping[str, str]) -> tuple[InputBinding, ...]:
    datasets = {d.name: d for d in pipeline.datasets}
    kinds = {o.name: o.kind for s in pipeline.steps for o in s.outputs}
    bindings = []
    for name in step.inputs:
        if name in producers:
            bindings.append(InputBinding(name, producer=producers[name], kind=kinds.get(name, "file")))
        else:
            ds = datasets[name]
            if ds.kind == "model":
                bindings.append(
                    InputBinding(name, kind="model", model=ds.model, model_version=ds.model_version)
                )
                continue
            bindings.append(
                InputBinding(
                    name,
                    datastore=ds.datastore,
                    path=ds.paths[0],
                    mode=ds.mode,
                    kind=ds.kind,
                    parameter=ds.parameter,
                    partition_format=ds.partition_format,
                )
            )
    return tuple(bindings)


def step_task(pipeline: PipelineSpec, step: StepSpec, producers: Mapping[str, str] | None = None) -> StepTask:
    """The description of one step of a validated pipeline."""
    target = step_target(pipeline, step)
    environment = step_environment(pipeline, step)
    image = environment.get("image")
    env = environment.get("env")
    used = sorted({r.name for a in step.arguments for r in a.refs if r.kind == "parameter"})
    return StepTask(
        pipeline=pipeline.name,
        step=step.name,
        kind=step.kind,
        script_name=step.script_name,
        source_directory=step.source_directory,
        target=target,
        arguments=step.arguments,
        inputs=_inputs(pipeline, step, producers if producers is not None else pipeline.producers()),
        outputs=tuple(
            OutputBinding(o.name, o.datastore, o.path, o.register_as, o.kind) for o in step.outputs
        ),
        datastores=pipeline.datastores,
        parameters=tuple(used),
        known_parameters=tuple(p.name for p in pipeline.parameters),
        allow_reuse=step.allow_reuse,
        hash_paths=step.hash_paths,
        version=step.version,
        environment=tuple(sorted(environment.items())),
        image=str(image) if image else None,
        env_vars=tuple(sorted((str(k), str(v)) for k, v in env.items())) if isinstance(env, dict) else (),
        eps=step.eps,
        transfer=step.transfer,
        parallel=step.parallel,
        queue=step.queue,
        retries=step.retries,
        retry_delay_seconds=step.retry_delay_seconds,
        settings=step.settings.over(pipeline.default_args),
        location=step.location,
    )


def step_tasks(pipeline: PipelineSpec) -> tuple[StepTask, ...]:
    """One :class:`StepTask` per step, in the pipeline's (topological) order."""
    producers = pipeline.producers()
    return tuple(step_task(pipeline, step, producers) for step in pipeline.steps)


__all__ = [
    "InputBinding",
    "OutputBinding",
    "StepTask",
    "Token",
    "arguments_from_tokens",
    "step_task",
    "step_tasks",
    "target_from_json",
]
