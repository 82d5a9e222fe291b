"""Azure ML SDK v1's pipeline YAML dialect (``Pipeline.load_yaml``, ``az ml pipeline create``) loaded into
the pure model, with file:line, step and field on every error.

The dialect is SDK v1's own ``_PipelineYamlParser`` format: a top-level ``pipeline:`` with ``parameters``
(typed: string, int, float, bool, datapath), ``data_references`` (a datastore + path, or SQL),
``default_compute`` and ``steps`` keyed by step id. A step's ``inputs``/``outputs`` are *ports* (names
local to the step) bound to a ``source`` / ``destination``; ``arguments`` name ports with
``input:<port>`` / ``output:<port>``. An input's source is, in SDK v1's order, a datapath pipeline
parameter, then a data reference, then another step's output destination (a ``PipelineData``). Defaults
are SDK v1's (``bind_mode`` mount, ``allow_reuse`` true, int/float/bool parameters 0/0.0/false).

Differences, each reported where it matters: a step's Airflow id is its key (SDK v1's ``name`` is a
display name that may hold spaces); a step's ``parameters`` reach the script through
``parameter:<name>`` arguments (SDK v1 set ``AML_PARAMETER_<name>`` environment variables, not done
here); ``runconfig`` files are not read; unknown keys are warnings (SDK v1 ignored them silently). A
datapath parameter is a data path parameter, as in SDK v1: a run's ``conf`` may name another path.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any, Final, Literal

from airflow_mlpipelines.exceptions import (
    DefinitionError,
    MLPipelinesWarning,
    Problems,
    SourceLocation,
    did_you_mean,
)
from airflow_mlpipelines.pipeline import command, parallel, sdk_unsupported, transfer
from airflow_mlpipelines.pipeline.compute import ComputeTargetSpec
from airflow_mlpipelines.pipeline.datapath import datapath_dataset, datapath_parameter
from airflow_mlpipelines.pipeline.model import (
    DEFAULT_DATASTORE,
    LOCAL_COMPUTE,
    ArgPart,
    Argument,
    ComputeSpec,
    DatasetSpec,
    DatastoreSpec,
    OutputSpec,
    ParameterSpec,
    ParamType,
    PipelineSpec,
    Ref,
    ReferenceType,
    StepSpec,
    TransferEndpoint,
)
from airflow_mlpipelines.pipeline.validate import build_pipeline

DatasetMode = Literal["download", "direct"]

ROOT: Final = "pipeline"
"""The top-level key that marks a definition as SDK v1's dialect (our own format has no such key)."""
SUPPORTED: Final = ("PythonScriptStep", "CommandStep", "DataTransferStep", "ParallelRunStep")
AZURE_ONLY: Final = {
    "ModuleStep": sdk_unsupported.ModuleStep.instead,
    "AdlaStep": sdk_unsupported.AdlaStep.instead,
    "DatabricksStep": sdk_unsupported.DatabricksStep.instead,
    "AzureBatchStep": sdk_unsupported.AzureBatchStep.instead,
    "HyperDriveStep": sdk_unsupported.HyperDriveStep.instead,
    "AutoMLStep": sdk_unsupported.AutoMLStep.instead,
    "EstimatorStep": sdk_unsupported.EstimatorStep.instead,
    "MpiStep": sdk_unsupported.MpiStep.instead,
}
_PARAM_TYPES: Final[dict[str, ParamType | None]] = {
    "string": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "datapath": None,
}
_NO_DEFAULT: Final[dict[str, object]] = {"string": None, "int": 0, "float": 0.0, "bool": False}
_PIPELINE_KEYS: Final = ("name", "description", "parameters", "data_references", "default_compute", "steps")
_STEP_KEYS: Final = (
    "type",
    "name",
    "script_name",
    "command",
    "compute",
    "runconfig",
    "runconfig_parameters",
    "source_directory",
    "arguments",
    "inputs",
    "outputs",
    "parameters",
    "allow_reuse",
    "hash_paths",
    "version",
    "source_data_reference",
    "destination_data_reference",
    "source_reference_type",
    "destination_reference_type",
    "parallel_run_config",
    "input_data",
    "side_inputs",
)
_INPUT_MODES: Final = ("mount", "download", "direct")
_OUTPUT_MODES: Final = ("mount", "upload")
_SQL_KEYS: Final = ("sql_table", "sql_query", "sql_stored_procedure")


