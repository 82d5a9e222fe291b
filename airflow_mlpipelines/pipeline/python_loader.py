"""Import a Python definition module (Azure ML SDK v1 style) and collect its ``Pipeline`` objects."""

from __future__ import annotations

import ast
import importlib.util
import os
import sys
import traceback
from typing import TYPE_CHECKING

from airflow_mlpipelines.exceptions import DefinitionError, MLPipelinesError, SourceLocation
from airflow_mlpipelines.pipeline.callsite import DEFINING as _DEFINING
from airflow_mlpipelines.pipeline.sdk_steps import Pipeline

if TYPE_CHECKING:
    from airflow_mlpipelines.pipeline.model import PipelineSpec


_PACKAGE = "airflow_mlpipelines"


def check_is_definition(path: str) -> None:
    """Refuse, before anything runs, a Python file that is not a pipeline definition (a step's script
    handed over by mistake would otherwise be executed): a definition imports this package's SDK names.

    Decided from the file's text alone (``ast``): it must import from ``airflow_mlpipelines`` (e.g.
    ``from airflow_mlpipelines.pipeline import Pipeline``).
    """
    try:
        with open(path, "rb") as fh:
            tree = ast.parse(fh.read(), filename=path)
    except SyntaxError as exc:
        raise DefinitionError(
            f"the definition module raised SyntaxError: {exc.msg}", location=SourceLocation(path, exc.lineno)
        ) from None
    except OSError as exc:
        raise DefinitionError(
            f"cannot read the definition: {exc.strerror}", location=SourceLocation(path)
        ) from None
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        if any(n == _PACKAGE or n.startswith(_PACKAGE + ".") for n in names):
            return
    raise DefinitionError(
        "this Python file is not a pipeline definition (it imports nothing from airflow_mlpipelines), so it "
        "was not run",
        location=SourceLocation(path, 1),
        hint="a definition builds a Pipeline (from airflow_mlpipelines.pipeline import Pipeline, ...)",
    )


def _import(path: str) -> dict[str, object]:
    stem = os.path.splitext(os.path.basename(path))[0]
    module_name = f"mlpipelines_definition_{abs(hash(path)):x}_{stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError("cannot import definition module", location=SourceLocation(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    token = _DEFINING.set(True)
    try:
        spec.loader.exec_module(module)
    except MLPipelinesError:
        raise
    except Exception as exc:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == path]
        line = frames[-1].lineno if frames else None
        if isinstance(exc, SyntaxError) and exc.filename == path:
            line = exc.lineno  # raised while compiling, so no traceback frame is in the module
        raise DefinitionError(
            f"the definition module raised {type(exc).__name__}: {exc}", location=SourceLocation(path, line)
        ) from exc
    finally:
        _DEFINING.reset(token)
        sys.modules.pop(module_name, None)
    return dict(vars(module))


def load_python_pipelines(path: str) -> list[PipelineSpec]:
    """Load every ``Pipeline`` a module defines at top level.

    A pipeline's name is its ``name=`` argument, else the file name when the module defines one
    pipeline, else ``<file>_<variable>``.
    """
    path = os.path.abspath(path)
    stem = os.path.splitext(os.path.basename(path))[0]
    check_is_definition(path)
    namespace = _import(path)
    found = [(var, obj) for var, obj in namespace.items() if isinstance(obj, Pipeline)]
    if not found:
        raise DefinitionError(
            "the module defines no Pipeline at top level",
            location=SourceLocation(path),
            hint="assign it to a module variable, e.g. pipeline1 = Pipeline(workspace=ws, steps=[...])",
        )
    single = len(found) == 1
    return [obj.to_spec(name=stem if single else f"{stem}_{var}") for var, obj in found]
