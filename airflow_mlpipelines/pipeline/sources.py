"""Do the files a pipeline names exist? Checked when a definition is loaded into Airflow or validated.

A ``stat`` per script and folder (no hashing, no reading): a missing script otherwise looks healthy until a
run is triggered. Steps whose source lives in their image (a target's ``source_path``) are not checked.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.pipeline.compute import step_target

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.model import PipelineSpec, StepSpec


def _problems(pipeline: PipelineSpec, step: StepSpec) -> list[DefinitionError]:
    if step.transfer is not None or step_target(pipeline, step).source_path:
        return []  # a data transfer runs no script
    eps = step.eps

    def error(message: str, field: str, hint: str) -> DefinitionError:
        return DefinitionError(message, location=step.location, step=step.name, field=field, hint=hint)

    if eps is not None:
        found = []
        if eps.script_file is not None and not os.path.isfile(eps.script_file):
            found.append(
                error(f"script_file {eps.script_file} does not exist", "script_file", "check the path")
            )
        if eps.bundle is not None and not os.path.isfile(eps.bundle):
            found.append(error(f"bundle {eps.bundle} does not exist", "bundle", "check the path"))
        return found
    if not os.path.isdir(step.source_directory):
        return [
            error(
                f"source_directory {step.source_directory} does not exist",
                "source_directory",
                "it is relative to the definition file's folder",
            )
        ]
    if step.kind == "command":
        return []  # the command's program may live on PATH; its folder is all there is to check
    script = os.path.join(step.source_directory, step.script_name)
    if not os.path.isfile(script):
        present = sorted(n for n in os.listdir(step.source_directory) if n.endswith(".py"))[:10]
        return [
            error(
                f"{'entry_script' if step.kind == 'parallel_run' else 'script'} '{step.script_name}' "
                f"does not exist in {step.source_directory}",
                "parallel_run_config.entry_script" if step.kind == "parallel_run" else "script",
                f"scripts there: {', '.join(present)}" if present else "the folder has no Python scripts",
            )
        ]
    return []


def check_sources(pipeline: PipelineSpec) -> None:
    """Raise one :class:`DefinitionError` listing every step whose script or folder is missing."""
    problems = [p for step in pipeline.steps for p in _problems(pipeline, step)]
    if problems:
        first, *others = problems
        first.also(others)
        raise first
