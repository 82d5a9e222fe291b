"""Azure ML SDK v1 ``PythonScriptStep`` and ``Pipeline``, compiled into the pure pipeline model."""

from __future__ import annotations

import importlib
import os
import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Literal

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesWarning, SourceLocation, did_you_mean
from airflow_mlpipelines.pipeline.assets import AssetSchedule, DatastoreWatch, sdk_schedule
from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec, EnvironmentSpec
from airflow_mlpipelines.pipeline.model import (
    LOCAL_COMPUTE,
    ArgPart,
    Argument,
    ComputeSpec,
    DatasetSpec,
    DatastoreSpec,
    ParameterSpec,
    PipelineSpec,
    Ref,
    StepSpec,
    TaskSettings,
)
from airflow_mlpipelines.pipeline.sdk import (
    DatasetConsumptionConfig,
    Datastore,
    PipelineData,
    PipelineDataInput,
    PipelineParameter,
    RunConfiguration,
    _caller_location,
    _compute_name,
    _Dataset,
)
from airflow_mlpipelines.pipeline.sdk_compute import LOCAL_DOCKER, ComputeTarget
from airflow_mlpipelines.pipeline.sdk_schedule import ScheduleRecurrence, schedule_value
from airflow_mlpipelines.pipeline.validate import build_pipeline
from airflow_mlpipelines.pipeline.yaml_compute import inline_environment_name

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence


def _warn(step: str, message: str) -> None:
    warnings.warn(f"step '{step}': {message}", MLPipelinesWarning, stacklevel=4)