def is_sdk_dialect(data: Any) -> bool:
    """Whether a parsed YAML document is SDK v1's dialect (its top level is ``pipeline:``)."""
    return isinstance(data, dict) and ROOT in data


@dataclass(frozen=True)
class _DataRef:
    """A ``data_references`` entry (or a datapath parameter's default): a path, or a SQL end."""

    name: str
    datastore: str
    location: SourceLocation
    path: str | None = None
    sql: tuple[tuple[str, str], ...] = ()
    from_parameter: bool = False


@dataclass(frozen=True)
class _Input:
    """One input port: the name it has in the pipeline (a dataset or an output) and its bind mode."""

    name: str
    mode: str
    data_ref: _DataRef | None


class _Doc:
    """Where things are in the file: lines of mappings and keys, and warnings at a line."""

    def __init__(self, path: str) -> None:
        self.path = path

    def at(self, node: Any, key: Any = None) -> SourceLocation:
        lines: dict[Any, int] = getattr(node, "key_lines", {})
        line = lines.get(key) if key is not None else None
        return SourceLocation(self.path, line if line is not None else getattr(node, "line", None))

    def warn(self, message: str, where: SourceLocation) -> None:
        warnings.warn_explicit(message, MLPipelinesWarning, self.path, where.line or 0)

    def unknown_keys(self, node: Any, known: tuple[str, ...], what: str) -> None:
        for key in node:
            if key not in known:
                hint = did_you_mean(str(key), known)
                self.warn(
                    f"{what}: unknown key '{key}' is ignored" + (f" ({hint})" if hint else ""),
                    self.at(node, key),
                )


def _mapping(doc: _Doc, node: Any, key: str, *, step: str | None = None, field: str | None = None) -> Any:
    """``node[key]`` as a mapping ({} when absent or empty)."""
    value = node.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise DefinitionError(
            f"'{key}' must be a mapping, got {type(value).__name__}",
            location=doc.at(node, key),
            step=step,
            field=field or key,
        )
    return value


def load_sdk_yaml(path: str) -> PipelineSpec:
    """Load one SDK v1 pipeline YAML file."""
    from airflow_mlpipelines.pipeline.yaml_loader import read_yaml

    path = os.path.abspath(path)
    return pipeline_from_data(path, read_yaml(path))


def pipeline_from_data(path: str, data: Any) -> PipelineSpec:
    """The pipeline of a parsed SDK v1 YAML document (``data`` keeps line numbers, see ``read_yaml``)."""
    doc = _Doc(path)
    if not is_sdk_dialect(data):
        raise DefinitionError(
            'an SDK v1 pipeline YAML file must have a "pipeline:" section', location=SourceLocation(path, 1)
        )
    for key in data:
        if key != ROOT:
            doc.warn(
                f"top-level '{key}' is ignored (only 'pipeline:' defines the pipeline)", doc.at(data, key)
            )
    section = _mapping(doc, data, ROOT)
    doc.unknown_keys(section, _PIPELINE_KEYS, "pipeline")
    loader = _Loader(doc, section)
    return loader.pipeline()


