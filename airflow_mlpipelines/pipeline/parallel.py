"""Rules of a parallel run step (Azure ML SDK v1's ``ParallelRunStep`` / ``ParallelRunConfig``).

One place builds and checks the settings for every form (SDK v1 Python, YAML, SDK v1's YAML dialect),
so each bad value is a :class:`DefinitionError` naming the file:line, the step and the field. The
mini-batch size is SDK v1's: a count of files for a file input, a size (``"1MB"``, ``"256KB"``, bytes)
for a tabular one; None takes SDK v1's defaults.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Final

from airflow_mlpipelines.exceptions import DefinitionError, did_you_mean
from airflow_mlpipelines.pipeline.model import ParallelRunSpec

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from airflow_mlpipelines.exceptions import Problems, SourceLocation
    from airflow_mlpipelines.pipeline.model import DatasetSpec, StepSpec

OUTPUT_ACTIONS: Final = ("append_row", "summary_only")
DEFAULT_FILES: Final = 10
"""SDK v1: a file dataset's mini-batch is 10 files unless told otherwise."""
DEFAULT_BYTES: Final = 1024 * 1024
"""SDK v1: a tabular dataset's mini-batch is about 1 MB unless told otherwise."""
DEFAULT_ROW_FILE: Final = "parallel_run_step.txt"
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?B?)\s*$", re.IGNORECASE)
_UNITS: Final = {"": 1, "B": 1, "K": 1024, "KB": 1024, "M": 1024**2, "MB": 1024**2, "G": 1024**3}
_UNITS.update({"GB": 1024**3, "T": 1024**4, "TB": 1024**4})
KEYS: Final = (
    "entry_script",
    "mini_batch_size",
    "error_threshold",
    "allowed_failed_count",
    "allowed_failed_percent",
    "output_action",
    "append_row_file_name",
    "process_count_per_node",
    "node_count",
    "run_invocation_timeout",
    "run_max_try",
    "partition_keys",
    "logging_level",
    "environment_variables",
    "source_directory",
    "environment",
    "compute_target",
    "description",
)
"""``ParallelRunConfig``'s keyword arguments (SDK v1), also the YAML keys of ``parallel_run_config``."""


def parse_size(value: object) -> int:
    """``"1MB"`` / ``"256KB"`` / ``"1024"`` / 1024 as bytes (1 KB = 1024 bytes, as SDK v1 counts)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if isinstance(value, int):
        return value
    match = _SIZE.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a size (a number of bytes, or e.g. '256KB', '1MB')")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def _error(message: str, where: SourceLocation | None, step: str, field: str, hint: str | None = None) -> Any:
    return DefinitionError(
        message, location=where, step=step, field=f"parallel_run_config.{field}", hint=hint
    )


def _int(value: object, where: SourceLocation | None, step: str, field: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _error(f"{field} must be an integer >= {minimum}, not {value!r}", where, step, field)
    return value


def _check_keys(config: Mapping[str, Any], where: SourceLocation | None, step: str) -> None:
    unknown = sorted(set(config) - set(KEYS))
    if unknown:
        raise _error(
            f"unknown ParallelRunConfig setting {unknown[0]!r}",
            where,
            step,
            unknown[0],
            did_you_mean(unknown[0], list(KEYS)),
        )


def _entry_and_action(config: Mapping[str, Any], where: SourceLocation | None, step: str) -> tuple[str, Any]:
    entry = config.get("entry_script")
    if not isinstance(entry, str) or not entry.strip():
        raise _error(
            "entry_script is required: the script with init() and run(mini_batch)",
            where,
            step,
            "entry_script",
            "entry_script='score.py' (relative to source_directory)",
        )
    action = config.get("output_action", "append_row")
    if action not in OUTPUT_ACTIONS:
        raise _error(
            f"output_action must be one of {', '.join(OUTPUT_ACTIONS)}, not {action!r}",
            where,
            step,
            "output_action",
            did_you_mean(str(action), list(OUTPUT_ACTIONS)),
        )
    return entry.strip(), action


def _batch_size(value: object, where: SourceLocation | None, step: str) -> int | None:
    if value is None:
        return None
    try:
        size = parse_size(value)
    except ValueError as exc:
        raise _error(str(exc), where, step, "mini_batch_size") from None
    if size < 1:
        raise _error(f"mini_batch_size must be at least 1, not {value!r}", where, step, "mini_batch_size")
    return size


def _failure_limits(
    config: Mapping[str, Any], where: SourceLocation | None, step: str
) -> tuple[int, int | None, float | None]:
    threshold = _int(config.get("error_threshold", -1), where, step, "error_threshold", -1)
    count = config.get("allowed_failed_count")
    if count is not None:
        count = _int(count, where, step, "allowed_failed_count", 0)
    percent = config.get("allowed_failed_percent")
    if percent is not None and (
        isinstance(percent, bool) or not isinstance(percent, int | float) or not 0 <= percent <= 100
    ):
        raise _error(
            f"allowed_failed_percent must be a number from 0 to 100, not {percent!r}",
            where,
            step,
            "allowed_failed_percent",
        )
    return threshold, count, None if percent is None else float(percent)


def _outputs_and_env(
    config: Mapping[str, Any], where: SourceLocation | None, step: str
) -> tuple[tuple[str, ...], str, dict[str, Any]]:
    keys = config.get("partition_keys") or ()
    if isinstance(keys, str) or not all(isinstance(k, str) and k for k in keys):
        raise _error("partition_keys must be a list of column names", where, step, "partition_keys")
    row_file = config.get("append_row_file_name") or DEFAULT_ROW_FILE
    if not isinstance(row_file, str) or "/" in row_file or row_file in (".", ".."):
        raise _error(
            f"append_row_file_name must be a file name, not {row_file!r}", where, step, "append_row_file_name"
        )
    env = config.get("environment_variables") or {}
    if not isinstance(env, dict):
        raise _error("environment_variables must be a mapping", where, step, "environment_variables")
    return tuple(keys), row_file, env


def build_spec(
    config: Mapping[str, Any], *, input_name: str, output: str, where: SourceLocation | None, step: str
) -> ParallelRunSpec:
    """The step's settings from ``ParallelRunConfig``'s keywords (SDK v1 names); checks every value."""
    _check_keys(config, where, step)
    entry, action = _entry_and_action(config, where, step)
    threshold, count, percent = _failure_limits(config, where, step)
    keys, row_file, env = _outputs_and_env(config, where, step)

    def number(name: str, default: int, minimum: int) -> int:
        value = config.get(name)
        return _int(default if value is None else value, where, step, name, minimum)

    return ParallelRunSpec(
        entry_script=entry,
        input=input_name,
        output=output,
        output_action=action,
        mini_batch_size=_batch_size(config.get("mini_batch_size"), where, step),
        error_threshold=threshold,
        allowed_failed_count=count,
        allowed_failed_percent=percent,
        append_row_file_name=row_file,
        process_count_per_node=number("process_count_per_node", 1, 1),
        node_count=number("node_count", 1, 1),
        run_invocation_timeout=number("run_invocation_timeout", 60, 1),
        run_max_try=number("run_max_try", 3, 1),
        partition_keys=keys,
        logging_level=str(config.get("logging_level") or "INFO").upper(),
        environment_variables=tuple(sorted((str(k), str(v)) for k, v in env.items())),
    )


def format_keys(partition_format: str) -> list[str]:
    """The keys of SDK v1's ``partition_format`` (``"/{region}/{day:yyyy/MM/dd}/*.csv"`` → region, day);
    the format is :mod:`~airflow_mlpipelines.pipeline.partition_format`'s, as tabular reads use it."""
    from airflow_mlpipelines.pipeline.partition_format import compile_format

    return [column for column, _ in compile_format(partition_format).columns]