class PythonScriptStep:
    """Run ``python <script_name> <arguments>`` from ``source_directory`` (Azure ML's PythonScriptStep).

    ``source_directory`` is resolved against the folder of the file that builds the step, so a
    definition keeps working wherever Airflow's bundle puts it.
    """

    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        arguments: Sequence[Any] | None = None,
        compute_target: Any = None,
        runconfig: RunConfiguration | None = None,
        runconfig_pipeline_params: Any = None,
        inputs: Sequence[Any] | None = None,
        outputs: Sequence[PipelineData] | None = None,
        params: dict[str, Any] | None = None,
        source_directory: str | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        hash_paths: Sequence[str] | None = None,
    ) -> None:
        self.location = _caller_location()
        self.script_name = script_name
        self.name = name or os.path.splitext(os.path.basename(script_name))[0]
        self.arguments = list(arguments or [])
        self.compute_target = compute_target
        self.runconfig = runconfig
        self.inputs = list(inputs or [])
        self.outputs = list(outputs or [])
        self.params = dict(params or {})
        self.source_directory = source_directory
        self.allow_reuse = bool(allow_reuse)
        self.version = version
        self.hash_paths = list(hash_paths or [])
        self._run_after: list[PythonScriptStep] = []
        self._warn_no_effect(runconfig_pipeline_params)
        self._implicit_outputs()
        self.register_outputs()

    def _implicit_outputs(self) -> None:
        """SDK v1: a ``PipelineData`` in ``arguments`` (not ``.as_input()``) that no earlier step produces
        and that is not among this step's inputs is an output of this step, ``outputs=`` or not."""
        listed = {id(_pipeline_data_of(i)) for i in self.inputs if _pipeline_data_of(i) is not None}
        for value in self.arguments:
            if (
                isinstance(value, PipelineData)
                and value not in self.outputs
                and id(value) not in listed
                and not getattr(value, "_producers", [])
            ):
                self.outputs.append(value)

    def _warn_no_effect(self, runconfig_pipeline_params: object) -> None:
        if runconfig_pipeline_params is not None:
            _warn(self.name, "runconfig_pipeline_params has no effect yet: set the runconfig directly")
        if self.params:
            _warn(self.name, "params has no effect yet: pass values through arguments or PipelineParameter")

    def run_after(self, step: PythonScriptStep) -> None:
        """Run this step after ``step`` even though no data connects them."""
        self._run_after.append(step)

    def upstream_steps(self) -> list[PythonScriptStep]:
        """Steps this one depends on through data or ``run_after`` (for Pipeline's closure)."""
        found: list[PythonScriptStep] = list(self._run_after)
        for item in [*self.inputs, *self.arguments]:
            data = _pipeline_data_of(item)
            if data is not None and data not in self.outputs:
                found.extend(getattr(data, "_producers", []))
        return found

    def register_outputs(self) -> None:
        """Record this step as producer of its outputs, so a Pipeline given only the last step can
        pull in its producers (Azure ML's ``resolve_closure``)."""
        for out in self._all_outputs():
            producers: list[PythonScriptStep] = out.__dict__.setdefault("_producers", [])
            if self not in producers:
                producers.append(self)

    def _all_outputs(self) -> list[PipelineData]:
        return list(self.outputs)

    def spec(self, base_dir: str, default_source_directory: str | None) -> tuple[StepSpec, list[Any]]:
        """Compile to a :class:`StepSpec`; also return the datasets and parameters it uses."""
        used: list[Any] = []
        inputs: list[str] = []
        args = tuple(self._argument(a, inputs, used) for a in self.arguments)
        for item in self.inputs:
            self._input_name(item, inputs, used)
        source = self.source_directory or default_source_directory or "."
        compute, env_name = self._compute(used)
        step = StepSpec(
            name=self.name,
            script_name=self.script_name,
            source_directory=os.path.normpath(os.path.join(base_dir, source)),
            arguments=args,
            inputs=tuple(dict.fromkeys(inputs)),
            outputs=tuple(o.spec() for o in self.outputs),
            compute=ComputeSpec(compute),
            allow_reuse=self.allow_reuse,
            run_after=tuple(s.name for s in self._run_after),
            hash_paths=tuple(self.hash_paths),
            version=self.version,
            location=self.location,
            environment_name=env_name,
        )
        return step, used

    def _compute(self, used: list[Any]) -> tuple[str, str | None]:
        """The target name and environment name; declared targets and environments go to ``used``."""
        target = self.compute_target
        if target is None and self.runconfig is not None:
            target = self.runconfig.target
        name = _compute_name(target)
        if isinstance(target, ComputeTarget):
            declared = target.spec(self.location)
            if declared is not None:
                used.append(declared)
        env_name = None
        if self.runconfig is not None and not self.runconfig.environment.is_default():
            env_name = inline_environment_name(self.name)
            used.append(replace(self.runconfig.environment.spec(env_name), location=self.location))
        if self.runconfig is not None and self.runconfig.docker.use_docker and name == LOCAL_COMPUTE:
            # Azure ML ran such a step in a container on the local machine: here, the local Docker daemon.
            name = LOCAL_DOCKER
            used.append(ComputeTargetSpec(LOCAL_DOCKER, kind="docker", location=self.location))
        return name, env_name

    def _input_name(self, item: Any, inputs: list[str], used: list[Any]) -> str:
        data = _pipeline_data_of(item)
        if data is not None:
            inputs.append(data.name)
            return data.name
        model_input = getattr(item, "_as_model_input", None)
        if callable(model_input):  # airflow_mlpipelines.core.Model: a registered model's version
            spec: DatasetSpec = model_input()
            used.append(spec)
            inputs.append(spec.name)
            return spec.name
        if isinstance(item, _Dataset):
            item = DatasetConsumptionConfig(None, item)
        if isinstance(item, DatasetConsumptionConfig):
            if item.name is None:
                item.name = item.dataset.name or f"{self.name}_input{len(inputs)}"
            item.dataset.name = item.dataset.name or item.name
            used.append(item)
            inputs.append(item.name)
            return item.name
        raise DefinitionError(
            f"unsupported input {item!r}",
            location=self.location,
            step=self.name,
            field="inputs",
            hint="inputs are PipelineData, PipelineData.as_input(), Dataset ...as_named_input(name), or "
            "Model(ws, name, version)",
        )

    def _argument(self, value: Any, inputs: list[str], used: list[Any]) -> Argument:
        part: ArgPart
        if isinstance(value, PipelineData) and value in self.outputs:
            part = Ref("output", value.name)
        elif isinstance(value, PipelineParameter):
            used.append(value)
            part = Ref("parameter", value.name)
        elif isinstance(
            value, PipelineData | PipelineDataInput | DatasetConsumptionConfig | _Dataset
        ) or callable(getattr(value, "_as_model_input", None)):
            part = Ref("input", self._input_name(value, inputs, used))
        elif isinstance(value, str | int | float | bool):
            part = str(value)
        else:
            raise DefinitionError(
                f"unsupported argument {value!r}",
                location=self.location,
                step=self.name,
                field="arguments",
                hint="arguments are strings, numbers, PipelineParameter, PipelineData or dataset inputs",
            )
        return Argument((part,))


