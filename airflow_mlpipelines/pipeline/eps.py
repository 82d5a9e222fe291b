"""Execute Python Script steps in the pure model: building them (YAML and SDK share this) and their rules.

The step keeps the pipeline's general shape -- its two DataFrame ports are ordinary ``inputs`` and its
two output ports ordinary ``outputs`` -- so the graph, reuse and rendering treat it like any step; the
port mapping and the script live in :class:`ExecutePythonScriptSpec`.
"""

from __future__ import annotations

import ast
import os
from typing import TYPE_CHECKING, Final

from airflow_mlpipelines.exceptions import DefinitionError, Problems, SourceLocation, did_you_mean
from airflow_mlpipelines.pipeline.model import (
    DEFAULT_DATASTORE,
    ExecutePythonScriptSpec,
    OutputSpec,
    StepSpec,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

KIND: Final = "execute_python_script"
INLINE_SCRIPT_NAME = "azureml_main.py"
"""The file name an inline script runs under, so tracebacks name a real file and line."""
ENTRY_POINT = "azureml_main"
ENTRY_HINT = "define a function azureml_main that takes the connected DataFrames and returns a DataFrame"


def default_output_names(step: str) -> tuple[str, str]:
    """Output names when the definition gives none: ``<step>_dataframe``, ``<step>_visualizations``."""
    return f"{step}_dataframe", f"{step}_visualizations"


def _check_inline_script(text: str, step: str, location: SourceLocation | None, line: int | None) -> None:
    """Catch a syntax error or a missing ``azureml_main`` while parsing, at the line in the definition."""

    def at(script_line: int | None) -> SourceLocation | None:
        if location is None or line is None or script_line is None:
            return location
        return SourceLocation(location.file, line + script_line - 1)

    try:
        tree = ast.parse(text, filename=INLINE_SCRIPT_NAME)
    except SyntaxError as exc:
        raise DefinitionError(
            f"syntax error in the inline script: {exc.msg} ({INLINE_SCRIPT_NAME} line {exc.lineno})",
            location=at(exc.lineno),
            step=step,
            field="script",
        ) from None
    defined = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            defined.add(node.name)
        elif isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            defined.update((a.asname or a.name).split(".")[0] for a in node.names)
    if ENTRY_POINT not in defined:
        raise DefinitionError(
            f"the inline script defines no function {ENTRY_POINT}",
            location=location,
            step=step,
            field="script",
            hint=did_you_mean(ENTRY_POINT, sorted(defined)) or ENTRY_HINT,
        )


def build_step(
    *,
    name: str,
    base_dir: str,
    script: str | None,
    script_file: str | None,
    bundle: str | None = None,
    dataframe1: str | None = None,
    dataframe2: str | None = None,
    dataframe_output: str | None = None,
    visualizations_output: str | None = None,
    dataframe_datastore: str = DEFAULT_DATASTORE,
    visualizations_datastore: str = DEFAULT_DATASTORE,
    allow_reuse: bool = True,
    run_after: Sequence[str] = (),
    version: str | None = None,
    queue: str | None = None,
    time_limit_seconds: float | None = None,
    memory_limit_mb: int | None = None,
    location: SourceLocation | None = None,
    script_line: int | None = None,
) -> StepSpec:
    """Validate one Execute Python Script step and build its :class:`StepSpec` (no disk access).

    Relative ``script_file`` and ``bundle`` paths are relative to ``base_dir`` (the definition's folder).
    """
    if (script is None) == (script_file is None):
        raise DefinitionError(
            "give the script inline ('script') or as a file ('script_file'), not both"
            if script is not None
            else "an Execute Python Script step needs 'script' (inline) or 'script_file'",
            location=location,
            step=name,
            field="script",
            hint=ENTRY_HINT if script is None else None,
        )
    if script is not None:
        _check_inline_script(script, name, location, script_line)
    if script_file is not None and not script_file.endswith(".py"):
        raise DefinitionError(
            f"script_file {script_file!r} is not a Python file",
            location=location,
            step=name,
            field="script_file",
        )
    if bundle is not None and not bundle.lower().endswith(".zip"):
        raise DefinitionError(
            f"bundle {bundle!r} is not a zip file",
            location=location,
            step=name,
            field="bundle",
            hint="zip the modules (e.g. Hello.py into Hello.zip) and give the .zip path",
        )
    default_df, default_vis = default_output_names(name)
    df_out, vis_out = dataframe_output or default_df, visualizations_output or default_vis
    if df_out == vis_out:
        raise DefinitionError(
            f"the DataFrame and visualisations outputs are both named {df_out!r}",
            location=location,
            step=name,
            field="outputs",
        )
    file_path = os.path.normpath(os.path.join(base_dir, script_file)) if script_file else None
    spec = ExecutePythonScriptSpec(
        dataframe_output=df_out,
        visualizations_output=vis_out,
        script=script,
        script_file=file_path,
        script_line=script_line,
        bundle=os.path.normpath(os.path.join(base_dir, bundle)) if bundle else None,
        dataframe1=dataframe1,
        dataframe2=dataframe2,
        time_limit_seconds=time_limit_seconds,
        memory_limit_mb=memory_limit_mb,
    )
    inputs = tuple(dict.fromkeys(p for p in (dataframe1, dataframe2) if p is not None))
    return StepSpec(
        name=name,
        kind=KIND,
        script_name=os.path.basename(file_path) if file_path else INLINE_SCRIPT_NAME,
        source_directory=os.path.dirname(file_path) if file_path else os.path.normpath(base_dir),
        inputs=inputs,
        outputs=(OutputSpec(df_out, dataframe_datastore), OutputSpec(vis_out, visualizations_datastore)),
        allow_reuse=allow_reuse,
        run_after=tuple(run_after),
        version=version,
        queue=queue,
        location=location,
        eps=spec,
    )


def check_ports(steps: Sequence[StepSpec], dataset_names: Sequence[str]) -> None:
    """Every connected DataFrame port names a dataset or another step's output (field = the port)."""
    produced = {o.name: s.name for s in steps for o in s.outputs}
    known = [*produced, *dataset_names]
    problems = Problems()
    for step in steps:
        if step.eps is None:
            continue
        for port, name in step.eps.ports.items():
            if name is None:
                continue
            with problems.each():
                _check_port(step, port, name, produced, known)
    problems.raise_if_any()


def _check_port(step: StepSpec, port: str, name: str, produced: dict[str, str], known: list[str]) -> None:
    if produced.get(name) == step.name:
        raise DefinitionError(
            f"{port} is connected to this step's own output '{name}'",
            location=step.location,
            step=step.name,
            field=port,
        )
    if name not in known:
        raise DefinitionError(
            f"{port} is connected to '{name}', which is neither a dataset nor another step's output",
            location=step.location,
            step=step.name,
            field=port,
            hint=did_you_mean(name, known) or "declare it under datasets, or as another step's output",
        )