class _Loader:
    """One document's pipeline: parameters and data references first, then the steps that use them."""

    def __init__(self, doc: _Doc, section: Any) -> None:
        self.doc = doc
        self.section = section
        self.base = os.path.dirname(doc.path)
        self.problems = Problems()
        self.parameters: dict[str, ParameterSpec] = {}
        self.datapaths: dict[str, _DataRef] = {}
        self.data_refs: dict[str, _DataRef] = {}
        self.used_refs: dict[str, tuple[_DataRef, DatasetMode]] = {}
        self.transfer_datasets: list[DatasetSpec] = []
        self.datastores: dict[str, DatastoreSpec] = {}
        self.default_compute = section.get("default_compute")
        self.producers: dict[str, str] = {}

    # -- the document ---------------------------------------------------------------------------
    def pipeline(self) -> PipelineSpec:
        with self.problems.each():
            self._parameters()
        with self.problems.each():
            self._data_references()
        steps_node = self.section.get("steps")
        if not isinstance(steps_node, dict) or not steps_node:
            self.problems.found.append(
                DefinitionError(
                    "the pipeline needs at least one step under 'steps:' (step id: {type: ..., ...})",
                    location=self.doc.at(self.section, "steps"),
                    field="steps",
                )
            )
            self.problems.raise_if_any()
        self._producers(steps_node)
        steps: list[StepSpec] = []
        for step_id, node in steps_node.items():
            with self.problems.each():
                steps.append(self._step(str(step_id), node, self.doc.at(steps_node, step_id)))
        self.problems.raise_if_any()
        datasets = [
            datapath_dataset(name, ref.name, ref.datastore, ref.path or "", mode, ref.location)
            if ref.from_parameter
            else DatasetSpec(name, ref.datastore, (ref.path or "",), mode, "file", ref.location)
            for name, (ref, mode) in self.used_refs.items()
        ] + self.transfer_datasets
        targets = self._undeclared_targets(steps)
        name = os.path.splitext(os.path.basename(self.doc.path))[0]
        description = self.section.get("description") or self.section.get("name")
        return build_pipeline(
            name=name,
            steps=steps,
            description=str(description) if description is not None else None,
            parameters=list(self.parameters.values()),
            datastores=list(self.datastores.values()),
            datasets=datasets,
            source=SourceLocation(self.doc.path, 1),
            compute_targets=targets,
        )

    def _parameters(self) -> None:
        node = _mapping(self.doc, self.section, "parameters")
        for name, spec in node.items():
            where = self.doc.at(node, name)
            field = f"parameters.{name}"
            kind = spec.get("type") if isinstance(spec, dict) else None
            if kind not in _PARAM_TYPES:
                raise DefinitionError(
                    f"parameter '{name}' must have a type of string, int, float, bool or datapath"
                    + (f", got {kind!r}" if kind is not None else ""),
                    location=where,
                    field=f"{field}.type",
                    hint=did_you_mean(str(kind), _PARAM_TYPES) if kind is not None else None,
                )
            if kind == "datapath":
                self.datapaths[str(name)] = self._datapath(str(name), spec, where)
                continue
            default = spec.get("default", _NO_DEFAULT[kind])
            try:
                value = _convert(kind, default)
            except (TypeError, ValueError):
                raise DefinitionError(
                    f"parameter '{name}': default {default!r} is not a {kind}",
                    location=self.doc.at(spec, "default"),
                    field=f"{field}.default",
                ) from None
            self.parameters[str(name)] = ParameterSpec(str(name), value, type=_PARAM_TYPES[kind])

    def _datapath(self, name: str, spec: Any, where: SourceLocation) -> _DataRef:
        """A datapath parameter: a data path parameter whose default is what steps read unless a run's
        ``conf`` names another path (``pipeline/datapath.py``)."""
        default = spec.get("default")
        if not isinstance(default, dict) or "datastore" not in default or "path_on_datastore" not in default:
            raise DefinitionError(
                f"datapath parameter '{name}' needs a default with datastore and path_on_datastore",
                location=self.doc.at(spec, "default") if "default" in spec else where,
                field=f"parameters.{name}.default",
                hint="default: {datastore: workspaceblobstore, path_on_datastore: data/input.csv}",
            )
        store = str(default["datastore"])
        self._datastore(store)
        # A run's conf picks another path ({"datastore", "path_on_datastore"} or "datastore/path").
        self.parameters[name] = datapath_parameter(name, store, str(default["path_on_datastore"]))
        return _DataRef(name, store, where, path=str(default["path_on_datastore"]), from_parameter=True)

    def _data_references(self) -> None:
        node = _mapping(self.doc, self.section, "data_references")
        for name, spec in node.items():
            where = self.doc.at(node, name)
            if not isinstance(spec, dict):
                raise DefinitionError(
                    f"data reference '{name}' must be a mapping",
                    location=where,
                    field=f"data_references.{name}",
                )
            if "dataset_name" in spec or "dataset_id" in spec:
                raise DefinitionError(
                    f"data reference '{name}' names a registered dataset, which a YAML definition cannot "
                    "resolve (the dataset registry is read in a notebook, and parsing reads no store)",
                    location=where,
                    field=f"data_references.{name}",
                    hint="give the files' datastore and path_on_datastore instead",
                )
            if "datastore" not in spec:
                raise DefinitionError(
                    f"data reference '{name}' needs a datastore",
                    location=where,
                    field=f"data_references.{name}.datastore",
                )
            store = str(spec["datastore"])
            sql = tuple((k, str(spec[k])) for k in _SQL_KEYS if spec.get(k) is not None)
            if sql:
                if spec.get("sql_stored_procedure_params"):
                    self.doc.warn(
                        f"data reference '{name}': sql_stored_procedure_params are not passed yet",
                        self.doc.at(spec, "sql_stored_procedure_params"),
                    )
                self.data_refs[str(name)] = _DataRef(str(name), store, where, sql=sql)
            elif "path_on_datastore" in spec:
                path = str(spec["path_on_datastore"])
                self.data_refs[str(name)] = _DataRef(str(name), store, where, path=path)
            else:
                raise DefinitionError(
                    f"data reference '{name}' needs path_on_datastore (or sql_table/sql_query/"
                    "sql_stored_procedure)",
                    location=where,
                    field=f"data_references.{name}",
                )

    def _producers(self, steps_node: Any) -> None:
        """Every output destination and the step that writes it (inputs may name later steps' outputs)."""
        for step_id, node in steps_node.items():
            if not isinstance(node, dict):
                continue
            outputs = node.get("outputs") if node.get("type") != "DataTransferStep" else None
            if isinstance(outputs, dict):
                for spec in outputs.values():
                    if isinstance(spec, dict) and spec.get("destination") is not None:
                        self.producers.setdefault(str(spec["destination"]), str(step_id))
            dest = node.get("destination_data_reference")
            if node.get("type") == "DataTransferStep" and isinstance(dest, dict):
                for spec in dest.values():
                    target = spec.get("source") if isinstance(spec, dict) else None
                    if target is not None and target not in self.data_refs:
                        self.producers.setdefault(str(target), str(step_id))

    def _datastore(self, name: str, sql: bool = False) -> None:
        if name != DEFAULT_DATASTORE or sql:
            # Datastores are names in SDK v1's YAML: files under the datastore root, or, for SQL, the
            # Airflow connection of that name (as Datastore.register_azure_sql_database maps here).
            self.datastores.setdefault(name, DatastoreSpec(name, connection=name if sql else None))

    def _undeclared_targets(self, steps: list[StepSpec]) -> list[ComputeTargetSpec]:
        """Compute targets are names of Azure clusters here: each runs its steps as local processes."""
        targets: dict[str, ComputeTargetSpec] = {}
        for step in steps:
            name = step.compute.name
            if name != LOCAL_COMPUTE and name not in targets:
                targets[name] = ComputeTargetSpec(name, kind="local", location=step.location)
                if step.location is not None:
                    self.doc.warn(
                        f"step '{step.name}': compute '{name}' runs as a local process on the worker "
                        "(declare targets in this provider's YAML format to use Docker or Kubernetes)",
                        step.location,
                    )
        return list(targets.values())

    # -- steps ----------------------------------------------------------------------------------
    def _step(self, step_id: str, node: Any, where: SourceLocation) -> StepSpec:
        if not isinstance(node, dict):
            raise DefinitionError("a step must be a mapping", location=where, step=step_id)
        self.doc.unknown_keys(node, _STEP_KEYS, f"step '{step_id}'")
        kind = node.get("type")

        def bad_type(message: str, hint: str | None) -> DefinitionError:
            return DefinitionError(
                message, location=self.doc.at(node, "type"), step=step_id, field="type", hint=hint
            )

        if kind is None:
            raise DefinitionError(
                "the step has no type",
                location=where,
                step=step_id,
                field="type",
                hint=f"type: one of {', '.join(SUPPORTED)}",
            )
        if kind in AZURE_ONLY:
            raise bad_type(f"{kind} is an Azure-only step and cannot run on Airflow", AZURE_ONLY[kind])
        if kind not in SUPPORTED:
            raise bad_type(
                f"unknown step type {kind!r}",
                did_you_mean(str(kind), [*SUPPORTED, *AZURE_ONLY]) or f"supported: {', '.join(SUPPORTED)}",
            )
        for key in ("runconfig", "runconfig_parameters"):
            if key in node:
                self.doc.warn(
                    f"step '{step_id}': {key} is not read (the step runs with the worker's Python; declare "
                    "an environment in this provider's YAML format for its image and packages)",
                    self.doc.at(node, key),
                )
        if kind == "DataTransferStep":
            return self._transfer_step(step_id, node, where)
        if kind == "ParallelRunStep":
            return self._parallel_step(step_id, node, where)
        return self._script_step(step_id, str(kind), node, where)

    def _common(self, step_id: str, node: Any) -> dict[str, Any]:
        allow_reuse = node.get("allow_reuse", True)
        if not isinstance(allow_reuse, bool):
            raise DefinitionError(
                f"allow_reuse must be true or false, got {allow_reuse!r}",
                location=self.doc.at(node, "allow_reuse"),
                step=step_id,
                field="allow_reuse",
            )
        for key in ("name", "version", "source_directory", "script_name"):
            value = node.get(key)
            if value is not None and not isinstance(value, str):
                raise DefinitionError(
                    f"{key} must be a string, got {value!r}",
                    location=self.doc.at(node, key),
                    step=step_id,
                    field=key,
                )
        compute = node.get("compute") or self.default_compute or LOCAL_COMPUTE
        return {"allow_reuse": allow_reuse, "compute": str(compute)}

    def _script_step(self, step_id: str, kind: str, node: Any, where: SourceLocation) -> StepSpec:
        common = self._common(step_id, node)
        inputs = self._inputs(step_id, node, "inputs")
        outputs = self._outputs(step_id, node)
        params = self._step_parameters(step_id, node)
        hash_paths = node.get("hash_paths") or []
        if not isinstance(hash_paths, list) or not all(isinstance(p, str) for p in hash_paths):
            raise DefinitionError(
                "hash_paths must be a list of paths",
                location=self.doc.at(node, "hash_paths"),
                step=step_id,
                field="hash_paths",
            )
        script_name = ""
        if kind == "PythonScriptStep":
            script_name = node.get("script_name") or ""
            if not script_name:
                raise DefinitionError(
                    "a PythonScriptStep needs script_name",
                    location=where,
                    step=step_id,
                    field="script_name",
                    hint="script_name: train.py (relative to source_directory)",
                )
            words = self._words(step_id, node, "arguments", inputs, outputs, params)
        else:
            words = self._words(step_id, node, "command", inputs, outputs, params)
            command.check_command(words, location=where, step=step_id)
        source = node.get("source_directory") or "."
        return StepSpec(
            name=step_id,
            kind="python_script" if kind == "PythonScriptStep" else "command",
            script_name=script_name,
            source_directory=os.path.normpath(os.path.join(self.base, source)),
            arguments=tuple(words),
            inputs=tuple(dict.fromkeys(i.name for i in inputs.values())),
            outputs=tuple(outputs.values()),
            compute=ComputeSpec(common["compute"]),
            allow_reuse=common["allow_reuse"],
            hash_paths=tuple(hash_paths),
            version=node.get("version"),
            location=where,
        )

    def _parallel_step(self, step_id: str, node: Any, where: SourceLocation) -> StepSpec:
        """SDK v1's ParallelRunStep: ``parallel_run_config`` inline (its keywords), the cut input as the
        first port of ``input_data`` (or ``inputs``), ``side_inputs`` staged whole, one output port."""
        common = self._common(step_id, node)
        key = "input_data" if "input_data" in node else "inputs"
        inputs = self._inputs(step_id, node, key)
        if not inputs:
            raise DefinitionError(
                "a ParallelRunStep needs an input to cut into mini-batches",
                location=where,
                step=step_id,
                field="input_data",
                hint="input_data: {images: {source: <data reference or step output>}}",
            )
        side = self._inputs(step_id, node, "side_inputs")
        outputs = self._outputs(step_id, node)
        if len(outputs) > 1:
            raise DefinitionError(
                "a ParallelRunStep has one output",
                location=self.doc.at(node, "outputs"),
                step=step_id,
                field="outputs",
            )
        if not outputs:
            outputs = {"output": OutputSpec(f"{step_id}_output", DEFAULT_DATASTORE)}
        params = self._step_parameters(step_id, node)
        config = self._parallel_config(step_id, node)
        words = self._words(step_id, node, "arguments", {**inputs, **side}, outputs, params)
        source = config.get("source_directory") or node.get("source_directory") or "."
        batched = next(iter(inputs.values())).name
        output = next(iter(outputs.values())).name
        settings = {k: v for k, v in config.items() if k not in ("source_directory", "environment")}
        spec = parallel.build_spec(
            settings,
            input_name=batched,
            output=output,
            where=self.doc.at(node, "parallel_run_config"),
            step=step_id,
        )
        return StepSpec(
            name=step_id,
            kind="parallel_run",
            script_name=spec.entry_script,
            source_directory=os.path.normpath(os.path.join(self.base, str(source))),
            arguments=tuple(words),
            inputs=tuple(dict.fromkeys(i.name for i in [*inputs.values(), *side.values()])),
            outputs=tuple(outputs.values()),
            compute=ComputeSpec(str(config.get("compute_target") or common["compute"])),
            allow_reuse=common["allow_reuse"],
            version=node.get("version"),
            location=where,
            parallel=spec,
        )

    def _parallel_config(self, step_id: str, node: Any) -> Any:
        """``parallel_run_config``: inline, or the path of a YAML file of its keywords (SDK v1 allowed
        both), relative to this file."""
        value = node.get("parallel_run_config")
        if not isinstance(value, str):
            return _mapping(self.doc, node, "parallel_run_config", step=step_id)
        from airflow_mlpipelines.pipeline.yaml_loader import read_yaml

        path = os.path.join(self.base, value)
        if not os.path.isfile(path):
            raise DefinitionError(
                f"parallel_run_config file {path} does not exist",
                location=self.doc.at(node, "parallel_run_config"),
                step=step_id,
                field="parallel_run_config",
            )
        data = read_yaml(path)
        if isinstance(data, dict) and isinstance(data.get("parallel_run_config"), dict):
            data = data["parallel_run_config"]
        if not isinstance(data, dict):
            raise DefinitionError(
                f"{path} must hold a mapping of ParallelRunConfig keywords",
                location=self.doc.at(node, "parallel_run_config"),
                step=step_id,
                field="parallel_run_config",
            )
        return data

    def _inputs(self, step_id: str, node: Any, key: str) -> dict[str, _Input]:
        """Input ports: a datapath parameter, else a data reference, else another step's output."""
        section = _mapping(self.doc, node, key, step=step_id)
        ports: dict[str, _Input] = {}
        for port, spec in section.items():
            field = f"{key}.{port}"
            where = self.doc.at(section, port)
            if not isinstance(spec, dict) or spec.get("source") is None:
                raise DefinitionError(
                    f"input '{port}' must have a source",
                    location=where,
                    step=step_id,
                    field=f"{field}.source",
                    hint="inputs: {port: {source: <data reference, datapath parameter or output>}}",
                )
            mode = self._bind_mode(spec, _INPUT_MODES, "mount or download", f"input '{port}'", field, step_id)
            source = str(spec["source"])
            ref = self.datapaths.get(source) or self.data_refs.get(source)
            if ref is not None:
                if ref.sql:
                    raise DefinitionError(
                        f"input '{port}': data reference '{source}' is a SQL table or query, which has "
                        "no files",
                        location=self.doc.at(spec, "source"),
                        step=step_id,
                        field=f"{field}.source",
                        hint="copy it to files with a DataTransferStep and consume that step's output",
                    )
                self._use(ref, "download" if mode == "download" else "direct")
                ports[str(port)] = _Input(source, mode, ref)
            elif source in self.producers:
                ports[str(port)] = _Input(source, mode, None)
            else:
                known = [*self.datapaths, *self.data_refs, *self.producers]
                raise DefinitionError(
                    f"input '{port}': unknown source '{source}' (not a datapath parameter, a data reference "
                    "or any step's output destination)",
                    location=self.doc.at(spec, "source"),
                    step=step_id,
                    field=f"{field}.source",
                    hint=did_you_mean(source, known) or f"known sources: {', '.join(known) or 'none'}",
                )
        return ports

    def _use(self, ref: _DataRef, mode: DatasetMode) -> None:
        self.used_refs.setdefault(ref.name, (ref, mode))
        self._datastore(ref.datastore)

    def _bind_mode(
        self, spec: dict[str, Any], modes: tuple[str, ...], allowed: str, port: str, field: str, step_id: str
    ) -> str:
        """A port's ``bind_mode`` (SDK v1 also read ``type``; default ``mount``), one of ``modes``."""
        mode = str(spec.get("bind_mode", spec.get("type", "mount")))
        if mode not in modes:
            mode_key = "bind_mode" if "bind_mode" in spec else "type"
            raise DefinitionError(
                f"{port}: bind_mode {mode!r} must be {allowed}",
                location=self.doc.at(spec, mode_key),
                step=step_id,
                field=f"{field}.{mode_key}",
                hint=did_you_mean(mode, modes),
            )
        return mode

    def _outputs(self, step_id: str, node: Any) -> dict[str, OutputSpec]:
        section = _mapping(self.doc, node, "outputs", step=step_id)
        ports: dict[str, OutputSpec] = {}
        for port, spec in section.items():
            field = f"outputs.{port}"
            where = self.doc.at(section, port)
            if not isinstance(spec, dict) or spec.get("destination") is None:
                raise DefinitionError(
                    f"output '{port}' must have a destination",
                    location=where,
                    step=step_id,
                    field=f"{field}.destination",
                    hint="outputs: {port: {destination: <name later steps use as source>}}",
                )
            self._bind_mode(spec, _OUTPUT_MODES, "mount or upload", f"output '{port}'", field, step_id)
            store = str(spec.get("datastore") or DEFAULT_DATASTORE)
            self._datastore(store)
            ports[str(port)] = OutputSpec(str(spec["destination"]), store)
        return ports

    def _step_parameters(self, step_id: str, node: Any) -> dict[str, ArgPart]:
        """A step's ``parameters``: a literal, or ``{source: <pipeline parameter>}``."""
        section = _mapping(self.doc, node, "parameters", step=step_id)
        values: dict[str, ArgPart] = {}
        for name, value in section.items():
            if isinstance(value, dict) and "source" in value:
                source = str(value["source"])
                if source not in self.parameters:
                    raise DefinitionError(
                        f"parameter '{name}' is assigned to source '{source}', which doesn't exist",
                        location=self.doc.at(value, "source"),
                        step=step_id,
                        field=f"parameters.{name}.source",
                        hint=did_you_mean(source, self.parameters)
                        or f"pipeline parameters: {', '.join(self.parameters) or 'none'}",
                    )
                values[str(name)] = Ref("parameter", source)
            else:
                values[str(name)] = _text(value)
        return values

    def _words(
        self,
        step_id: str,
        node: Any,
        key: str,
        inputs: dict[str, _Input],
        outputs: dict[str, OutputSpec],
        params: dict[str, ArgPart],
    ) -> list[Argument]:
        """``arguments`` (or a CommandStep's ``command``): ``input:``/``output:``/``parameter:`` tokens
        become references; anything else (an unknown port too, as in SDK v1) stays text."""
        value = node.get(key)
        where = self.doc.at(node, key)
        if value is None:
            return []
        if key == "command" and isinstance(value, str):
            items: list[Any] = command.split_words(value, location=where, step=step_id, field=key)
        elif isinstance(value, list):
            items = value
        else:
            raise DefinitionError(
                f"{key} must be a list" + (" or a string" if key == "command" else ""),
                location=where,
                step=step_id,
                field=key,
            )
        used_params: set[str] = set()
        words: list[Argument] = []
        for item in items:
            if isinstance(item, dict | list) or item is None:
                raise DefinitionError(
                    f"{key}: {item!r} is not a word (write input:<port>, output:<port> or text)",
                    location=where,
                    step=step_id,
                    field=key,
                )
            text = _text(item)
            part = self._token(text, inputs, outputs, params)
            if text.startswith("parameter:"):
                used_params.add(text.partition(":")[2])
            if part is None:
                self.doc.warn(
                    f"{key}: '{text}' names no port or parameter of the step and is passed as text (as "
                    "SDK v1 did)",
                    where,
                )
                part = text
            words.append(Argument((part,)))
        unused = sorted(set(params) - used_params)
        if unused:
            self.doc.warn(
                f"step '{step_id}': parameters {', '.join(unused)} reach the script only as "
                "parameter:<name> arguments here (SDK v1 also set AML_PARAMETER_<name> environment "
                "variables, which are not set)",
                self.doc.at(node, "parameters"),
            )
        return words

    def _token(
        self,
        text: str,
        inputs: dict[str, _Input],
        outputs: dict[str, OutputSpec],
        params: dict[str, ArgPart],
    ) -> ArgPart | None:
        """What one word is: a reference for ``input:``/``output:``/``parameter:`` naming a port or
        parameter, None when such a token names nothing, else the text itself."""
        prefix, _, name = text.partition(":")
        if not name or prefix not in ("input", "output", "parameter"):
            return text
        if prefix == "input":
            return Ref("input", inputs[name].name) if name in inputs else None
        if prefix == "output":
            return Ref("output", outputs[name].name) if name in outputs else None
        if name in params:
            return params[name]
        return Ref("parameter", name) if name in self.parameters else None

    def _transfer_step(self, step_id: str, node: Any, where: SourceLocation) -> StepSpec:
        common = self._common(step_id, node)
        source = self._one_end(step_id, node, "source_data_reference")
        destination = self._one_end(step_id, node, "destination_data_reference")
        types: dict[str, ReferenceType | None] = {}
        for key in ("source_reference_type", "destination_reference_type"):
            value = node.get(key)
            if value not in (None, "file", "directory"):
                raise DefinitionError(
                    f"{key} must be file or directory, got {value!r}",
                    location=self.doc.at(node, key),
                    step=step_id,
                    field=key,
                )
            types[key] = value
        source_ref = self.datapaths.get(source) or self.data_refs.get(source)
        endpoint: TransferEndpoint | None = None
        source_input: str | None = None
        if source_ref is not None:
            endpoint = self._endpoint(source_ref, types["source_reference_type"])
        elif source in self.producers:
            source_input = source
        else:
            known = [*self.datapaths, *self.data_refs, *self.producers]
            raise DefinitionError(
                f"unknown source '{source}'",
                location=self.doc.at(node, "source_data_reference"),
                step=step_id,
                field="source_data_reference",
                hint=did_you_mean(source, known) or f"known sources: {', '.join(known) or 'none'}",
            )
        dest_ref = self.data_refs.get(destination)
        if dest_ref is not None:
            dest_end = self._endpoint(dest_ref, types["destination_reference_type"])
        else:
            dest_end = TransferEndpoint(DEFAULT_DATASTORE, reference_type=types["destination_reference_type"])
        if common["compute"] != LOCAL_COMPUTE:
            self.doc.warn(
                f"step '{step_id}': compute '{common['compute']}' is ignored: a data transfer runs on the "
                "Airflow worker (Azure ML ran it on Data Factory)",
                self.doc.at(node, "compute") if "compute" in node else where,
            )
        spec, made = transfer.build_step(
            name=step_id,
            base_dir=self.base,
            source=endpoint,
            source_input=source_input,
            destination=dest_end,
            destination_output=None if dest_ref is not None and dest_ref.sql else destination,
            destination_fixed=dest_ref is not None,
            allow_reuse=common["allow_reuse"],
            location=where,
        )
        self.transfer_datasets.extend(made)
        return spec

    def _one_end(self, step_id: str, node: Any, key: str) -> str:
        """The one binding of a transfer's source or destination: ``{port: {source: name}}``."""
        section = _mapping(self.doc, node, key, step=step_id)
        ends = [v.get("source") for v in section.values() if isinstance(v, dict)]
        if len(section) != 1 or len(ends) != 1 or ends[0] is None:
            raise DefinitionError(
                f"a DataTransferStep needs exactly one {key} with a source",
                location=self.doc.at(node, key) if key in node else self.doc.at(node),
                step=step_id,
                field=key,
                hint=f"{key}: {{port: {{source: <data reference or output>}}}}",
            )
        return str(ends[0])

    def _endpoint(self, ref: _DataRef, reference_type: ReferenceType | None) -> TransferEndpoint:
        self._datastore(ref.datastore, sql=bool(ref.sql))
        if ref.sql:
            sql = dict(ref.sql)
            return TransferEndpoint(
                ref.datastore,
                sql_table=sql.get("sql_table"),
                sql_query=sql.get("sql_query"),
                sql_stored_procedure=sql.get("sql_stored_procedure"),
            )
        return TransferEndpoint(ref.datastore, path=ref.path, reference_type=reference_type)


def _convert(kind: str, value: object) -> object:
    """A default as SDK v1 converted it (``str()``, ``int()``, ``float()``, ``bool()``)."""
    if value is None:
        return None
    if kind == "string":
        return str(value)
    if kind == "int":
        return int(value)  # type: ignore[call-overload]
    if kind == "float":
        return float(value)  # type: ignore[arg-type]
    return bool(value)


def _text(value: object) -> str:
    """A scalar as the text a script sees (YAML true is ``true``, as in this provider's arguments)."""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