def _pipeline_data_of(item: Any) -> PipelineData | None:
    if isinstance(item, PipelineData):
        return item
    if isinstance(item, PipelineDataInput):
        return item.data
    return None


class StepSequence:
    """SDK v1's ``StepSequence(steps=[a, b, c])``: each step runs after the one before it, data or not."""

    def __init__(self, steps: Sequence[Any] = ()) -> None:
        self.steps = list(steps)
        for before, after in zip(self.steps, self.steps[1:], strict=False):
            if isinstance(before, PythonScriptStep) and isinstance(after, PythonScriptStep):
                after.run_after(before)


def _flatten(steps: Iterable[Any], location: SourceLocation) -> list[PythonScriptStep]:
    """Nested lists of steps (and StepSequences), flattened; a step object listed twice is one step."""
    flat: list[PythonScriptStep] = []
    for item in steps:
        if isinstance(item, StepSequence):
            flat.extend(_flatten(item.steps, location))
        elif isinstance(item, list | tuple):
            flat.extend(_flatten(item, location))
        elif isinstance(item, PythonScriptStep):
            flat.append(item)
        else:
            raise DefinitionError(
                f"Pipeline steps must be steps, got {item!r}", location=location, field="steps"
            )
    return list(dict.fromkeys(flat))


class Pipeline:
    """Azure ML's ``Pipeline(workspace, steps)``: nested lists of steps are allowed, and the producers
    of every consumed ``PipelineData`` are pulled in (``resolve_closure``), as in the SDK.

    ``name``, ``schedule``, ``description`` and ``tags`` are this provider's additions (Azure ML took
    the name from the experiment and the schedule from ``Schedule.create``).
    """

    def __init__(
        self,
        workspace: Any = None,
        steps: Sequence[Any] = (),
        description: str | None = None,
        default_datastore: Any = None,
        default_source_directory: str | None = None,
        resolve_closure: bool = True,
        continue_on_step_failure: bool = False,
        *,
        name: str | None = None,
        schedule: str
        | ScheduleRecurrence
        | Mapping[str, Any]
        | Sequence[object]
        | DatastoreWatch
        | None = None,
        tags: Sequence[str] = (),
        compute_targets: Sequence[ComputeTarget] = (),
        default_args: Mapping[str, Any] | None = None,
        max_active_runs: int | None = None,
        catchup: bool = False,
        doc_md: str | None = None,
    ) -> None:
        self.location = _caller_location()
        self.default_args = dict(default_args or {})
        self.max_active_runs = max_active_runs
        self.catchup = catchup
        self.doc_md = doc_md
        self.compute_targets = list(compute_targets)
        self.workspace = workspace
        self.steps = _flatten([steps] if isinstance(steps, StepSequence) else steps, self.location)
        self.description = description
        self.default_source_directory = default_source_directory
        self.resolve_closure = resolve_closure
        self.name = name
        # A recurrence is read when the pipeline is compiled; assets and watches are checked here.
        self.schedule = (
            schedule
            if isinstance(schedule, ScheduleRecurrence | Mapping)
            else sdk_schedule(schedule, self.location)
        )
        self.tags = list(tags)
        self._loaded: PipelineSpec | None = None
        """Set by :meth:`load_yaml`: the pipeline the file describes (it has no step objects)."""
        if continue_on_step_failure:
            warnings.warn(
                "continue_on_step_failure has no effect yet: a failed step stops its downstream steps",
                MLPipelinesWarning,
                stacklevel=2,
            )

    def publish(
        self,
        name: str | None = None,
        description: str | None = None,
        version: str | None = None,
        continue_on_step_failure: bool | None = None,
    ) -> Any:
        """SDK v1's ``pipeline.publish(...)``: a ``PublishedPipeline`` with a REST ``endpoint``.

        The pipeline's DAG must be deployed (and match this pipeline). Publishing talks to Airflow over
        REST, which this pure package never imports: the notebook-side module is named, not imported,
        as the step-kind registry names operators.
        """
        published = importlib.import_module("airflow_mlpipelines.published")
        return published.PublishedPipeline.create(
            self.workspace,
            self,
            name=name,
            description=description,
            version=version,
            continue_on_step_failure=continue_on_step_failure,
        )

    @staticmethod
    def load_yaml(
        workspace: Any, filename: str, _workflow_provider: Any = None, _service_endpoint: Any = None
    ) -> Pipeline:
        """SDK v1's ``Pipeline.load_yaml``: the pipeline an SDK v1 pipeline YAML file (top-level
        ``pipeline:``) describes, ready for ``Experiment.submit``; the same file under the DAGs folder
        is the same DAG. Errors name the file's line, the step id and the field."""
        from airflow_mlpipelines.pipeline.sdk_yaml import load_sdk_yaml

        spec = load_sdk_yaml(os.fspath(filename))
        pipeline = Pipeline(workspace, [], description=spec.description, name=spec.name)
        pipeline._loaded = spec
        return pipeline

    def validate(self) -> list[str]:
        """SDK v1's check before submitting: the problems of the pipeline (empty when it is valid)."""
        try:
            self.to_spec()
        except DefinitionError as exc:
            return [str(e) for e in (exc, *exc.others)]
        return []

    def _all_steps(self) -> list[PythonScriptStep]:
        ordered = list(self.steps)
        queue = list(self.steps)
        while self.resolve_closure and queue:
            for up in queue.pop().upstream_steps():
                if up not in ordered:
                    ordered.append(up)
                    queue.append(up)
        return ordered

    def to_spec(self, name: str | None = None, base_dir: str | None = None) -> PipelineSpec:
        """Validate and compile into the pure model (``base_dir`` resolves relative source directories)."""
        if self._loaded is not None:
            return self._loaded
        base = base_dir or os.path.dirname(os.path.abspath(self.location.file))
        steps: list[StepSpec] = []
        used: list[Any] = []
        for step in self._all_steps():
            spec, step_used = step.spec(base, self.default_source_directory)
            steps.append(spec)
            used.extend(step_used)
        params: dict[str, ParameterSpec] = {}
        datasets: dict[str, DatasetSpec] = {}
        datastores: dict[str, DatastoreSpec] = {}
        targets = _declared_targets(self.compute_targets, used, self.location)
        environments = [item for item in used if isinstance(item, EnvironmentSpec)]
        _collect(used, params, datasets, datastores)
        _undeclared_run_locally(steps, targets)
        for step in self._all_steps():
            for out in step.outputs:
                if out.datastore is not None:
                    datastores.setdefault(out.datastore.name, out.datastore.spec())
        for store_name, store in datastores.items():
            if store.url is not None and "://" not in store.url:
                # Like YAML definitions: a relative path is relative to the defining file.
                datastores[store_name] = DatastoreSpec(
                    store.name, os.path.normpath(os.path.join(base, store.url))
                )
        return build_pipeline(
            name=self.name or name or "pipeline",
            steps=steps,
            description=self.description,
            schedule=self.schedule
            if isinstance(self.schedule, AssetSchedule | DatastoreWatch)
            else schedule_value(self.schedule, self.location),
            parameters=list(params.values()),
            datastores=list(datastores.values()),
            datasets=list(datasets.values()),
            tags=self.tags,
            source=self.location,
            compute_targets=list(targets.values()),
            environments=environments,
            default_args=_default_args(self.default_args, self.location),
            max_active_runs=self.max_active_runs,
            catchup=self.catchup,
            doc_md=self.doc_md,
        )


