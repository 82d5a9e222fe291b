"""``CommandStep``: Azure ML SDK v1's step that runs a command line instead of a Python script.

It is a ``PythonScriptStep`` in everything but what runs (inputs, outputs, reuse, compute, runconfig,
``run_after``), so it compiles through the same code and only its kind and words differ.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from airflow_mlpipelines.exceptions import DefinitionError
from airflow_mlpipelines.pipeline import command as rules
from airflow_mlpipelines.pipeline.sdk import PipelineData, RunConfiguration, _caller_location
from airflow_mlpipelines.pipeline.sdk_steps import PythonScriptStep

if TYPE_CHECKING:
    from collections.abc import Sequence

    from airflow_mlpipelines.pipeline.model import StepSpec


class CommandStep(PythonScriptStep):
    """Run ``command`` from ``source_directory`` (Azure ML SDK v1's CommandStep).

    ``command`` is a string of words (split as a POSIX shell would; run without a shell) or a list whose
    strings are split the same way and whose ``PipelineData``, dataset inputs and ``PipelineParameter``
    items are one word each -- as in SDK v1, only a list can hold them. Unnamed, the step is named after
    the command's first word. A first word ``python`` is the step's interpreter.
    """

    def __init__(
        self,
        command: str | Sequence[Any] | None = None,
        name: str | None = None,
        compute_target: Any = None,
        runconfig: RunConfiguration | None = None,
        runconfig_pipeline_params: Any = None,
        inputs: Sequence[Any] | None = None,
        outputs: Sequence[PipelineData] | None = None,
        params: dict[str, Any] | None = None,
        source_directory: str | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
    ) -> None:
        location = _caller_location()
        words = self._words(command, name, location)
        first = words[0] if words and isinstance(words[0], str) else None
        if name is None and first is None:
            raise DefinitionError(
                "a CommandStep whose command starts with a data reference needs name=",
                location=location,
                field="name",
            )
        super().__init__(
            script_name="",
            name=name or rules.default_name(str(first)),
            arguments=words,
            compute_target=compute_target,
            runconfig=runconfig,
            runconfig_pipeline_params=runconfig_pipeline_params,
            inputs=inputs,
            outputs=outputs,
            params=params,
            source_directory=source_directory,
            allow_reuse=allow_reuse,
            version=version,
        )
        self.location = location
        self.command = command

    @staticmethod
    def _words(command: str | Sequence[Any] | None, name: str | None, location: Any) -> list[Any]:
        step = name or "CommandStep"
        items: Sequence[Any] = [command] if isinstance(command, str) else (command or [])
        words: list[Any] = []
        for i, item in enumerate(items):
            if isinstance(item, str):
                field = "command" if isinstance(command, str) else f"command[{i}]"
                words.extend(rules.split_words(item, location=location, step=step, field=field))
            else:
                words.append(item)
        if not words or words[0] == "":
            raise DefinitionError(
                "the command is empty", location=location, step=step, field="command", hint=rules.COMMAND_HINT
            )
        return words

    def spec(self, base_dir: str, default_source_directory: str | None) -> tuple[StepSpec, list[Any]]:
        """The PythonScriptStep's compilation, as a ``command`` step (its words are the arguments)."""
        step, used = super().spec(base_dir, default_source_directory)
        return replace(step, kind="command", script_name=""), used
