"""``ParallelRunStep`` and ``ParallelRunConfig``: Azure ML SDK v1's batch step, as a ``parallel_run`` step.

The step is a ``PythonScriptStep`` in what it shares with one (inputs, output, compute target,
environment, ``arguments``, ``allow_reuse``): it compiles through the same code, then its kind becomes
``parallel_run`` and its ``ParallelRunConfig`` is checked by ``pipeline/parallel.py``. Its one data input
(the first of ``inputs``) is cut into mini-batches at run time; ``side_inputs`` are staged whole.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.pipeline import parallel as rules
from airflow_mlpipelines.pipeline.sdk import Environment, PipelineData, RunConfiguration, _caller_location
from airflow_mlpipelines.pipeline.sdk_steps import PythonScriptStep

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_mlpipelines.pipeline.model import StepSpec


_KEYWORDS = (
    "entry_script",
    "error_threshold",
    "output_action",
    "compute_target",
    "node_count",
    "process_count_per_node",
    "mini_batch_size",
    "source_directory",
    "description",
    "logging_level",
    "run_invocation_timeout",
    "run_max_try",
    "append_row_file_name",
    "allowed_failed_count",
    "allowed_failed_percent",
    "partition_keys",
    "environment_variables",
)


class ParallelRunConfig:
    """SDK v1's ``ParallelRunConfig``: the entry script, the mini-batch size, the error rules, the output
    action, the compute target and environment. Values are checked when the step is built."""

    def __init__(
        self,
        environment: Environment | None = None,
        entry_script: str | None = None,
        error_threshold: int = -1,
        output_action: str = "append_row",
        compute_target: Any = None,
        node_count: int = 1,
        process_count_per_node: int | None = None,
        mini_batch_size: int | str | None = None,
        source_directory: str | None = None,
        description: str | None = None,
        logging_level: str = "INFO",
        run_invocation_timeout: int = 60,
        run_max_try: int = 3,
        append_row_file_name: str | None = None,
        allowed_failed_count: int | None = None,
        allowed_failed_percent: float | None = None,
        partition_keys: Sequence[str] | None = None,
        environment_variables: dict[str, str] | None = None,
    ) -> None:
        self.location = _caller_location()
        self.environment = environment
        self.compute_target = compute_target
        self.source_directory = source_directory
        self.description = description
        self.settings: dict[str, Any] = {
            "entry_script": entry_script,
            "error_threshold": error_threshold,
            "output_action": output_action,
            "node_count": node_count,
            "process_count_per_node": process_count_per_node,
            "mini_batch_size": mini_batch_size,
            "logging_level": logging_level,
            "run_invocation_timeout": run_invocation_timeout,
            "run_max_try": run_max_try,
            "append_row_file_name": append_row_file_name,
            "allowed_failed_count": allowed_failed_count,
            "allowed_failed_percent": allowed_failed_percent,
            "partition_keys": list(partition_keys or []),
            "environment_variables": dict(environment_variables or {}),
        }

    @staticmethod
    def load_yaml(workspace: Any, filename: str) -> ParallelRunConfig:
        """SDK v1's ``ParallelRunConfig.load_yaml``: the keywords from a YAML mapping (at the top or under
        ``parallel_run_config:``), ``compute_target`` and ``environment`` by name. A relative ``filename``
        is relative to the file that calls this (the definition), as ``source_directory`` is."""
        import os

        import yaml

        where = _caller_location()
        path = filename
        if not os.path.isabs(path) and where.file != "<unknown>":
            path = os.path.join(os.path.dirname(os.path.abspath(where.file)), filename)
        try:
            with open(path, encoding="utf-8") as fh:
                data = yaml.safe_load(fh) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise DefinitionError(
                f"cannot read the ParallelRunConfig YAML {path}: {exc}", location=where, field="filename"
            ) from None
        if isinstance(data, dict) and isinstance(data.get("parallel_run_config"), dict):
            data = data["parallel_run_config"]
        if not isinstance(data, dict):
            raise DefinitionError(
                f"{path} must hold a mapping of ParallelRunConfig keywords", location=where, field="filename"
            )
        values = dict(data)
        environment = values.pop("environment", None)
        config = ParallelRunConfig(
            environment=None if environment is None else Environment.get(workspace, str(environment)),
            **{k: v for k, v in values.items() if k in _KEYWORDS},
        )
        unknown = sorted(set(values) - set(_KEYWORDS))
        if unknown:  # reported by the rules when the step is built, at this call's line
            config.settings.update({k: values[k] for k in unknown})
        config.location = where
        return config

    @property
    def entry_script(self) -> str | None:
        """The script with ``init()`` and ``run(mini_batch)``, relative to ``source_directory``."""
        value = self.settings["entry_script"]
        return None if value is None else str(value)


class ParallelRunStep(PythonScriptStep):
    """Run ``parallel_run_config.entry_script``'s ``run(mini_batch)`` over mini-batches of ``inputs[0]``
    (SDK v1's ParallelRunStep); each mini-batch is a mapped Airflow task, reused on its own."""

    def __init__(
        self,
        name: str,
        parallel_run_config: ParallelRunConfig,
        inputs: Sequence[Any],
        output: PipelineData | None = None,
        side_inputs: Sequence[Any] | None = None,
        arguments: Sequence[Any] | None = None,
        allow_reuse: bool = True,
    ) -> None:
        location = _caller_location()
        if not isinstance(parallel_run_config, ParallelRunConfig):
            raise DefinitionError(
                "parallel_run_config must be a ParallelRunConfig",
                location=location,
                step=name,
                field="parallel_run_config",
            )
        if not inputs:
            raise DefinitionError(
                "a ParallelRunStep needs one input to cut into mini-batches",
                location=location,
                step=name,
                field="inputs",
                hint="inputs=[Dataset.File.from_files(...).as_named_input('images')]",
            )
        if len(inputs) > 1:
            raise DefinitionError(
                "a ParallelRunStep reads one input in mini-batches; pass the others as side_inputs",
                location=location,
                step=name,
                field="inputs",
            )
        config = parallel_run_config
        runconfig = RunConfiguration()
        runconfig.target = config.compute_target
        if config.environment is not None:
            runconfig.environment = config.environment
        self.parallel_run_config = config
        self.output = output if output is not None else PipelineData(f"{name}_output")
        entry = config.entry_script or ""
        super().__init__(
            script_name=entry,
            name=name,
            arguments=list(arguments or []),
            compute_target=config.compute_target,
            runconfig=runconfig,
            inputs=[*inputs, *(side_inputs or [])],
            outputs=[self.output],
            source_directory=config.source_directory,
            allow_reuse=allow_reuse,
        )
        self.location = location
        self._batched = inputs[0]

    def spec(self, base_dir: str, default_source_directory: str | None) -> tuple[StepSpec, list[Any]]:
        """The PythonScriptStep's compilation, as a ``parallel_run`` step with its checked settings."""
        step, used = super().spec(base_dir, default_source_directory)
        names: list[str] = []
        batched = self._input_name(self._batched, names, [])
        parallel = rules.build_spec(
            {k: v for k, v in self.parallel_run_config.settings.items() if v is not None},
            input_name=batched,
            output=self.output.name,
            where=self.parallel_run_config.location,
            step=self.name,
        )
        return replace(step, kind="parallel_run", parallel=parallel), used