def _default_args(values: Mapping[str, Any], location: SourceLocation) -> TaskSettings:
    """``Pipeline(default_args={...})`` through the YAML format's schema (same keys, same errors)."""
    from pydantic import ValidationError

    from airflow_mlpipelines.pipeline.yaml_loader import task_settings
    from airflow_mlpipelines.pipeline.yaml_schema import KEYS_BY_SECTION, DefaultArgsModel

    try:
        return task_settings(DefaultArgsModel.model_validate(dict(values)))
    except ValidationError as exc:
        error = exc.errors()[0]
        key = ".".join(str(p) for p in error["loc"])
        unknown = error["type"] == "extra_forbidden"
        raise DefinitionError(
            f"default_args: {'unknown key' if unknown else error['msg']} '{key}'",
            location=location,
            field=f"default_args.{key}",
            hint=did_you_mean(str(error["loc"][-1]), KEYS_BY_SECTION["default_args"]) if unknown else None,
        ) from None


def _collect(
    used: Sequence[Any],
    params: dict[str, ParameterSpec],
    datasets: dict[str, DatasetSpec],
    datastores: dict[str, DatastoreSpec],
) -> None:
    """Parameters, datasets and datastores the steps use, each declared once (first one wins)."""
    for item in used:
        if isinstance(item, PipelineParameter):
            params.setdefault(item.name, item.spec())
        elif isinstance(item, DatasetConsumptionConfig):
            datasets.setdefault(str(item.name), _dataset_spec(item, datastores))
        elif isinstance(item, DatasetSpec):  # a data transfer's DataReference source
            datasets.setdefault(item.name, item)
        elif isinstance(item, Datastore):  # a data transfer's end
            datastores.setdefault(item.name, item.spec())