def path_keys(partition_format: str, path: str) -> dict[str, str] | None:
    """The keys' text in one file's path (relative to the dataset), None when it does not match (the
    format matches the end of the path, as SDK v1's does)."""
    from airflow_mlpipelines.pipeline.partition_format import compile_format

    compiled = compile_format(partition_format)
    found = compiled.pattern.search("/" + path.lstrip("/"))
    if found is None:
        return None
    return {column: found.group(f"c{i}") for i, (column, _) in enumerate(compiled.columns)}


def check_parallel(steps: Sequence[StepSpec], datasets: Sequence[DatasetSpec], problems: Problems) -> None:
    """Each parallel run's input: one the step consumes; tabular-only settings on tabular inputs only."""
    by_name = {d.name: d for d in datasets}
    for step in steps:
        spec = step.parallel
        if spec is None:
            continue
        with problems.each():
            dataset = by_name.get(spec.input)
            if dataset is not None and dataset.kind == "model":
                raise DefinitionError(
                    f"input '{spec.input}' is a registered model; a parallel run reads a file or a "
                    "tabular dataset",
                    location=step.location,
                    step=step.name,
                    field="inputs",
                )
            if dataset is not None and dataset.partition_format:
                try:
                    format_keys(dataset.partition_format)
                except ValueError as exc:
                    raise DefinitionError(
                        f"partition_format {dataset.partition_format!r} cannot be read: {exc}",
                        location=dataset.location or step.location,
                        step=step.name,
                        field=f"datasets.{dataset.name}.partition_format",
                    ) from None
            tabular = dataset is not None and dataset.kind == "tabular"
            in_paths = format_keys(dataset.partition_format) if dataset and dataset.partition_format else []
            if spec.partition_keys and not tabular and not set(spec.partition_keys) <= set(in_paths):
                missing = sorted(set(spec.partition_keys) - set(in_paths))
                raise _error(
                    f"partition_keys {missing} are not keys of input '{spec.input}''s partition_format"
                    + (f" ({dataset.partition_format})" if dataset and dataset.partition_format else ""),
                    step.location,
                    step.name,
                    "partition_keys",
                    "a file dataset is partitioned by the keys in its files' paths: "
                    "Dataset.File.from_files(path, partition_format='/{region}/*.txt')",
                )
            if (
                tabular
                and in_paths
                and set(spec.partition_keys) & set(in_paths)
                not in (
                    set(),
                    set(spec.partition_keys),
                )
            ):
                raise _error(
                    "partition_keys mix keys of the partition_format and columns; use one kind",
                    step.location,
                    step.name,
                    "partition_keys",
                )


def mini_batch_limit(spec: ParallelRunSpec, tabular: bool) -> int:
    """Files per mini-batch (file input) or bytes per mini-batch (tabular), SDK v1's defaults applied."""
    if spec.mini_batch_size is not None:
        return spec.mini_batch_size
    return DEFAULT_BYTES if tabular else DEFAULT_FILES