def _declared_targets(
    listed: Sequence[ComputeTarget], used: Sequence[Any], location: SourceLocation
) -> dict[str, ComputeTargetSpec]:
    """Targets declared in ``Pipeline(compute_targets=...)`` or passed to steps; one name, one target."""
    found: dict[str, ComputeTargetSpec] = {}
    candidates = [t.spec(location) for t in listed] + [i for i in used if isinstance(i, ComputeTargetSpec)]
    for spec in candidates:
        if spec is None:
            continue
        first = found.setdefault(spec.name, spec)
        if replace(first, location=None) != replace(spec, location=None):
            raise DefinitionError(
                f"compute target '{spec.name}' is declared twice with different settings "
                f"(first at {first.location or 'unknown'})",
                location=spec.location,
                field="compute_target",
                hint="declare each target once and pass the same object (or its name) to every step",
            )
    return found


def _undeclared_run_locally(steps: list[StepSpec], targets: dict[str, ComputeTargetSpec]) -> None:
    """Code ported from Azure ML names clusters it never declares here: with no declared targets at all,
    such names run locally (with a warning at the step); once targets are declared, an unknown name is
    an error (with did-you-mean) from validation."""
    if any(t.name != LOCAL_DOCKER for t in targets.values()):
        return
    for step in steps:
        name = step.compute.name
        if name not in targets and name != LOCAL_COMPUTE:
            targets[name] = ComputeTargetSpec(name, kind="local", location=step.location)
            loc = step.location
            warnings.warn_explicit(
                f"step '{step.name}': compute_target '{name}' is not declared: the step runs as a local "
                "process (declare it with ComputeTarget.docker/kubernetes/local(...))",
                MLPipelinesWarning,
                loc.file if loc else "<unknown>",
                (loc.line or 0) if loc else 0,
            )


def _dataset_spec(config: DatasetConsumptionConfig, datastores: dict[str, DatastoreSpec]) -> DatasetSpec:
    stores = {store.name for store, _ in config.dataset.targets}
    if len(stores) != 1:
        raise DefinitionError(
            f"dataset '{config.name}' spans several datastores ({', '.join(sorted(stores))})",
            location=config.dataset.location,
            field="path",
            hint="build one dataset per datastore",
        )
    for store, _ in config.dataset.targets:
        datastores.setdefault(store.name, store.spec())
    mode: Literal["download", "direct"] = "download" if config.mode == "download" else "direct"
    return DatasetSpec(
        name=str(config.name),
        datastore=stores.pop(),
        paths=tuple(p for _, p in config.dataset.targets),
        mode=mode,
        kind="tabular" if config.dataset.kind == "tabular" else "file",
        location=config.dataset.location,
        partition_format=config.dataset.partition_format,
    )
